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

namespace local_mih\task;

use local_mih\flusher;
use local_mih\hub_client;
use local_mih\hub_state;
use local_mih\observer;
use local_mih\outbox;

/**
 * Sends whatever waits in the outbox, every minute.
 *
 * It drains the outbox in batches until nothing is due, the hub fails, or five minutes have passed.
 * A hub that is down is not an error of the task: Moodle would back the task off for hours, when it
 * should try again next minute, so the task reports the failure and returns normally.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class flush_outbox extends \core\task\scheduled_task {
    /** @var int Seconds after which the task starts no new batch. */
    public const TIME_BUDGET = 300;

    /**
     * The task's name.
     *
     * @return string
     */
    public function get_name() {
        return get_string('taskflushoutbox', 'local_mih');
    }

    /**
     * Drains the outbox.
     */
    public function execute() {
        $client = hub_client::from_config();
        $problem = $client->events_problem();
        if ($problem !== null) {
            mtrace('local_mih: the setting local_mih/' . $problem . ' is missing or not valid; the outbox waits.');
            return;
        }
        observer::set_sending(true);
        try {
            $result = (new flusher(new outbox(), $client))->flush(microtime(true) + self::TIME_BUDGET);
        } finally {
            observer::set_sending(false);
        }
        hub_state::record($result, 'task', time());
        mtrace('local_mih: ' . $result->summary());
    }
}
