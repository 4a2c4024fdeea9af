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
 * The outbox page: what waits for the hub, the last delivery, and the dead events with their reasons.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

require_once(__DIR__ . '/../../config.php');
require_once($CFG->libdir . '/adminlib.php');

use local_mih\hub_client;
use local_mih\hub_state;
use local_mih\outbox;

admin_externalpage_setup('local_mih_outbox');

$action = optional_param('action', '', PARAM_ALPHA);
$id = optional_param('id', 0, PARAM_INT);
$confirm = optional_param('confirm', 0, PARAM_BOOL);
$url = new moodle_url('/local/mih/index.php');

if ($action === 'requeue') {
    require_sesskey();
    outbox::requeue($id ?: null);
    redirect($url, get_string('deadrequeued', 'local_mih'), null, \core\output\notification::NOTIFY_SUCCESS);
}
if ($action === 'delete') {
    if (!$confirm) {
        echo $OUTPUT->header();
        echo $OUTPUT->confirm(
            get_string('confirmdeletedead', 'local_mih'),
            new moodle_url($url, ['action' => 'delete', 'id' => $id, 'confirm' => 1, 'sesskey' => sesskey()]),
            $url
        );
        echo $OUTPUT->footer();
        die();
    }
    require_sesskey();
    outbox::delete_dead($id ?: null);
    redirect($url, get_string('deaddeleted', 'local_mih'), null, \core\output\notification::NOTIFY_SUCCESS);
}

/**
 * Formats a Unix time for the page, or a dash for none.
 *
 * @param int|null $time The time.
 * @return string
 */
function local_mih_time(?int $time): string {
    return $time ? userdate($time, get_string('strftimedatetimeshort', 'core_langconfig')) : '-';
}

echo $OUTPUT->header();
echo $OUTPUT->heading(get_string('outbox', 'local_mih'));

$problem = hub_client::from_config()->events_problem();
if ($problem !== null) {
    echo $OUTPUT->notification(
        get_string('notconfigured', 'local_mih', 'local_mih/' . $problem),
        \core\output\notification::NOTIFY_WARNING
    );
}

$stats = outbox::stats();
echo html_writer::tag('p', get_string('outboxstatus', 'local_mih', $stats));
if ($stats->oldest) {
    echo html_writer::tag('p', get_string('oldestwaiting', 'local_mih', local_mih_time((int) $stats->oldest)));
}
$last = hub_state::last();
if ($last) {
    echo html_writer::tag('p', get_string('lastflush', 'local_mih', (object) [
        'time' => local_mih_time((int) $last['time']),
        'source' => s($last['source']),
        'summary' => s($last['summary']),
    ]));
} else {
    echo html_writer::tag('p', get_string('lastflushnone', 'local_mih'));
}

echo $OUTPUT->heading(get_string('waitingevents', 'local_mih'), 3);
$table = new html_table();
$table->head = [
    get_string('eventid', 'local_mih'), get_string('eventname', 'local_mih'), get_string('timecreated', 'local_mih'),
    get_string('attempts', 'local_mih'), get_string('nextattempt', 'local_mih'), get_string('lasterror', 'local_mih'),
];
foreach (outbox::rows(outbox::STATE_WAITING, 50) as $row) {
    $table->data[] = [s($row->eventid), s($row->eventname), local_mih_time((int) $row->timecreated), (int) $row->attempts,
        local_mih_time((int) $row->nextattempt), s((string) $row->lasterror)];
}
if ($table->data) {
    echo html_writer::table($table);
}

echo $OUTPUT->heading(get_string('deadevents', 'local_mih'), 3);
echo html_writer::tag('p', get_string('deadevents_desc', 'local_mih', outbox::MAX_REJECTIONS));
$dead = outbox::rows(outbox::STATE_DEAD, 100);
if (!$dead) {
    echo html_writer::tag('p', get_string('nodead', 'local_mih'));
} else {
    $table = new html_table();
    $table->head = [
        get_string('eventid', 'local_mih'), get_string('eventname', 'local_mih'), get_string('timecreated', 'local_mih'),
        get_string('lasterror', 'local_mih'), get_string('actions', 'local_mih'),
    ];
    foreach ($dead as $row) {
        $actions = $OUTPUT->single_button(
            new moodle_url($url, ['action' => 'requeue', 'id' => $row->id]),
            get_string('requeue', 'local_mih'),
            'post'
        ) .
            $OUTPUT->single_button(
                new moodle_url($url, ['action' => 'delete', 'id' => $row->id]),
                get_string('delete', 'local_mih'),
                'get'
            );
        $table->data[] = [s($row->eventid), s($row->eventname), local_mih_time((int) $row->timecreated),
            s((string) $row->lasterror), $actions];
    }
    echo html_writer::table($table);
    echo $OUTPUT->single_button(new moodle_url($url, ['action' => 'requeue']), get_string('requeueall', 'local_mih'), 'post');
    echo $OUTPUT->single_button(new moodle_url($url, ['action' => 'delete']), get_string('deleteall', 'local_mih'), 'get');
}

echo $OUTPUT->footer();
