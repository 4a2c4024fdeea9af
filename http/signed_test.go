package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/webhook"
)

// signedHub is a hub with two sites: main, whose plugin signs with sitePlugin, and bare, which
// has no plugin_secret. Its ingester counts events by source in reg.
func signedHub(t *testing.T, tweak ...func(*Config)) (*testHub, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	tweaks := []any{func(c *Config) {
		c.Ingester = event.NewIngester(event.Config{
			Store: c.Store, Rules: rule.NewSet(c.Store, nil, time.Hour), Now: c.Now, Metrics: event.NewMetrics(reg),
		})
	}}
	for _, tw := range tweak {
		tweaks = append(tweaks, tw)
	}
	h := newTestHub(t, tweaks...)
	h.do("POST", "/api/v1/sites", map[string]any{"name": "main", "url": "https://moodle.example.edu", "plugin_secret": sitePlugin}).want(http.StatusCreated)
	h.do("POST", "/api/v1/sites", map[string]any{"name": "bare", "url": "https://bare.example.edu"}).want(http.StatusCreated)
	return h, reg
}

// signed returns the headers local_mih sends with a batch: the site and the Standard Webhooks
// headers for body signed with secret at ts.
func signed(t *testing.T, site, secret, id string, ts time.Time, body []byte) map[string]string {
	t.Helper()
	sig, err := webhook.Sign(secret, id, ts.Unix(), body)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"Content-Type": "application/json", HeaderSite: site,
		"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts.Unix(), 10), "webhook-signature": sig,
	}
}

// pluginBatch is a batch as local_mih builds it: {"events":[...]} of stored payloads, byte for
// byte, each with the plugin's id.
func pluginBatch(ids ...string) []byte {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf(`{"eventname":"\\core\\event\\user_loggedin","component":"core","action":"loggedin","target":"user",`+
			`"objecttable":"user","objectid":42,"crud":"r","edulevel":0,"contextid":1,"contextlevel":10,"contextinstanceid":0,`+
			`"userid":42,"courseid":0,"relateduserid":null,"anonymous":0,"other":{"username":"jdoe","extrauserinfo":[]},`+
			`"timecreated":1767225600,"ip":"203.0.113.7","origin":"web","realuserid":null,"id":"local_mih:%s"}`, id)
	}
	return []byte(`{"events":[` + strings.Join(parts, ",") + `]}`)
}

// ingested returns the value of mih_events_ingested_total for a source.
func ingested(t *testing.T, reg *prometheus.Registry, source string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "mih_events_ingested_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestSignedBatch_Accepted(t *testing.T) {
	h, reg := signedHub(t)
	now := h.clock.Now()
	body := pluginBatch("8c1e6f2a-0001", "8c1e6f2a-0002")
	var res mih.IngestResult
	h.doWith("POST", "/api/v1/events", body, signed(t, "main", sitePlugin, "msg_1", now, body)).want(http.StatusAccepted).decode(&res)
	if res.Accepted != 2 || res.Duplicates != 0 {
		t.Fatalf("got %+v, want 2 accepted", res)
	}
	recs, _, err := h.store.FindEvents(context.Background(), mih.EventFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if rec.Site != "main" || !strings.HasPrefix(rec.ID, "local_mih:") {
			t.Errorf("event %s of site %q, want site main and the plugin's id", rec.ID, rec.Site)
		}
	}
	if got := ingested(t, reg, "local_mih"); got != 2 {
		t.Errorf("ingested from local_mih = %v, want 2", got)
	}

	// A replay within the tolerance is harmless: the ids are known.
	h.clock.Add(4 * time.Minute)
	h.doWith("POST", "/api/v1/events", body, signed(t, "main", sitePlugin, "msg_1", now, body)).want(http.StatusAccepted).decode(&res)
	if res.Accepted != 0 || res.Duplicates != 2 {
		t.Errorf("replay: got %+v, want 2 duplicates", res)
	}

	// The signature covers the exact bytes, whatever their layout.
	odd := []byte("  {\"events\" : [\n" + strings.TrimSuffix(strings.TrimPrefix(string(pluginBatch("8c1e6f2a-0003")), `{"events":[`), `]}`) + "\n] }\n")
	h.doWith("POST", "/api/v1/events", odd, signed(t, "main", sitePlugin, "msg_2", h.clock.Now(), odd)).want(http.StatusAccepted)
	if n := h.countEvents(); n != 3 {
		t.Errorf("got %d events stored, want 3", n)
	}
}

// Whatever site its events claim, a signed batch is its signer's.
func TestSignedBatch_ForcesSite(t *testing.T) {
	h, _ := signedHub(t)
	withID := testEvent("local_mih:claims-other", `\core\event\user_created`, 2)
	withID["site"] = "other"
	noID := map[string]any{"eventname": `\core\event\course_viewed`, "courseid": 7, "userid": 42, "timecreated": 1767225600, "site": "other"}
	body, _ := json.Marshal([]any{withID, noID})
	var res mih.IngestResult
	h.doWith("POST", "/api/v1/events", body, signed(t, "main", sitePlugin, "msg_1", h.clock.Now(), body)).want(http.StatusAccepted).decode(&res)
	if res.Accepted != 2 {
		t.Fatalf("got %+v, want 2 accepted", res)
	}
	var l list[*mih.EventRecord]
	h.do("GET", "/api/v1/events?site=other", nil).want(http.StatusOK).decode(&l)
	if len(l.Items) != 0 {
		t.Errorf("got %d events of site other, want none", len(l.Items))
	}
	h.do("GET", "/api/v1/events?site=main", nil).want(http.StatusOK).decode(&l)
	if len(l.Items) != 2 {
		t.Fatalf("got %d events of site main, want 2", len(l.Items))
	}
	// The id of the event without one is derived as if it had named main: the same event
	// posted with a token as main's is a duplicate.
	noID["site"] = "main"
	h.do("POST", "/api/v1/events", noID).want(http.StatusAccepted).decode(&res)
	if res.Duplicates != 1 {
		t.Errorf("the same event posted with a token: %+v, want a duplicate", res)
	}
}

func TestSignedBatch_Refused(t *testing.T) {
	h, reg := signedHub(t)
	now := h.clock.Now()
	body := pluginBatch("refused-1")
	const otherSecret = "whsec_b3RoZXItc2l0ZS1zZWNyZXQtMTIzNDU2Nzg="
	good := func() map[string]string { return signed(t, "main", sitePlugin, "msg_1", now, body) }
	without := func(name string) map[string]string {
		hd := good()
		delete(hd, name)
		return hd
	}
	with := func(name, value string) map[string]string {
		hd := good()
		hd[name] = value
		return hd
	}
	tampered := []byte(strings.Replace(string(body), `"userid":42`, `"userid":2`, 1))
	tests := []struct {
		name    string
		body    []byte
		headers map[string]string
		mention string
	}{
		{"tampered body", tampered, good(), "no valid signature"},
		{"wrong secret", body, signed(t, "main", otherSecret, "msg_1", now, body), "no valid signature"},
		{"unknown site", body, signed(t, "nowhere", sitePlugin, "msg_1", now, body), "no valid signature"},
		{"not a site name", body, signed(t, "Main Site!", sitePlugin, "msg_1", now, body), "no valid signature"},
		{"site without plugin_secret", body, signed(t, "bare", sitePlugin, "msg_1", now, body), "no valid signature"},
		{"other id than signed", body, with("webhook-id", "msg_2"), "no valid signature"},
		{"signature of another scheme", body, with("webhook-signature", "v1a,"+strings.TrimPrefix(good()["webhook-signature"], "v1,")), "no valid signature"},
		{"stale", body, signed(t, "main", sitePlugin, "msg_1", now.Add(-5*time.Minute-time.Second), body), "in the past"},
		{"future", body, signed(t, "main", sitePlugin, "msg_1", now.Add(5*time.Minute+time.Second), body), "in the future"},
		{"timestamp not a number", body, with("webhook-timestamp", "yesterday"), "webhook-timestamp"},
		{"timestamp at the int64 edge", body, with("webhook-timestamp", "-9223372036854775808"), "webhook-timestamp"},
		{"missing webhook-id", body, without("webhook-id"), "webhook-id"},
		{"missing webhook-timestamp", body, without("webhook-timestamp"), "webhook-timestamp"},
		{"missing webhook-signature", body, without("webhook-signature"), "webhook-signature"},
		{"missing X-MIH-Site", body, without(HeaderSite), "Bearer"},
	}
	var generic string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.doWith("POST", "/api/v1/events", tc.body, tc.headers).wantError(401, "unauthorized")
			msg := r.errMessage()
			if !strings.Contains(msg, tc.mention) {
				t.Errorf("message %q does not mention %q", msg, tc.mention)
			}
			// Unknown sites and bad signatures are told apart only in the log.
			if tc.mention == "no valid signature" {
				if generic == "" {
					generic = msg
				} else if msg != generic {
					t.Errorf("message %q differs from %q", msg, generic)
				}
			}
			if sig := tc.headers["webhook-signature"]; strings.Contains(string(r.Body), sitePluginKey) || sig != "" && strings.Contains(string(r.Body), sig) {
				t.Errorf("answer quotes a secret or a signature: %s", r.Body)
			}
		})
	}
	if n := h.countEvents(); n != 0 {
		t.Errorf("got %d events stored from refused batches, want 0", n)
	}
	if got := ingested(t, reg, "local_mih"); got != 0 {
		t.Errorf("ingested from local_mih = %v, want 0", got)
	}
	logs := h.logs.String()
	for _, reason := range []string{"unknown site", "the site has no plugin_secret", "no valid signature", "in the past"} {
		if !strings.Contains(logs, reason) {
			t.Errorf("the debug log does not give the reason %q", reason)
		}
	}
	if strings.Contains(logs, sitePluginKey) || strings.Contains(logs, good()["webhook-signature"]) {
		t.Errorf("the log carries the secret or a signature")
	}

	// Just inside the tolerance is fine, both ways.
	for i, d := range []time.Duration{-5 * time.Minute, 5 * time.Minute} {
		b := pluginBatch(fmt.Sprintf("edge-%d", i))
		h.doWith("POST", "/api/v1/events", b, signed(t, "main", sitePlugin, "msg_e", now.Add(d), b)).want(http.StatusAccepted)
	}
}

// Only POST /api/v1/events takes signed requests; everywhere else they are unauthenticated.
func TestSignedBatch_OnlyOnIngest(t *testing.T) {
	h, _ := signedHub(t)
	now := h.clock.Now()
	body := []byte(`{"name":"x","event":"*","service":"crm"}`)
	for _, rt := range []struct{ method, path string }{
		{"GET", "/api/v1/events"},
		{"POST", "/api/v1/rules"},
		{"GET", "/api/v1/sites/main"},
		{"POST", "/api/v1/events/moodle/user_created"},
		{"POST", "/api/v1/gateway/crm"},
	} {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			h.doWith(rt.method, rt.path, body, signed(t, "main", sitePlugin, "msg_1", now, body)).wantError(401, "unauthorized")
		})
	}
	var signedRoutes []string
	for _, r := range NewServer(Config{}).routes {
		if r.Signed {
			signedRoutes = append(signedRoutes, r.Method+" "+r.Pattern)
		}
	}
	if strings.Join(signedRoutes, ",") != "POST /api/v1/events" {
		t.Errorf("routes taking signed requests: %v, want only POST /api/v1/events", signedRoutes)
	}
}

// A signed batch cannot take ids of other sources: the tailer's are predictable, and an event
// whose id is taken is dropped as a duplicate when it comes.
func TestSignedBatch_ForeignIDs(t *testing.T) {
	h, _ := signedHub(t)
	for _, id := range []string{"logstore:main:4711", "backend_sync:user_created:0123", "sha256:0123456789abcdef0123456789abcdef", "my-own-id"} {
		t.Run(id, func(t *testing.T) {
			good := testEvent("local_mih:fine-1", `\core\event\user_created`, 2)
			bad := testEvent(id, `\core\event\user_created`, 2)
			body, _ := json.Marshal(map[string]any{"events": []any{good, bad}})
			r := h.doWith("POST", "/api/v1/events", body, signed(t, "main", sitePlugin, "msg_1", h.clock.Now(), body)).wantError(400, "invalid")
			// local_mih finds the refused event by the index at the start of the message.
			if msg := r.errMessage(); !strings.HasPrefix(msg, "event 1: id") {
				t.Errorf("message %q, want it to start with event 1: id", msg)
			}
		})
	}
	if n := h.countEvents(); n != 0 {
		t.Errorf("got %d events stored, want 0", n)
	}
}

// A token keeps working exactly as before: the events keep the site they name, even with an
// X-MIH-Site header; a token that is wrong is refused even with a valid signature.
func TestSignedBatch_TokenWins(t *testing.T) {
	h, reg := signedHub(t)
	ev := testEvent("tok-1", `\core\event\user_created`, 2)
	ev["site"] = "elsewhere"
	body, _ := json.Marshal(ev)
	hd := signed(t, "main", sitePlugin, "msg_1", h.clock.Now(), body)
	hd["Authorization"] = "Bearer " + h.token
	h.doWith("POST", "/api/v1/events", body, hd).want(http.StatusAccepted)
	var l list[*mih.EventRecord]
	h.do("GET", "/api/v1/events?site=elsewhere", nil).want(http.StatusOK).decode(&l)
	if len(l.Items) != 1 {
		t.Errorf("got %d events of site elsewhere, want the token's event to keep its site", len(l.Items))
	}
	if got := ingested(t, reg, "http"); got != 1 {
		t.Errorf("ingested from http = %v, want 1", got)
	}

	hd["Authorization"] = "Bearer mih_wrong"
	r := h.doWith("POST", "/api/v1/events", body, hd).wantError(401, "unauthorized")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q, want a Bearer challenge", r.Header.Get("WWW-Authenticate"))
	}
}

// The body limit holds before the signature is checked.
func TestSignedBatch_TooLarge(t *testing.T) {
	h, _ := signedHub(t, func(c *Config) { c.MaxBodyBytes = 2048 })
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("big-%d", i)
	}
	body := pluginBatch(ids...)
	h.doWith("POST", "/api/v1/events", body, signed(t, "main", sitePlugin, "msg_1", h.clock.Now(), body)).wantError(413, "too_large")
	if n := h.countEvents(); n != 0 {
		t.Errorf("got %d events stored, want 0", n)
	}
}
