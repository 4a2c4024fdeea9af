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

namespace local_mih\external;

use core_external\external_api;
use core_external\external_function_parameters;
use core_external\external_multiple_structure;
use core_external\external_single_structure;
use core_external\external_value;
use core_external\external_warnings;

/**
 * local_mih_update_enrolments: the status and dates of existing manual enrolments.
 *
 * It does what course_enrolment_manager::edit_enrolment() does for the participants page:
 * enrol_plugin::update_user_enrol(), which fires user_enrolment_updated and nothing else. Unlike
 * enrol_manual_enrol_users (enrol_user(), whose after_user_enrolled hook makes enrol_manual send
 * the course welcome message again in Moodle 4.4 and later), it never creates an enrolment and
 * never sends a message. Each enrolment is updated on its own; one that cannot be is reported as
 * a warning whose itemid is its index in the call.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class update_enrolments extends external_api {
    /**
     * Parameters: the enrolments, by course and user.
     *
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'enrolments' => new external_multiple_structure(new external_single_structure([
                'courseid' => new external_value(PARAM_INT, 'The course'),
                'userid' => new external_value(PARAM_INT, 'The enrolled user'),
                // Omitted means unchanged: a suspension must not wipe the enrolment's dates.
                'suspend' => new external_value(PARAM_INT, '1: suspended, 0: active; omitted: unchanged', VALUE_OPTIONAL),
                'timestart' => new external_value(PARAM_INT, 'Start of the enrolment, 0: none; omitted: unchanged',
                    VALUE_OPTIONAL),
                'timeend' => new external_value(PARAM_INT, 'End of the enrolment, 0: none; omitted: unchanged', VALUE_OPTIONAL),
            ])),
        ]);
    }

    /**
     * Updates the enrolments.
     *
     * @param array $enrolments
     * @return array the number updated, and a warning for each that was not
     */
    public static function execute(array $enrolments): array {
        global $CFG, $DB;
        require_once($CFG->libdir . '/enrollib.php');
        $params = self::validate_parameters(self::execute_parameters(), ['enrolments' => $enrolments]);
        $plugin = enrol_get_plugin('manual');
        $updated = 0;
        $warnings = [];
        $warn = function (int $index, string $code, string $message) use (&$warnings) {
            $warnings[] = ['item' => 'enrolment', 'itemid' => $index, 'warningcode' => $code, 'message' => $message];
        };
        foreach ($params['enrolments'] as $index => $e) {
            $context = \context_course::instance($e['courseid'], IGNORE_MISSING);
            if (!$context) {
                $warn($index, 'invalidcourseid', 'No course ' . $e['courseid']);
                continue;
            }
            self::validate_context($context);
            require_capability('enrol/manual:manage', $context);
            // The course's first enabled manual instance, as enrol_manual_enrol_users picks it.
            $instance = null;
            foreach (enrol_get_instances($e['courseid'], true) as $candidate) {
                if ($candidate->enrol === 'manual') {
                    $instance = $candidate;
                    break;
                }
            }
            if (!$instance || !$plugin->allow_manage($instance)) {
                $warn($index, 'wsnoinstance', 'No enabled manual enrolment instance in course ' . $e['courseid']);
                continue;
            }
            if (!$DB->record_exists('user_enrolments', ['enrolid' => $instance->id, 'userid' => $e['userid']])) {
                $warn($index, 'notenrolled', 'User ' . $e['userid'] . ' is not enrolled in course ' . $e['courseid'] .
                    ' through its manual instance');
                continue;
            }
            // update_user_enrol() leaves a null field as it is.
            $status = null;
            if (isset($e['suspend'])) {
                $status = $e['suspend'] ? ENROL_USER_SUSPENDED : ENROL_USER_ACTIVE;
            }
            $plugin->update_user_enrol($instance, $e['userid'], $status, $e['timestart'] ?? null, $e['timeend'] ?? null);
            $updated++;
        }
        return ['updated' => $updated, 'warnings' => $warnings];
    }

    /**
     * What it returns.
     *
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'updated' => new external_value(PARAM_INT, 'How many enrolments were updated'),
            'warnings' => new external_warnings('always "enrolment"', 'the index of the enrolment in the call'),
        ]);
    }
}
