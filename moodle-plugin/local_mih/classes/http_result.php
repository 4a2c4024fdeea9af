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
 * What one HTTP call to the hub gave: a status and body, or no answer and why.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class http_result {
    /** @var int The HTTP status; 0 when there was no answer. */
    public $status;

    /** @var string The response body. */
    public $body;

    /** @var array Response header name (lower case) => value. */
    public $headers;

    /** @var string|null Why there was no answer: "timeout", "network" or "blocked"; null when there was one. */
    public $errorcode;

    /** @var string|null The transport's description of the failure. */
    public $error;

    /**
     * Constructor.
     *
     * @param int $status The HTTP status, 0 when there was no answer.
     * @param string $body The response body.
     * @param array $headers Response headers, name => value.
     * @param string|null $errorcode "timeout", "network" or "blocked" when there was no answer.
     * @param string|null $error The transport's description of the failure.
     */
    public function __construct(
        int $status,
        string $body = '',
        array $headers = [],
        ?string $errorcode = null,
        ?string $error = null
    ) {
        $this->status = $status;
        $this->body = $body;
        $this->headers = array_change_key_case($headers, CASE_LOWER);
        $this->errorcode = $errorcode;
        $this->error = $error;
    }

    /**
     * A call that got no answer.
     *
     * @param string $code "timeout", "network" or "blocked".
     * @param string $error What went wrong.
     * @return self
     */
    public static function failed(string $code, string $error): self {
        return new self(0, '', [], $code, $error);
    }

    /**
     * Reports whether the hub answered 2xx.
     *
     * @return bool
     */
    public function is_success(): bool {
        return $this->status >= 200 && $this->status < 300;
    }

    /**
     * Describes the result in one line for an outbox row or a log: never a secret, at most 1000 bytes.
     *
     * @return string
     */
    public function describe(): string {
        if ($this->status === 0) {
            $text = ($this->errorcode ?? 'network') . ': ' . ($this->error ?? 'no answer');
        } else {
            $text = 'HTTP ' . $this->status;
            $message = $this->error_message();
            if ($message !== null) {
                $text .= ': ' . $message;
            } else if (trim($this->body) !== '') {
                $text .= ': ' . preg_replace('/\s+/', ' ', trim($this->body));
            }
        }
        // Cut on a character boundary: the text goes into a database column.
        return mb_strcut($text, 0, 1000, 'UTF-8');
    }

    /**
     * The message of the hub's JSON error, {"error":{"code":..,"message":..}}.
     *
     * @return string|null The message, or null when the body is not such an error.
     */
    public function error_message(): ?string {
        $decoded = json_decode($this->body, true);
        if (is_array($decoded) && isset($decoded['error']['message']) && is_string($decoded['error']['message'])) {
            return $decoded['error']['message'];
        }
        return null;
    }

    /**
     * The code of the hub's JSON error, {"error":{"code":..,"message":..}}.
     *
     * @return string|null The code, or null when the body is not such an error.
     */
    public function error_code(): ?string {
        $decoded = json_decode($this->body, true);
        if (is_array($decoded) && isset($decoded['error']['code']) && is_string($decoded['error']['code'])) {
            return $decoded['error']['code'];
        }
        return null;
    }
}
