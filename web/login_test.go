package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/secret"
)

// concrete fills a route pattern's wildcards with values that exist in the tests' data.
func concrete(pattern string) string {
	return strings.NewReplacer("{$}", "", "{name}", "crm", "{id}", "1", "{action}", "replay").Replace(pattern)
}

func TestLogin_RequiredOnEveryPage(t *testing.T) {
	u := newTestUI(t)
	u.createService(restService("crm", "https://crm.example.com"))
	h := &Handler{}
	for _, rt := range h.routeTable() {
		if rt.Public {
			continue
		}
		path := concrete(rt.Pattern)
		t.Run(rt.Method+" "+path, func(t *testing.T) {
			var r response
			if rt.Method == "GET" {
				r = u.get(path)
			} else {
				r = u.postRaw(u.client, path, url.Values{"confirm": {"yes"}, "csrf": {"guess"}}, nil)
			}
			if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login?next=") {
				t.Fatalf("without a session: got %d to %q, want 303 to the sign-in page", r.status, r.location)
			}
		})
	}
	// Nothing was changed by the refused posts.
	if _, err := u.store.FindServiceByName(t.Context(), "crm"); err != nil {
		t.Errorf("the service is gone after refused posts: %v", err)
	}
	// A page asked for comes back after signing in.
	r := u.get("/queue?state=dead")
	if r.location != "/login?next="+url.QueryEscape("/queue?state=dead") {
		t.Fatalf("got %q, want the page in next", r.location)
	}
	r = u.postRaw(u.client, "/login", url.Values{"secret": {testAdminToken}, "next": {"/queue?state=dead"}}, nil)
	if r.status != http.StatusSeeOther || r.location != "/queue?state=dead" {
		t.Fatalf("sign-in: got %d to %q, want 303 back to the page", r.status, r.location)
	}
	// The dashboard's refresh gets a 401 it can act on, not a redirect.
	req, _ := http.NewRequest("GET", u.srv.URL+"/dashboard/live", nil)
	req.Header.Set(fragmentHeader, "1")
	if r := u.do(u.newClient(), req); r.status != http.StatusUnauthorized {
		t.Errorf("fragment without a session: got %d, want 401", r.status)
	}
}

func TestLocalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/rules", "/rules"},
		{"/queue?state=dead", "/queue?state=dead"},
		{"//evil.example.com/", "/"},
		{"/\\evil.example.com", "/"},
		{"https://evil.example.com/", "/"},
		{"rules", "/"},
		{"/x\r\nSet-Cookie: a=b", "/"},
	}
	for _, tc := range tests {
		if got := localPath(tc.in); got != tc.want {
			t.Errorf("localPath(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLogin_Token(t *testing.T) {
	u := newTestUI(t)
	must(t, u.get("/login"), http.StatusOK, "Admin API token", "mih admin set-password")
	r := u.postRaw(u.client, "/login", url.Values{"secret": {"mih_wrong"}}, nil)
	must(t, r, http.StatusUnauthorized, "That admin token is not right.")
	// An API token other than the admin token does not sign in to the UI.
	other := secret.NewToken()
	if err := u.store.CreateToken(t.Context(), &mih.Token{Name: "ci", Hash: secret.HashToken(other)}); err != nil {
		t.Fatal(err)
	}
	must(t, u.postRaw(u.client, "/login", url.Values{"secret": {other}}, nil), http.StatusUnauthorized)
	u.login()
	must(t, u.get("/"), http.StatusOK, "Dashboard")
	// Signed in, the sign-in page moves on.
	if r := u.get("/login"); r.status != http.StatusSeeOther {
		t.Errorf("sign-in page when signed in: got %d, want 303", r.status)
	}
}

func TestLogin_Password(t *testing.T) {
	u := newTestUI(t)
	u.login() // with the token, before any password exists
	const pw = "correct horse battery staple"
	if err := SetPassword(t.Context(), u.store, pw); err != nil {
		t.Fatal(err)
	}
	// Setting a password signed out the token's session...
	if r := u.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("session after set-password: got %d, want 303 to sign in again", r.status)
	}
	// ...and the token no longer signs in.
	must(t, u.get("/login"), http.StatusOK, "Admin password")
	must(t, u.postRaw(u.client, "/login", url.Values{"secret": {testAdminToken}}, nil), http.StatusUnauthorized, "That password is not right.")
	must(t, u.postRaw(u.client, "/login", url.Values{"secret": {pw + " "}}, nil), http.StatusUnauthorized)
	r := u.postRaw(u.client, "/login", url.Values{"secret": {pw}}, nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign-in with the password: got %d", r.status)
	}
	must(t, u.get("/"), http.StatusOK, "Dashboard")
}

func TestLogin_FailuresAreLimited(t *testing.T) {
	u := newTestUI(t)
	for i := range loginMaxFailures {
		if r := u.postRaw(u.client, "/login", url.Values{"secret": {"wrong"}}, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: got %d, want 401", i+1, r.status)
		}
	}
	// Blocked now, even with the right token.
	must(t, u.postRaw(u.client, "/login", url.Values{"secret": {testAdminToken}}, nil), http.StatusTooManyRequests, "too many failed sign-ins")
	u.clock.advance(loginWindow + time.Second)
	u.login()
	// A success forgets the failures.
	for range loginMaxFailures - 1 {
		u.postRaw(u.newClient(), "/login", url.Values{"secret": {"wrong"}}, nil)
	}
	u.postRaw(u.newClient(), "/login", url.Values{"secret": {testAdminToken}}, nil)
	must(t, u.postRaw(u.newClient(), "/login", url.Values{"secret": {"wrong"}}, nil), http.StatusUnauthorized)
}

func TestLoginLimiter(t *testing.T) {
	c := &clock{}
	l := newLoginLimiter(c.Now)
	for range loginMaxFailures {
		if l.blocked("a") != 0 {
			t.Fatal("blocked before the limit")
		}
		l.fail("a")
		c.advance(time.Minute)
	}
	wait := l.blocked("a")
	if want := loginWindow - loginMaxFailures*time.Minute; wait < want-time.Second || wait > want+time.Second {
		t.Fatalf("wait: got %s, want about %s (until the oldest failure ages out)", wait, want)
	}
	if l.blocked("b") != 0 {
		t.Error("another client is blocked")
	}
	c.advance(wait)
	if l.blocked("a") != 0 {
		t.Error("still blocked after the window")
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.7:5000", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("POST", "/login", nil)
		r.RemoteAddr = tc.remote
		if got := clientKey(r); got != tc.want {
			t.Errorf("clientKey(%s): got %s, want %s", tc.remote, got, tc.want)
		}
	}
}

func TestSession_Cookie(t *testing.T) {
	u := newTestUI(t)
	r := u.postRaw(u.client, "/login", url.Values{"secret": {testAdminToken}}, nil)
	c := sessionCookieOf(t, r)
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
		t.Errorf("cookie over plain HTTP: HttpOnly %v SameSite %v Secure %v Path %q; want HttpOnly, Lax, not Secure, /", c.HttpOnly, c.SameSite, c.Secure, c.Path)
	}
	if c.MaxAge != int(DefaultSessionTTL/time.Second) {
		t.Errorf("MaxAge: got %d", c.MaxAge)
	}

	// Expired: back to the sign-in page.
	u.clock.advance(DefaultSessionTTL + time.Second)
	if r := u.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("expired session: got %d, want 303", r.status)
	}
	u.clock.advance(-DefaultSessionTTL - time.Second)

	// A tampered cookie (its payload changed, the signature kept) is no session.
	payload, sig, _ := strings.Cut(c.Value, ".")
	forged := &http.Cookie{Name: sessionCookie, Value: strings.ToUpper(payload[:4]) + payload[4:] + "." + sig}
	req, _ := http.NewRequest("GET", u.srv.URL+"/", nil)
	req.AddCookie(forged)
	if r := u.do(u.newClient(), req); r.status != http.StatusSeeOther {
		t.Errorf("forged cookie: got %d, want 303", r.status)
	}
}

func TestSession_SecureOverTLS(t *testing.T) {
	u := newTestUI(t)
	h, err := New(Config{Ops: ops.New(u.ops), SecretKey: u.key})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(h)
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(url.Values{"secret": {testAdminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c := sessionCookieOf(t, u.do(c, req)); !c.Secure {
		t.Error("cookie over TLS is not Secure")
	}
	// Behind a TLS proxy, the setting makes it Secure too.
	h2, _ := New(Config{Ops: ops.New(u.ops), SecretKey: u.key, SecureCookies: true})
	srv2 := httptest.NewServer(h2)
	defer srv2.Close()
	req, _ = http.NewRequest("POST", srv2.URL+"/login", strings.NewReader(url.Values{"secret": {testAdminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c := sessionCookieOf(t, u.do(u.newClient(), req)); !c.Secure {
		t.Error("cookie with SecureCookies is not Secure")
	}
}

func sessionCookieOf(t *testing.T, r response) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	t.Fatalf("no session cookie in the answer (%d)", r.status)
	return nil
}

// Two processes sharing the store (and so the secret key) accept each other's sessions, and
// "sign out every session" in one ends them in the other.
func TestSession_SharedAcrossProcesses(t *testing.T) {
	u := newTestUI(t)
	u.login()
	other, err := New(Config{Ops: ops.New(u.ops), SecretKey: u.key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(other)
	defer srv.Close()
	cookies := u.client.Jar.Cookies(mustURL(t, u.srv.URL))
	get := func() int {
		req, _ := http.NewRequest("GET", srv.URL+"/rules", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		return u.do(u.newClient(), req).status
	}
	if got := get(); got != http.StatusOK {
		t.Fatalf("the other process: got %d, want 200 with the same cookie", got)
	}
	// Another browser, signed in too, survives this browser's sign-out but not "everywhere".
	second := u.newClient()
	u.postRaw(second, "/login", url.Values{"secret": {testAdminToken}}, nil)
	if r := u.post("/logout", nil); r.status != http.StatusSeeOther || r.location != "/login" {
		t.Fatalf("logout: got %d to %q", r.status, r.location)
	}
	if r := u.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("after logout: got %d, want 303", r.status)
	}
	req, _ := http.NewRequest("GET", u.srv.URL+"/", nil)
	if r := u.do(second, req); r.status != http.StatusOK {
		t.Fatalf("the other browser after this one signed out: got %d, want 200", r.status)
	}
	u.client = second
	u.post("/logout/everywhere", nil)
	if got := get(); got != http.StatusSeeOther {
		t.Errorf("the other process after sign-out everywhere: got %d, want 303", got)
	}
	req, _ = http.NewRequest("GET", u.srv.URL+"/", nil)
	if r := u.do(second, req); r.status != http.StatusSeeOther {
		t.Errorf("the second browser after sign-out everywhere: got %d, want 303", r.status)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestCSRF(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com"))
	other := u.newClient()
	u.postRaw(other, "/login", url.Values{"secret": {testAdminToken}}, nil)
	otherToken := csrfRE.FindStringSubmatch(u.do(other, mustGet(t, u.srv.URL+"/sync")).body)[1]

	tests := []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"no form token", url.Values{"confirm": {"yes"}}, nil},
		{"a wrong token", url.Values{"confirm": {"yes"}, "csrf": {"AAAA"}}, nil},
		{"another session's token", url.Values{"confirm": {"yes"}, "csrf": {otherToken}}, nil},
		{"cross-site fetch metadata", url.Values{"confirm": {"yes"}, "csrf": {u.csrf()}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"a foreign origin", url.Values{"confirm": {"yes"}, "csrf": {u.csrf()}}, http.Header{"Origin": {"https://evil.example.com"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := u.postRaw(u.client, "/services/crm/delete", tc.form, tc.header)
			must(t, r, http.StatusForbidden)
			if _, err := u.store.FindServiceByName(t.Context(), "crm"); err != nil {
				t.Fatalf("the service was deleted: %v", err)
			}
		})
	}
	// A cross-site sign-in form is refused too (login CSRF).
	r := u.postRaw(u.newClient(), "/login", url.Values{"secret": {testAdminToken}}, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	must(t, r, http.StatusForbidden)
	// The same form with the page's token goes through.
	r = u.post("/services/crm/delete", url.Values{"confirm": {"yes"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("with the form token: got %d, want 303", r.status)
	}
}

func mustGet(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestPassword(t *testing.T) {
	st := newTestUI(t).store
	for _, short := range []string{"", "short", "elevenchars"} {
		if err := SetPassword(t.Context(), st, short); mih.ErrorCode(err) != mih.CodeInvalid {
			t.Errorf("SetPassword(%q): got %v, want invalid", short, err)
		}
	}
	if err := SetPassword(t.Context(), st, "twelve chars"); err != nil {
		t.Fatal(err)
	}
	stored, err := storedPassword(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "pbkdf2-sha256$600000$") || strings.Contains(stored, "twelve") {
		t.Fatalf("stored: %q, want a PBKDF2-SHA256 hash with 600000 iterations", stored)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"twelve chars", true}, {"twelve chars ", false}, {"Twelve chars", false}, {"", false}} {
		if got, err := checkPassword(stored, tc.pw); err != nil || got != tc.want {
			t.Errorf("checkPassword(%q): got %v %v, want %v", tc.pw, got, err, tc.want)
		}
	}
	for _, damaged := range []string{"plain", "pbkdf2-sha256$x$AA$AA", "bcrypt$10$a$b", "pbkdf2-sha256$1$!!$AA"} {
		if ok, err := checkPassword(damaged, "twelve chars"); ok || err == nil {
			t.Errorf("checkPassword on %q: got %v %v, want an error", damaged, ok, err)
		}
	}
}
