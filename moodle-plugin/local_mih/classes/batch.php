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
 * The pure rules of sending outbox rows: the body of a batch, what an answer means, how to find the
 * event the hub refused.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class batch {
    /** @var string The hub stored every event of the batch: delete the rows. */
    public const OK = 'ok';

    /** @var string The hub refused the content: some event of the batch is bad. */
    public const REJECT = 'reject';

    /** @var string The hub is down, busy, or refuses us (bad secret, unknown site): try again later. */
    public const RETRY = 'retry';

    /**
     * Builds the body of a batch from stored payloads, without decoding them: each is already the
     * JSON of one event, so the body is signed exactly as stored.
     *
     * @param string[] $payloads The events' JSON.
     * @return string {"events":[...]}
     */
    public static function body(array $payloads): string {
        return '{"events":[' . implode(',', $payloads) . ']}';
    }

    /**
     * Classifies the hub's answer to a batch.
     *
     * Only answers that blame the content reject it: 400 (a bad event), 413 (too large) and 422.
     * 401 and 403 (bad signature, unknown site, clock off), 404 (wrong hub URL), 408, 429, 5xx and
     * no answer at all are the hub's or the configuration's state, not the events' fault: the rows
     * wait, whatever their number of attempts, so a typo in a setting never throws events away.
     *
     * @param http_result $result The answer.
     * @return string self::OK, self::REJECT or self::RETRY.
     */
    public static function classify(http_result $result): string {
        if ($result->is_success()) {
            return self::OK;
        }
        if (in_array($result->status, [400, 413, 422], true)) {
            return self::REJECT;
        }
        return self::RETRY;
    }

    /**
     * Finds the event the hub named in its refusal: its error message starts with "event <index>:".
     *
     * @param http_result $result The hub's 4xx answer.
     * @param int $count How many events the batch had.
     * @return int|null The index in the batch, or null when the hub did not name one.
     */
    public static function rejected_index(http_result $result, int $count): ?int {
        $message = $result->error_message();
        if ($message !== null && preg_match('/^event (\d+):/', $message, $m)) {
            $index = (int) $m[1];
            if ($index < $count) {
                return $index;
            }
        }
        return null;
    }

    /**
     * The delay before a refused event is tried again: a minute, then four, then sixteen …, capped
     * at a day.
     *
     * @param int $rejections How many times the hub has refused it, at least 1.
     * @return int Seconds.
     */
    public static function reject_delay(int $rejections): int {
        $n = max(1, $rejections);
        return (int) min(86400, 60 * (4 ** min($n - 1, 10)));
    }
}
