package web

import (
	"context"
	"crypto/rand"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/breaker"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/transport/amqp"
	"github.com/mihhub/mih/transport/rest"
)

// testAdminToken is the admin API token of every test hub.
const testAdminToken = "mih_test-admin-token-0123456789abcdef"

// testUI is the web UI over a real SQLite store, a real breaker, rule set and gateway with the
// REST transport, served on 127.0.0.1, and a browser-like client with a cookie jar.
type testUI struct {
	t        testing.TB
	srv      *httptest.Server
	store    mih.Store
	circuits *breaker.Breaker
	ledger   *ops.Ledger
	ops      ops.Config // what the UI's Ops was built from
	client   *http.Client
	// bodies keeps every response body, so that a test can assert that no secret ever
	// appeared in any of them.
	bodies []string
	notify atomic.Int32
	key    []byte
	clock  *clock
}

// clock is the UI's time: the real time plus an offset a test may advance.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

func newTestUI(t testing.TB) *testUI {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mih.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateToken(t.Context(), &mih.Token{Name: adminTokenName, Hash: secret.HashToken(testAdminToken)}); err != nil {
		t.Fatal(err)
	}
	u := &testUI{t: t, store: st, key: key, clock: &clock{}}
	logger := slog.New(slog.DiscardHandler)
	wake := notifyFunc(func() { u.notify.Add(1) })
	u.ledger = ops.NewLedger(st, wake, nil)
	u.circuits = breaker.New(st, breaker.Options{Owner: "test", Logger: logger, Ledger: u.ledger})
	restTransport := rest.New(rest.Options{Version: "test"})
	t.Cleanup(func() { restTransport.Close() })
	amqpTransport := amqp.New(amqp.Options{Logger: logger})
	t.Cleanup(func() { amqpTransport.Close() })
	transports := map[mih.ServiceType]mih.Transport{mih.ServiceREST: restTransport, mih.ServiceAMQP: amqpTransport}
	gw := gateway.New(transports, gateway.Options{Guard: u.circuits, Logger: logger})
	u.ops = ops.Config{
		Store:      st,
		Ledger:     u.ledger,
		Rules:      rule.NewSet(st, logger, time.Second),
		Circuits:   u.circuits,
		Gateway:    gw,
		Transports: transports,
		// Enabling a service wakes the maintainer, which resumes its deliveries.
		Maintainer: wake,
		Logger:     logger,
		Now:        u.clock.Now,
	}
	h, err := New(Config{
		Ops:       ops.New(u.ops),
		Logger:    logger,
		Now:       u.clock.Now,
		SecretKey: key,
		Version:   "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	u.srv = httptest.NewServer(h)
	t.Cleanup(u.srv.Close)
	u.client = u.newClient()
	return u
}

// newClient is a browser without a session: its own cookie jar, redirects not followed so that
// tests see them.
func (u *testUI) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type response struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (u *testUI) do(c *http.Client, req *http.Request) response {
	u.t.Helper()
	res, err := c.Do(req)
	if err != nil {
		u.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	u.bodies = append(u.bodies, string(b))
	return response{status: res.StatusCode, body: string(b), location: res.Header.Get("Location"), header: res.Header}
}

func (u *testUI) get(path string) response {
	u.t.Helper()
	req, _ := http.NewRequest("GET", u.srv.URL+path, nil)
	return u.do(u.client, req)
}

// follow gets path and follows redirects, as a browser does.
func (u *testUI) follow(path string) response {
	u.t.Helper()
	for range 5 {
		r := u.get(path)
		if r.status != http.StatusSeeOther && r.status != http.StatusFound {
			return r
		}
		path = r.location
	}
	u.t.Fatalf("too many redirects from %s", path)
	return response{}
}

// post sends a form as the page would: with the session's form token.
func (u *testUI) post(path string, form url.Values) response {
	u.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", u.csrf())
	}
	return u.postRaw(u.client, path, form, nil)
}

func (u *testUI) postRaw(c *http.Client, path string, form url.Values, header http.Header) response {
	u.t.Helper()
	req, _ := http.NewRequest("POST", u.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return u.do(c, req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from a page, as a browser's form would carry it.
func (u *testUI) csrf() string {
	u.t.Helper()
	req, _ := http.NewRequest("GET", u.srv.URL+"/sync", nil)
	res, err := u.client.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	m := csrfRE.FindSubmatch(b)
	if m == nil {
		u.t.Fatalf("no form token on /sync (%d): signed in?", res.StatusCode)
	}
	return string(m[1])
}

// login signs in with the admin token.
func (u *testUI) login() {
	u.t.Helper()
	r := u.postRaw(u.client, "/login", url.Values{"secret": {testAdminToken}}, nil)
	if r.status != http.StatusSeeOther {
		u.t.Fatalf("login: got %d, want 303; body: %s", r.status, excerpt(r.body, 500))
	}
}

// must fails the test unless the response has the status and contains every want, in its HTML
// or in its text (entities decoded).
func must(t *testing.T, r response, status int, want ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("got status %d, want %d; body:\n%s", r.status, status, excerpt(r.body, 3000))
	}
	text := html.UnescapeString(r.body)
	for _, w := range want {
		if !strings.Contains(r.body, w) && !strings.Contains(text, w) {
			t.Fatalf("body lacks %q:\n%s", w, excerpt(r.body, 6000))
		}
	}
}

// createService stores a service directly, as another process or `mih apply` would.
func (u *testUI) createService(s *mih.Service) {
	u.t.Helper()
	if err := u.store.CreateService(context.Background(), s); err != nil {
		u.t.Fatal(err)
	}
}

func restService(name, baseURL string) *mih.Service {
	s := mih.NewService()
	s.Name, s.BaseURL = name, baseURL
	return s
}

// noSecrets asserts that none of the secrets appears in any response body the test received.
func (u *testUI) noSecrets(secrets ...string) {
	u.t.Helper()
	for i, b := range u.bodies {
		for _, s := range secrets {
			if strings.Contains(b, s) {
				u.t.Errorf("response %d contains the secret %q:\n%s", i, s, excerpt(b, 2000))
			}
		}
	}
}

func TestHandler_EveryPageRenders(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com/api"))
	ru := mih.NewRule()
	ru.Event, ru.Service, ru.Template = `\core\event\user_created`, "crm", `{"id": {{relateduserid}}}`
	if err := u.store.CreateRule(t.Context(), ru); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/dashboard/live", "/services", "/services/new", "/services/crm/edit",
		"/services/crm/delete", "/rules", "/rules/new", "/rules/1/edit", "/rules/1/delete", "/queue",
		"/queue?state=dead", "/queue/replay", "/queue/delete?state=pending", "/events", "/logs", "/sync"} {
		t.Run(p, func(t *testing.T) {
			r := u.get(p)
			must(t, r, http.StatusOK)
			if p != "/dashboard/live" && !strings.Contains(r.body, "</html>") {
				t.Errorf("%s: not a whole page", p)
			}
		})
	}
	must(t, u.get("/no/such/page"), http.StatusNotFound, "Page not found")
	must(t, u.get("/services/nope/edit"), http.StatusNotFound)
	must(t, u.get("/rules/x/edit"), http.StatusNotFound)
	must(t, u.get("/queue?state=bogus"), http.StatusBadRequest, "want pending")
}

// regexpFind returns the first group of pattern in s.
func regexpFind(t *testing.T, pattern, s string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in:\n%s", pattern, excerpt(s, 3000))
	}
	return m[1]
}

func htmlUnescape(s string) string { return html.UnescapeString(s) }

// notifyFunc is a waker of one function.
type notifyFunc func()

func (f notifyFunc) Notify() { f() }
