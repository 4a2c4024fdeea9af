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
 * Speaks to the hub: signed event batches to /api/v1/events and gateway calls to
 * /api/v1/gateway/{service}.
 *
 * Built from the plugin's settings (from_config) or from an array, with the transport as a seam.
 * Nothing here throws for a hub that is down: event batches come back as an http_result without
 * status, gateway calls as a response whose is_ok() is false.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class hub_client {
    /** @var string Where event batches go, under the hub's URL. */
    public const EVENTS_PATH = '/api/v1/events';

    /** @var string Where gateway calls go, under the hub's URL; the service's name follows. */
    public const GATEWAY_PATH = '/api/v1/gateway/';

    /** @var float Seconds an event batch may take, when the setting is empty. */
    public const DEFAULT_TIMEOUT = 2.0;

    /** @var float Seconds a gateway call may take by default: the hub retries the service within it. */
    public const GATEWAY_TIMEOUT = 30.0;

    /** @var string The hub's root URL, without a trailing slash. */
    private $huburl;

    /** @var string The site's name in the hub. */
    private $site;

    /** @var string The signing secret, whsec_… */
    private $secret;

    /** @var string The hub API token for gateway calls. */
    private $token;

    /** @var float Seconds for an event batch, and to connect for any call. */
    private $timeout;

    /** @var transport The HTTP seam. */
    private $transport;

    /** @var callable Returns the Unix time in seconds. */
    private $clock;

    /**
     * Constructor.
     *
     * @param array $config The settings: hub_url, site, secret, token, timeout.
     * @param transport $transport How to POST.
     * @param callable|null $clock Returns the Unix time; time() when null.
     */
    public function __construct(array $config, transport $transport, ?callable $clock = null) {
        $this->huburl = rtrim(trim((string) ($config['hub_url'] ?? '')), '/');
        $this->site = trim((string) ($config['site'] ?? ''));
        $this->secret = trim((string) ($config['secret'] ?? ''));
        $this->token = trim((string) ($config['token'] ?? ''));
        $this->timeout = self::clamp_timeout($config['timeout'] ?? '');
        $this->transport = $transport;
        $this->clock = $clock ?? 'time';
    }

    /**
     * Builds a client from the plugin's settings.
     *
     * @param transport|null $transport How to POST; Moodle's curl when null.
     * @return self
     */
    public static function from_config(?transport $transport = null): self {
        $config = (array) get_config('local_mih');
        foreach (['secret', 'token'] as $name) {
            $config[$name] = self::reveal((string) ($config[$name] ?? ''));
        }
        return new self($config, $transport ?? new curl_transport());
    }

    /**
     * Reads a secret setting: the settings page stores it encrypted with the site's key
     * (admin_setting_encryptedpassword); admin/cli/cfg.php and config.php set it in clear.
     *
     * @param string $value The stored value.
     * @return string The secret; empty when it cannot be decrypted (then the plugin reports it missing).
     */
    public static function reveal(string $value): string {
        if (!preg_match('~^(sodium|openssl-aes-256-ctr):~', $value) || !class_exists('\\core\\encryption')) {
            return $value;
        }
        try {
            return \core\encryption::decrypt($value);
        } catch (\Throwable $e) {
            return '';
        }
    }

    /**
     * Reads the timeout setting: seconds, default 2, kept between 0.5 and 60.
     *
     * @param mixed $value The setting.
     * @return float Seconds.
     */
    public static function clamp_timeout($value): float {
        if (!is_numeric($value) || (float) $value <= 0) {
            return self::DEFAULT_TIMEOUT;
        }
        return max(0.5, min(60.0, (float) $value));
    }

    /**
     * The timeout of an event batch, in seconds.
     *
     * @return float
     */
    public function timeout(): float {
        return $this->timeout;
    }

    /**
     * Says what is missing before events can be sent.
     *
     * @return string|null The name of the setting that is missing or wrong, or null when ready.
     */
    public function events_problem(): ?string {
        if ($this->huburl === '' || !preg_match('~^https?://~i', $this->huburl)) {
            return 'hub_url';
        }
        if ($this->site === '') {
            return 'site';
        }
        if (!signer::is_valid_secret($this->secret)) {
            return 'secret';
        }
        return null;
    }

    /**
     * Posts a batch of events, signed, with the site's name.
     *
     * @param string[] $payloads The events' JSON, as the outbox stores them.
     * @param float|null $timeout Seconds; the setting when null.
     * @return http_result
     */
    public function send_events(array $payloads, ?float $timeout = null): http_result {
        $problem = $this->events_problem();
        if ($problem !== null) {
            return http_result::failed('not_configured', 'The setting local_mih/' . $problem . ' is missing or not valid.');
        }
        $body = batch::body($payloads);
        $headers = signer::headers($this->secret, 'msg_' . uuid::v4(), (int) call_user_func($this->clock), $body);
        $headers['X-MIH-Site'] = $this->site;
        $timeout = $timeout === null ? $this->timeout : max(0.1, min($timeout, $this->timeout));
        return $this->transport->post($this->huburl . self::EVENTS_PATH, $headers, $body, $timeout, $timeout);
    }

    /**
     * Calls a service through the hub's gateway. Never throws.
     *
     * @param string $service The service's name in the hub.
     * @param string $path The path under the service's base URL (SOAP: the operation; AMQP: the routing key).
     * @param mixed $payload What to send: an array or object (sent as JSON), a string, or null.
     * @param string $method The HTTP method the hub uses towards the service.
     * @param array $options headers (array name => value for the service), timeout (seconds),
     *        async (true: the hub queues the call and answers at once with a delivery id).
     * @return response
     */
    public function gateway(string $service, string $path, $payload, string $method = 'POST', array $options = []): response {
        $start = microtime(true);
        try {
            if ($this->huburl === '' || $this->token === '') {
                return response::failure(
                    'not_configured',
                    'The integration hub is not configured (local_mih/hub_url and local_mih/token).'
                );
            }
            if (trim($service) === '') {
                return response::failure('invalid', 'The service name is empty.');
            }
            if ($payload === []) {
                // An empty PHP array is ambiguous; services expect an empty object far more often.
                $payload = new \stdClass();
            }
            $request = ['path' => $path, 'method' => strtoupper(trim($method)) ?: 'POST', 'payload' => $payload];
            if (!empty($options['headers']) && is_array($options['headers'])) {
                $request['headers'] = (object) array_map('strval', $options['headers']);
            }
            if (!empty($options['async'])) {
                $request['async'] = true;
            }
            $body = json_encode($request, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE);
            if ($body === false) {
                return response::failure('invalid', 'The payload cannot be encoded as JSON: ' . json_last_error_msg());
            }
            $timeout = isset($options['timeout']) && is_numeric($options['timeout']) && $options['timeout'] > 0
                ? (float) $options['timeout'] : self::GATEWAY_TIMEOUT;
            $result = $this->transport->post(
                $this->huburl . self::GATEWAY_PATH . rawurlencode($service),
                ['Authorization' => 'Bearer ' . $this->token],
                $body,
                $timeout,
                $this->timeout
            );
            return response::from_hub($result, self::elapsed_ms($start));
        } catch (\Throwable $e) {
            // A gateway call must never break the page that makes it.
            return response::failure('internal', 'The gateway call failed: ' . get_class($e), self::elapsed_ms($start));
        }
    }

    /**
     * Milliseconds since a microtime(true) start.
     *
     * @param float $start The start.
     * @return int
     */
    private static function elapsed_ms(float $start): int {
        return (int) round((microtime(true) - $start) * 1000);
    }
}
