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
 * Tests of the outbox's rules: the rows, the batches, and the flusher over an in-memory outbox.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

use local_mih\batch;
use local_mih\flusher;
use local_mih\http_result;
use local_mih\hub_client;
use local_mih\outbox;
use local_mih\signer;
use local_mih_test\events;
use local_mih_test\fake_hub;
use local_mih_test\memory_store;
use local_mih_test\t;

defined('MOODLE_INTERNAL') || die();

/** @var string The site's plugin_secret in these tests. */
const LOCAL_MIH_TEST_PLUGIN_SECRET = 'whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng==';

/**
 * A fake hub, an in-memory outbox and a flusher between them, with a clock the test moves.
 *
 * @return array [fake_hub, memory_store, flusher, clock (an object with a float $now)]
 */
function local_mih_test_setup(): array {
    $hub = new fake_hub(LOCAL_MIH_TEST_PLUGIN_SECRET);
    $store = new memory_store();
    $clock = new \stdClass();
    $clock->now = 1767000000.0;
    $client = new hub_client([
        'hub_url' => 'http://127.0.0.1:8080',
        'site' => 'main',
        'secret' => LOCAL_MIH_TEST_PLUGIN_SECRET,
        'timeout' => '2',
    ], $hub, function () use ($clock): int {
        return (int) $clock->now;
    });
    $flusher = new flusher($store, $client, function () use ($clock): float {
        return $clock->now;
    });
    return [$hub, $store, $flusher, $clock];
}

return [
    'the row of an event' => function () {
        $data = events::user_created(42, ['other' => ['username' => "zoë \"z\"\n", 'bad' => "\xff\xfe", 'grade' => 7.0]]);
        $row = outbox::build_record($data, 'ws', '10.0.0.9', 3, 'local_mih:u-1', 1767000001);
        $payload = json_decode($row->payload, true);
        t::eq($payload['eventname'], '\core\event\user_created');
        t::eq($payload['relateduserid'], 42);
        t::eq($payload['other']['username'], "zoë \"z\"\n");
        t::eq($payload['other']['bad'], "\u{FFFD}\u{FFFD}", 'invalid UTF-8 is replaced, the event kept');
        t::ok(strpos($row->payload, '"grade":7.0') !== false, 'a float stays a float');
        t::eq([$payload['ip'], $payload['origin'], $payload['realuserid'], $payload['id']], ['10.0.0.9', 'ws', 3, 'local_mih:u-1']);
        t::eq(
            [$row->eventid, $row->eventname, $row->contextid, $row->userid, $row->relateduserid, $row->realuserid],
            ['local_mih:u-1', '\core\event\user_created', 142, 2, 42, 3]
        );
        t::eq([$row->state, $row->attempts, $row->rejections, $row->nextattempt, $row->timecreated], [0, 0, 0, 0, 1767000001]);
    },
    'an unencodable value does not lose the event' => function () {
        $row = outbox::build_record(events::user_created(1, ['other' => ['x' => INF]]), 'cli', null, null, 'local_mih:u-2', 1);
        $payload = json_decode($row->payload, true);
        t::eq($payload['eventname'], '\core\event\user_created');
        t::eq($payload['ip'], null);
        t::ok(array_key_exists('x', $payload['other']), 'the field is kept (as 0 or null)');
    },
    'secrets in config changes never leave the site' => function () {
        $cases = [
            ['secret', 'local_mih', 'whsec_abc', '', '********', ''],
            ['token', 'local_mih', 'mih_new', 'mih_old', '********', '********'],
            ['smtppass', null, 'p4ss', 'old', '********', '********'],
            ['bind_pw', 'auth_ldap', 'ldapbindsecret9', '', '********', ''],
            ['recaptchaprivatekey', null, 'captchakey77', '', '********', ''],
            ['hub_url', 'local_mih', 'http://127.0.0.1:18091', '', 'http://127.0.0.1:18091', ''],
        ];
        foreach ($cases as [$name, $plugin, $value, $old, $wantvalue, $wantold]) {
            $data = events::user_created(1, ['eventname' => '\core\event\config_log_created',
                'other' => ['name' => $name, 'oldvalue' => $old, 'value' => $value, 'plugin' => $plugin]]);
            $row = outbox::build_record($data, 'cli', null, null, 'local_mih:c', 1);
            $other = json_decode($row->payload, true)['other'];
            t::eq([$other['value'], $other['oldvalue']], [$wantvalue, $wantold], $name);
            t::ok($value === $wantvalue || strpos($row->payload, $value) === false, "{$name}: the value is not in the payload");
        }
        $other = ['name' => 'secret', 'value' => 'v'];
        $row = outbox::build_record(events::user_created(1, ['other' => $other]), 'cli', null, null, 'local_mih:d', 1);
        t::eq(json_decode($row->payload, true)['other'], $other, 'other events are untouched');
    },
    'the body of a batch' => function () {
        t::eq(batch::body(['{"a":1}', '{"b":2}']), '{"events":[{"a":1},{"b":2}]}');
        t::eq(batch::body([]), '{"events":[]}');
    },
    'classifying answers' => function () {
        $cases = [[200, batch::OK], [202, batch::OK], [400, batch::REJECT], [413, batch::REJECT], [422, batch::REJECT],
            [401, batch::RETRY], [403, batch::RETRY], [404, batch::RETRY], [408, batch::RETRY], [429, batch::RETRY],
            [500, batch::RETRY], [503, batch::RETRY], [0, batch::RETRY]];
        foreach ($cases as [$status, $want]) {
            t::eq(batch::classify(new http_result($status)), $want, "HTTP {$status}");
        }
    },
    'finding the refused event' => function () {
        t::eq(batch::rejected_index(fake_hub::error(400, 'invalid', 'event 7: eventname: required'), 10), 7);
        t::eq(batch::rejected_index(fake_hub::error(400, 'invalid', 'event 10: eventname: required'), 10), null);
        t::eq(batch::rejected_index(fake_hub::error(400, 'invalid', 'body is not valid JSON'), 10), null);
        t::eq(batch::rejected_index(new http_result(400, 'not json'), 10), null);
    },
    'refusal delays' => function () {
        t::eq(array_map([batch::class, 'reject_delay'], [1, 2, 3, 20]), [60, 240, 960, 86400]);
    },
    'a signed batch' => function () {
        [$hub, $store, $flusher] = local_mih_test_setup();
        $store->add(events::many(2));
        $flusher->flush();
        $req = $hub->requests[0];
        t::eq($req['url'], 'http://127.0.0.1:8080/api/v1/events');
        t::eq($req['headers']['X-MIH-Site'], 'main');
        t::eq($req['headers']['webhook-timestamp'], '1767000000');
        t::ok(strpos($req['headers']['webhook-id'], 'msg_') === 0, 'the message id');
        t::eq($req['headers']['webhook-signature'], signer::sign(
            LOCAL_MIH_TEST_PLUGIN_SECRET,
            $req['headers']['webhook-id'],
            1767000000,
            $req['body']
        ));
        t::eq(count(json_decode($req['body'], true)['events']), 2);
        t::eq([$req['timeout'], $req['connecttimeout']], [2.0, 2.0]);
    },
    'drains in batches and deletes what the hub stored' => function () {
        [$hub, $store, $flusher] = local_mih_test_setup();
        $store->add(events::many(1234));
        $result = $flusher->flush();
        t::eq([$result->sent, $result->posts, $result->failed], [1234, 3, false]);
        t::eq(count($store->rows), 0);
        t::eq(count($hub->stored), 1234);
        t::eq(max($hub->stored), 1, 'no event stored twice');
        $sizes = array_map(function (array $r): int {
            return count(json_decode($r['body'], true)['events']);
        }, $hub->requests);
        t::eq($sizes, [500, 500, 234]);
    },
    'hub down: everything waits, one request, nothing dies' => function () {
        [$hub, $store, $flusher] = local_mih_test_setup();
        $store->add(events::many(700));
        foreach (['down', 'timeout', 500, 503, 401, 403, 404, 429] as $mode) {
            $hub->mode = $mode;
            $hub->requests = [];
            $result = $flusher->flush();
            t::eq([$result->failed, $result->sent, $result->posts, count($store->rows)], [true, 0, 1, 700], (string) $mode);
            t::eq(count($store->in_state(outbox::STATE_DEAD)), 0, "no dead rows after {$mode}");
        }
        $row = reset($store->rows);
        t::eq([$row->attempts, $row->rejections, $row->nextattempt, $row->claimtoken], [8, 0, 0, '']);
        t::ok(strpos($row->lasterror, 'HTTP 429') === 0, 'the last error is kept: ' . $row->lasterror);
        $hub->mode = 'up';
        $result = $flusher->flush();
        t::eq(
            [$result->failed, $result->sent, count($store->rows), count($hub->stored)],
            [false, 700, 0, 700],
            'one flush after the hub is back delivers everything'
        );
    },
    'a bad event the hub names is set aside, the rest goes' => function () {
        [$hub, $store, $flusher] = local_mih_test_setup();
        $events = events::many(10);
        $events[7]['eventname'] = '';
        $ids = $store->add($events);
        $result = $flusher->flush();
        t::eq([$result->sent, $result->rejected, $result->dead, $result->posts, $result->failed], [9, 1, 0, 2, false]);
        t::eq(array_keys($store->rows), [$ids[7]]);
        $bad = $store->rows[$ids[7]];
        t::eq([$bad->state, $bad->rejections, $bad->nextattempt], [outbox::STATE_WAITING, 1, 1767000000 + 60]);
        t::ok(strpos($bad->lasterror, 'event 7: eventname: required') !== false, 'the reason: ' . $bad->lasterror);
    },
    'a bad event dies after three refusals and never blocks the queue' => function () {
        [$hub, $store, $flusher, $clock] = local_mih_test_setup();
        $events = events::many(3);
        $events[0]['eventname'] = '';
        [$badid] = $store->add($events);
        $flusher->flush();
        for ($i = 0; $i < 4; $i++) {
            $store->add(events::many(5));
            $clock->now += 86400;
            $result = $flusher->flush();
            t::eq($result->failed, false);
        }
        $bad = $store->rows[$badid];
        t::eq([$bad->state, $bad->rejections], [outbox::STATE_DEAD, 3]);
        t::eq(count($store->rows), 1, 'only the dead row is left');
        t::eq(count($hub->stored), 22);
        $before = count($hub->requests);
        $clock->now += 10 * 86400;
        $flusher->flush();
        t::eq(count($hub->requests), $before, 'a dead row is never sent again');
    },
    'a refusal without an index is narrowed down by halves' => function () {
        [$hub, $store, $flusher] = local_mih_test_setup();
        $events = events::many(64);
        $events[41]['other'] = ['blob' => str_repeat('x', 50000)];
        $ids = $store->add($events);
        $hub->maxbody = 40000;
        $result = $flusher->flush();
        t::eq([$result->sent, $result->rejected, $result->failed], [63, 1, false]);
        t::eq(array_keys($store->rows), [$ids[41]]);
        t::eq($result->posts, 1 + 2 * 6, 'one request, then two per halving');
        t::ok(strpos($store->rows[$ids[41]]->lasterror, 'HTTP 413') === 0, 'the reason');
    },
    'a failure after a partial success keeps the rest and duplicates nothing' => function () {
        [$hub, $store, $flusher] = local_mih_test_setup();
        $store->add(events::many(1200));
        $hub->onpost = function () use ($hub) {
            if (count($hub->requests) === 2) {
                $hub->mode = 503;
            }
        };
        $result = $flusher->flush();
        t::eq([$result->sent, $result->failed, count($store->rows)], [500, true, 700]);
        $hub->onpost = null;
        $hub->mode = 'up';
        $flusher->flush();
        t::eq([count($store->rows), count($hub->stored), max($hub->stored)], [0, 1200, 1]);
    },
    'only the given rows' => function () {
        [$hub, $store, $flusher] = local_mih_test_setup();
        $store->add(events::many(5));
        $mine = $store->add(events::many(2));
        $result = $flusher->flush(null, $mine);
        t::eq([$result->sent, count($store->rows)], [2, 5]);
        t::eq($flusher->flush(null, [])->posts, 0, 'no rows, no request');
    },
    'the deadline bounds the time spent' => function () {
        [$hub, $store, $flusher, $clock] = local_mih_test_setup();
        $store->add(events::many(2000));
        $hub->onpost = function () use ($clock) {
            $clock->now += 0.8;
        };
        $result = $flusher->flush($clock->now + 2.0);
        t::eq([$result->posts, $result->sent], [3, 1500]);
        t::ok(abs($hub->requests[1]['timeout'] - 1.2) < 0.001, 'a request gets what is left of the deadline');
        t::eq(count($store->rows), 500);
        t::eq(count(array_filter($store->rows, function ($r) {
            return $r->claimtoken !== '';
        })), 0, 'nothing stays claimed');
    },
    'a claimed row is not claimed again until its lease ends' => function () {
        [$hub, $store, $flusher, $clock] = local_mih_test_setup();
        $store->add(events::many(3));
        $claimed = $store->claim(null, 10, 1767000000, 1767000000 + flusher::LEASE, 'other-sender');
        t::eq(count($claimed), 3);
        t::eq($flusher->flush()->posts, 0, 'rows held by another sender are left alone');
        $clock->now += flusher::LEASE + 1;
        t::eq($flusher->flush()->sent, 3, 'a dead sender\'s rows are sent after the lease');
    },
    'not configured: nothing is sent, nothing is lost' => function () {
        $hub = new fake_hub(LOCAL_MIH_TEST_PLUGIN_SECRET);
        $store = new memory_store();
        $store->add(events::many(3));
        foreach ([['hub_url' => ''], ['site' => ''], ['secret' => 'whsec_bad!']] as $broken) {
            $client = new hub_client($broken + ['hub_url' => 'http://127.0.0.1:8080', 'site' => 'main',
                'secret' => LOCAL_MIH_TEST_PLUGIN_SECRET], $hub);
            t::ok($client->events_problem() !== null, 'a problem is reported');
            $result = (new flusher($store, $client))->flush();
            t::eq([$result->failed, count($store->rows), count($hub->requests)], [true, 3, 0]);
        }
    },
];
