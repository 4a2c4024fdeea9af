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
 * The outbox as the flusher sees it: claim rows, then delete, release or reject them.
 *
 * outbox implements it over Moodle's database; the standalone tests over an array.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
interface outbox_store {
    /**
     * Claims waiting rows that are due, oldest first, for one sender: no other claim gets them
     * until the lease runs out.
     *
     * @param int[]|null $ids Only these rows; null for any.
     * @param int $limit At most this many rows.
     * @param int $now The Unix time.
     * @param int $leaseuntil When the claim lapses if the sender dies.
     * @param string $token The claim's unique token.
     * @return \stdClass[] The rows (id, eventid, payload, attempts, rejections), by id.
     */
    public function claim(?array $ids, int $limit, int $now, int $leaseuntil, string $token): array;

    /**
     * Deletes rows the hub stored.
     *
     * @param int[] $ids The rows.
     */
    public function delete(array $ids): void;

    /**
     * Gives claimed rows back, due at once, after a failure that is not theirs.
     *
     * @param int[] $ids The rows.
     * @param string $token The claim's token: rows claimed since by another sender are left alone.
     * @param string $error What went wrong.
     */
    public function release(array $ids, string $token, string $error): void;

    /**
     * Records that the hub refused one row: it waits reject_delay() before it is tried again, and is
     * dead (kept, never sent again until an administrator requeues it) after MAX_REJECTIONS.
     *
     * @param \stdClass $row The claimed row.
     * @param string $token The claim's token.
     * @param string $error The hub's reason.
     * @param int $now The Unix time.
     * @return bool True when the row is now dead.
     */
    public function reject(\stdClass $row, string $token, string $error, int $now): bool;
}
