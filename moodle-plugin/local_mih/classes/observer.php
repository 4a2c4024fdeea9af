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
 * Puts every event into the outbox, and sends this request's events when the request ends.
 *
 * The observer is registered for "*" with internal => true: Moodle calls it at once, inside the
 * database transaction of the change, so the outbox row commits or rolls back with the change. It
 * makes no network call there; it only inserts the row. Sending happens after the response (a
 * shutdown function, bounded by the timeout setting) and, for whatever is left, in the scheduled task
 * \local_mih\task\flush_outbox.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class observer {
    /** @var bool Whether the plugin is sending: events it causes then (curl's url_blocked) are not queued. */
    private static $sending = false;

    /** @var bool Whether this request already registered its shutdown flush. */
    private static $registered = false;

    /** @var int[] The outbox rows this request added, for its shutdown flush. */
    private static $ids = [];

    /** @var event_filter|null The filter, built once per request. */
    private static $filter = null;

    /** @var string|null The settings the filter was built from. */
    private static $filterkey = null;

    /**
     * Handles any event.
     *
     * @param \core\event\base $event The event.
     */
    public static function event(\core\event\base $event): void {
        global $CFG;
        if (self::$sending || during_initial_install() || !empty($CFG->upgraderunning)) {
            return;
        }
        try {
            $config = get_config('local_mih');
            // The plugin's code can be on disk before its tables exist (between copying the files and
            // running the upgrade): a failed insert inside the caller's transaction would break it.
            if (empty($config->version) || empty($config->hub_url)) {
                return;
            }
            if (!self::filter((string) ($config->include ?? ''), (string) ($config->exclude ?? ''))->matches($event->eventname)) {
                return;
            }
            $id = outbox::add($event);
            if (count(self::$ids) < flusher::BATCH_SIZE) {
                self::$ids[] = $id;
            }
            self::register_shutdown();
        } catch (\Throwable $e) {
            debugging('local_mih: event ' . $event->eventname . ' was not queued: ' . $e->getMessage(), DEBUG_DEVELOPER);
        }
    }

    /**
     * Marks the plugin as sending, or not: events triggered meanwhile are not queued, so that a
     * failed send cannot feed the outbox with the events of its own failure.
     *
     * @param bool $sending Whether the plugin is sending.
     */
    public static function set_sending(bool $sending): void {
        self::$sending = $sending;
    }

    /**
     * The filter of the current settings.
     *
     * @param string $include The include setting.
     * @param string $exclude The exclude setting.
     * @return event_filter
     */
    private static function filter(string $include, string $exclude): event_filter {
        $key = $include . "\0" . $exclude;
        if (self::$filter === null || self::$filterkey !== $key) {
            self::$filter = new event_filter($include, $exclude);
            self::$filterkey = $key;
        }
        return self::$filter;
    }

    /**
     * Registers the end-of-request flush, once per request.
     */
    private static function register_shutdown(): void {
        if (self::$registered) {
            return;
        }
        self::$registered = true;
        if ((defined('PHPUNIT_TEST') && PHPUNIT_TEST) || (defined('CLI_UPGRADE_RUNNING') && CLI_UPGRADE_RUNNING)) {
            return;
        }
        \core_shutdown_manager::register_function([self::class, 'request_ending']);
    }

    /**
     * Moodle's shutdown callback.
     *
     * Moodle runs it before it closes the session and rolls back a forgotten transaction. Sending now
     * would hold the user's session lock while waiting for the hub, so the flush is deferred to a PHP
     * shutdown function, which runs after Moodle's handler has finished.
     */
    public static function request_ending(): void {
        register_shutdown_function([self::class, 'flush_request_events']);
    }

    /**
     * Sends the events this request added. Never throws, never waits longer than the timeout setting.
     */
    public static function flush_request_events(): void {
        global $CFG, $DB;
        $ids = self::$ids;
        self::$ids = [];
        try {
            if (!$ids || !empty($CFG->upgraderunning) || $DB->is_transaction_started() || hub_state::is_down(time())) {
                // The rows wait for the scheduled task.
                return;
            }
            $client = hub_client::from_config();
            if ($client->events_problem() !== null) {
                return;
            }
            if (!CLI_SCRIPT && function_exists('fastcgi_finish_request')) {
                // The page is complete: let the browser have it before talking to the hub.
                fastcgi_finish_request();
            }
            self::$sending = true;
            $result = (new flusher(new outbox(), $client))->flush(microtime(true) + $client->timeout(), $ids);
            hub_state::record($result, 'request', time());
        } catch (\Throwable $e) {
            // Nothing is lost: whatever was not sent waits in the outbox for the scheduled task.
            debugging('local_mih: end-of-request flush failed: ' . $e->getMessage(), DEBUG_DEVELOPER);
        } finally {
            self::$sending = false;
        }
    }
}
