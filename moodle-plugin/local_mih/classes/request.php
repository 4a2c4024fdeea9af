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
 * The fluent form of a gateway call:
 * \local_mih\mih::send('crm')->to('/users')->with(['id' => 5])->method('PUT')->dispatch().
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class request {
    /** @var string The service's name in the hub. */
    private $service;

    /** @var hub_client The client that dispatches. */
    private $client;

    /** @var string The path under the service's base URL. */
    private $path = '/';

    /** @var mixed The payload. */
    private $payload = null;

    /** @var string The HTTP method towards the service. */
    private $method = 'POST';

    /** @var array Options for hub_client::gateway(): headers, timeout, async. */
    private $options = [];

    /**
     * Constructor.
     *
     * @param string $service The service's name in the hub.
     * @param hub_client $client The client that dispatches.
     */
    public function __construct(string $service, hub_client $client) {
        $this->service = $service;
        $this->client = $client;
    }

    /**
     * Sets the path (SOAP: the operation; AMQP: the routing key).
     *
     * @param string $path The path under the service's base URL.
     * @return self
     */
    public function to(string $path): self {
        $this->path = $path;
        return $this;
    }

    /**
     * Sets the payload.
     *
     * @param mixed $payload An array or object (sent as JSON), a string, or null.
     * @return self
     */
    public function with($payload): self {
        $this->payload = $payload;
        return $this;
    }

    /**
     * Sets the HTTP method (POST by default).
     *
     * @param string $method GET, POST, PUT, PATCH or DELETE.
     * @return self
     */
    public function method(string $method): self {
        $this->method = strtoupper(trim($method));
        return $this;
    }

    /**
     * Adds a header for the service, on top of those the hub sets for it.
     *
     * @param string $name The header's name.
     * @param string $value Its value.
     * @return self
     */
    public function header(string $name, string $value): self {
        $this->options['headers'][$name] = $value;
        return $this;
    }

    /**
     * Sets how long to wait for the hub's answer.
     *
     * @param float $seconds Seconds.
     * @return self
     */
    public function timeout(float $seconds): self {
        $this->options['timeout'] = $seconds;
        return $this;
    }

    /**
     * Asks the hub to queue the call and answer at once; the response then carries a delivery id.
     *
     * @return self
     */
    public function async(): self {
        $this->options['async'] = true;
        return $this;
    }

    /**
     * Makes the call. Never throws.
     *
     * @return response
     */
    public function dispatch(): response {
        return $this->client->gateway($this->service, $this->path, $this->payload, $this->method, $this->options);
    }
}
