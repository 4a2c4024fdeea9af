package http

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	h := newTestHub(t)
	ev := testEvent("a1", `\core\event\user_created`, 2)
	tests := []struct {
		name    string
		method  string
		path    string
		body    any
		headers map[string]string
		want    int
	}{
		{"health without token", "GET", "/api/v1/health", nil, nil, 200},
		{"no token", "GET", "/api/v1/services", nil, nil, 401},
		{"bad token", "GET", "/api/v1/services", nil, map[string]string{"Authorization": "Bearer mih_wrong"}, 401},
		{"basic scheme", "GET", "/api/v1/services", nil, map[string]string{"Authorization": "Basic " + testToken}, 401},
		{"empty bearer", "GET", "/api/v1/services", nil, map[string]string{"Authorization": "Bearer "}, 401},
		{"ingest without token", "POST", "/api/v1/events", ev, nil, 401},
		{"ingest with bad token", "POST", "/api/v1/events", ev, map[string]string{"Authorization": "Bearer nope"}, 401},
		{"openapi without token", "GET", "/api/v1/openapi.json", nil, nil, 200},
		{"readiness without token", "GET", "/api/v1/ready", nil, nil, 200},
		{"metrics without token", "GET", "/metrics", nil, nil, 401},
		{"good token", "GET", "/api/v1/services", nil, map[string]string{"Authorization": "Bearer " + testToken}, 200},
		{"good token, lowercase scheme", "GET", "/api/v1/rules", nil, map[string]string{"authorization": "bearer " + testToken}, 200},
		{"metrics with token", "GET", "/metrics", nil, map[string]string{"Authorization": "Bearer " + testToken}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.doWith(tc.method, tc.path, tc.body, tc.headers)
			if tc.want == 401 {
				r.wantError(401, "unauthorized")
				if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", r.Header.Get("WWW-Authenticate"))
				}
				return
			}
			r.want(tc.want)
		})
	}
	if n := h.countEvents(); n != 0 {
		t.Errorf("got %d events stored by unauthenticated requests, want 0", n)
	}
}

func TestAuth_PublicMetrics(t *testing.T) {
	h := newTestHub(t, func(c *Config) { c.PublicMetrics = true })
	r := h.doWith("GET", "/metrics", nil, nil).want(200)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	// Only metrics open up.
	h.doWith("GET", "/api/v1/stats", nil, nil).wantError(401, "unauthorized")
}

// A token's last use is written at most once a minute, not on every request.
func TestAuth_TouchOncePerMinute(t *testing.T) {
	h := newTestHub(t)
	lastUsed := func() time.Time {
		t.Helper()
		toks, err := h.store.FindTokens(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if toks[0].LastUsedAt == nil {
			return time.Time{}
		}
		return *toks[0].LastUsedAt
	}
	start := h.clock.Now()
	h.do("GET", "/api/v1/rules", nil).want(http.StatusOK)
	if got := lastUsed(); !got.Equal(start) {
		t.Fatalf("last used %v after first request, want %v", got, start)
	}
	h.clock.Add(30 * time.Second)
	h.do("GET", "/api/v1/rules", nil).want(http.StatusOK)
	if got := lastUsed(); !got.Equal(start) {
		t.Fatalf("last used %v after a request 30s later, want it unchanged at %v", got, start)
	}
	h.clock.Add(31 * time.Second)
	h.do("GET", "/api/v1/rules", nil).want(http.StatusOK)
	if got, want := lastUsed(), start.Add(61*time.Second); !got.Equal(want) {
		t.Fatalf("last used %v after a minute, want %v", got, want)
	}
}
