// Package rest sends requests to REST services (docs/api.md, Transports) over one shared, tuned
// HTTP client.
//
// Every outcome is classified once, here, into a *mih.SendError, so that retries, the circuit
// breaker and the DLQ agree on what it means:
//
//	2xx                          success
//	408, 425, 429, 5xx           http_error, retryable (Retry-After on 429/503 kept)
//	other 4xx, 3xx               http_error, final; the body is kept in the Response
//	deadline of ctx              timeout, retryable
//	connection errors            network, retryable
//	bad URL, method or payload   invalid_request, final
//
// Redirects are not followed: a webhook receiver that redirects a POST is misconfigured, and
// following it would turn the POST into a GET and could carry credentials to another host.
//
// Response bodies are read up to Options.MaxResponseBody (1 MiB by default) and returned whole
// up to that size; a longer body is cut there (Response.Truncated) and its connection closed
// rather than drained.
// Callers that persist bodies keep less (the delivery ledger keeps 64 KiB per attempt).
package rest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/transport/httpheader"
)

// Defaults of Options.
const (
	DefaultMaxResponseBody     = 1 << 20
	DefaultMaxIdleConnsPerHost = 64
	DefaultVersion             = "dev"
)

// Options tunes a Transport. The zero value is usable.
type Options struct {
	// Version goes into the User-Agent header as mih/<Version>.
	Version string
	// RootCAs, when set, replaces the system roots for verifying servers (a private CA).
	// Verification itself cannot be turned off.
	RootCAs *x509.CertPool
	// MaxIdleConnsPerHost keeps this many connections open per host between calls, so that
	// the delivery workers' concurrent sends reuse connections (default 64).
	MaxIdleConnsPerHost int
	// MaxResponseBody is how much of a response body is read and returned (default 1 MiB).
	MaxResponseBody int64
	// Now is the clock for webhook-timestamp (default time.Now).
	Now func() time.Time
	// RoundTripper replaces the tuned *http.Transport; for tests and special set-ups only.
	RoundTripper http.RoundTripper
}

// Transport is a mih.Transport for REST services. It is safe for concurrent use; build one per
// process and share it.
type Transport struct {
	client  *http.Client
	agent   string
	maxBody int64
	now     func() time.Time
}

var _ mih.Transport = (*Transport)(nil)

// New returns a Transport with one shared HTTP client.
func New(opts Options) *Transport {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	if opts.MaxResponseBody <= 0 {
		opts.MaxResponseBody = DefaultMaxResponseBody
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rt := opts.RoundTripper
	if rt == nil {
		rt = &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          4 * opts.MaxIdleConnsPerHost,
			MaxIdleConnsPerHost:   opts.MaxIdleConnsPerHost,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: opts.RootCAs},
		}
	}
	return &Transport{
		client: &http.Client{
			Transport: rt,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		agent:   "mih/" + opts.Version,
		maxBody: opts.MaxResponseBody,
		now:     opts.Now,
	}
}

// Close drops idle connections.
func (t *Transport) Close() error {
	t.client.CloseIdleConnections()
	return nil
}

// Validate checks what build would refuse of the request itself, without building it
// (gateway.Validator): the method, the URL, a payload a GET or DELETE cannot carry, the header
// names and values. Such a request is refused before the circuit breaker is asked, so it never
// takes the half-open probe. The service's own credentials and signing secret are checked when
// it is saved, and again by build.
func (t *Transport) Validate(s *mih.Service, r *mih.Request) error {
	method := strings.ToUpper(strings.TrimSpace(r.Method))
	if method != "" && !validMethod(method) {
		return invalid("method %q is not a valid HTTP method", r.Method)
	}
	if _, err := joinURL(s.BaseURL, r.Path); err != nil {
		return err
	}
	if method == http.MethodGet || method == http.MethodDelete {
		if _, err := payloadQuery(r.Body); err != nil {
			return err
		}
	}
	for _, hs := range []map[string]string{s.Headers, r.Headers} {
		for k, v := range hs {
			if err := httpheader.CheckField(k, v); err != nil {
				return err
			}
		}
	}
	if r.IdempotencyKey != "" {
		// The key is the event's id and the rule's: an id stored before ids were checked may
		// still carry a line break.
		return httpheader.CheckField("Idempotency-Key", r.IdempotencyKey)
	}
	return nil
}

// Send calls the service and classifies the outcome. It always returns a non-nil Response that
// records where the request went (URL without credentials) and the headers as sent (secrets
// masked), so that a failed attempt can be shown in full; a failure comes with a *mih.SendError.
// Send honours ctx's deadline; the caller (the gateway) sets it from the service's timeout.
func (t *Transport) Send(ctx context.Context, s *mih.Service, r *mih.Request) (*mih.Response, error) {
	resp := &mih.Response{}
	req, masked, err := t.build(ctx, s, r)
	if req != nil {
		resp.URL = redactedURL(req)
	}
	resp.RequestHeaders = masked
	if err == nil {
		err = httpheader.Check(req.Header)
	}
	if err != nil {
		return resp, err
	}

	start := time.Now()
	hr, err := t.client.Do(req)
	if err != nil {
		resp.Latency = time.Since(start)
		return resp, httpheader.Classify(ctx, err, "")
	}
	body, truncated, err := t.readBody(hr)
	resp.Latency = time.Since(start)
	resp.Status = hr.StatusCode
	resp.Headers = hr.Header
	resp.Body, resp.Truncated = body, truncated
	if err != nil {
		return resp, httpheader.Classify(ctx, err, "")
	}
	return resp, t.statusError(hr)
}

// readBody reads up to maxBody bytes. A body within the limit is drained to EOF so that the
// connection goes back to the pool; a longer one is cut, reported as truncated, and its
// connection closed.
func (t *Transport) readBody(hr *http.Response) ([]byte, bool, error) {
	defer hr.Body.Close()
	var buf bytes.Buffer
	_, err := io.Copy(&buf, io.LimitReader(hr.Body, t.maxBody+1))
	if int64(buf.Len()) > t.maxBody {
		return buf.Bytes()[:t.maxBody], true, err
	}
	return buf.Bytes(), false, err
}

// statusError classifies a complete response by its status.
func (t *Transport) statusError(hr *http.Response) error {
	code := hr.StatusCode
	if code >= 200 && code <= 299 {
		return nil
	}
	e := &mih.SendError{
		Code:      mih.ErrHTTP,
		Message:   fmt.Sprintf("upstream answered %d %s", code, http.StatusText(code)),
		Status:    code,
		Retryable: mih.RetryableStatus(code),
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		e.RetryAfter = httpheader.ParseRetryAfter(hr.Header.Get("Retry-After"), t.now())
	}
	return e
}
