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
 * Sends outbox rows to the hub, in batches, and settles each row by the answer.
 *
 * A row is deleted only after the hub answered 2xx for its batch. A batch the hub refuses (400, 413,
 * 422) is narrowed down: the event the hub names is rejected and the rest sent again; when the hub
 * names none, the batch is split in halves until the bad event is alone. Any other failure (no
 * answer, 5xx, 401 …) gives every claimed row back untouched and stops: the hub is down or the
 * configuration is wrong, and trying more rows now would only wait more.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class flusher {
    /** @var int Events per POST. */
    public const BATCH_SIZE = 500;

    /** @var int Seconds a claim holds rows when its sender dies: then another sender may send them again. */
    public const LEASE = 300;

    /** @var outbox_store The rows. */
    private $store;

    /** @var hub_client The hub. */
    private $client;

    /** @var callable Returns the time in seconds, as a float. */
    private $clock;

    /**
     * Constructor.
     *
     * @param outbox_store $store The rows.
     * @param hub_client $client The hub.
     * @param callable|null $clock Returns the time in seconds (a float); microtime(true) when null.
     */
    public function __construct(outbox_store $store, hub_client $client, ?callable $clock = null) {
        $this->store = $store;
        $this->client = $client;
        $this->clock = $clock ?? function (): float {
            return microtime(true);
        };
    }

    /**
     * Sends waiting rows until none is due, a failure, or the deadline.
     *
     * @param float|null $deadline Stop starting new POSTs after this time (seconds); null for none.
     * @param int[]|null $ids Only these rows; null for any.
     * @return flush_result
     */
    public function flush(?float $deadline = null, ?array $ids = null): flush_result {
        $result = new flush_result();
        if ($ids !== null && !$ids) {
            return $result;
        }
        while (true) {
            $now = $this->now();
            if ($deadline !== null && $now >= $deadline) {
                break;
            }
            $token = uuid::v4();
            $rows = $this->store->claim($ids, self::BATCH_SIZE, (int) $now, (int) $now + self::LEASE, $token);
            if (!$rows) {
                break;
            }
            if (!$this->send($rows, $token, $deadline, $result)) {
                break;
            }
        }
        return $result;
    }

    /**
     * Sends claimed rows, narrowing down refusals.
     *
     * @param \stdClass[] $rows The claimed rows.
     * @param string $token The claim's token.
     * @param float|null $deadline No new POST after this time.
     * @param flush_result $result Counts and the last error, updated.
     * @return bool False when the flush must stop (failure or deadline).
     */
    private function send(array $rows, string $token, ?float $deadline, flush_result $result): bool {
        $pending = [$rows];
        while ($pending) {
            $batch = array_shift($pending);
            $timeout = null;
            if ($deadline !== null) {
                $timeout = $deadline - $this->now();
                if ($timeout < 0.1) {
                    $this->store->release(self::ids(array_merge($batch, ...$pending)), $token, 'not sent before the deadline');
                    return false;
                }
            }
            $answer = $this->client->send_events(array_column($batch, 'payload'), $timeout);
            $result->posts++;
            switch (batch::classify($answer)) {
                case batch::OK:
                    $this->store->delete(self::ids($batch));
                    $result->sent += count($batch);
                    break;
                case batch::REJECT:
                    $index = count($batch) === 1 ? 0 : batch::rejected_index($answer, count($batch));
                    if ($index === null) {
                        $half = intdiv(count($batch), 2);
                        array_unshift($pending, array_slice($batch, 0, $half), array_slice($batch, $half));
                        break;
                    }
                    $result->rejected++;
                    $result->lasterror = $answer->describe();
                    if ($this->store->reject($batch[$index], $token, $result->lasterror, (int) $this->now())) {
                        $result->dead++;
                    }
                    array_splice($batch, $index, 1);
                    if ($batch) {
                        array_unshift($pending, $batch);
                    }
                    break;
                default:
                    $result->failed = true;
                    $result->lasterror = $answer->describe();
                    $this->store->release(self::ids(array_merge($batch, ...$pending)), $token, $result->lasterror);
                    return false;
            }
        }
        return true;
    }

    /**
     * The ids of rows.
     *
     * @param \stdClass[] $rows The rows.
     * @return int[]
     */
    private static function ids(array $rows): array {
        return array_map('intval', array_column($rows, 'id'));
    }

    /**
     * The time, in seconds.
     *
     * @return float
     */
    private function now(): float {
        return (float) call_user_func($this->clock);
    }
}
