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

namespace local_mih\privacy;

use core_privacy\local\metadata\collection;
use core_privacy\local\request\approved_contextlist;
use core_privacy\local\request\approved_userlist;
use core_privacy\local\request\contextlist;
use core_privacy\local\request\userlist;
use core_privacy\local\request\writer;
use local_mih\outbox;

/**
 * Privacy provider: every event, with the users it names, leaves the site for the integration hub;
 * until it has, it waits in the outbox table.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class provider implements
    \core_privacy\local\metadata\provider,
    \core_privacy\local\request\core_userlist_provider,
    \core_privacy\local\request\plugin\provider {
    /**
     * Describes the data the plugin keeps and sends.
     *
     * @param collection $collection The collection to add to.
     * @return collection
     */
    public static function get_metadata(collection $collection): collection {
        $fields = [
            'eventname' => 'privacy:metadata:hub:eventname',
            'userid' => 'privacy:metadata:hub:userid',
            'relateduserid' => 'privacy:metadata:hub:relateduserid',
            'realuserid' => 'privacy:metadata:hub:realuserid',
            'courseid' => 'privacy:metadata:hub:courseid',
            'contextid' => 'privacy:metadata:hub:contextid',
            'objectid' => 'privacy:metadata:hub:objectid',
            'other' => 'privacy:metadata:hub:other',
            'ip' => 'privacy:metadata:hub:ip',
            'origin' => 'privacy:metadata:hub:origin',
            'timecreated' => 'privacy:metadata:hub:timecreated',
        ];
        $collection->add_external_location_link('hub', $fields, 'privacy:metadata:hub');
        $collection->add_database_table(outbox::TABLE, [
            'eventname' => 'privacy:metadata:outbox:eventname',
            'payload' => 'privacy:metadata:outbox:payload',
            'userid' => 'privacy:metadata:outbox:userid',
            'relateduserid' => 'privacy:metadata:outbox:relateduserid',
            'realuserid' => 'privacy:metadata:outbox:realuserid',
            'timecreated' => 'privacy:metadata:outbox:timecreated',
        ], 'privacy:metadata:outbox');
        return $collection;
    }

    /**
     * The contexts of the waiting events that name a user.
     *
     * @param int $userid The user.
     * @return contextlist
     */
    public static function get_contexts_for_userid(int $userid): contextlist {
        $contextlist = new contextlist();
        $contextlist->add_from_sql(
            'SELECT DISTINCT contextid FROM {' . outbox::TABLE . '}
                                     WHERE userid = :u1 OR relateduserid = :u2 OR realuserid = :u3',
            ['u1' => $userid, 'u2' => $userid, 'u3' => $userid]
        );
        return $contextlist;
    }

    /**
     * The users named by waiting events in a context.
     *
     * @param userlist $userlist The list to add to.
     */
    public static function get_users_in_context(userlist $userlist) {
        $sql = 'SELECT %s FROM {' . outbox::TABLE . '} WHERE contextid = :contextid AND %s IS NOT NULL';
        $params = ['contextid' => $userlist->get_context()->id];
        foreach (['userid', 'relateduserid', 'realuserid'] as $field) {
            $userlist->add_from_sql($field, sprintf($sql, $field, $field), $params);
        }
    }

    /**
     * Exports the waiting events that name the user.
     *
     * @param approved_contextlist $contextlist The user and contexts.
     */
    public static function export_user_data(approved_contextlist $contextlist) {
        global $DB;
        $userid = $contextlist->get_user()->id;
        foreach ($contextlist->get_contexts() as $context) {
            $rows = $DB->get_records_select(
                outbox::TABLE,
                'contextid = :contextid AND (userid = :u1 OR relateduserid = :u2 OR realuserid = :u3)',
                ['contextid' => $context->id, 'u1' => $userid, 'u2' => $userid, 'u3' => $userid],
                'id ASC',
                'id, eventname, payload, timecreated'
            );
            if (!$rows) {
                continue;
            }
            $events = [];
            foreach ($rows as $row) {
                $events[] = (object) [
                    'eventname' => $row->eventname,
                    'timecreated' => \core_privacy\local\request\transform::datetime($row->timecreated),
                    'data' => json_decode($row->payload),
                ];
            }
            writer::with_context($context)->export_data(
                [get_string('privacy:path', 'local_mih')],
                (object) ['events' => $events]
            );
        }
    }

    /**
     * Deletes the waiting events of a context: they are then never sent.
     *
     * @param \context $context The context.
     */
    public static function delete_data_for_all_users_in_context(\context $context) {
        global $DB;
        $DB->delete_records(outbox::TABLE, ['contextid' => $context->id]);
    }

    /**
     * Deletes the waiting events that name the user in the given contexts.
     *
     * @param approved_contextlist $contextlist The user and contexts.
     */
    public static function delete_data_for_user(approved_contextlist $contextlist) {
        global $DB;
        $contextids = $contextlist->get_contextids();
        if (!$contextids) {
            return;
        }
        $userid = $contextlist->get_user()->id;
        [$insql, $params] = $DB->get_in_or_equal($contextids, SQL_PARAMS_NAMED, 'ctx');
        $DB->delete_records_select(
            outbox::TABLE,
            'contextid ' . $insql . ' AND (userid = :u1 OR relateduserid = :u2 OR realuserid = :u3)',
            $params + ['u1' => $userid, 'u2' => $userid, 'u3' => $userid]
        );
    }

    /**
     * Deletes the waiting events that name any of the users in a context.
     *
     * @param approved_userlist $userlist The context and users.
     */
    public static function delete_data_for_users(approved_userlist $userlist) {
        global $DB;
        $userids = $userlist->get_userids();
        if (!$userids) {
            return;
        }
        $where = [];
        $params = ['contextid' => $userlist->get_context()->id];
        foreach (['userid', 'relateduserid', 'realuserid'] as $field) {
            [$insql, $inparams] = $DB->get_in_or_equal($userids, SQL_PARAMS_NAMED, $field);
            $where[] = $field . ' ' . $insql;
            $params += $inparams;
        }
        $DB->delete_records_select(outbox::TABLE, 'contextid = :contextid AND (' . implode(' OR ', $where) . ')', $params);
    }
}
