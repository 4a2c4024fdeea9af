package http

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/transport/rest"
)

// receiver is a loopback HTTP service that records what it was sent and answers with the next
// of its scripted replies (the last one repeats).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	replies []reply
	got     []received
}

type reply struct {
	status      int
	contentType string
	body        string
	// hang holds the answer until the caller gives up (bounded by the test's own limit).
	hang bool
}

type received struct {
	method, path, query string
	header              http.Header
	body                string
}

func newReceiver(t *testing.T, replies ...reply) *receiver {
	t.Helper()
	rc := &receiver{replies: replies}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, received{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, header: r.Header.Clone(), body: string(b)})
		rp := rc.replies[min(n, len(rc.replies)-1)]
		rc.mu.Unlock()
		if rp.hang {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		if rp.contentType != "" {
			w.Header().Set("Content-Type", rp.contentType)
		}
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(rp.status)
		io.WriteString(w, rp.body)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) calls() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// guardFunc is a gateway.Guard made of a function.
type guardFunc func(ctx context.Context, svc *mih.Service) gateway.Decision

func (f guardFunc) Allow(ctx context.Context, svc *mih.Service) gateway.Decision {
	return f(ctx, svc)
}

// countingStore is the real store with a count of the request-log writes.
type countingStore struct {
	mih.Store
	logWrites atomic.Int32
}

func (s *countingStore) CreateLogs(ctx context.Context, entries []*mih.LogEntry) error {
	s.logWrites.Add(1)
	return s.Store.CreateLogs(ctx, entries)
}

// gatewayHub is a test hub whose gateway is the real gateway.Gateway over the real REST
// transport; guard, when not nil, is its circuit breaker.
func gatewayHub(t *testing.T, guard gateway.Guard) (*testHub, *countingStore) {
	t.Helper()
	tr := rest.New(rest.Options{})
	t.Cleanup(func() { tr.Close() })
	var cs *countingStore
	h := newTestHub(t, func(c *Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
		c.Gateway = gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{Guard: guard})
	})
	return h, cs
}

const upstreamToken = "tok-upstream-secret-4711"

// gatewayService registers a REST service at url with a bearer token and fast retries;
// fields override the defaults.
func (h *testHub) gatewayService(name, url string, fields map[string]any) {
	h.t.Helper()
	s := map[string]any{
		"name": name, "base_url": url + "/v1", "auth": map[string]any{"type": "bearer", "token": upstreamToken},
		"headers": map[string]string{"X-Tenant": "42"}, "max_retries": 3, "initial_backoff_s": 0.01, "max_backoff_s": 0.05,
		"timeout_s": 2, "circuit": map[string]any{"failure_threshold": 5, "window_s": 60, "cooldown_s": 7},
	}
	for k, v := range fields {
		s[k] = v
	}
	h.do("POST", "/api/v1/services", s).want(http.StatusCreated)
}

func (h *testHub) gatewayLogs(service string) []*mih.LogEntry {
	h.t.Helper()
	var l list[*mih.LogEntry]
	h.do("GET", "/api/v1/logs?service="+service, nil).want(http.StatusOK).decode(&l)
	return l.Items
}

// noSecret fails when an answer carries the upstream token or the request's credentials.
func noSecret(t *testing.T, r *response) {
	t.Helper()
	if strings.Contains(string(r.Body), upstreamToken) || strings.Contains(string(r.Body), "Bearer") {
		t.Fatalf("answer leaks a credential: %s", r.Body)
	}
}

func TestGateway_Sync(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		h, _ := gatewayHub(t, nil)
		rc := newReceiver(t, reply{status: 201, contentType: "application/json; charset=utf-8", body: `{"id": 7, "name": "x"}`})
		h.gatewayService("crm", rc.srv.URL, nil)
		r := h.doWith("POST", "/api/v1/gateway/crm", map[string]any{
			"path": "/users", "method": "put", "payload": map[string]any{"username": "jdoe"},
			"headers": map[string]string{"X-Trace": "abc"},
		}, map[string]string{"Authorization": "Bearer " + h.token, "Idempotency-Key": "call-1"}).want(http.StatusOK)
		noSecret(t, r)
		var a gatewayAnswer
		r.decode(&a)
		body, _ := json.Marshal(a.Body)
		if !a.OK || a.Status != 201 || a.Attempts != 1 || a.Error != nil || string(body) != `{"id":7,"name":"x"}` || a.LatencyMS <= 0 {
			t.Errorf("answer %s", r.Body)
		}
		if a.Headers["X-Upstream"] != "yes" || a.Headers["Content-Type"] != "application/json; charset=utf-8" {
			t.Errorf("headers %v, want the upstream's", a.Headers)
		}
		calls := rc.calls()
		if len(calls) != 1 {
			t.Fatalf("%d calls, want 1", len(calls))
		}
		c := calls[0]
		checks := []struct{ name, got, want string }{
			{"method", c.method, "PUT"},
			{"path", c.path, "/v1/users"},
			{"body", c.body, `{"username":"jdoe"}`},
			{"auth", c.header.Get("Authorization"), "Bearer " + upstreamToken},
			{"service header", c.header.Get("X-Tenant"), "42"},
			{"request header", c.header.Get("X-Trace"), "abc"},
			{"idempotency key", c.header.Get("Idempotency-Key"), "call-1"},
		}
		for _, ck := range checks {
			if ck.got != ck.want {
				t.Errorf("%s: got %q, want %q", ck.name, ck.got, ck.want)
			}
		}
		logs := h.gatewayLogs("crm")
		if len(logs) != 1 {
			t.Fatalf("%d log entries, want 1", len(logs))
		}
		e := logs[0]
		if e.Source != GatewayLogSource || e.Status != 201 || !e.Success || e.Attempts != 1 || e.Method != "PUT" ||
			e.Endpoint != "/users" || e.LatencyMS <= 0 || e.Error != "" || e.DeliveryID != 0 {
			t.Errorf("log entry %+v", e)
		}
	})

	t.Run("retries until success", func(t *testing.T) {
		h, cs := gatewayHub(t, nil)
		rc := newReceiver(t, reply{status: 500, body: "boom"}, reply{status: 500, body: "boom"},
			reply{status: 200, contentType: "application/json", body: `[1,2]`})
		h.gatewayService("crm", rc.srv.URL, nil)
		before := cs.logWrites.Load()
		r := h.do("POST", "/api/v1/gateway/crm", map[string]any{"path": "/x", "payload": map[string]any{"a": 1}}).want(http.StatusOK)
		var a gatewayAnswer
		r.decode(&a)
		if !a.OK || a.Status != 200 || a.Attempts != 3 {
			t.Errorf("answer %s, want ok after 3 attempts", r.Body)
		}
		calls := rc.calls()
		if len(calls) != 3 {
			t.Fatalf("%d calls, want 3", len(calls))
		}
		key := calls[0].header.Get("Idempotency-Key")
		for i, c := range calls {
			if k := c.header.Get("Idempotency-Key"); k == "" || k != key {
				t.Errorf("call %d: Idempotency-Key %q, want the same fresh key on every attempt (%q)", i+1, k, key)
			}
		}
		if n := cs.logWrites.Load() - before; n != 1 {
			t.Errorf("%d request-log writes, want 1 for the whole call", n)
		}
		logs := h.gatewayLogs("crm") // newest first
		if len(logs) != 3 {
			t.Fatalf("%d log entries, want one per attempt", len(logs))
		}
		for i, want := range []struct {
			attempt, status int
			success         bool
		}{{3, 200, true}, {2, 500, false}, {1, 500, false}} {
			e := logs[i]
			if e.Attempts != want.attempt || e.Status != want.status || e.Success != want.success || e.Source != "gateway" {
				t.Errorf("entry %d: %+v, want attempt %d status %d success %v", i, e, want.attempt, want.status, want.success)
			}
			if !want.success && !strings.Contains(e.Error, "http_error") {
				t.Errorf("entry %d: error %q, want the http_error", i, e.Error)
			}
		}
	})

	t.Run("upstream 404", func(t *testing.T) {
		h, _ := gatewayHub(t, nil)
		rc := newReceiver(t, reply{status: 404, contentType: "text/plain", body: "no such user"})
		h.gatewayService("crm", rc.srv.URL, nil)
		r := h.do("POST", "/api/v1/gateway/crm", map[string]any{"path": "/users/9", "method": "GET"}).want(http.StatusOK)
		var a gatewayAnswer
		r.decode(&a)
		if a.OK || a.Status != 404 || a.Attempts != 1 || a.Body != "no such user" || a.Error == nil || a.Error.Code != mih.ErrHTTP {
			t.Errorf("answer %s, want ok false, status 404, one attempt, the text body, http_error", r.Body)
		}
		if n := len(rc.calls()); n != 1 {
			t.Errorf("%d calls, want 1 (a 404 is final)", n)
		}
		if logs := h.gatewayLogs("crm"); len(logs) != 1 || logs[0].Success || logs[0].Status != 404 {
			t.Errorf("log %+v, want one failed entry with status 404", logs)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		h, _ := gatewayHub(t, nil)
		rc := newReceiver(t, reply{hang: true})
		h.gatewayService("slow", rc.srv.URL, map[string]any{"timeout_s": 0.2, "max_retries": 0})
		start := time.Now()
		r := h.do("POST", "/api/v1/gateway/slow", map[string]any{"path": "/x"}).want(http.StatusOK)
		var a gatewayAnswer
		r.decode(&a)
		if a.OK || a.Status != 0 || a.Attempts != 1 || a.Error == nil || a.Error.Code != mih.ErrTimeout || a.Body != nil {
			t.Errorf("answer %s, want a timeout after one attempt", r.Body)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v, want about the service's 0.2 s timeout", d)
		}
		if logs := h.gatewayLogs("slow"); len(logs) != 1 || !strings.Contains(logs[0].Error, "timeout") {
			t.Errorf("log %+v, want one timeout entry", logs)
		}
	})

	t.Run("overall timeout_s stops retries", func(t *testing.T) {
		h, _ := gatewayHub(t, nil)
		rc := newReceiver(t, reply{status: 503})
		h.gatewayService("busy", rc.srv.URL, map[string]any{"max_retries": 5, "initial_backoff_s": 1, "max_backoff_s": 1})
		start := time.Now()
		r := h.do("POST", "/api/v1/gateway/busy", map[string]any{"path": "/x", "timeout_s": 0.5}).want(http.StatusOK)
		var a gatewayAnswer
		r.decode(&a)
		if a.OK || a.Status != 503 || a.Attempts != 1 {
			t.Errorf("answer %s, want the first 503 returned, no wait past timeout_s", r.Body)
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Errorf("took %v, want less than timeout_s", d)
		}
	})

	t.Run("body kinds", func(t *testing.T) {
		h, _ := gatewayHub(t, nil)
		tests := []struct {
			name         string
			rp           reply
			wantBody     any
			wantEncoding string
		}{
			{"json", reply{status: 200, contentType: "application/problem+json", body: `{"a":1}`}, map[string]any{"a": 1.0}, ""},
			{"json text without json content type", reply{status: 200, contentType: "text/plain", body: `{"a":1}`}, `{"a":1}`, ""},
			{"invalid json", reply{status: 200, contentType: "application/json", body: `{"a":`}, `{"a":`, ""},
			{"empty", reply{status: 204}, nil, ""},
			{"binary", reply{status: 200, contentType: "application/octet-stream", body: "\xff\x00\x01"}, "/wAB", "base64"},
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				rc := newReceiver(t, tc.rp)
				name := "kind" + string(rune('a'+i))
				h.gatewayService(name, rc.srv.URL, nil)
				var a gatewayAnswer
				h.do("POST", "/api/v1/gateway/"+name, map[string]any{}).want(http.StatusOK).decode(&a)
				got, _ := json.Marshal(a.Body)
				want, _ := json.Marshal(tc.wantBody)
				if string(got) != string(want) || a.BodyEncoding != tc.wantEncoding {
					t.Errorf("body %s (%q), want %s (%q)", got, a.BodyEncoding, want, tc.wantEncoding)
				}
			})
		}
	})

	t.Run("network error", func(t *testing.T) {
		h, _ := gatewayHub(t, nil)
		rc := newReceiver(t, reply{status: 200})
		url := rc.srv.URL
		rc.srv.Close()
		h.gatewayService("down", url, map[string]any{"max_retries": 1})
		var a gatewayAnswer
		h.do("POST", "/api/v1/gateway/down", map[string]any{}).want(http.StatusOK).decode(&a)
		if a.OK || a.Status != 0 || a.Attempts != 2 || a.Error == nil || a.Error.Code != mih.ErrNetwork {
			t.Errorf("answer %+v, want a network error after 2 attempts", a)
		}
	})
}

// openErr is a circuit breaker's refusal that says when it lets calls through again.
type openErr struct{ after time.Duration }

func (e *openErr) Error() string             { return "circuit open" }
func (e *openErr) RetryAfter() time.Duration { return e.after }

func TestGateway_CircuitOpen(t *testing.T) {
	var refusal atomic.Value
	refusal.Store(error(mih.Errorf(mih.CodeCircuitOpen, "the circuit of the service is open")))
	refuse := guardFunc(func(context.Context, *mih.Service) gateway.Decision {
		return gateway.Decision{Verdict: gateway.Refused, Refusal: refusal.Load().(error)}
	})
	h, cs := gatewayHub(t, refuse)
	rc := newReceiver(t, reply{status: 200})
	h.gatewayService("crm", rc.srv.URL, nil)
	before := cs.logWrites.Load()

	r := h.do("POST", "/api/v1/gateway/crm", map[string]any{"path": "/x"}).wantError(http.StatusServiceUnavailable, "circuit_open")
	if got := r.Header.Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After %q, want the service's cooldown_s 7", got)
	}
	if n := len(rc.calls()); n != 0 {
		t.Errorf("%d calls, want none", n)
	}
	if n := cs.logWrites.Load() - before; n != 0 || len(h.gatewayLogs("crm")) != 0 {
		t.Errorf("%d log writes, want none: nothing was called", n)
	}

	refusal.Store(error(mih.WrapError(mih.CodeCircuitOpen, &openErr{after: 2500 * time.Millisecond}, "open")))
	r = h.do("POST", "/api/v1/gateway/crm", map[string]any{"path": "/x"}).wantError(http.StatusServiceUnavailable, "circuit_open")
	if got := r.Header.Get("Retry-After"); got != "3" {
		t.Errorf("Retry-After %q, want the breaker's 2.5 s rounded up", got)
	}

	// Asynchronous calls are queued whatever the circuit says: the delivery waits, paused.
	h.do("POST", "/api/v1/gateway/crm", map[string]any{"path": "/x", "async": true}).want(http.StatusAccepted)
}

// A half-open probe that fails reopens the circuit, and the next attempt is refused: the call
// was made, so the answer is 200 with what the service did.
func TestGateway_FailedProbe(t *testing.T) {
	var n atomic.Int32
	probe := guardFunc(func(context.Context, *mih.Service) gateway.Decision {
		if n.Add(1) > 1 {
			return gateway.Decision{Verdict: gateway.Refused, Refusal: mih.Errorf(mih.CodeCircuitOpen, "open")}
		}
		return gateway.Decision{Verdict: gateway.Probe, Record: func(error) {}}
	})
	h, _ := gatewayHub(t, probe)
	rc := newReceiver(t, reply{status: 502, body: "bad gateway"})
	h.gatewayService("crm", rc.srv.URL, nil)
	var a gatewayAnswer
	h.do("POST", "/api/v1/gateway/crm", map[string]any{"path": "/x"}).want(http.StatusOK).decode(&a)
	if a.OK || a.Status != 502 || a.Attempts != 1 || a.Error == nil || a.Error.Code != mih.ErrHTTP {
		t.Errorf("answer %+v, want the probe's 502 as http_error after one attempt", a)
	}
	if logs := h.gatewayLogs("crm"); len(logs) != 1 || logs[0].Status != 502 {
		t.Errorf("log %+v, want the probe's entry", logs)
	}
}

func TestGateway_Async(t *testing.T) {
	h, _ := gatewayHub(t, nil)
	rc := newReceiver(t, reply{status: 200})
	h.gatewayService("crm", rc.srv.URL, nil)
	ctx := context.Background()

	t.Run("queued with the client's key", func(t *testing.T) {
		notified := h.notify.Load()
		r := h.doWith("POST", "/api/v1/gateway/crm", map[string]any{
			"path": "/users", "method": "PATCH", "payload": map[string]any{"id": 5}, "headers": map[string]string{"X-Trace": "t1"}, "async": true,
		}, map[string]string{"Authorization": "Bearer " + h.token, "Idempotency-Key": "order-77"}).want(http.StatusAccepted)
		var q queuedAnswer
		r.decode(&q)
		if q.DeliveryID == 0 || q.IdempotencyKey != "order-77" {
			t.Fatalf("answer %s", r.Body)
		}
		if loc := r.Header.Get("Location"); loc != "/api/v1/deliveries/"+itoa(q.DeliveryID) {
			t.Errorf("Location %q", loc)
		}
		d, err := h.store.FindDeliveryByID(ctx, q.DeliveryID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Service != "crm" || d.State != mih.DeliveryPending || d.Method != "PATCH" || d.Endpoint != "/users" ||
			string(d.Payload) != `{"id":5}` || d.IdempotencyKey != "order-77" || d.Headers["X-Trace"] != "t1" ||
			d.EventID != "" || d.RuleID != 0 || d.Attempts != 0 {
			t.Errorf("delivery %+v", d)
		}
		if h.notify.Load() != notified+1 {
			t.Errorf("workers not notified")
		}
		if n := len(rc.calls()); n != 0 {
			t.Errorf("%d calls, want none: the workers send it", n)
		}
	})
	t.Run("fresh key and default payload", func(t *testing.T) {
		var q queuedAnswer
		h.do("POST", "/api/v1/gateway/crm", map[string]any{"async": true}).want(http.StatusAccepted).decode(&q)
		var q2 queuedAnswer
		h.do("POST", "/api/v1/gateway/crm", map[string]any{"async": true}).want(http.StatusAccepted).decode(&q2)
		if len(q.IdempotencyKey) != 36 || q.IdempotencyKey == q2.IdempotencyKey || q.DeliveryID == q2.DeliveryID {
			t.Errorf("keys %q and %q, ids %d and %d: want two fresh UUIDs and two deliveries", q.IdempotencyKey, q2.IdempotencyKey, q.DeliveryID, q2.DeliveryID)
		}
		d, err := h.store.FindDeliveryByID(ctx, q.DeliveryID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Method != "POST" || string(d.Payload) != "{}" {
			t.Errorf("method %q payload %s, want POST {}", d.Method, d.Payload)
		}
	})
	t.Run("credentials refused", func(t *testing.T) {
		for _, hd := range []string{"authorization", "X-API-Key", "Cookie"} {
			r := h.do("POST", "/api/v1/gateway/crm", map[string]any{"async": true, "headers": map[string]string{hd: "secret-value"}}).
				wantError(http.StatusBadRequest, "invalid")
			if strings.Contains(string(r.Body), "secret-value") {
				t.Errorf("%s: the error echoes the value: %s", hd, r.Body)
			}
		}
	})
	t.Run("disabled service", func(t *testing.T) {
		h.gatewayService("off", rc.srv.URL, map[string]any{"enabled": false})
		h.do("POST", "/api/v1/gateway/off", map[string]any{"async": true}).want(http.StatusAccepted)
		h.do("POST", "/api/v1/gateway/off", map[string]any{}).wantError(http.StatusConflict, "conflict")
	})
}

func TestGateway_BadRequests(t *testing.T) {
	h, _ := gatewayHub(t, nil)
	rc := newReceiver(t, reply{status: 200})
	h.gatewayService("crm", rc.srv.URL, nil)
	h.do("POST", "/api/v1/services", map[string]any{"name": "ws", "type": "soap", "base_url": rc.srv.URL + "/?wsdl"}).want(http.StatusCreated)

	tests := []struct {
		name    string
		path    string
		body    any
		headers map[string]string
		status  int
		code    string
	}{
		{"unknown service", "/api/v1/gateway/nope", map[string]any{}, nil, 404, "not_found"},
		{"no body", "/api/v1/gateway/crm", "", nil, 400, "invalid"},
		{"not JSON", "/api/v1/gateway/crm", `{"payload": {"a": }`, nil, 400, "invalid"},
		{"unknown field", "/api/v1/gateway/crm", map[string]any{"paht": "/x"}, nil, 400, "invalid"},
		{"bad method", "/api/v1/gateway/crm", map[string]any{"method": "TRACE"}, nil, 400, "invalid"},
		{"dot-dot path", "/api/v1/gateway/crm", map[string]any{"path": "/a/../../admin"}, nil, 400, "invalid"},
		{"escaped dot-dot path", "/api/v1/gateway/crm", map[string]any{"path": "/a/%2e%2e/%2E%2E/admin"}, nil, 400, "invalid"},
		{"control character in path", "/api/v1/gateway/crm", map[string]any{"path": "/a\r\nX-Evil: 1"}, nil, 400, "invalid"},
		{"bad escape in path", "/api/v1/gateway/crm", map[string]any{"path": "/a%zz"}, nil, 400, "invalid"},
		{"GET with an array payload", "/api/v1/gateway/crm", map[string]any{"method": "GET", "payload": []int{1}}, nil, 400, "invalid"},
		{"bad header name", "/api/v1/gateway/crm", map[string]any{"headers": map[string]string{"X Bad": "1"}}, nil, 400, "invalid"},
		{"header value with a line break", "/api/v1/gateway/crm", map[string]any{"headers": map[string]string{"X-A": "1\r\nX-B: 2"}}, nil, 400, "invalid"},
		{"framing header", "/api/v1/gateway/crm", map[string]any{"headers": map[string]string{"content-length": "1"}}, nil, 400, "invalid"},
		{"timeout_s zero", "/api/v1/gateway/crm", map[string]any{"timeout_s": 0}, nil, 400, "invalid"},
		{"timeout_s too long", "/api/v1/gateway/crm", map[string]any{"timeout_s": 301}, nil, 400, "invalid"},
		{"timeout_s on async", "/api/v1/gateway/crm", map[string]any{"timeout_s": 1, "async": true}, nil, 400, "invalid"},
		{"bad Idempotency-Key", "/api/v1/gateway/crm", map[string]any{}, map[string]string{"Idempotency-Key": "a b"}, 400, "invalid"},
		{"SOAP without an operation", "/api/v1/gateway/ws", map[string]any{}, nil, 400, "invalid"},
		{"SOAP with a scalar payload", "/api/v1/gateway/ws", map[string]any{"path": "Op", "payload": 5}, nil, 400, "invalid"},
		{"no token", "/api/v1/gateway/crm", map[string]any{}, map[string]string{"Authorization": ""}, 401, "unauthorized"},
		{"wrong method on the route", "/api/v1/gateway/crm", nil, nil, 405, "method_not_allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hd := map[string]string{"Authorization": "Bearer " + h.token}
			for k, v := range tc.headers {
				hd[k] = v
			}
			method := "POST"
			if tc.status == 405 {
				method = "GET"
			}
			h.doWith(method, tc.path, tc.body, hd).wantError(tc.status, tc.code)
		})
	}
	if n := len(rc.calls()); n != 0 {
		t.Errorf("%d calls, want none for bad requests", n)
	}
	if n := len(h.gatewayLogs("crm")); n != 0 {
		t.Errorf("%d log entries, want none", n)
	}
}

func TestGateway_NotConfigured(t *testing.T) {
	h := newTestHub(t)
	h.createService("crm")
	h.do("POST", "/api/v1/gateway/crm", map[string]any{}).wantError(http.StatusServiceUnavailable, "unavailable")
	h.do("POST", "/api/v1/gateway/crm", map[string]any{"async": true}).want(http.StatusAccepted)
}

func TestGateway_CallerGone(t *testing.T) {
	h, _ := gatewayHub(t, nil)
	rc := newReceiver(t, reply{hang: true})
	h.gatewayService("slow", rc.srv.URL, map[string]any{"timeout_s": 5, "max_retries": 0})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", h.srv.URL+"/api/v1/gateway/slow", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+h.token)
	if _, err := h.srv.Client().Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the caller's deadline", err)
	}
	// The call was made: its attempt is logged although nobody waits for the answer.
	deadline := time.Now().Add(5 * time.Second)
	for len(h.gatewayLogs("slow")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no log entry for the abandoned call")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAnswerBody(t *testing.T) {
	js := http.Header{"Content-Type": {"application/json"}}
	xml := http.Header{"Content-Type": {"text/xml; charset=utf-8"}}
	tests := []struct {
		name     string
		typ      mih.ServiceType
		header   http.Header
		body     string
		want     any
		encoding string
	}{
		{"rest json", mih.ServiceREST, js, `{"a":1}`, json.RawMessage(`{"a":1}`), ""},
		{"rest text", mih.ServiceREST, nil, `hello`, "hello", ""},
		{"rest json content type, bad json", mih.ServiceREST, js, `{`, "{", ""},
		{"soap parsed to json", mih.ServiceSOAP, xml, `{"GetUserResponse":{"name":"x"}}`, json.RawMessage(`{"GetUserResponse":{"name":"x"}}`), ""},
		{"soap non-soap answer", mih.ServiceSOAP, xml, `<html>oops</html>`, "<html>oops</html>", ""},
		{"empty", mih.ServiceREST, js, ``, nil, ""},
		{"whitespace", mih.ServiceREST, js, " \n", nil, ""},
		{"binary", mih.ServiceREST, nil, "\xff\xfe", "//4=", "base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := &mih.Service{Type: tc.typ}
			got, enc := answerBody(svc, &mih.Response{Headers: tc.header, Body: []byte(tc.body)})
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if string(g) != string(w) || enc != tc.encoding {
				t.Errorf("got %s (%q), want %s (%q)", g, enc, w, tc.encoding)
			}
		})
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
