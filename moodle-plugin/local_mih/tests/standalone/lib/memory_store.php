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

namespace local_mih_test;

use local_mih\batch;
use local_mih\outbox;

/**
 * The outbox over an array, with the semantics of the SQL in \local_mih\outbox.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class memory_store implements \local_mih\outbox_store {
    /** @var \stdClass[] Rows by id. */
    public $rows = [];

    /** @var int The last id given. */
    private $lastid = 0;

    /**
     * Adds rows for events.
     *
     * @param array[] $events Event data, as get_data() gives it.
     * @return int[] The new rows' ids.
     */
    public function add(array $events): array {
        $ids = [];
        foreach ($events as $data) {
            $record = outbox::build_record($data, 'web', '10.1.2.3', null, outbox::ID_PREFIX . \local_mih\uuid::v4(), 1767000000);
            $record->id = ++$this->lastid;
            $this->rows[$record->id] = $record;
            $ids[] = $record->id;
        }
        return $ids;
    }

    /**
     * Claims due waiting rows.
     *
     * @param int[]|null $ids Only these.
     * @param int $limit At most.
     * @param int $now Time.
     * @param int $leaseuntil Lease.
     * @param string $token Token.
     * @return \stdClass[]
     */
    public function claim(?array $ids, int $limit, int $now, int $leaseuntil, string $token): array {
        $out = [];
        ksort($this->rows);
        foreach ($this->rows as $row) {
            if (count($out) >= $limit) {
                break;
            }
            if ($row->state !== outbox::STATE_WAITING || $row->nextattempt > $now || ($ids !== null && !in_array($row->id, $ids))) {
                continue;
            }
            $row->claimtoken = $token;
            $row->nextattempt = $leaseuntil;
            $out[] = clone $row;
        }
        return $out;
    }

    /**
     * Deletes rows.
     *
     * @param int[] $ids The rows.
     */
    public function delete(array $ids): void {
        foreach ($ids as $id) {
            unset($this->rows[$id]);
        }
    }

    /**
     * Gives rows back.
     *
     * @param int[] $ids The rows.
     * @param string $token The claim.
     * @param string $error Why.
     */
    public function release(array $ids, string $token, string $error): void {
        foreach ($ids as $id) {
            if (isset($this->rows[$id]) && $this->rows[$id]->claimtoken === $token) {
                $row = $this->rows[$id];
                $row->claimtoken = '';
                $row->nextattempt = 0;
                $row->attempts++;
                $row->lasterror = $error;
            }
        }
    }

    /**
     * Records a refusal.
     *
     * @param \stdClass $claimed The claimed row.
     * @param string $token The claim.
     * @param string $error Why.
     * @param int $now Time.
     * @return bool Dead.
     */
    public function reject(\stdClass $claimed, string $token, string $error, int $now): bool {
        $row = $this->rows[$claimed->id] ?? null;
        if (!$row || $row->claimtoken !== $token) {
            return false;
        }
        $row->rejections = (int) $claimed->rejections + 1;
        $row->attempts++;
        $row->claimtoken = '';
        $row->lasterror = $error;
        $row->nextattempt = $now + batch::reject_delay($row->rejections);
        $dead = $row->rejections >= outbox::MAX_REJECTIONS;
        $row->state = $dead ? outbox::STATE_DEAD : outbox::STATE_WAITING;
        return $dead;
    }

    /**
     * Rows in a state.
     *
     * @param int $state The state.
     * @return \stdClass[]
     */
    public function in_state(int $state): array {
        return array_values(array_filter($this->rows, function (\stdClass $r) use ($state): bool {
            return $r->state === $state;
        }));
    }
}
