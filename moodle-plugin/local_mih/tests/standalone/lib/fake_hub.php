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

namespace local_mih_test;

use local_mih\http_result;
use local_mih\signer;

/**
 * A transport that plays the hub: it checks signatures, validates events as the hub does (a bad one
 * rejects the batch with its index), refuses bodies over a size limit, can be down or failing, and
 * remembers every event it stored.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class fake_hub implements \local_mih\transport {
    /** @var array[] Every request: url, headers, body, timeout, connecttimeout. */
    public $requests = [];

    /** @var string|int "up", "down", "timeout", "throw", or an HTTP status to answer every request with. */
    public $mode = 'up';

    /** @var array Event id => how many times the hub stored it. */
    public $stored = [];

    /** @var int Bodies over this many bytes get 413. */
    public $maxbody = PHP_INT_MAX;

    /** @var http_result|null The answer to gateway calls. */
    public $gatewayanswer = null;

    /** @var callable|null Called with each request, before it is answered. */
    public $onpost = null;

    /** @var string The secret the hub checks batches against. */
    private $secret;

    /**
     * Constructor.
     *
     * @param string $secret The site's plugin_secret.
     */
    public function __construct(string $secret) {
        $this->secret = $secret;
    }

    /**
     * Answers a POST.
     *
     * @param string $url The URL.
     * @param array $headers The headers.
     * @param string $body The body.
     * @param float $timeout Seconds.
     * @param float $connecttimeout Seconds.
     * @return http_result
     */
    public function post(string $url, array $headers, string $body, float $timeout, float $connecttimeout): http_result {
        $this->requests[] = compact('url', 'headers', 'body', 'timeout', 'connecttimeout');
        if ($this->onpost) {
            call_user_func($this->onpost, $url, $headers, $body);
        }
        if ($this->mode === 'down') {
            return http_result::failed('network', 'Failed to connect to 127.0.0.1 port 9: Connection refused');
        }
        if ($this->mode === 'timeout') {
            return http_result::failed('timeout', 'Operation timed out after 2000 milliseconds');
        }
        if ($this->mode === 'throw') {
            throw new \RuntimeException('transport exploded');
        }
        if (is_int($this->mode)) {
            return self::error($this->mode, 'unavailable', 'the hub is unwell');
        }
        if (strpos($url, '/api/v1/gateway/') !== false) {
            return $this->gatewayanswer ?? new http_result(404, '{"error":{"code":"not_found","message":"no such service"}}');
        }
        return $this->ingest($headers, $body);
    }

    /**
     * Ingests a batch as the hub does.
     *
     * @param array $headers The headers.
     * @param string $body The body.
     * @return http_result
     */
    private function ingest(array $headers, string $body): http_result {
        $id = $headers['webhook-id'] ?? '';
        $ts = (int) ($headers['webhook-timestamp'] ?? 0);
        $want = signer::sign($this->secret, $id, $ts, $body);
        $sigs = explode(' ', $headers['webhook-signature'] ?? '');
        if (!in_array($want, $sigs, true) || empty($headers['X-MIH-Site'])) {
            return self::error(401, 'unauthorized', 'bad signature');
        }
        if (strlen($body) > $this->maxbody) {
            return self::error(413, 'too_large', 'body is over the limit of ' . $this->maxbody . ' bytes');
        }
        $decoded = json_decode($body, true);
        if (!is_array($decoded) || !isset($decoded['events']) || !is_array($decoded['events'])) {
            return self::error(400, 'invalid', 'body: want {"events": [...]}');
        }
        foreach ($decoded['events'] as $i => $event) {
            if (empty($event['eventname'])) {
                return self::error(400, 'invalid', "event {$i}: eventname: required");
            }
        }
        $accepted = 0;
        $duplicates = 0;
        foreach ($decoded['events'] as $event) {
            $key = $event['id'];
            if (isset($this->stored[$key])) {
                $duplicates++;
            } else {
                $accepted++;
            }
            $this->stored[$key] = ($this->stored[$key] ?? 0) + 1;
        }
        return new http_result(202, json_encode(['accepted' => $accepted, 'duplicates' => $duplicates]));
    }

    /**
     * A JSON error answer.
     *
     * @param int $status The status.
     * @param string $code The code.
     * @param string $message The message.
     * @return http_result
     */
    public static function error(int $status, string $code, string $message): http_result {
        return new http_result($status, json_encode(['error' => ['code' => $code, 'message' => $message]]));
    }

    /**
     * How many event batches were posted.
     *
     * @return int
     */
    public function event_posts(): int {
        return count(array_filter($this->requests, function (array $r): bool {
            return substr($r['url'], -strlen('/api/v1/events')) === '/api/v1/events';
        }));
    }
}
