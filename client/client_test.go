package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/client"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/gateway"
)

// newHub starts a hub for one test; guard, when not nil, stands where the circuit breaker goes.
func newHub(t *testing.T, guard gateway.Guard) *hub {
	t.Helper()
	h, err := startHub(guard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

type guardFunc func(context.Context, *mih.Service) gateway.Decision

func (f guardFunc) Allow(ctx context.Context, svc *mih.Service) gateway.Decision {
	return f(ctx, svc)
}

func newClient(t *testing.T, h *hub, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(h.URL, h.Token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// upstream is a loopback service that records requests and answers with handler.
type upstream struct {
	*httptest.Server
	mu  sync.Mutex
	got []*http.Request
}

func newUpstream(t *testing.T, handler func(n int, w http.ResponseWriter, r *http.Request)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r2 := r.Clone(context.Background())
		r2.Body = io.NopCloser(strings.NewReader(string(body)))
		u.mu.Lock()
		u.got = append(u.got, r2)
		n := len(u.got)
		u.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		handler(n, w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.got...)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, url, token string
		ok               bool
	}{
		{"root", "http://127.0.0.1:8080", "tok", true},
		{"trailing slash", "http://127.0.0.1:8080/", "tok", true},
		{"api prefix", "https://hub.example.edu/mih/api/v1/", "tok", true},
		{"no scheme", "127.0.0.1:8080", "tok", false},
		{"ftp", "ftp://hub.example.edu", "tok", false},
		{"no host", "http://", "tok", false},
		{"credentials", "http://user:pw@hub.example.edu", "tok", false},
		{"query", "http://hub.example.edu/?x=1", "tok", false},
		{"empty token", "http://hub.example.edu", " ", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.New(tc.url, tc.token)
			if (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("error %q repeats the URL's password", err)
			}
			if c != nil && strings.Contains(c.String(), "api/v1") {
				t.Errorf("String %q: want the hub's root", c.String())
			}
		})
	}
}

// The token appears in no printed form of a Client and in no error.
func TestTokenNeverShown(t *testing.T) {
	h := newHub(t, nil)
	c := newClient(t, h)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v %+v %#v", *c, *c, *c)} {
		if strings.Contains(s, h.Token) {
			t.Errorf("printed form shows the token: %s", s)
		}
	}
	bad, err := client.New(h.URL, "mih_wrong-token-secret")
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Send("crm").Do(context.Background())
	e, ok := errors.AsType[*client.Error](err)
	if !ok || e.Status != 401 || e.Code != client.CodeUnauthorized {
		t.Fatalf("got %v, want a 401 unauthorized *Error", err)
	}
	if strings.Contains(err.Error(), "wrong-token-secret") || strings.Contains(fmt.Sprintf("%+v", e), "wrong-token-secret") {
		t.Errorf("error shows the token: %v", err)
	}
}

func TestRequest(t *testing.T) {
	h := newHub(t, nil)
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "1")
		fmt.Fprint(w, `{"ok": true, "list": [1, 2]}`)
	})
	if err := h.AddService("crm", up.URL+"/v1"); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, h, client.WithUserAgent("moodle-sync/2"))
	resp, err := c.Send("crm").To("/users?active=1").With(json.RawMessage(`{"a": 1}`)).Method("patch").
		Header("X-Trace", "t9").IdempotencyKey("k-1").Timeout(3 * time.Second).Do(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !resp.OK || resp.Status != 200 || resp.Attempts != 1 || resp.Err != nil || resp.Failure() != nil || resp.Latency <= 0 {
		t.Errorf("response %+v", resp)
	}
	if resp.Headers.Get("X-Upstream") != "1" {
		t.Errorf("headers %v", resp.Headers)
	}
	var out struct {
		OK   bool  `json:"ok"`
		List []int `json:"list"`
	}
	if err := resp.Decode(&out); err != nil || !out.OK || len(out.List) != 2 {
		t.Errorf("decode: %+v, %v", out, err)
	}
	reqs := up.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests upstream, want 1", len(reqs))
	}
	r := reqs[0]
	body, _ := io.ReadAll(r.Body)
	checks := []struct{ name, got, want string }{
		{"method", r.Method, "PATCH"},
		{"path", r.URL.Path, "/v1/users"},
		{"query", r.URL.RawQuery, "active=1"},
		{"body", string(body), `{"a":1}`},
		{"header", r.Header.Get("X-Trace"), "t9"},
		{"idempotency key", r.Header.Get("Idempotency-Key"), "k-1"},
		{"credentials", r.Header.Get("Authorization"), "Bearer upstream-secret"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %q, want %q", ck.name, ck.got, ck.want)
		}
	}
}

func TestRequest_Failures(t *testing.T) {
	h := newHub(t, nil)
	var flaky atomic.Int32
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.Error(w, "no such thing", http.StatusNotFound)
		case "/flaky":
			if flaky.Add(1) < 3 {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.Write([]byte("\x00\xff binary"))
		}
	})
	if err := h.AddService("crm", up.URL); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, h)
	ctx := context.Background()

	resp, err := c.Request(ctx, "crm", "/missing", nil, "GET")
	if err != nil {
		t.Fatal(err)
	}
	if resp.OK || resp.Status != 404 || resp.Attempts != 1 || resp.Err == nil || resp.Err.Code != "http_error" || resp.Failure() == nil {
		t.Errorf("404: %+v", resp)
	}
	if resp.Text() != "no such thing\n" {
		t.Errorf("404 text %q", resp.Text())
	}
	if err := resp.Decode(new(map[string]any)); err == nil {
		t.Errorf("decoding a text body into a map: want an error")
	}

	resp, err = c.Request(ctx, "crm", "/flaky", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := resp.Bytes()
	if !resp.OK || resp.Attempts != 3 || resp.BodyEncoding != "base64" || err != nil || string(b) != "\x00\xff binary" {
		t.Errorf("flaky: %+v, bytes %q, %v", resp, b, err)
	}
}

func TestHubErrors(t *testing.T) {
	refuse := guardFunc(func(context.Context, *mih.Service) gateway.Decision {
		return gateway.Decision{Verdict: gateway.Refused, Refusal: mih.Errorf(mih.CodeCircuitOpen, "the circuit of the service is open")}
	})
	h := newHub(t, refuse)
	for _, s := range []struct {
		name    string
		enabled bool
	}{{"crm", true}, {"off", false}} {
		if err := h.AddService(s.name, "https://"+s.name+".example.com", func(svc *mih.Service) {
			svc.Enabled = s.enabled
			svc.Circuit.CooldownS = 12
		}); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, h)
	ctx := context.Background()

	tests := []struct {
		name   string
		call   *client.Call
		status int
		code   string
	}{
		{"circuit open", c.Send("crm").To("/x"), 503, client.CodeCircuitOpen},
		{"unknown service", c.Send("nope"), 404, client.CodeNotFound},
		{"disabled service", c.Send("off"), 409, client.CodeConflict},
		{"bad method", c.Send("crm").Method("TRACE"), 400, client.CodeInvalid},
		{"bad path", c.Send("crm").To("/../admin"), 400, client.CodeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tc.call.Do(ctx)
			e, ok := errors.AsType[*client.Error](err)
			if resp != nil || !ok || e.Status != tc.status || e.Code != tc.code || e.Message == "" || e.RequestID == "" {
				t.Fatalf("got %+v, %v; want a %d %s *Error", resp, err, tc.status, tc.code)
			}
			if client.IsCircuitOpen(err) != (tc.code == client.CodeCircuitOpen) {
				t.Errorf("IsCircuitOpen %v", client.IsCircuitOpen(err))
			}
			if tc.code == client.CodeCircuitOpen && e.RetryAfter != 12*time.Second {
				t.Errorf("RetryAfter %v, want the service's 12 s cooldown", e.RetryAfter)
			}
		})
	}
	// A queued call is stored whatever the circuit says.
	if q, err := c.Send("crm").Async().Do(ctx); err != nil || q.DeliveryID == 0 {
		t.Errorf("async: %+v, %v", q, err)
	}
}

func TestHubDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := client.New(url, "mih_secret-token-value")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Request(context.Background(), "crm", "/x", nil, "")
	if err == nil {
		t.Fatal("no error from a hub that is down")
	}
	if _, ok := errors.AsType[*client.Error](err); ok {
		t.Errorf("got a hub *Error %v, want a connection error", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("error shows the token: %v", err)
	}
	if _, err := c.PublishEvent(context.Background(), map[string]any{"eventname": "x"}); err == nil {
		t.Error("PublishEvent: no error from a hub that is down")
	}
}

// Answers that are not the hub's JSON become CodeUnexpectedResponse errors. The server here is
// not a hub: it stands for a proxy or a broken deployment between client and hub.
func TestUnexpectedAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ctype  string
		body   string
		async  bool
		want   int
	}{
		{"not JSON", 200, "text/plain", "hello", false, 200},
		{"proxy error page", 502, "text/html", "<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>", false, 502},
		{"JSON without the outcome", 200, "application/json", `{"status": 200}`, false, 200},
		{"cut short", 200, "application/json", `{"ok": true, "attempts": 1, "body": {"a"`, false, 200},
		{"error without a code", 500, "application/json", `{"message": "x"}`, false, 500},
		{"async without a delivery", 202, "application/json", `{}`, true, 202},
		{"redirect", 302, "text/plain", "", false, 302},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				if tc.status == 302 {
					w.Header().Set("Location", "http://elsewhere.example.com/")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := client.New(srv.URL, "tok")
			if err != nil {
				t.Fatal(err)
			}
			call := c.Send("crm")
			if tc.async {
				_, err = call.Async().Do(context.Background())
			} else {
				_, err = call.Do(context.Background())
			}
			e, ok := errors.AsType[*client.Error](err)
			if !ok || e.Code != client.CodeUnexpectedResponse || e.Status != tc.want {
				t.Fatalf("got %v, want an unexpected_response *Error with status %d", err, tc.want)
			}
			if strings.Contains(e.Message, "\n") {
				t.Errorf("message %q spans lines", e.Message)
			}
		})
	}
}

func TestContextEnds(t *testing.T) {
	h := newHub(t, nil)
	release := make(chan struct{})
	defer close(release)
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	if err := h.AddService("slow", up.URL, func(s *mih.Service) { s.TimeoutS = 5 }); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, h)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Send("slow").Do(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v, want at the context's deadline", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.Send("slow").Async().Do(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("async with a canceled context: got %v, want context.Canceled", err)
	}
}

func TestBadPayload(t *testing.T) {
	h := newHub(t, nil)
	c := newClient(t, h)
	for _, p := range []any{json.RawMessage(`{"a":`), []byte("not json"), make(chan int)} {
		if _, err := c.Request(context.Background(), "crm", "/x", p, ""); err == nil {
			t.Errorf("payload %T: no error", p)
		} else if _, ok := errors.AsType[*client.Error](err); ok {
			t.Errorf("payload %T: got a hub error %v, want the client to refuse it before sending", p, err)
		}
	}
	if _, err := c.Send("").Do(context.Background()); err == nil {
		t.Error("no service: no error")
	}
}

type courseEvent struct {
	ID          string `json:"id"`
	EventName   string `json:"eventname"`
	CourseID    int64  `json:"courseid"`
	TimeCreated int64  `json:"timecreated"`
}

func TestPublishEvent(t *testing.T) {
	h := newHub(t, nil)
	c := newClient(t, h)
	ctx := context.Background()

	batch := []courseEvent{
		{ID: "s:1", EventName: `\core\event\course_viewed`, CourseID: 5, TimeCreated: 1767225600},
		{ID: "s:2", EventName: `\core\event\course_viewed`, CourseID: 6, TimeCreated: 1767225601},
	}
	ev := &mih.Event{ID: "s:3", EventName: `\core\event\user_created`, TimeCreated: 1767225602}
	m := map[string]any{"id": "s:4", "eventname": `\core\event\user_deleted`, "timecreated": 1767225603}
	raw := json.RawMessage(`{"id": "s:5", "eventname": "\\core\\event\\user_updated", "timecreated": 1767225604}`)
	res, err := c.PublishEvent(ctx, batch, ev, m, raw)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 5 || res.Duplicates != 0 {
		t.Errorf("got %+v, want 5 accepted", res)
	}
	res, err = c.PublishEvent(ctx, batch[1], ev)
	if err != nil || res.Accepted != 0 || res.Duplicates != 2 {
		t.Errorf("again: got %+v, %v, want 2 duplicates", res, err)
	}
	recs, _, err := h.Store.FindEvents(ctx, mih.EventFilter{Limit: 100})
	if err != nil || len(recs) != 5 {
		t.Errorf("store holds %d events (%v), want 5", len(recs), err)
	}

	_, err = c.PublishEvent(ctx, m, map[string]any{"id": "s:9", "timecreated": 1})
	if e, ok := errors.AsType[*client.Error](err); !ok || e.Status != 400 || e.Code != client.CodeInvalid || !strings.Contains(e.Message, "1") {
		t.Errorf("bad event: got %v, want a 400 invalid naming the index", err)
	}
	if _, err := c.PublishEvent(ctx); err == nil {
		t.Error("no events: no error")
	}
}

// A queued call is sent by the hub's real delivery workers, with the key the client chose.
func TestAsync_Delivered(t *testing.T) {
	h := newHub(t, nil)
	var got atomic.Value
	done := make(chan struct{}, 1)
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got.Store(r.Method + " " + r.URL.Path + " " + string(body) + " " + r.Header.Get("Idempotency-Key"))
		select {
		case done <- struct{}{}:
		default:
		}
	})
	if err := h.AddService("crm", up.URL); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := c.Send("crm").To("/orders").With(map[string]int{"id": 77}).Method("PUT").IdempotencyKey("order-77").Async().Do(ctx)
	if err != nil {
		t.Fatal(err)
	}

	w := delivery.New(h.Store, h.Store, h.GW, delivery.Config{Owner: "test", PollInterval: 20 * time.Millisecond})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(runCtx) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the queued call never arrived")
	}
	stop()
	<-ran
	if s := got.Load(); s != `PUT /orders {"id":77} order-77` {
		t.Errorf("upstream got %q", s)
	}
	d, err := h.Store.FindDeliveryByID(context.Background(), q.DeliveryID)
	if err != nil || d.State != mih.DeliverySucceeded || d.Attempts != 1 {
		t.Errorf("delivery %+v, %v: want succeeded after one attempt", d, err)
	}
}
