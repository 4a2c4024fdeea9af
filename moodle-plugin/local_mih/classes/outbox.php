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
 * The outbox table, local_mih_outbox: events waiting to go to the hub.
 *
 * The observer adds a row inside the transaction of the change that triggered the event, so the row
 * commits or rolls back with it. The flusher claims rows (a token and a lease, so two senders never
 * send the same row at once), deletes them once the hub stored them, and otherwise gives them back
 * or records the hub's refusal. A row the hub refused MAX_REJECTIONS times is dead: it stays in the
 * table, shown on the plugin's outbox page, until an administrator requeues or deletes it.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class outbox implements outbox_store {
    /** @var string The table. */
    public const TABLE = 'local_mih_outbox';

    /** @var int A row waiting to be sent. */
    public const STATE_WAITING = 0;

    /** @var int A row the hub refused too often; kept for an administrator. */
    public const STATE_DEAD = 1;

    /** @var int Refusals after which a row is dead. */
    public const MAX_REJECTIONS = 3;

    /** @var string Settings whose values config_log_created must not carry out of the site. */
    public const SENSITIVE_SETTING = '/pass|secret|token|key|salt|pwd|_pw$|credential/i';

    /** @var string The prefix of the ids the plugin gives events, for the hub to dedupe replays. */
    public const ID_PREFIX = 'local_mih:';

    /**
     * Builds the row of an event.
     *
     * The payload is the event's get_data() with the request's ip, origin and real user (as the
     * standard log store records them) and a unique id, encoded as JSON once, here: the flusher sends
     * it byte for byte. Text that is not UTF-8 is replaced rather than losing the event.
     *
     * @param array $data The event's get_data().
     * @param string|null $origin web, ws, cli, restore …
     * @param string|null $ip The request's IP address.
     * @param int|null $realuserid The real user when logged in as another user.
     * @param string $eventid The event's unique id.
     * @param int $now The Unix time.
     * @return \stdClass The row to insert.
     */
    public static function build_record(
        array $data,
        ?string $origin,
        ?string $ip,
        ?int $realuserid,
        string $eventid,
        int $now
    ): \stdClass {
        $data = self::redact($data);
        $data['ip'] = $ip;
        $data['origin'] = $origin;
        $data['realuserid'] = $realuserid;
        $data['id'] = $eventid;
        $flags = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PRESERVE_ZERO_FRACTION;
        $payload = json_encode($data, $flags);
        if ($payload === false) {
            // INF, NAN or a recursion somewhere in "other": keep the event, with null in their place.
            $payload = json_encode($data, $flags | JSON_PARTIAL_OUTPUT_ON_ERROR);
        }
        $record = new \stdClass();
        $record->eventid = $eventid;
        $record->eventname = substr((string) ($data['eventname'] ?? ''), 0, 255);
        $record->payload = (string) $payload;
        $record->contextid = (int) ($data['contextid'] ?? 0);
        $record->userid = (int) ($data['userid'] ?? 0);
        $record->relateduserid = isset($data['relateduserid']) ? (int) $data['relateduserid'] : null;
        $record->realuserid = $realuserid;
        $record->timecreated = $now;
        $record->state = self::STATE_WAITING;
        $record->attempts = 0;
        $record->rejections = 0;
        $record->nextattempt = 0;
        $record->claimtoken = '';
        $record->lasterror = null;
        return $record;
    }

    /**
     * Masks what an event must not carry to the hub.
     *
     * \core\event\config_log_created carries the old and new value of a changed setting. A setting
     * changed with set_config() or admin/cli/cfg.php is logged unmasked, passwords and tokens included
     * (this plugin's own secret among them); the values of settings whose name looks like a secret are
     * replaced by ********, as Moodle's password settings do in the config log.
     *
     * @param array $data The event's get_data().
     * @return array The data to send.
     */
    public static function redact(array $data): array {
        if (($data['eventname'] ?? '') !== '\\core\\event\\config_log_created' || !is_array($data['other'] ?? null)) {
            return $data;
        }
        $name = (string) ($data['other']['name'] ?? '');
        if (preg_match(self::SENSITIVE_SETTING, $name)) {
            foreach (['value', 'oldvalue'] as $field) {
                if (isset($data['other'][$field]) && $data['other'][$field] !== '') {
                    $data['other'][$field] = '********';
                }
            }
        }
        return $data;
    }

    /**
     * Adds an event to the outbox, in the caller's transaction if there is one.
     *
     * @param \core\event\base $event The event.
     * @return int The row's id.
     */
    public static function add(\core\event\base $event): int {
        global $DB, $PAGE, $USER;
        $realuserid = \core\session\manager::is_loggedinas() ? (int) $USER->realuser : null;
        $record = self::build_record(
            $event->get_data(),
            $PAGE->requestorigin,
            $PAGE->requestip,
            $realuserid,
            self::ID_PREFIX . uuid::v4(),
            time()
        );
        return (int) $DB->insert_record(self::TABLE, $record);
    }

    /**
     * Claims waiting rows that are due.
     *
     * The UPDATE re-checks the state and due time of each row under its row lock, so of two senders
     * racing for the same rows each row goes to exactly one.
     *
     * @param int[]|null $ids Only these rows; null for any.
     * @param int $limit At most this many rows.
     * @param int $now The Unix time.
     * @param int $leaseuntil When the claim lapses.
     * @param string $token The claim's token.
     * @return \stdClass[] The claimed rows, by id.
     */
    public function claim(?array $ids, int $limit, int $now, int $leaseuntil, string $token): array {
        global $DB;
        $where = 'state = :state AND nextattempt <= :now';
        $params = ['state' => self::STATE_WAITING, 'now' => $now];
        if ($ids !== null) {
            if (!$ids) {
                return [];
            }
            [$insql, $inparams] = $DB->get_in_or_equal(array_slice(array_values($ids), 0, $limit), SQL_PARAMS_NAMED, 'only');
            $where .= ' AND id ' . $insql;
            $params += $inparams;
        }
        $candidates = $DB->get_records_select(self::TABLE, $where, $params, 'id ASC', 'id', 0, $limit);
        if (!$candidates) {
            return [];
        }
        [$insql, $inparams] = $DB->get_in_or_equal(array_keys($candidates), SQL_PARAMS_NAMED, 'cand');
        $DB->execute(
            'UPDATE {' . self::TABLE . '}
                         SET claimtoken = :token, nextattempt = :lease
                       WHERE id ' . $insql . ' AND state = :state AND nextattempt <= :now',
            ['token' => $token, 'lease' => $leaseuntil, 'state' => self::STATE_WAITING, 'now' => $now] + $inparams
        );
        return array_values($DB->get_records(
            self::TABLE,
            ['claimtoken' => $token],
            'id ASC',
            'id, eventid, payload, attempts, rejections'
        ));
    }

    /**
     * Deletes rows the hub stored.
     *
     * @param int[] $ids The rows.
     */
    public function delete(array $ids): void {
        global $DB;
        if ($ids) {
            $DB->delete_records_list(self::TABLE, 'id', $ids);
        }
    }

    /**
     * Gives claimed rows back, due at once.
     *
     * @param int[] $ids The rows.
     * @param string $token The claim's token.
     * @param string $error What went wrong.
     */
    public function release(array $ids, string $token, string $error): void {
        global $DB;
        if (!$ids) {
            return;
        }
        [$insql, $params] = $DB->get_in_or_equal($ids, SQL_PARAMS_NAMED, 'rel');
        $DB->execute(
            'UPDATE {' . self::TABLE . '}
                         SET claimtoken = :empty, nextattempt = 0, attempts = attempts + 1, lasterror = :error
                       WHERE id ' . $insql . ' AND claimtoken = :token',
            ['empty' => '', 'error' => $error, 'token' => $token] + $params
        );
    }

    /**
     * Records a refusal of one row.
     *
     * @param \stdClass $row The claimed row.
     * @param string $token The claim's token.
     * @param string $error The hub's reason.
     * @param int $now The Unix time.
     * @return bool True when the row is now dead.
     */
    public function reject(\stdClass $row, string $token, string $error, int $now): bool {
        global $DB;
        $rejections = (int) $row->rejections + 1;
        $dead = $rejections >= self::MAX_REJECTIONS;
        $DB->execute(
            'UPDATE {' . self::TABLE . '}
                         SET claimtoken = :empty, attempts = attempts + 1, rejections = :rejections,
                             state = :state, nextattempt = :next, lasterror = :error
                       WHERE id = :id AND claimtoken = :token',
            ['empty' => '', 'rejections' => $rejections, 'state' => $dead ? self::STATE_DEAD : self::STATE_WAITING,
            'next' => $now + batch::reject_delay($rejections),
            'error' => $error,
            'id' => $row->id,
            'token' => $token]
        );
        if ($dead) {
            debugging('local_mih: the hub refused event ' . $row->eventid . ' ' . $rejections . ' times; it is kept as dead: '
                . $error, DEBUG_NORMAL);
        }
        return $dead;
    }

    /**
     * Counts the rows, for the outbox page.
     *
     * @return \stdClass waiting, dead, oldest (timecreated of the oldest waiting row, or null), lasterror.
     */
    public static function stats(): \stdClass {
        global $DB;
        $stats = new \stdClass();
        $stats->waiting = $DB->count_records(self::TABLE, ['state' => self::STATE_WAITING]);
        $stats->dead = $DB->count_records(self::TABLE, ['state' => self::STATE_DEAD]);
        $stats->oldest = $DB->get_field_select(self::TABLE, 'MIN(timecreated)', 'state = ?', [self::STATE_WAITING]) ?: null;
        return $stats;
    }

    /**
     * Lists rows of a state, oldest first.
     *
     * @param int $state self::STATE_WAITING or self::STATE_DEAD.
     * @param int $limit At most this many.
     * @return \stdClass[]
     */
    public static function rows(int $state, int $limit): array {
        global $DB;
        return array_values($DB->get_records(
            self::TABLE,
            ['state' => $state],
            'id ASC',
            'id, eventid, eventname, timecreated, attempts, rejections, nextattempt, lasterror',
            0,
            $limit
        ));
    }

    /**
     * Puts dead rows back in the queue, due at once, with their refusals forgotten.
     *
     * @param int|null $id One row, or null for every dead row.
     * @return void
     */
    public static function requeue(?int $id): void {
        global $DB;
        $params = ['dead' => self::STATE_DEAD, 'waiting' => self::STATE_WAITING, 'empty' => ''];
        $where = 'state = :dead';
        if ($id !== null) {
            $where .= ' AND id = :id';
            $params['id'] = $id;
        }
        $DB->execute('UPDATE {' . self::TABLE . '}
                         SET state = :waiting, rejections = 0, nextattempt = 0, claimtoken = :empty
                       WHERE ' . $where, $params);
    }

    /**
     * Deletes dead rows.
     *
     * @param int|null $id One row, or null for every dead row.
     * @return void
     */
    public static function delete_dead(?int $id): void {
        global $DB;
        $conditions = ['state' => self::STATE_DEAD];
        if ($id !== null) {
            $conditions['id'] = $id;
        }
        $DB->delete_records(self::TABLE, $conditions);
    }
}
