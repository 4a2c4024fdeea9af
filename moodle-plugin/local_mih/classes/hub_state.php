<?php
// This file is part of Moodle - https://moodle.org/
//
// Moodle is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// Moodle is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with Moodle.  If not, see <https://www.gnu.org/licenses/>.

namespace local_mih;

/**
 * What the plugin knows of the hub between requests: whether it was just found down, and the last
 * flush. Kept in the application cache, as it is only a hint: losing it costs one more try.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class hub_state {
    /** @var int Seconds during which page requests do not try a hub that just failed. */
    public const DOWN_FOR = 60;

    /**
     * The cache.
     *
     * @return \cache
     */
    private static function cache(): \cache {
        return \cache::make('local_mih', 'hubstate');
    }

    /**
     * Reports whether a recent flush found the hub down, so that page requests should leave the rows
     * to the scheduled task rather than wait for the hub again.
     *
     * @param int $now The Unix time.
     * @return bool
     */
    public static function is_down(int $now): bool {
        return (int) self::cache()->get('downuntil') > $now;
    }

    /**
     * Records a flush.
     *
     * @param flush_result $result What it did.
     * @param string $source "request" or "task".
     * @param int $now The Unix time.
     */
    public static function record(flush_result $result, string $source, int $now): void {
        if ($result->posts === 0 && !$result->failed) {
            return;
        }
        $cache = self::cache();
        if ($result->failed) {
            $cache->set('downuntil', $now + self::DOWN_FOR);
        } else {
            $cache->delete('downuntil');
        }
        $cache->set('last', ['time' => $now, 'source' => $source, 'failed' => $result->failed, 'summary' => $result->summary()]);
    }

    /**
     * The last flush that sent something or failed.
     *
     * @return array|null time, source, failed, summary; null when none is known.
     */
    public static function last(): ?array {
        $last = self::cache()->get('last');
        return is_array($last) ? $last : null;
    }
}
