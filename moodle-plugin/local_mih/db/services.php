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
 * Web Service functions of local_mih.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$functions = [];

// The function is written against core_external (Moodle 4.2 and later); the welcome message it
// avoids came with 4.4.
if (class_exists(\core_external\external_api::class)) {
    $functions = [
        // Course sync suspends and reactivates through it: enrol_manual_enrol_users on an existing
        // enrolment goes through enrol_user(), which in Moodle 4.4+ sends the course welcome message
        // again, and core_enrol_submit_user_enrolment_form cannot be called with a token (its form
        // checks the session's sesskey).
        'local_mih_update_enrolments' => [
            'classname'    => \local_mih\external\update_enrolments::class,
            'description'  => 'Sets the status and dates of existing manual enrolments, as the participants page\'s '
                . '"Edit enrolment" does: no enrolment is created and no message is sent.',
            'type'         => 'write',
            'capabilities' => 'enrol/manual:manage',
        ],
    ];
}
