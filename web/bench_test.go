package web

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// BenchmarkDashboard renders the whole dashboard (what the auto-refresh fetches every 5 s) over
// SQLite with 20 services and a full latency trend: the store reads plus the template and SVG.
func BenchmarkDashboard(b *testing.B) {
	u := newTestUI(b)
	u.login()
	var entries []*mih.LogEntry
	for i := range 20 {
		u.createService(restService(fmt.Sprintf("svc-%02d", i), "https://example.com"))
	}
	for i := range 500 {
		entries = append(entries, &mih.LogEntry{Time: time.Now(), Service: fmt.Sprintf("svc-%02d", i%20), Endpoint: "/x",
			Method: "POST", Status: 200, LatencyMS: float64(i % 97), Success: i%13 != 0, Attempts: 1, Source: "delivery"})
	}
	if err := u.store.CreateLogs(b.Context(), entries); err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{"/", "/dashboard/live"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				// A new request each time: the client's cookie jar adds the session cookie to
				// the request it is given, so a reused one would grow with every iteration.
				req, _ := http.NewRequest("GET", u.srv.URL+path, nil)
				res, err := u.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", path, res.StatusCode)
				}
				b.SetBytes(n)
			}
		})
	}
}

// BenchmarkPasswordCheck is the cost of one sign-in with a password: PBKDF2-SHA-256 with 600,000
// iterations, which is also what a guess costs an attacker holding the hash.
func BenchmarkPasswordCheck(b *testing.B) {
	u := newTestUI(b)
	if err := SetPassword(b.Context(), u.store, "correct horse battery staple"); err != nil {
		b.Fatal(err)
	}
	stored, _ := storedPassword(b.Context(), u.store)
	for b.Loop() {
		if ok, err := checkPassword(stored, "correct horse battery staple"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
