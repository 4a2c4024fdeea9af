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
 * The gateway client for Moodle code: calls the hub's registered services through its retries and
 * circuit breakers.
 *
 *     $response = \local_mih\mih::request('crm', '/users', ['id' => 5]);
 *     $response = \local_mih\mih::send('crm')->to('/users/5')->with($data)->method('PUT')->dispatch();
 *     if (!$response->is_ok()) {
 *         debugging($response->errorcode . ': ' . $response->error);
 *     }
 *
 * A call never throws to the page: when the hub is down the response says so.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class mih {
    /**
     * Calls a service through the hub's gateway.
     *
     * @param string $service The service's name in the hub.
     * @param string $path The path under the service's base URL (SOAP: the operation; AMQP: the routing key).
     * @param mixed $payload An array or object (sent as JSON), a string, or null.
     * @param string $method GET, POST, PUT, PATCH or DELETE.
     * @param array $options headers (name => value), timeout (seconds, default 30), async (bool).
     * @return response
     */
    public static function request(
        string $service,
        string $path = '/',
        $payload = [],
        string $method = 'POST',
        array $options = []
    ): response {
        return self::client()->gateway($service, $path, $payload, $method, $options);
    }

    /**
     * Starts a fluent call.
     *
     * @param string $service The service's name in the hub.
     * @return request
     */
    public static function send(string $service): request {
        return new request($service, self::client());
    }

    /**
     * The client built from the plugin's settings.
     *
     * @return hub_client
     */
    private static function client(): hub_client {
        return hub_client::from_config();
    }
}
