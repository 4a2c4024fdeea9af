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
 * Tests of the gateway client: \local_mih\response, \local_mih\request and hub_client::gateway().
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

use local_mih\http_result;
use local_mih\hub_client;
use local_mih\request;
use local_mih\response;
use local_mih_test\fake_hub;
use local_mih_test\t;

defined('MOODLE_INTERNAL') || die();

/**
 * A client on a fake hub.
 *
 * @param fake_hub $hub The hub.
 * @param array $config Settings to replace.
 * @return hub_client
 */
function local_mih_test_client(fake_hub $hub, array $config = []): hub_client {
    return new hub_client($config + [
        'hub_url' => 'http://127.0.0.1:8080/',
        'site' => 'main',
        'secret' => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        'token' => 'mih_secret_token',
        'timeout' => '2',
    ], $hub);
}

return [
    'a successful call' => function () {
        $r = response::from_hub(new http_result(200, json_encode([
            'ok' => true, 'status' => 201, 'headers' => ['Content-Type' => 'application/json'],
            'body' => ['id' => 7, 'name' => 'x'], 'attempts' => 2, 'latency_ms' => 41.6,
        ])), 60);
        t::eq($r->is_ok(), true);
        t::eq($r->status, 201);
        t::eq($r->body, ['id' => 7, 'name' => 'x']);
        t::eq($r->attempts, 2);
        t::eq($r->latency_ms, 42);
        t::eq($r->error, null);
        t::eq($r->errorcode, null);
        t::eq($r->headers, ['Content-Type' => 'application/json']);
        t::eq($r->hubstatus, 200);
    },
    'a failed call the hub made' => function () {
        $r = response::from_hub(new http_result(200, json_encode([
            'ok' => false, 'status' => 500, 'body' => 'upstream broke', 'attempts' => 4, 'latency_ms' => 900,
            'error' => ['code' => 'http_error', 'message' => 'service answered 500'],
        ])), 950);
        t::eq([$r->is_ok(), $r->status, $r->body, $r->attempts, $r->latency_ms], [false, 500, 'upstream broke', 4, 900]);
        t::eq([$r->errorcode, $r->error], ['http_error', 'service answered 500']);
    },
    'a SOAP fault' => function () {
        $r = response::from_hub(new http_result(200, json_encode([
            'ok' => false, 'status' => 500, 'body' => ['Fault' => ['faultstring' => 'no such user']], 'attempts' => 1,
            'error' => ['code' => 'soap_fault', 'message' => 'no such user'],
        ])), 10);
        t::eq([$r->is_ok(), $r->errorcode, $r->error], [false, 'soap_fault', 'no such user']);
    },
    'an open circuit' => function () {
        $r = response::from_hub(fake_hub::error(503, 'circuit_open', 'the circuit of crm is open'), 3);
        t::eq([$r->is_ok(), $r->status, $r->errorcode, $r->error, $r->hubstatus], [false, 0, 'circuit_open',
            'the circuit of crm is open', 503]);
    },
    'the hub refuses the call' => function () {
        $r = response::from_hub(fake_hub::error(401, 'unauthorized', 'bad token'), 3);
        t::eq([$r->is_ok(), $r->errorcode, $r->hubstatus], [false, 'unauthorized', 401]);
        $r = response::from_hub(new http_result(502, '<html>Bad Gateway</html>'), 3);
        t::eq([$r->is_ok(), $r->errorcode, $r->error], [false, 'hub_error', 'The integration hub answered HTTP 502.']);
    },
    'the hub does not answer' => function () {
        $cases = [['network', 'hub_unreachable'], ['timeout', 'hub_timeout'], ['blocked', 'hub_blocked']];
        foreach ($cases as [$code, $want]) {
            $r = response::from_hub(http_result::failed($code, 'why'), 2000);
            t::eq([$r->is_ok(), $r->status, $r->errorcode, $r->latency_ms], [false, 0, $want, 2000], $code);
            t::ok(strpos($r->error, 'why') !== false, 'the reason is kept');
        }
    },
    'an async call' => function () {
        $r = response::from_hub(new http_result(202, '{"delivery_id":"d-81"}'), 5);
        t::eq([$r->is_ok(), $r->hubstatus, $r->deliveryid], [true, 202, 'd-81']);
    },
    'the fluent builder' => function () {
        $hub = new fake_hub('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
        $hub->gatewayanswer = new http_result(200, '{"ok":true,"status":200,"body":{"done":true},"attempts":1,"latency_ms":12}');
        $r = (new request('crm/eu', local_mih_test_client($hub)))
            ->to('/users/5')
            ->with(['name' => 'Zoë', 'tags' => []])
            ->method('put')
            ->header('X-Trace', 'abc')
            ->timeout(7.5)
            ->dispatch();
        t::eq([$r->is_ok(), $r->body], [true, ['done' => true]]);
        t::eq(count($hub->requests), 1);
        $req = $hub->requests[0];
        t::eq($req['url'], 'http://127.0.0.1:8080/api/v1/gateway/crm%2Feu');
        t::eq($req['headers'], ['Authorization' => 'Bearer mih_secret_token']);
        t::eq(json_decode($req['body'], true), ['path' => '/users/5', 'method' => 'PUT',
            'payload' => ['name' => 'Zoë', 'tags' => []], 'headers' => ['X-Trace' => 'abc']]);
        t::eq([$req['timeout'], $req['connecttimeout']], [7.5, 2.0]);
    },
    'defaults: POST, empty object, 30 s' => function () {
        $hub = new fake_hub('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
        $hub->gatewayanswer = new http_result(200, '{"ok":true,"status":204,"body":null,"attempts":1,"latency_ms":3}');
        $r = local_mih_test_client($hub)->gateway('crm', '/ping', []);
        t::eq([$r->is_ok(), $r->status], [true, 204]);
        t::eq($hub->requests[0]['body'], '{"path":"/ping","method":"POST","payload":{}}');
        t::eq($hub->requests[0]['timeout'], 30.0);
    },
    'async' => function () {
        $hub = new fake_hub('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
        $hub->gatewayanswer = new http_result(202, '{"id":"42"}');
        $r = (new request('crm', local_mih_test_client($hub)))->with(['a' => 1])->async()->dispatch();
        t::eq([$r->is_ok(), $r->deliveryid], [true, '42']);
        t::eq(json_decode($hub->requests[0]['body'], true)['async'], true);
    },
    'never throws' => function () {
        $hub = new fake_hub('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
        $modes = ['down' => 'hub_unreachable', 'timeout' => 'hub_timeout', 'throw' => 'internal', 503 => 'unavailable'];
        foreach ($modes as $mode => $want) {
            $hub->mode = $mode;
            $r = (new request('crm', local_mih_test_client($hub)))->to('/x')->dispatch();
            t::eq([$r->is_ok(), $r->errorcode], [false, $want], (string) $mode);
        }
        $hub->mode = 'up';
        $r = local_mih_test_client($hub)->gateway('crm', '/x', ['bad' => NAN]);
        t::eq([$r->is_ok(), $r->errorcode], [false, 'invalid'], 'unencodable payload');
    },
    'not configured: no request' => function () {
        $hub = new fake_hub('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
        foreach ([['hub_url' => ''], ['token' => '']] as $config) {
            $r = local_mih_test_client($hub, $config)->gateway('crm', '/x', []);
            t::eq([$r->is_ok(), $r->errorcode], [false, 'not_configured']);
        }
        $r = local_mih_test_client($hub)->gateway(' ', '/x', []);
        t::eq($r->errorcode, 'invalid');
        t::eq(count($hub->requests), 0);
    },
    'timeout setting' => function () {
        t::eq(hub_client::clamp_timeout(''), 2.0);
        t::eq(hub_client::clamp_timeout('0'), 2.0);
        t::eq(hub_client::clamp_timeout('abc'), 2.0);
        t::eq(hub_client::clamp_timeout('5'), 5.0);
        t::eq(hub_client::clamp_timeout('0.1'), 0.5);
        t::eq(hub_client::clamp_timeout('600'), 60.0);
    },
];
