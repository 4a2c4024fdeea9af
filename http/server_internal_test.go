package http

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
)

// mockHub serves a mock store; every token is valid.
func mockHub(t *testing.T, m *mockStore) (*testHub, *syncBuffer) {
	t.Helper()
	m.FindTokenByHashFn = func(ctx context.Context, hash string) (*mih.Token, error) {
		if hash != secret.HashToken(testToken) {
			return nil, mih.Errorf(mih.CodeNotFound, "token not found")
		}
		return &mih.Token{ID: 1, Name: "admin"}, nil
	}
	m.TouchTokenFn = func(context.Context, int64, time.Time) error { return errors.New("read-only") }
	logs := &syncBuffer{}
	srv := httptest.NewServer(NewServer(Config{
		Store:   m,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version: "v9",
	}).Handler())
	t.Cleanup(srv.Close)
	return &testHub{t: t, srv: srv, token: testToken}, logs
}

func TestReady(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(NewServer(Config{
		Store:   &mockStore{},
		Version: "v9",
		Readiness: func(ctx context.Context) []ReadinessCheck {
			return []ReadinessCheck{{Name: "store", OK: true}, {Name: "tailer:main", OK: !failing.Load(), Detail: "stopped"}}
		},
	}).Handler())
	t.Cleanup(srv.Close)
	h := &testHub{t: t, srv: srv}
	var got readyBody
	h.doWith("GET", "/api/v1/ready", nil, nil).want(http.StatusOK).decode(&got)
	if got.Status != "ready" || len(got.Checks) != 2 || got.Version != "v9" {
		t.Errorf("ready %+v", got)
	}
	failing.Store(true)
	h.doWith("GET", "/api/v1/ready", nil, nil).want(http.StatusServiceUnavailable).decode(&got)
	if got.Status != "not_ready" || got.Checks[1].OK || got.Checks[1].Detail != "stopped" {
		t.Errorf("ready with a stopped tailer %+v", got)
	}
}

func TestHealth(t *testing.T) {
	var down bool
	h, logs := mockHub(t, &mockStore{ConfigVersionFn: func(context.Context) (int64, error) {
		if down {
			return 0, errors.New("disk I/O error")
		}
		return 3, nil
	}})
	var got healthBody
	h.doWith("GET", "/api/v1/health", nil, nil).want(http.StatusOK).decode(&got)
	if got != (healthBody{Status: "ok", Version: "v9", Store: "ok"}) {
		t.Errorf("health %+v", got)
	}
	down = true
	h.doWith("GET", "/api/v1/health", nil, nil).want(http.StatusServiceUnavailable).decode(&got)
	if got.Status != "unavailable" || got.Store != "unavailable" {
		t.Errorf("health with the store down %+v", got)
	}
	if !strings.Contains(logs.String(), "disk I/O error") {
		t.Errorf("the store's fault is not logged: %s", logs)
	}
}

// An internal error answers "internal error" with the request id; the cause is logged with the
// same id and never sent.
func TestInternalError(t *testing.T) {
	h, logs := mockHub(t, &mockStore{FindServicesFn: func(context.Context) ([]*mih.Service, error) {
		return nil, errors.New("database is locked at /secret/path")
	}})
	r := h.doWith("GET", "/api/v1/services", nil, map[string]string{
		"Authorization": "Bearer " + testToken, "X-Request-Id": "req-42",
	}).wantError(500, "internal")
	if r.errMessage() != "internal error" || strings.Contains(string(r.Body), "locked") {
		t.Errorf("answer %s leaks the cause", r.Body)
	}
	if r.Header.Get("X-Request-Id") != "req-42" {
		t.Errorf("X-Request-Id %q, want the client's echoed", r.Header.Get("X-Request-Id"))
	}
	out := logs.String()
	if !strings.Contains(out, "request_id=req-42") || !strings.Contains(out, "database is locked") {
		t.Errorf("log lacks the request id or cause: %s", out)
	}
	if strings.Contains(out, testToken) {
		t.Errorf("log contains the API token: %s", out)
	}
}

// A panicking handler (here: a store method the mock leaves unset) answers a JSON 500 and is
// logged; the server keeps serving.
func TestPanicRecovered(t *testing.T) {
	h, logs := mockHub(t, &mockStore{})
	h.do("GET", "/api/v1/rules", nil).wantError(500, "internal")
	if !strings.Contains(logs.String(), "handler panicked") {
		t.Errorf("panic not logged: %s", logs)
	}
	h.doWith("GET", "/api/v1/nope", nil, nil).wantError(404, "not_found")
}

// Touching a token's last use may fail without failing the request.
func TestAuth_TouchFailureIsNotFatal(t *testing.T) {
	h, logs := mockHub(t, &mockStore{FindServicesFn: func(context.Context) ([]*mih.Service, error) { return nil, nil }})
	h.do("GET", "/api/v1/services", nil).want(http.StatusOK)
	if !strings.Contains(logs.String(), "record token use") {
		t.Errorf("touch failure not logged: %s", logs)
	}
}

func TestRouting(t *testing.T) {
	h := newTestHub(t)
	tests := []struct {
		name   string
		method string
		path   string
		status int
		code   string
		allow  string
	}{
		{"unknown API path", "GET", "/api/v1/nope", 404, "not_found", ""},
		{"unknown API sub-path", "GET", "/api/v1/services/a/b", 404, "not_found", ""},
		{"unknown root path", "GET", "/nope", 404, "not_found", ""},
		{"wrong method on a collection", "PATCH", "/api/v1/services", 405, "method_not_allowed", "GET, POST, HEAD"},
		{"wrong method on an item", "POST", "/api/v1/services/x", 405, "method_not_allowed", "GET, PUT, DELETE, HEAD"},
		{"wrong method on health", "DELETE", "/api/v1/health", 405, "method_not_allowed", "GET, HEAD"},
		{"GET on replay", "GET", "/api/v1/deliveries/1/replay", 405, "method_not_allowed", "POST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.path, nil).wantError(tc.status, tc.code)
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	h := newTestHub(t)
	r := h.doWith("GET", "/api/v1/health", nil, nil).want(http.StatusOK)
	want := map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Content-Type": "application/json"}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if id := r.Header.Get("X-Request-Id"); len(id) < 16 {
		t.Errorf("X-Request-Id %q, want a generated id", id)
	}
	r = h.doWith("GET", "/api/v1/health", nil, map[string]string{"X-Request-Id": "bad id\twith spaces"})
	if id := r.Header.Get("X-Request-Id"); strings.ContainsAny(id, " \t") {
		t.Errorf("X-Request-Id %q echoes an unsafe client value", id)
	}
	if !strings.Contains(h.logs.String(), "http request") {
		t.Errorf("no access log at debug level")
	}
}

func TestDecodeJSON(t *testing.T) {
	type target struct {
		A int    `json:"a"`
		B string `json:"b"`
	}
	tests := []struct {
		name     string
		body     string
		optional bool
		code     mih.Code
		mention  string
	}{
		{"ok", `{"a": 1, "b": "x"}`, false, "", ""},
		{"empty, required", ``, false, mih.CodeInvalid, "body"},
		{"empty, optional", `  `, true, "", ""},
		{"unknown field", `{"c": 1}`, false, mih.CodeInvalid, `"c"`},
		{"wrong type", `{"a": "1"}`, false, mih.CodeInvalid, "a: got a JSON string, want an integer"},
		{"syntax", `{"a": 1,}`, false, mih.CodeInvalid, "at byte"},
		{"truncated", `{"a": 1`, false, mih.CodeInvalid, "unexpected end"},
		{"trailing value", `{"a": 1} {"a": 2}`, false, mih.CodeInvalid, "after"},
		{"trailing garbage", `{"a": 1} x`, false, mih.CodeInvalid, "after"},
		{"too large", `{"b": "` + strings.Repeat("x", 100) + `"}`, false, mih.CodeTooLarge, "64 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			req.Body = http.MaxBytesReader(httptest.NewRecorder(), req.Body, 64)
			var v target
			err := decodeJSON(req, &v, tc.optional)
			if got := mih.ErrorCode(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if msg := mih.ErrorMessage(err); !strings.Contains(msg, tc.mention) {
				t.Errorf("message %q does not mention %q", msg, tc.mention)
			}
		})
	}
}

func TestErrorStatus(t *testing.T) {
	tests := []struct {
		code mih.Code
		want int
	}{
		{mih.CodeInvalid, 400}, {mih.CodeUnauthorized, 401}, {mih.CodeForbidden, 403}, {mih.CodeNotFound, 404},
		{mih.CodeConflict, 409}, {mih.CodeConfirm, 409}, {mih.CodeTooLarge, 413}, {mih.CodeUnavailable, 503},
		{mih.CodeCircuitOpen, 503}, {mih.CodeInternal, 500}, {"something_new", 500},
	}
	for _, tc := range tests {
		if got := ErrorStatus(tc.code); got != tc.want {
			t.Errorf("ErrorStatus(%s) = %d, want %d", tc.code, got, tc.want)
		}
	}
	// An error wrapping a domain error keeps its code; any other error is internal.
	rec := httptest.NewRecorder()
	writeError(rec, httptest.NewRequest("GET", "/", nil), slog.New(slog.DiscardHandler),
		errors.Join(errors.New("ctx"), mih.Errorf(mih.CodeNotFound, "rule 3 not found")))
	if rec.Code != 404 || !bytes.Contains(rec.Body.Bytes(), []byte(`"message":"rule 3 not found"`)) {
		t.Errorf("wrapped not_found answered %d %s", rec.Code, rec.Body)
	}
}
