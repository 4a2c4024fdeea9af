package rest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/transport/httpheader"
	"github.com/mihhub/mih/webhook"
)

// build turns a mih.Request into an *http.Request. It returns the headers as they will be sent,
// masked, even when it fails part-way, so that the attempt shows what was tried.
func (t *Transport) build(ctx context.Context, s *mih.Service, r *mih.Request) (*http.Request, map[string]string, error) {
	method := strings.ToUpper(strings.TrimSpace(r.Method))
	if method == "" {
		method = http.MethodPost
	}
	if !validMethod(method) {
		return nil, nil, invalid("method %q is not a valid HTTP method", r.Method)
	}
	u, err := joinURL(s.BaseURL, r.Path)
	if err != nil {
		return nil, nil, err
	}

	// GET and DELETE carry the payload's top-level fields in the query string: many APIs
	// ignore or refuse a body on them.
	var body []byte
	if method == http.MethodGet || method == http.MethodDelete {
		q, err := payloadQuery(r.Body)
		if err != nil {
			return nil, nil, err
		}
		u.RawQuery = joinQuery(u.RawQuery, q)
	} else {
		body = r.Body
		if len(bytes.TrimSpace(body)) == 0 {
			body = []byte("{}")
		}
	}

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, nil, &mih.SendError{Code: mih.ErrRequest, Message: "cannot build the request", Err: err}
	}

	h := req.Header
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Accept", "application/json")
	httpheader.Set(h, s.Headers, r.Headers)
	h.Set("User-Agent", t.agent)
	authHeader, err := httpheader.SetAuth(req, s.Auth)
	if err != nil {
		return req, httpheader.Mask(h, authHeader), err
	}
	if err := httpheader.Check(h); err != nil {
		return req, httpheader.Mask(h, authHeader), err
	}

	key := r.IdempotencyKey
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	if s.SigningSecret != "" {
		if key == "" {
			// Standard Webhooks needs a message id; a call without a key gets a fresh one.
			key = "msg_" + rand.Text()
		}
		ts := t.now().Unix()
		sig, err := Sign(s.SigningSecret, key, ts, body)
		if err != nil {
			return req, httpheader.Mask(h, authHeader), err
		}
		h.Set("Webhook-Id", key)
		h.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
		h.Set("Webhook-Signature", sig)
	}
	return req, httpheader.Mask(h, authHeader), nil
}

// Sign computes the Standard Webhooks signature of a message (see webhook.Sign), with a
// malformed secret reported as a SendError of code invalid_request, as every other request that
// cannot be built.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	sig, err := webhook.Sign(secret, id, timestamp, body)
	if err != nil {
		// The message is webhook's own, which never quotes the secret.
		return "", invalid("%s", mih.ErrorMessage(err))
	}
	return sig, nil
}

// joinURL appends path to base with exactly one slash between them and merges their query
// strings (base's first). path is taken as already URL-escaped (rule endpoints escape their
// placeholders).
func joinURL(base, path string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, invalid("base_url is not an absolute http(s) URL")
	}
	p, query, _ := strings.Cut(path, "?")
	p, _, _ = strings.Cut(p, "#")
	if p != "" {
		raw := strings.TrimRight(u.EscapedPath(), "/") + "/" + strings.TrimLeft(p, "/")
		dec, err := url.PathUnescape(raw)
		if err != nil {
			return nil, invalid("path %q is not a valid URL path", path)
		}
		u.Path, u.RawPath = dec, raw
	}
	u.RawQuery = joinQuery(u.RawQuery, query)
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

func joinQuery(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "&" + b
}

// payloadQuery encodes a JSON object's top-level fields as query parameters: strings as they
// are, numbers and booleans as their JSON text, arrays of scalars as repeated parameters,
// nested objects as compact JSON; null fields are left out.
func payloadQuery(body json.RawMessage) (string, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || string(b) == "null" {
		return "", nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return "", invalid("the payload of a GET or DELETE must be a JSON object")
	}
	q := url.Values{}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := bytes.TrimSpace(obj[k])
		if string(v) == "null" {
			continue
		}
		if v[0] == '[' {
			var items []json.RawMessage
			if err := json.Unmarshal(v, &items); err == nil && allScalar(items) {
				for _, it := range items {
					q.Add(k, scalarText(it))
				}
				continue
			}
		}
		if v[0] == '{' || v[0] == '[' {
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil {
				return "", invalid("payload field %q is not valid JSON", k)
			}
			q.Add(k, c.String())
			continue
		}
		q.Add(k, scalarText(v))
	}
	return q.Encode(), nil
}

func allScalar(items []json.RawMessage) bool {
	for _, it := range items {
		it = bytes.TrimSpace(it)
		if len(it) == 0 || it[0] == '{' || it[0] == '[' || string(it) == "null" {
			return false
		}
	}
	return true
}

// scalarText is a JSON scalar as a query value: a string unquoted, anything else verbatim.
func scalarText(v json.RawMessage) string {
	var s string
	if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// validMethod accepts an HTTP token (RFC 9110), which is all net/http checks too, but with a
// message of ours.
func validMethod(m string) bool {
	for _, c := range m {
		if c < '!' || c > '~' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return m != ""
}

// redactedURL is where the request went, without user info.
func redactedURL(req *http.Request) string {
	u := *req.URL
	u.User = nil
	return u.String()
}

func invalid(format string, args ...any) *mih.SendError {
	return &mih.SendError{Code: mih.ErrRequest, Message: fmt.Sprintf(format, args...)}
}
