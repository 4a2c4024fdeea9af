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
 * Decides which events go to the hub, from the include and exclude settings.
 *
 * Each setting holds event name patterns, one per line; "*" matches any run of characters,
 * backslashes included, so "\mod_assign\event\*" takes every assignment event. Lines starting with
 * "#" are comments. A pattern without its leading backslash gets one ("core\event\user_created"
 * works too), and matching ignores case, as PHP class names do. An empty include list means every
 * event; exclude wins over include.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class event_filter {
    /** @var string[] Regular expressions of the included names; empty means all. */
    private $include;

    /** @var string[] Regular expressions of the excluded names. */
    private $exclude;

    /**
     * Builds a filter from the settings' text.
     *
     * @param string $include Patterns of the events to send, one per line; empty for all.
     * @param string $exclude Patterns of the events never to send, one per line.
     */
    public function __construct(string $include, string $exclude) {
        $this->include = array_map([self::class, 'to_regex'], self::patterns($include));
        $this->exclude = array_map([self::class, 'to_regex'], self::patterns($exclude));
    }

    /**
     * Reports whether an event of this name goes to the hub.
     *
     * @param string $eventname The event's class name, as get_data() gives it.
     * @return bool True to send it.
     */
    public function matches(string $eventname): bool {
        $name = '\\' . ltrim($eventname, '\\');
        foreach ($this->exclude as $re) {
            if (preg_match($re, $name)) {
                return false;
            }
        }
        if (!$this->include) {
            return true;
        }
        foreach ($this->include as $re) {
            if (preg_match($re, $name)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Splits a setting into its patterns: trimmed lines, without blanks and comments.
     *
     * @param string $text The setting's value.
     * @return string[] The patterns.
     */
    public static function patterns(string $text): array {
        $out = [];
        foreach (preg_split('/\R/', $text) as $line) {
            $line = trim($line);
            if ($line === '' || $line[0] === '#') {
                continue;
            }
            $out[] = $line;
        }
        return $out;
    }

    /**
     * Compiles one pattern into an anchored, case-insensitive regular expression.
     *
     * @param string $pattern An event name pattern with "*" wildcards.
     * @return string The regular expression.
     */
    public static function to_regex(string $pattern): string {
        if ($pattern[0] !== '*') {
            $pattern = '\\' . ltrim($pattern, '\\');
        }
        $parts = array_map(function (string $part): string {
            return preg_quote($part, '~');
        }, explode('*', $pattern));
        return '~^' . implode('.*', $parts) . '$~i';
    }
}
