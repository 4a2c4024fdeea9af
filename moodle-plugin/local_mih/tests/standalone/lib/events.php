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

/**
 * Event data shaped like \core\event\base::get_data() on a real site.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class events {
    /**
     * A user_created event.
     *
     * @param int $userid The new user's id.
     * @param array $overrides Fields to replace.
     * @return array
     */
    public static function user_created(int $userid, array $overrides = []): array {
        return $overrides + [
            'eventname' => '\core\event\user_created',
            'component' => 'core',
            'action' => 'created',
            'target' => 'user',
            'objecttable' => 'user',
            'objectid' => $userid,
            'crud' => 'c',
            'edulevel' => 0,
            'contextid' => 100 + $userid,
            'contextlevel' => 30,
            'contextinstanceid' => $userid,
            'userid' => 2,
            'courseid' => 0,
            'relateduserid' => $userid,
            'anonymous' => 0,
            'other' => null,
            'timecreated' => 1767000000,
        ];
    }

    /**
     * Many user_created events.
     *
     * @param int $count How many.
     * @return array[]
     */
    public static function many(int $count): array {
        $out = [];
        for ($i = 1; $i <= $count; $i++) {
            $out[] = self::user_created($i);
        }
        return $out;
    }
}
