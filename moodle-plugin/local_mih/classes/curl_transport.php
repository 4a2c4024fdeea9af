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
 * The transport over Moodle's curl class.
 *
 * Moodle's curl honours the site's proxy settings and its security lists
 * (curlsecurityblockedhosts, curlsecurityallowedport): a hub on a private address or another port
 * than 80/443 is refused until the administrator allows it, and the refusal comes back as an
 * http_result with error code "blocked". Redirects are not followed: the hub never redirects, and a
 * signed body or a bearer token has no business going elsewhere.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class curl_transport implements transport {
    /** @var int cURL's error number for an operation that timed out. */
    public const CURLE_OPERATION_TIMEDOUT = 28;

    /**
     * Posts a body with Moodle's curl class.
     *
     * @param string $url The absolute URL.
     * @param array $headers Header name => value.
     * @param string $body The request body.
     * @param float $timeout Seconds for the whole call.
     * @param float $connecttimeout Seconds to connect.
     * @return http_result
     */
    public function post(string $url, array $headers, string $body, float $timeout, float $connecttimeout): http_result {
        global $CFG;
        require_once($CFG->libdir . '/filelib.php');

        $curl = new \curl();
        $lines = ['Content-Type: application/json', 'Accept: application/json'];
        foreach ($headers as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        $curl->setHeader($lines);
        $options = [
            'CURLOPT_TIMEOUT_MS' => max(1, (int) round($timeout * 1000)),
            'CURLOPT_CONNECTTIMEOUT_MS' => max(1, (int) round(min($timeout, $connecttimeout) * 1000)),
            // Sub-second timeouts need this on resolvers that use signals.
            'CURLOPT_NOSIGNAL' => 1,
            'CURLOPT_FOLLOWLOCATION' => 0,
        ];
        $response = $curl->post($url, $body, $options);
        $info = $curl->get_info();
        $errno = (int) $curl->get_errno();
        $status = (int) ($info['http_code'] ?? 0);
        if ($errno !== 0) {
            $code = $errno === self::CURLE_OPERATION_TIMEDOUT ? 'timeout' : 'network';
            return http_result::failed($code, (string) $curl->error);
        }
        if ($status === 0) {
            // The security helper refused the URL before any connection: curl returns the reason
            // as the body, sets no error number and no status.
            return http_result::failed('blocked', (string) ($curl->error ?: $response));
        }
        $responseheaders = [];
        foreach ((array) $curl->getResponse() as $name => $value) {
            if (is_string($name)) {
                $responseheaders[$name] = is_array($value) ? end($value) : (string) $value;
            }
        }
        return new http_result($status, (string) $response, $responseheaders);
    }
}
