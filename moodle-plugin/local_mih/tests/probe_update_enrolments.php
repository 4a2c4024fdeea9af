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

/**
 * Runs local_mih_update_enrolments' implementation against a Moodle where the plugin is not
 * installed, as the admin, and counts the course welcome messages it caused (rows Moodle writes
 * to {notifications} before delivering them). A developer's check on a real site:
 *
 *   php probe_update_enrolments.php /path/to/moodle/config.php COURSEID USERID SUSPEND
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

define('CLI_SCRIPT', true);
[$_, $config, $courseid, $userid, $suspend] = $argv;
require($config);
require_once(__DIR__ . '/../classes/external/update_enrolments.php');
\core\session\manager::set_user(get_admin());
$count = fn() => $DB->count_records('notifications', ['component' => 'moodle', 'eventtype' => 'enrolcoursewelcomemessage']);
$before = $count();
$class = \local_mih\external\update_enrolments::class;
$result = $class::execute([['courseid' => (int) $courseid, 'userid' => (int) $userid, 'suspend' => (int) $suspend]]);
$result = \core_external\external_api::clean_returnvalue($class::execute_returns(), $result);
$ue = $DB->get_record_sql('SELECT ue.status, ue.timestart, ue.timeend FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
    WHERE e.courseid = ? AND e.enrol = ? AND ue.userid = ?', [$courseid, 'manual', $userid]);
echo json_encode(['result' => $result, 'enrolment' => $ue, 'welcome_before' => $before, 'welcome_after' => $count()]), "\n";
