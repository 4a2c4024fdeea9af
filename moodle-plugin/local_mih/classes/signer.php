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
 * Standard Webhooks signing (https://www.standardwebhooks.com).
 *
 * The signature is "v1," and the base64 of the HMAC-SHA256 of "id.timestamp.body", keyed with the
 * base64 decoding of what follows "whsec_" in the secret. It is byte-compatible with the hub's Go
 * webhook.Verify, which a test of the hub checks by running this class.
 *
 * @package    local_mih
 * @copyright  2026 The mih authors
 * @license    https://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class signer {
    /** @var string The prefix of a secret in the specification's format. */
    public const SECRET_PREFIX = 'whsec_';

    /**
     * Decodes a secret into the HMAC key.
     *
     * The rules are the hub's: optional "whsec_", then standard base64 with its padding, at least one
     * byte. The exception never quotes the secret.
     *
     * @param string $secret The secret, "whsec_" and base64.
     * @return string The raw key.
     * @throws \InvalidArgumentException When the secret is not valid.
     */
    public static function key(string $secret): string {
        $secret = trim($secret);
        if (strpos($secret, self::SECRET_PREFIX) === 0) {
            $secret = substr($secret, strlen(self::SECRET_PREFIX));
        }
        // PHP's decoder accepts missing padding and skips some characters; Go's does not. Checking
        // the shape first keeps both sides agreeing on which secrets are valid.
        if ($secret === '' || strlen($secret) % 4 !== 0 || !preg_match('~^[A-Za-z0-9+/]+={0,2}$~', $secret)) {
            throw new \InvalidArgumentException('The signing secret is not valid base64 after whsec_.');
        }
        $key = base64_decode($secret, true);
        if ($key === false || $key === '') {
            throw new \InvalidArgumentException('The signing secret is not valid base64 after whsec_.');
        }
        return $key;
    }

    /**
     * Reports whether a secret can sign.
     *
     * @param string $secret The secret.
     * @return bool True when it is "whsec_" and valid base64.
     */
    public static function is_valid_secret(string $secret): bool {
        try {
            self::key($secret);
            return true;
        } catch (\InvalidArgumentException $e) {
            return false;
        }
    }

    /**
     * Signs a message.
     *
     * @param string $secret The secret, "whsec_" and base64.
     * @param string $id The message id (the webhook-id header).
     * @param int $timestamp Unix seconds (the webhook-timestamp header).
     * @param string $body The exact bytes of the request body.
     * @return string The webhook-signature header's value, "v1,<base64>".
     * @throws \InvalidArgumentException When the secret is not valid.
     */
    public static function sign(string $secret, string $id, int $timestamp, string $body): string {
        $mac = hash_hmac('sha256', $id . '.' . $timestamp . '.' . $body, self::key($secret), true);
        return 'v1,' . base64_encode($mac);
    }

    /**
     * Returns the three headers of a signed message.
     *
     * @param string $secret The secret, "whsec_" and base64.
     * @param string $id The message id.
     * @param int $timestamp Unix seconds.
     * @param string $body The exact bytes of the request body.
     * @return array Header name => value: webhook-id, webhook-timestamp, webhook-signature.
     * @throws \InvalidArgumentException When the secret is not valid.
     */
    public static function headers(string $secret, string $id, int $timestamp, string $body): array {
        return [
            'webhook-id' => $id,
            'webhook-timestamp' => (string) $timestamp,
            'webhook-signature' => self::sign($secret, $id, $timestamp, $body),
        ];
    }
}
