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
 * Tests of \local_mih\signer.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

use local_mih\signer;
use local_mih_test\t;

defined('MOODLE_INTERNAL') || die();

/** @var string The Standard Webhooks test vector's secret. */
const LOCAL_MIH_TEST_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

return [
    'Standard Webhooks test vector' => function () {
        $sig = signer::sign(LOCAL_MIH_TEST_SECRET, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
        t::eq($sig, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    },
    'the whsec_ prefix is optional' => function () {
        $sig = signer::sign('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
        t::eq($sig, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    },
    'every byte of id, timestamp and body counts' => function () {
        $base = signer::sign(LOCAL_MIH_TEST_SECRET, 'a', 1, 'body');
        t::ok($base !== signer::sign(LOCAL_MIH_TEST_SECRET, 'b', 1, 'body'), 'id changes the signature');
        t::ok($base !== signer::sign(LOCAL_MIH_TEST_SECRET, 'a', 2, 'body'), 'timestamp changes the signature');
        t::ok($base !== signer::sign(LOCAL_MIH_TEST_SECRET, 'a', 1, 'body '), 'body changes the signature');
        t::ok($base !== signer::sign('whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng==', 'a', 1, 'body'), 'secret changes the signature');
    },
    'headers' => function () {
        $h = signer::headers(LOCAL_MIH_TEST_SECRET, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
        t::eq($h, [
            'webhook-id' => 'msg_p5jXN8AQM9LWM0D4loKWxJek',
            'webhook-timestamp' => '1614265330',
            'webhook-signature' => 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
        ]);
    },
    'bad secrets are refused without being quoted' => function () {
        // The same secrets the hub's CheckSecret refuses: both sides must agree.
        $bad = ['', 'whsec_', 'whsec_not*base64!', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS', 'whsec_YWJ', 'whsec_ YWJj'];
        foreach ($bad as $secret) {
            $e = t::throws(function () use ($secret) {
                signer::sign($secret, 'id', 1, '');
            }, \InvalidArgumentException::class);
            $bare = trim(substr($secret, 6));
            t::ok($e === null || $bare === '' || strpos($e->getMessage(), $bare) === false, "the error quotes {$secret}");
            t::ok(!signer::is_valid_secret($secret), "{$secret} is not valid");
        }
        t::ok(signer::is_valid_secret('whsec_YWJj'), 'whsec_YWJj is valid');
        t::ok(signer::is_valid_secret(' whsec_YWJj '), 'surrounding spaces are ignored');
    },
];
