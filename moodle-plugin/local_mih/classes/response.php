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
 * The answer to a gateway call, \local_mih\mih::request() or ->dispatch().
 *
 * is_ok() is true when the hub called the service and the service answered with success. status is
 * the service's HTTP status (0 when there was no answer, or the hub did not call); body is the
 * service's answer, decoded when it was JSON (or SOAP, which the hub turns into JSON), else a string.
 * error and errorcode say what went wrong: the hub's codes ("http_error", "timeout", "network",
 * "soap_fault", "amqp_nack", "circuit_open" …) or the plugin's own when the hub could not be asked
 * ("not_configured", "hub_unreachable", "hub_timeout", "hub_blocked", "hub_error").
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class response {
    /** @var bool Whether the call succeeded. */
    public $ok;

    /** @var int The service's HTTP status; 0 when there was none. */
    public $status;

    /** @var array The service's response headers, name => value. */
    public $headers;

    /** @var mixed The service's answer: decoded JSON (arrays), a string, or null. */
    public $body;

    /** @var string|null What went wrong, for people; null on success. */
    public $error;

    /** @var string|null What went wrong, for code; null on success. */
    public $errorcode;

    /** @var int How many times the hub called the service. */
    public $attempts;

    /** @var int Milliseconds the call took, as the hub measured it (or the plugin when the hub could not answer). */
    public $latency_ms; // phpcs:ignore moodle.NamingConventions.ValidVariableName.MemberNameUnderscore -- the API's name.

    /** @var int The hub's own HTTP status: 200 when it made the call, 202 for an async call, else its error. */
    public $hubstatus;

    /** @var string|null For an async call: the id of the hub's delivery. */
    public $deliveryid;

    /**
     * Constructor.
     *
     * @param bool $ok Whether the call succeeded.
     * @param int $status The service's HTTP status.
     * @param mixed $body The service's answer.
     * @param string|null $error What went wrong.
     * @param string|null $errorcode The code of what went wrong.
     * @param int $attempts How many times the hub called the service.
     * @param int $latencyms Milliseconds the call took.
     * @param array $headers The service's response headers.
     * @param int $hubstatus The hub's own HTTP status.
     */
    public function __construct(
        bool $ok,
        int $status,
        $body = null,
        ?string $error = null,
        ?string $errorcode = null,
        int $attempts = 0,
        int $latencyms = 0,
        array $headers = [],
        int $hubstatus = 0
    ) {
        $this->ok = $ok;
        $this->status = $status;
        $this->body = $body;
        $this->error = $error;
        $this->errorcode = $errorcode;
        $this->attempts = $attempts;
        $this->latency_ms = $latencyms;
        $this->headers = $headers;
        $this->hubstatus = $hubstatus;
    }

    /**
     * Reports whether the call succeeded.
     *
     * @return bool
     */
    public function is_ok(): bool {
        return $this->ok;
    }

    /**
     * A call that did not reach a service.
     *
     * @param string $code The error code.
     * @param string $message What went wrong.
     * @param int $latencyms Milliseconds spent.
     * @param int $hubstatus The hub's HTTP status, 0 when it did not answer.
     * @return self
     */
    public static function failure(string $code, string $message, int $latencyms = 0, int $hubstatus = 0): self {
        return new self(false, 0, null, $message, $code, 0, $latencyms, [], $hubstatus);
    }

    /**
     * Reads the hub's answer to POST /api/v1/gateway/{service}.
     *
     * @param http_result $result What the hub answered.
     * @param int $elapsedms Milliseconds the plugin waited, used when the hub did not say.
     * @return self
     */
    public static function from_hub(http_result $result, int $elapsedms): self {
        if ($result->status === 0) {
            $map = ['timeout' => 'hub_timeout', 'blocked' => 'hub_blocked'];
            $code = $map[$result->errorcode] ?? 'hub_unreachable';
            return self::failure($code, 'The integration hub did not answer: ' . ($result->error ?? 'no answer'), $elapsedms);
        }
        $decoded = json_decode($result->body, true);
        if ($result->status === 200 && is_array($decoded) && array_key_exists('ok', $decoded)) {
            $error = null;
            $errorcode = null;
            if (isset($decoded['error']) && is_array($decoded['error'])) {
                $errorcode = isset($decoded['error']['code']) ? (string) $decoded['error']['code'] : 'error';
                $error = isset($decoded['error']['message']) ? (string) $decoded['error']['message'] : $errorcode;
            } else if (isset($decoded['error']) && is_string($decoded['error']) && $decoded['error'] !== '') {
                $errorcode = 'error';
                $error = $decoded['error'];
            }
            $ok = (bool) $decoded['ok'];
            if (!$ok && $errorcode === null) {
                $errorcode = 'error';
                $error = 'The service call failed.';
            }
            $headers = isset($decoded['headers']) && is_array($decoded['headers']) ? $decoded['headers'] : [];
            return new self(
                $ok,
                (int) ($decoded['status'] ?? 0),
                $decoded['body'] ?? null,
                $ok ? null : $error,
                $ok ? null : $errorcode,
                (int) ($decoded['attempts'] ?? 0),
                (int) round((float) ($decoded['latency_ms'] ?? $elapsedms)),
                $headers,
                200
            );
        }
        if ($result->status === 202 && is_array($decoded)) {
            $response = new self(true, 0, $decoded, null, null, 0, $elapsedms, [], 202);
            foreach (['delivery_id', 'id'] as $key) {
                if (isset($decoded[$key]) && (is_string($decoded[$key]) || is_int($decoded[$key]))) {
                    $response->deliveryid = (string) $decoded[$key];
                    break;
                }
            }
            return $response;
        }
        // The hub refused or failed: the request was wrong (4xx), the circuit is open (503), or the
        // hub itself failed (5xx). Its JSON error says which.
        $code = $result->error_code() ?? 'hub_error';
        $message = $result->error_message() ?? ('The integration hub answered HTTP ' . $result->status . '.');
        return self::failure($code, $message, $elapsedms, $result->status);
    }
}
