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
 * English strings of local_mih.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$string['actions'] = 'Actions';
$string['attempts'] = 'Failed sends';
$string['cachedef_hubstate'] = 'Whether the integration hub was just found down, and the last delivery to it';
$string['confirmdeletedead'] = 'Delete every dead event? They will never reach the hub.';
$string['deadevents'] = 'Dead events';
$string['deadevents_desc'] = 'The hub refused these events {$a} times. They are kept here until you requeue them (after fixing the cause) or delete them.';
$string['deadrequeued'] = 'The dead events are back in the queue.';
$string['deaddeleted'] = 'The dead events were deleted.';
$string['delete'] = 'Delete';
$string['deleteall'] = 'Delete all dead events';
$string['eventid'] = 'Event id';
$string['eventname'] = 'Event';
$string['exclude'] = 'Excluded events';
$string['exclude_desc'] = 'Event names never to send, one per line; * matches anything, e.g. <code>\core\event\webservice_function_called</code> or <code>\mod_forum\event\*</code>. Exclusions win over inclusions.';
$string['hub_url'] = 'Hub URL';
$string['hub_url_desc'] = 'The root URL of the integration hub, e.g. <code>https://mih.example.edu</code>; the plugin adds <code>/api/v1/…</code>. Nothing is queued while it is empty. A hub on a private address or on a port other than 80 and 443 must be allowed in the HTTP security settings (curlsecurityblockedhosts, curlsecurityallowedport).';
$string['include'] = 'Included events';
$string['include_desc'] = 'Event names to send, one per line; * matches anything, e.g. <code>\core\event\user_*</code>. Empty: every event.';
$string['lasterror'] = 'Last error';
$string['lastflush'] = 'Last delivery: {$a->time} ({$a->source}): {$a->summary}';
$string['lastflushnone'] = 'No delivery since the caches were last purged.';
$string['nextattempt'] = 'Next attempt';
$string['nodead'] = 'No dead events.';
$string['notconfigured'] = 'Events are not sent: the setting {$a} is missing or not valid.';
$string['oldestwaiting'] = 'Oldest waiting event: {$a}';
$string['outbox'] = 'Outbox';
$string['outboxstatus'] = '{$a->waiting} events waiting, {$a->dead} dead.';
$string['pluginname'] = 'Integration hub (mih)';
$string['privacy:metadata:hub'] = 'Every Moodle event, or those the include and exclude settings select, is sent to the integration hub configured by the site administrator, which forwards it to the external services its rules name.';
$string['privacy:metadata:hub:contextid'] = 'The context of the event.';
$string['privacy:metadata:hub:courseid'] = 'The course of the event.';
$string['privacy:metadata:hub:eventname'] = 'The name of the event.';
$string['privacy:metadata:hub:ip'] = 'The IP address of the request that triggered the event.';
$string['privacy:metadata:hub:objectid'] = 'The object the event is about.';
$string['privacy:metadata:hub:origin'] = 'Where the request came from: web, web service, command line, restore.';
$string['privacy:metadata:hub:other'] = 'Further data of the event, such as a username or a grade.';
$string['privacy:metadata:hub:realuserid'] = 'The real user, when a user is logged in as another.';
$string['privacy:metadata:hub:relateduserid'] = 'The user the event is about.';
$string['privacy:metadata:hub:timecreated'] = 'When the event happened.';
$string['privacy:metadata:hub:userid'] = 'The user who caused the event.';
$string['privacy:metadata:outbox'] = 'Events wait in the outbox until the integration hub has stored them, then they are deleted.';
$string['privacy:metadata:outbox:eventname'] = 'The name of the event.';
$string['privacy:metadata:outbox:payload'] = 'The event\'s data as it will be sent.';
$string['privacy:metadata:outbox:realuserid'] = 'The real user, when a user is logged in as another.';
$string['privacy:metadata:outbox:relateduserid'] = 'The user the event is about.';
$string['privacy:metadata:outbox:timecreated'] = 'When the event happened.';
$string['privacy:metadata:outbox:userid'] = 'The user who caused the event.';
$string['privacy:path'] = 'Events waiting for the integration hub';
$string['requeue'] = 'Requeue';
$string['requeueall'] = 'Requeue all dead events';
$string['secret'] = 'Signing secret';
$string['secret_desc'] = 'The <code>whsec_…</code> secret the hub holds as this site\'s <code>plugin_secret</code>. Every batch of events is signed with it (Standard Webhooks); the hub refuses batches whose signature does not match.';
$string['settings'] = 'Settings';
$string['site'] = 'Site name';
$string['site_desc'] = 'The name of this Moodle site in the hub (sent as X-MIH-Site).';
$string['taskflushoutbox'] = 'Send waiting events to the integration hub';
$string['timecreated'] = 'Time';
$string['timeout'] = 'Timeout (seconds)';
$string['timeout_desc'] = 'How long sending a batch of events may take, and how long to wait for a connection to the hub (gateway calls included). Kept short: the end-of-request delivery must never keep a page waiting; whatever is not sent then waits for the scheduled task.';
$string['token'] = 'Hub API token';
$string['token_desc'] = 'A hub API token, for gateway calls from Moodle code (<code>\local_mih\mih::request()</code>). Events do not need it.';
$string['waitingevents'] = 'Waiting events';
