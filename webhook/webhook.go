// Package webhook signs and verifies messages the Standard Webhooks way
// (https://www.standardwebhooks.com): the sender puts a message id, a Unix timestamp and an
// HMAC-SHA256 signature of "id.timestamp.body" in the webhook-id, webhook-timestamp and
// webhook-signature headers; the receiver recomputes the signature with the shared secret and
// refuses stale or future timestamps, so a captured request cannot be replayed later.
//
// The hub signs its own REST deliveries with Sign, and verifies with Verify the event batches
// that the local_mih Moodle plugin posts with its site's plugin_secret. The plugin's signer
// (moodle-plugin/local_mih/classes/signer.php) is byte-compatible with this package; a test
// checks it when php is on PATH.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

// Header names of the specification. http.Header canonicalises them, so Webhook-Id and
// webhook-id are the same header.
const (
	HeaderID        = "Webhook-Id"
	HeaderTimestamp = "Webhook-Timestamp"
	HeaderSignature = "Webhook-Signature"
)

// Tolerance is how far a message's timestamp may be from the receiver's clock, in the past or
// the future: the specification's recommended five minutes.
const Tolerance = 5 * time.Minute

// secretPrefix marks a secret in the specification's format; what follows it is base64.
const secretPrefix = "whsec_"

// signaturePrefix is the only signature scheme we produce and accept: symmetric HMAC-SHA256.
const signaturePrefix = "v1,"

// maxIDLength bounds the message id we sign over; the hub stores ids up to 255 characters.
const maxIDLength = 255

// key decodes a secret: the base64 after "whsec_" (the prefix is optional, as in the
// specification's libraries). The error never quotes the secret, nor the decoder's error, which
// would echo one of its bytes.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(secret), secretPrefix))
	if err != nil || len(k) == 0 {
		return nil, mih.Errorf(mih.CodeInvalid, "signing secret is not valid base64 after whsec_")
	}
	return k, nil
}

// CheckSecret reports whether secret can sign: "whsec_" followed by standard base64 of at least
// one byte. It returns a *mih.Error of CodeInvalid otherwise, for the API that stores secrets to
// refuse a bad one when it is saved rather than when the first message arrives.
func CheckSecret(secret string) error {
	_, err := key(secret)
	return err
}

// Sign returns the signature of a message in the header's form: "v1," and the base64 of the
// HMAC-SHA256 of "id.timestamp.body", keyed with the decoded secret. A malformed secret is a
// *mih.Error of CodeInvalid that does not quote it.
func Sign(secret, id string, ts int64, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	return signature(k, id, ts, body), nil
}

func signature(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return signaturePrefix + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a signed message: the three headers must be present, the timestamp within
// tolerance of now (either way; zero or less means Tolerance), and one of the space-separated
// "v1,<base64>" signatures must be the message's signature under secret. Signatures of other
// schemes are ignored, so a sender can add new ones while rotating.
//
// A message that fails is a *mih.Error of CodeUnauthorized saying which check failed; no
// message ever contains the secret or the expected signature. A malformed secret is the
// receiver's configuration fault, not the sender's: it is a *mih.Error of CodeInternal.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = Tolerance
	}
	id := strings.TrimSpace(h.Get(HeaderID))
	tsText := strings.TrimSpace(h.Get(HeaderTimestamp))
	sigs := strings.TrimSpace(h.Get(HeaderSignature))
	switch {
	case id == "":
		return unauthorized("missing webhook-id header")
	case tsText == "":
		return unauthorized("missing webhook-timestamp header")
	case sigs == "":
		return unauthorized("missing webhook-signature header")
	case len(id) > maxIDLength:
		return unauthorized("webhook-id is longer than %d characters", maxIDLength)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	// Bounded to ±2^40 s (about 35,000 years) so that now - ts cannot overflow.
	if err != nil || ts > 1<<40 || ts < -(1<<40) {
		return unauthorized("webhook-timestamp is not a Unix time in seconds")
	}
	// Compare in seconds: a time.Duration overflows for timestamps far from now.
	if d := now.Unix() - ts; d > int64(tolerance/time.Second) {
		return unauthorized("webhook-timestamp is more than %s in the past", tolerance)
	} else if -d > int64(tolerance/time.Second) {
		return unauthorized("webhook-timestamp is more than %s in the future", tolerance)
	}
	k, err := key(secret)
	if err != nil {
		return mih.Errorf(mih.CodeInternal, "the signing secret of this sender is not valid")
	}
	want := []byte(signature(k, id, ts, body))
	for _, s := range strings.Fields(sigs) {
		// ConstantTimeCompare returns at once on a length mismatch; that leaks only the length
		// of a v1 signature, which is public.
		if hmac.Equal([]byte(s), want) {
			return nil
		}
	}
	return unauthorized("no valid signature in webhook-signature")
}

func unauthorized(format string, args ...any) *mih.Error {
	return mih.Errorf(mih.CodeUnauthorized, format, args...)
}
