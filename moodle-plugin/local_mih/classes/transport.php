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
 * Sends one HTTP POST to the hub.
 *
 * The plugin speaks to the hub through this seam only: curl_transport uses Moodle's curl class in
 * production; the plugin's standalone tests record the requests instead.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
interface transport {
    /**
     * Posts a body and returns what came back. Implementations never throw for a network failure:
     * they return an http_result without status.
     *
     * @param string $url The absolute URL.
     * @param array $headers Header name => value, besides Content-Type and Accept (application/json).
     * @param string $body The request body.
     * @param float $timeout Seconds for the whole call.
     * @param float $connecttimeout Seconds to connect.
     * @return http_result
     */
    public function post(string $url, array $headers, string $body, float $timeout, float $connecttimeout): http_result;
}
