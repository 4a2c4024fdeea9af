package web

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestLogin_ParallelGuessesAreThrottled: a burst of parallel wrong passwords from one address
// gets 429s once the limit is reached, instead of a password check each; the count is taken
// before the check, so the burst cannot outrun it.
func TestLogin_ParallelGuessesAreThrottled(t *testing.T) {
	u := newTestUI(t)
	if err := SetPassword(t.Context(), u.store, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	const n = 100
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for range n {
		wg.Go(func() {
			form := url.Values{"secret": {"wrong guess"}}
			req, _ := http.NewRequest("POST", u.srv.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := u.newClient().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			mu.Lock()
			statuses[res.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[http.StatusUnauthorized] > loginMaxFailures || statuses[http.StatusTooManyRequests] < n-loginMaxFailures {
		t.Errorf("%d parallel wrong passwords: got %v, want at most %d checked (401) and the rest 429", n, statuses, loginMaxFailures)
	}
}

// TestLogin_NextStaysOnSite: the page a sign-in leads to is a path of this site, whatever the
// link carried.
func TestLogin_NextStaysOnSite(t *testing.T) {
	for _, next := range []string{"/\t/evil.example.com", "/\n/evil.example.com", "/\\evil.example.com", "/a\\..\\\\evil", "//evil.example.com",
		"https://evil.example.com", "javascript:alert(1)", "/\x7f/evil"} {
		u := newTestUI(t)
		r := u.postRaw(u.client, "/login", url.Values{"secret": {testAdminToken}, "next": {next}}, nil)
		if r.status != http.StatusSeeOther || r.location != "/" {
			t.Errorf("next %q: got %d to %q, want 303 to /", next, r.status, r.location)
		}
	}
	u := newTestUI(t)
	r := u.postRaw(u.client, "/login", url.Values{"secret": {testAdminToken}, "next": {"/queue?state=dead"}}, nil)
	if r.location != "/queue?state=dead" {
		t.Errorf("a local next: got %q", r.location)
	}
}
