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
 * Tests of \local_mih\event_filter.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

use local_mih\event_filter;
use local_mih_test\t;

defined('MOODLE_INTERNAL') || die();

return [
    'matching' => function () {
        $cases = [
            // Include, exclude, event name, want.
            ['', '', '\core\event\user_created', true],
            ["\n  \n", '', '\core\event\user_created', true],
            ['\core\event\user_created', '', '\core\event\user_created', true],
            ['\core\event\user_created', '', '\core\event\user_created_x', false],
            ['\core\event\user_created', '', '\core\event\course_created', false],
            ['core\event\user_created', '', '\core\event\user_created', true],
            ['\core\event\user_*', '', '\core\event\user_loggedin', true],
            ['\core\event\user_*', '', '\core\event\course_created', false],
            ['\mod_*', '', '\mod_assign\event\submission_created', true],
            ['*', '', '\mod_forum\event\post_created', true],
            ['*created', '', '\mod_forum\event\post_created', true],
            ['*created', '', '\mod_forum\event\post_updated', false],
            ['\CORE\EVENT\USER_CREATED', '', '\core\event\user_created', true],
            ["# users only\n\\core\\event\\user_*\n\\core\\event\\course_created", '', '\core\event\course_created', true],
            ['', '\core\event\webservice_function_called', '\core\event\webservice_function_called', false],
            ['', '\core\event\webservice_function_called', '\core\event\user_created', true],
            ['\core\event\*', '\core\event\user_loggedin', '\core\event\user_loggedin', false],
            ['\core\event\*', '\core\event\user_loggedin', '\core\event\user_loggedout', true],
            ['\core\event\user.created', '', '\core\event\userxcreated', false],
            ['\core\event\user_(created)', '', '\core\event\user_created', false],
            ['', '', 'core\event\user_created', true],
        ];
        foreach ($cases as [$include, $exclude, $name, $want]) {
            $f = new event_filter($include, $exclude);
            t::eq($f->matches($name), $want, json_encode([$include, $exclude, $name]));
        }
    },
    'patterns' => function () {
        t::eq(event_filter::patterns("  a \r\n\n# comment\r\nb\n"), ['a', 'b']);
    },
];
