package http

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/webhook"
)

// What each way into ingest costs, end to end through a real HTTP server on SQLite (FULL, the
// default), no rules matching, one request at a time, as p50 and p99 of per-request durations:
//
//	bearer/100    a 100-event local_mih batch posted with an API token
//	signed/100    the same batch signed with the site's plugin_secret: site read (secrets
//	              unsealed), HMAC-SHA256 over the body, site forced on every event
//	refused       a signed batch of an unknown site: the 401 path
//	backend_sync  one seed user_created body on /events/moodle/user_created with X-Moodle-Token
//
// Each batch is new (fresh ids), so every request commits. The signing by the client is inside
// the measured time (a few µs).
//
// go test -run '^$' -bench IngestAuth -benchtime 300x ./http/
func BenchmarkIngestAuth(b *testing.B) {
	ctx := context.Background()
	box, err := secret.NewBox(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "mih.db"), box)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateToken(ctx, &mih.Token{Name: "bench", Hash: secret.HashToken(testToken)}); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateSite(ctx, &mih.Site{Name: "main", URL: "https://moodle.example.edu", PluginSecret: sitePlugin}); err != nil {
		b.Fatal(err)
	}
	rules := rule.NewSet(st, slog.New(slog.DiscardHandler), time.Hour)
	srv := httptest.NewServer(NewServer(Config{Store: st, Ingester: event.NewIngester(event.Config{Store: st, Rules: rules})}).Handler())
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer hc.CloseIdleConnections()

	post := func(path string, body []byte, headers map[string]string, want int) {
		req, err := http.NewRequest("POST", srv.URL+path, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Fatalf("status %d, want %d", resp.StatusCode, want)
		}
	}
	n := 0
	batch := func() []byte {
		ids := make([]string, 100)
		for i := range ids {
			n++
			ids[i] = "bench-" + strconv.Itoa(n)
		}
		return pluginBatch(ids...)
	}
	sign := func(site string, body []byte) map[string]string {
		id := "msg_" + strconv.Itoa(n)
		sig, err := webhook.Sign(sitePlugin, id, time.Now().Unix(), body)
		if err != nil {
			b.Fatal(err)
		}
		return map[string]string{HeaderSite: site, "webhook-id": id,
			"webhook-timestamp": strconv.FormatInt(time.Now().Unix(), 10), "webhook-signature": sig}
	}

	b.Run("bearer/100", func(b *testing.B) {
		measure(b, func() {
			post("/api/v1/events", batch(), map[string]string{"Authorization": "Bearer " + testToken}, http.StatusAccepted)
		})
	})
	b.Run("signed/100", func(b *testing.B) {
		measure(b, func() {
			body := batch()
			post("/api/v1/events", body, sign("main", body), http.StatusAccepted)
		})
	})
	b.Run("refused", func(b *testing.B) {
		body := batch()
		measure(b, func() { post("/api/v1/events", body, sign("nowhere", body), http.StatusUnauthorized) })
	})
	b.Run("backend_sync", func(b *testing.B) {
		measure(b, func() {
			n++
			body := []byte(fmt.Sprintf(`{"userid":"%d","username":"u%d","email":"u%d@example.edu","timecreated":"1767000000"}`, n, n, n))
			post("/api/v1/events/moodle/user_created", body, map[string]string{HeaderMoodleToken: testToken}, http.StatusOK)
		})
	})
}
