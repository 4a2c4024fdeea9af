package http

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
)

// testHub is a real API server on a random port over a real SQLite store in a temp directory,
// with the real ingester and rule set.
type testHub struct {
	t       *testing.T
	store   mih.Store
	srv     *httptest.Server
	token   string
	notify  atomic.Int64
	clock   *testClock
	logs    *syncBuffer
	metrics *prometheus.Registry
}

// testClock is a settable clock shared by the server and the store.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer collects log output from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testToken = "mih_test-token-for-the-api"

// notifyFunc is a waker of one function.
type notifyFunc func()

func (f notifyFunc) Notify() { f() }

// newTestHub starts a hub; each tweak, a func(*Config) or a func(*ops.Config), adjusts the
// server's or its operations layer's configuration before they are built.
func newTestHub(t *testing.T, tweak ...any) *testHub {
	t.Helper()
	ctx := context.Background()
	clock := &testClock{now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	box, err := secret.NewBox(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mih.db"), box,
		sqlite.WithNow(clock.Now), sqlite.WithSynchronous("NORMAL"), sqlite.WithReadConns(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateToken(ctx, &mih.Token{Name: "admin", Hash: secret.HashToken(testToken)}); err != nil {
		t.Fatal(err)
	}
	h := &testHub{t: t, store: st, token: testToken, clock: clock, logs: &syncBuffer{}, metrics: prometheus.NewRegistry()}
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rules := rule.NewSet(st, logger, time.Hour)
	ing := event.NewIngester(event.Config{Store: st, Rules: rules, Logger: logger, Now: clock.Now})
	cfg := Config{
		Store:    st,
		Ingester: ing,
		Gatherer: h.metrics,
		Logger:   logger,
		Now:      clock.Now,
		Version:  "test",
	}
	oc := ops.Config{Rules: rules, Logger: logger, Now: clock.Now}
	for _, tw := range tweak {
		switch tw := tw.(type) {
		case func(*Config):
			tw(&cfg)
		case func(*ops.Config):
			tw(&oc)
		default:
			t.Fatalf("tweak %T", tw)
		}
	}
	oc.Store = cfg.Store
	oc.Ledger = ops.NewLedger(cfg.Store, notifyFunc(func() { h.notify.Add(1) }), clock.Now)
	cfg.Ops = ops.New(oc)
	h.srv = httptest.NewServer(NewServer(cfg).Handler())
	t.Cleanup(h.srv.Close)
	return h
}

// response is an answer, read whole.
type response struct {
	t      *testing.T
	Status int
	Header http.Header
	Body   []byte
}

// decode reads the body as JSON into v.
func (r *response) decode(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// obj reads the body as a JSON object.
func (r *response) obj() map[string]any {
	r.t.Helper()
	var m map[string]any
	r.decode(&m)
	return m
}

// errCode returns the code of a JSON error answer, failing when the body is not one.
func (r *response) errCode() string {
	r.t.Helper()
	var e errorBody
	r.decode(&e)
	if e.Error.Code == "" {
		r.t.Fatalf("not a JSON error: %s", r.Body)
	}
	return string(e.Error.Code)
}

func (r *response) errMessage() string {
	r.t.Helper()
	var e errorBody
	r.decode(&e)
	return e.Error.Message
}

// want fails the test unless the answer has the given status.
func (r *response) want(status int) *response {
	r.t.Helper()
	if r.Status != status {
		r.t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	return r
}

// wantError fails the test unless the answer is a JSON error with this status and code.
func (r *response) wantError(status int, code string) *response {
	r.t.Helper()
	r.want(status)
	if got := r.errCode(); got != code {
		r.t.Fatalf("error code %q, want %q; body %s", got, code, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Fatalf("Content-Type %q, want application/json", ct)
	}
	return r
}

// do sends a request with the hub's token. body is a string or []byte sent as is, or any
// other value encoded as JSON.
func (h *testHub) do(method, path string, body any) *response {
	h.t.Helper()
	return h.doWith(method, path, body, map[string]string{"Authorization": "Bearer " + h.token})
}

func (h *testHub) doWith(method, path string, body any, headers map[string]string) *response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return &response{t: h.t, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// countEvents returns how many events the store holds.
func (h *testHub) countEvents() int {
	h.t.Helper()
	recs, _, err := h.store.FindEvents(context.Background(), mih.EventFilter{Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return len(recs)
}

// createService registers a REST service through the API.
func (h *testHub) createService(name string) {
	h.t.Helper()
	h.do("POST", "/api/v1/services", map[string]any{
		"name": name, "base_url": "https://" + name + ".example.com/v1",
		"auth": map[string]any{"type": "bearer", "token": "tok-" + name},
	}).want(http.StatusCreated)
}

// createRule adds a rule through the API and returns its id.
func (h *testHub) createRule(service, eventName, template string) int64 {
	h.t.Helper()
	var ru mih.Rule
	h.do("POST", "/api/v1/rules", map[string]any{
		"name": "r", "event": eventName, "service": service, "endpoint": "/hook", "template": template,
	}).want(http.StatusCreated).decode(&ru)
	return ru.ID
}

// testEvent is an ingestible event.
func testEvent(id, name string, userID int64) map[string]any {
	return map[string]any{
		"id": id, "eventname": name, "component": "core", "action": "created", "target": "user",
		"crud": "c", "userid": userID, "courseid": 0, "relateduserid": 42, "contextid": 1,
		"timecreated": 1767225600, "site": "main", "other": map[string]any{"username": "jdoe"},
	}
}

// finish claims every due delivery and completes it in the given state, with an attempt and a
// log entry, the way a worker would.
func (h *testHub) finish(state mih.DeliveryState, status int, latency float64) []*mih.Delivery {
	h.t.Helper()
	ctx := context.Background()
	now := h.clock.Now()
	ds, err := h.store.ClaimDeliveries(ctx, mih.ClaimParams{Owner: "test", Limit: 100, Lease: time.Minute, Now: now})
	if err != nil {
		h.t.Fatal(err)
	}
	var rs []mih.DeliveryResult
	for _, d := range ds {
		res := mih.DeliveryResult{
			ID: d.ID, State: state, CountAttempt: true, LastStatus: status, Now: now,
			Attempt: &mih.Attempt{DeliveryID: d.ID, StartedAt: now, LatencyMS: latency, Status: status,
				Outcome:    map[mih.DeliveryState]string{mih.DeliverySucceeded: mih.OutcomeSuccess, mih.DeliveryDead: mih.OutcomeDead}[state],
				RequestURL: "https://example.com" + d.Endpoint},
			Log: &mih.LogEntry{Time: now, Service: d.Service, Endpoint: d.Endpoint, Method: d.Method, Status: status,
				LatencyMS: latency, Attempts: 1, Success: state == mih.DeliverySucceeded, DeliveryID: d.ID, Source: "delivery"},
		}
		if state == mih.DeliveryDead {
			res.DeadReason, res.LastError = mih.ReasonFailed, "http_error: bad request"
			res.Attempt.Error = "bad request"
			res.Log.Error = "bad request"
		}
		rs = append(rs, res)
	}
	if _, err := h.store.CompleteDeliveries(ctx, "test", rs); err != nil {
		h.t.Fatal(err)
	}
	return ds
}
