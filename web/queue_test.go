package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// ingestDead stores an event with one dead delivery per rule, each sent and refused once.
func ingestDead(t *testing.T, u *testUI, id, service string, rule int64) *mih.Delivery {
	t.Helper()
	ev := &mih.Event{ID: id, EventName: `\core\event\user_created`, Component: "core", Action: "created", Target: "user",
		CRUD: "c", UserID: 2, RelatedUserID: ptr(int64(42)), Other: json.RawMessage("null"), TimeCreated: 1767000000, ReceivedAt: time.Now()}
	d := &mih.Delivery{EventID: id, RuleID: rule, Service: service, State: mih.DeliveryPending, Method: "POST", Endpoint: "/users",
		Payload: json.RawMessage(`{"id":42}`), IdempotencyKey: mih.IdempotencyKey(id, rule), NextAttemptAt: time.Now().Add(-time.Second)}
	if _, err := u.store.CreateEvents(t.Context(), []mih.IngestItem{{Event: ev, Deliveries: []*mih.Delivery{d}}}); err != nil {
		t.Fatal(err)
	}
	claimed, err := u.store.ClaimDeliveries(t.Context(), mih.ClaimParams{Owner: "w", Limit: 10, Lease: time.Minute, Now: time.Now()})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %d", err, len(claimed))
	}
	d = claimed[0]
	now := time.Now()
	_, err = u.store.CompleteDeliveries(t.Context(), "w", []mih.DeliveryResult{{
		ID: d.ID, State: mih.DeliveryDead, CountAttempt: true, LastStatus: 400, LastError: "http_error: upstream answered 400",
		DeadReason: mih.ReasonFailed, Now: now,
		Attempt: &mih.Attempt{StartedAt: now, LatencyMS: 12.5, Status: 400, Outcome: mih.OutcomeDead, ErrorCode: mih.ErrHTTP,
			Error: "http_error: upstream answered 400", RequestURL: "https://crm.example.com/api/users",
			RequestHeaders:  map[string]string{"Authorization": "********", "Content-Type": "application/json", "Idempotency-Key": d.IdempotencyKey},
			ResponseHeaders: map[string]string{"Content-Type": "application/json"},
			// The receiver echoes what it got, credentials included.
			ResponseBody: `{"error":"user_id is required","echo":"Bearer ` + secretToken + `"}`},
		Log: &mih.LogEntry{Time: now, Service: service, Endpoint: "/users", Method: "POST", Status: 400, LatencyMS: 12.5, Attempts: 1,
			Error: "http_error: upstream answered 400", DeliveryID: d.ID, Source: "delivery"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := u.store.FindDeliveryByID(t.Context(), d.ID)
	if err != nil || got.State != mih.DeliveryDead {
		t.Fatalf("seeded delivery: %+v %v", got, err)
	}
	return got
}

func TestQueue_BulkReplayOfAFilteredSet(t *testing.T) {
	u := newTestUI(t)
	u.login()
	for _, name := range []string{"crm", "erp"} {
		s := restService(name, "https://"+name+".example.com/api")
		s.Auth = mih.Auth{Type: mih.AuthBearer, Token: secretToken}
		u.createService(s)
	}
	a1 := ingestDead(t, u, "e1", "crm", 1)
	a2 := ingestDead(t, u, "e2", "crm", 1)
	b := ingestDead(t, u, "e3", "erp", 2)
	seedDeliveries(t, u.store, "crm", mih.DeliveryPending)

	must(t, u.get("/queue?state=dead&service=crm"), http.StatusOK, `aria-current="page">Dead (DLQ) <span class="count">2</span>`,
		"e1", "e2", "/queue/replay?service=crm&amp;state=dead")
	if r := u.get("/queue?state=dead&service=crm"); strings.Contains(r.body, ">e3<") {
		t.Error("the filter shows erp's delivery")
	}
	// The confirmation says what the filter selects and how many.
	must(t, u.get("/queue/replay?service=crm"), http.StatusOK, "every dead delivery of service crm", "<strong>2</strong> deliveries")
	must(t, u.get("/queue/replay?state=pending"), http.StatusBadRequest, "Only dead deliveries can be replayed")
	must(t, u.post("/queue/replay", url.Values{"service": {"crm"}}), http.StatusConflict, "needs confirmation")

	before := u.notify.Load()
	r := u.post("/queue/replay", url.Values{"service": {"crm"}, "state": {"dead"}, "confirm": {"yes"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("bulk replay: %d", r.status)
	}
	must(t, u.follow(r.location), http.StatusOK, "2 dead deliveries replayed")
	for _, d := range []*mih.Delivery{a1, a2} {
		got, _ := u.store.FindDeliveryByID(t.Context(), d.ID)
		if got.State != mih.DeliveryPending || got.IdempotencyKey != d.IdempotencyKey {
			t.Errorf("delivery %d after the replay: %s key %q", d.ID, got.State, got.IdempotencyKey)
		}
	}
	if got, _ := u.store.FindDeliveryByID(t.Context(), b.ID); got.State != mih.DeliveryDead {
		t.Errorf("erp's delivery outside the filter: %s", got.State)
	}
	if u.notify.Load() == before {
		t.Error("the workers were not woken")
	}

	// Bulk delete of another filtered set: the rule's deliveries.
	must(t, u.get("/queue/delete?rule=2"), http.StatusOK, "every delivery from rule 2", "<strong>1</strong> delivery")
	u.post("/queue/delete", url.Values{"rule": {"2"}, "confirm": {"yes"}})
	if _, err := u.store.FindDeliveryByID(t.Context(), b.ID); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("rule 2's delivery after the bulk delete: %v", err)
	}
	if left, _, _ := u.store.FindDeliveries(t.Context(), mih.DeliveryFilter{}); len(left) != 3 {
		t.Errorf("deliveries left: %d, want the 3 outside the set", len(left))
	}
	u.noSecrets(secretToken)
}

func TestQueue_PayloadViewerAndReplay(t *testing.T) {
	u := newTestUI(t)
	u.login()
	s := restService("crm", "https://crm.example.com/api")
	s.Auth = mih.Auth{Type: mih.AuthBearer, Token: secretToken}
	s.Headers = map[string]string{"X-Api-Key": secretHeader}
	u.createService(s)
	ru := mih.NewRule()
	ru.Event, ru.Service, ru.Endpoint, ru.Template = `\core\event\user_created`, "crm", "/v2/users", `{"user": {{relateduserid}}, "v": 2}`
	if err := u.store.CreateRule(t.Context(), ru); err != nil {
		t.Fatal(err)
	}
	d := ingestDead(t, u, "e1", "crm", ru.ID)

	page := u.get("/deliveries/" + itoa(d.ID))
	must(t, page, http.StatusOK, "Request as sent", "POST https://crm.example.com/api/users", `"id": 42`,
		"Attempt 1", "user_id is required", "12 ms", "Authorization", "e1:1", "Replay delivery")
	// The queue's </> leads here.
	must(t, u.get("/queue?state=dead"), http.StatusOK, `href="/deliveries/`+itoa(d.ID)+`"`, "&lt;/&gt;")

	// Replay with a re-render: the current rule builds the request again.
	r := u.post("/deliveries/"+itoa(d.ID)+"/replay", url.Values{"rerender": {"true"}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("replay: %d\n%s", r.status, excerpt(r.body, 2000))
	}
	got, _ := u.store.FindDeliveryByID(t.Context(), d.ID)
	if got.State != mih.DeliveryPending || got.Endpoint != "/v2/users" || !strings.Contains(string(got.Payload), `"v": 2`) {
		t.Errorf("after a re-rendered replay: %s %s %s", got.State, got.Endpoint, got.Payload)
	}
	must(t, u.follow(r.location), http.StatusOK, "replayed: it is pending again")
	// Only dead deliveries are replayed.
	must(t, u.post("/deliveries/"+itoa(d.ID)+"/replay", nil), http.StatusConflict, "only dead deliveries can be replayed")
	must(t, u.post("/deliveries/99999/replay", nil), http.StatusNotFound)

	r = u.post("/deliveries/"+itoa(d.ID)+"/delete", url.Values{"back": {"/queue?state=pending"}})
	if r.status != http.StatusSeeOther || r.location != "/queue?state=pending" {
		t.Fatalf("delete: %d %q", r.status, r.location)
	}
	if _, err := u.store.FindDeliveryByID(t.Context(), d.ID); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("after delete: %v", err)
	}
	u.noSecrets(secretToken, secretHeader)
}

func TestEventsAndLogs(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com/api"))
	u.createService(restService("erp", "https://erp.example.com/api"))
	d := ingestDead(t, u, "evt-1", "crm", 1)
	must(t, u.get("/events"), http.StatusOK, "evt-1", `\core\event\user_created`, `href="/deliveries/`+itoa(d.ID)+`"`, "dead")
	must(t, u.get("/events?eventname=core\\event\\user_created&since=1h"), http.StatusOK, "evt-1")
	if r := u.get("/events?eventname=%5Ccore%5Cevent%5Cuser_deleted"); strings.Contains(r.body, "evt-1") {
		t.Error("the event filter shows another event")
	}
	must(t, u.get("/logs"), http.StatusOK, "crm", "POST /users", "400", "failed", "delivery "+itoa(d.ID))
	must(t, u.get("/logs?success=false&service=crm"), http.StatusOK, "delivery "+itoa(d.ID))
	for _, q := range []string{"/logs?success=true", "/logs?service=erp"} {
		if r := u.get(q); strings.Contains(r.body, "delivery "+itoa(d.ID)) {
			t.Errorf("%s shows the failed crm call", q)
		}
	}
	// Pages: 60 entries make a second page.
	var entries []*mih.LogEntry
	for i := range 60 {
		entries = append(entries, &mih.LogEntry{Time: time.Now(), Service: "erp", Endpoint: "/p" + itoa(int64(i)), Method: "GET", Status: 200, Success: true, Attempts: 1, Source: "gateway"})
	}
	if err := u.store.CreateLogs(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	first := u.get("/logs?service=erp")
	must(t, first, http.StatusOK, `rel="next"`, "GET /p59")
	next := regexpFind(t, `href="(/logs\?[^"]+)" rel="next"`, first.body)
	must(t, u.get(htmlUnescape(next)), http.StatusOK, "GET /p0")
}

func TestDashboard(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com/api"))
	ingestDead(t, u, "e1", "crm", 1)
	r := u.get("/")
	must(t, r, http.StatusOK, "Status distribution", "<desc id=\"ring-d\">0 succeeded, 1 failed, 0 percent succeeded.</desc>",
		"Latency trend (last 1 requests)", `class="fail"`, "12 ms", `href="/queue?state=dead"`, "CLOSED", "1 <span class=\"count\">of 1</span>")
	live := u.get("/dashboard/live")
	must(t, live, http.StatusOK, "Status distribution")
	if strings.Contains(live.body, "<html") {
		t.Error("the live part comes with the layout")
	}
}

func TestCharts(t *testing.T) {
	for _, tc := range []struct {
		ok, failed, pct int
		dash            string
	}{{0, 0, 0, "0 301.59"}, {1, 0, 100, "301.59 301.59"}, {1, 1, 50, "150.8 301.59"}, {995, 5, 99, "300.08 301.59"}} {
		c := newStatusChart(tc.ok, tc.failed)
		if c.SuccessPct != tc.pct || c.Dash != tc.dash {
			t.Errorf("%d/%d: got %d%% dash %q, want %d%% %q", tc.ok, tc.failed, c.SuccessPct, c.Dash, tc.pct, tc.dash)
		}
	}
	now := time.Now()
	entries := []*mih.LogEntry{ // newest first, as the log returns them
		{Time: now, Service: "a", LatencyMS: 40, Success: true},
		{Time: now.Add(-time.Second), Service: "a", LatencyMS: 180, Success: false, Status: 503},
		{Time: now.Add(-2 * time.Second), Service: "a", LatencyMS: 20, Success: true},
	}
	c := newLatencyChart(entries)
	if c.Line != "64,163 348,27 632,146" {
		t.Errorf("line: got %q (oldest left, 200 ms at the top)", c.Line)
	}
	if len(c.Failed) != 1 || c.Failed[0].X != "348" || !strings.Contains(c.Failed[0].Label, "status 503") {
		t.Errorf("failed points: %+v", c.Failed)
	}
	if c.Median != "40 ms" || c.P95 != "180 ms" || c.Max != "180 ms" || len(c.Ticks) != 3 || c.Ticks[2].Label != "200 ms" {
		t.Errorf("figures: median %s p95 %s max %s ticks %+v", c.Median, c.P95, c.Max, c.Ticks)
	}
	if c := newLatencyChart(nil); c.Count != 0 || c.Line != "" {
		t.Errorf("empty: %+v", c)
	}
	for _, tc := range []struct{ in, want float64 }{{0.3, 0.5}, {1, 1}, {1.2, 2}, {180, 200}, {4999, 5000}, {0, 1}} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestStaticAndHeaders(t *testing.T) {
	u := newTestUI(t)
	r := u.get("/login")
	css := regexpFind(t, `href="(/static/[0-9a-f]+/style.css)"`, r.body)
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP: %q", csp)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("pages are cacheable: %q", r.header.Get("Cache-Control"))
	}
	s := u.get(css)
	if s.status != http.StatusOK || !strings.Contains(s.header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(s.header.Get("Content-Type"), "text/css") {
		t.Fatalf("static: %d %q %q", s.status, s.header.Get("Cache-Control"), s.header.Get("Content-Type"))
	}
	if s := u.get("/static/000000000000/style.css"); s.status != http.StatusNotFound {
		t.Errorf("a stale hash: got %d, want 404", s.status)
	}
	if strings.Contains(r.body, " style=") || strings.Contains(r.body, "<script>") {
		t.Error("inline style or script: the CSP would block it")
	}
}
