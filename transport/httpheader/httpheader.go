// Package httpheader holds what the HTTP-based transports (rest, soap) share: applying a
// service's credentials, layering header sets, masking secrets for the log, reading Retry-After,
// and classifying the HTTP client's errors. One copy, so that the transports cannot drift apart
// on what is secret or what is retried.
package httpheader

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

// SetAuth adds the service's credentials and reports the name of a custom auth header, which
// must be masked too. A broken auth configuration is a non-retryable invalid_request.
func SetAuth(req *http.Request, a mih.Auth) (string, error) {
	switch a.Type {
	case "", mih.AuthNone:
	case mih.AuthBearer:
		req.Header.Set("Authorization", "Bearer "+a.Token)
	case mih.AuthAPIKey:
		req.Header.Set("X-API-Key", a.Token)
	case mih.AuthBasic:
		req.SetBasicAuth(a.Username, a.Password)
	case mih.AuthHeader:
		if a.Name == "" {
			return "", &mih.SendError{Code: mih.ErrRequest, Message: "auth header name is empty"}
		}
		req.Header.Set(a.Name, a.Value)
		return a.Name, nil
	default:
		return "", &mih.SendError{Code: mih.ErrRequest, Message: fmt.Sprintf("unknown auth type %q", a.Type)}
	}
	return "", nil
}

// secret are masked whatever the service's auth type.
var secret = []string{"Authorization", "Proxy-Authorization", "X-Api-Key", "Cookie", "Webhook-Signature"}

// Mask returns the headers as sent, one value per name, secrets replaced by mih.Masked; extra
// names one more secret header (a custom auth header).
func Mask(h http.Header, extra string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = strings.Join(v, ", ")
	}
	for _, k := range secret {
		if _, ok := out[k]; ok {
			out[k] = mih.Masked
		}
	}
	for k, v := range out {
		if v != "" && mih.SensitiveHeader(k) {
			out[k] = mih.Masked
		}
	}
	if extra != "" {
		if k := http.CanonicalHeaderKey(extra); out[k] != "" {
			out[k] = mih.Masked
		}
	}
	return out
}

// Set applies header layers in order of precedence (later layers win), each in sorted order so
// that names differing only in case resolve the same way on every call.
func Set(h http.Header, layers ...map[string]string) {
	for _, l := range layers {
		for _, k := range slices.Sorted(maps.Keys(l)) {
			h.Set(k, l[k])
		}
	}
}

// ParseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date (RFC 9110 10.2.3).
// It returns zero for an absent, malformed or past value; bounding a long one is the retry
// policy's job, which knows the service's max_backoff_s.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		// Cap before multiplying so that a huge value cannot overflow into a negative delay.
		return time.Duration(min(n, int64(365*24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Check refuses a header that net/http would refuse at send time (a name that is not a token, a
// value with a line break or another control character) as a final invalid_request, so that it
// is caught before the request goes out rather than reported as a network failure and retried.
// The message names the header, never its value, which may be a credential.
func Check(h http.Header) error {
	for name, vs := range h {
		for _, v := range vs {
			if err := CheckField(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckField is Check of one header.
func CheckField(name, value string) error {
	if !validName(name) {
		return &mih.SendError{Code: mih.ErrRequest, Message: fmt.Sprintf("header name %q is not valid", name)}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return &mih.SendError{Code: mih.ErrRequest, Message: fmt.Sprintf("header %s: the value contains a control character (a line break?)", name)}
		}
	}
	return nil
}

func validName(s string) bool {
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return s != ""
}
