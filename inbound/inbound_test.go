package inbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/inbound"
	"github.com/mihhub/mih/moodle/moodletest"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/transport/moodlews"
	"github.com/mihhub/mih/webhook"
)

const (
	secretOld = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretNew = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	token     = "sis-token-0123456789abcdef"
)

type hub struct {
	st     mih.Store
	moodle *moodletest.Server
	recv   *inbound.Receiver
	worker *delivery.Worker
	ep     *mih.InboundEndpoint
	course int64
}

func newHub(t *testing.T) *hub {
	t.Helper()
	ctx := t.Context()
	box, _ := secret.NewBox(make([]byte, secret.KeySize))
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mih.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := moodletest.NewServer(t, moodletest.Options{})
	course := m.AddCourse(moodletest.Course{ShortName: "BIO101", FullName: "Biology", CategoryID: 1})
	site := &mih.Site{Name: "main", URL: m.URL, Token: m.Token}
	if err := st.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	ep := mih.NewInboundEndpoint()
	ep.Name, ep.Secrets, ep.Token = "sis", []string{secretOld, secretNew}, token
	if err := st.CreateInboundEndpoint(ctx, ep); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*mih.InboundRule{
		{Endpoint: "sis", Name: "create account", Filter: `action == "student.created"`, Site: "main", Function: "core_user_create_users", Active: true,
			Template: `{"users": [{"username": {{student.username}}, "firstname": {{student.first}}, "lastname": {{student.last}},
				"email": {{student.email}}, "idnumber": "{{student.id}}", "createpassword": 1}]}`},
		{Endpoint: "sis", Name: "enrol", Filter: `action == "student.created" && course != nil`, Site: "main", Function: "enrol_manual_enrol_users", Active: true,
			Template: `{"enrolments": [{"roleid": 5, "userid": {"$user": {"username": {{student.username}}}},
				"courseid": {"$course": {"shortname": {{course}}}}}]}`},
		{Endpoint: "sis", Name: "suspend", Filter: `action == "student.left"`, Site: "main", Function: "core_user_update_users", Active: true,
			Template: `{"users": [{"id": {"$user": {"username": {{student.username}}}}, "suspended": 1}]}`},
	} {
		if err := st.CreateInboundRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	wake := delivery.NewWakeup()
	gw := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceMoodle: moodlews.New(moodlews.Options{})}, gateway.Options{})
	// Backoff compressed for the test: retries after 10 ms, 20 ms, … instead of seconds.
	fast := func(s *mih.Service) { s.InitialBackoffS, s.MaxBackoffS = 0.01, 0.05 }
	w := delivery.New(st, &inbound.Services{Services: st, Sites: st, Tune: fast}, gw, delivery.Config{
		Owner: "test", PollInterval: 20 * time.Millisecond, Wakeup: wake,
	})
	return &hub{st: st, moodle: m, recv: inbound.NewReceiver(st, wake.Notify, nil), worker: w, ep: ep, course: course}
}

// run runs the worker until cond holds or 5 s pass.
func (h *hub) run(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.worker.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !cond() {
		t.Fatal("condition not met within 5 s")
	}
}

func signed(t *testing.T, secret, id string, ts time.Time, body []byte) http.Header {
	t.Helper()
	sig, err := webhook.Sign(secret, id, ts.Unix(), body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, fmt.Sprint(ts.Unix()))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func (h *hub) send(t *testing.T, header http.Header, body []byte) inbound.Result {
	t.Helper()
	id, err := inbound.Authenticate(h.ep, header, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.recv.Receive(t.Context(), h.ep, id, body, "http")
	if err != nil {
		t.Fatal(err)
	}
	return res
}

var created = []byte(`{"action": "student.created", "course": "BIO101",
	"student": {"id": 900123, "username": "ada.l", "first": "Ada", "last": "Lovelace", "email": "ada@example.edu"}}`)

// One signed message creates the account and enrols it: two calls through the ledger, the
// enrolment resolving the new user's id by username once the account exists.
func TestCreateAndEnrol(t *testing.T) {
	h := newHub(t)
	res := h.send(t, signed(t, secretOld, "msg_1", time.Now(), created), created)
	if res.Calls != 2 || res.Duplicate || res.MessageID != "msg_1" {
		t.Fatalf("result %+v", res)
	}
	// Stored before any call: the message is an event and its calls are waiting deliveries.
	ev, err := h.st.FindEventByID(t.Context(), res.EventID)
	if err != nil || ev.EventName != `\mih\inbound\sis` {
		t.Fatalf("stored message %+v %v", ev, err)
	}
	if h.moodle.Calls().Total != 0 {
		t.Fatal("Moodle was called before the message was acknowledged")
	}
	h.run(t, func() bool {
		u, ok := h.moodle.UserByUsername("ada.l")
		return ok && len(h.moodle.Enrolments(h.course)) == 1 && h.moodle.Enrolments(h.course)[0].UserID == u.ID
	})
	u, _ := h.moodle.UserByUsername("ada.l")
	if u.IDNumber != "900123" || u.Email != "ada@example.edu" || u.FirstName != "Ada" {
		t.Errorf("user %+v", u)
	}
	ds, _, _ := h.st.FindDeliveries(t.Context(), mih.DeliveryFilter{EventID: res.EventID})
	for _, d := range ds {
		if d.State != mih.DeliverySucceeded || d.Service != "moodle:main" {
			t.Errorf("delivery %d %s %s %s", d.ID, d.Endpoint, d.State, d.LastError)
		}
	}

	// The same message again (a sender's retry) is dropped by its webhook-id: no call.
	calls := h.moodle.Calls().Total
	again := h.send(t, signed(t, secretNew, "msg_1", time.Now(), created), created)
	if !again.Duplicate || again.Calls != 0 {
		t.Errorf("duplicate: %+v", again)
	}
	h.run(t, func() bool { return true })
	if h.moodle.Calls().Total != calls {
		t.Errorf("a duplicate called Moodle")
	}

	// Suspending through the token, with an Idempotency-Key.
	left := []byte(`{"action": "student.left", "student": {"username": "ada.l"}}`)
	hd := http.Header{}
	hd.Set("Authorization", "Bearer "+token)
	hd.Set("Idempotency-Key", "left-1")
	if r := h.send(t, hd, left); r.Calls != 1 {
		t.Fatalf("left: %+v", r)
	}
	h.run(t, func() bool { u, _ := h.moodle.UserByUsername("ada.l"); return u.Suspended })
}

func TestAuthenticate(t *testing.T) {
	ep := mih.NewInboundEndpoint()
	ep.Name, ep.Secrets, ep.Token = "sis", []string{secretOld, secretNew}, token
	body := []byte(`{"a":1}`)
	now := time.Now()
	for name, c := range map[string]struct {
		h    http.Header
		want bool
	}{
		"old secret":        {signed(t, secretOld, "m1", now, body), true},
		"new secret":        {signed(t, secretNew, "m1", now, body), true},
		"other secret":      {signed(t, "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==", "m1", now, body), false},
		"stale":             {signed(t, secretOld, "m1", now.Add(-10*time.Minute), body), false},
		"future":            {signed(t, secretOld, "m1", now.Add(10*time.Minute), body), false},
		"no auth":           {http.Header{}, false},
		"token":             {http.Header{"Authorization": {"Bearer " + token}}, true},
		"wrong token":       {http.Header{"Authorization": {"Bearer " + token + "x"}}, false},
		"basic, not bearer": {http.Header{"Authorization": {"Basic " + token}}, false},
	} {
		_, err := inbound.Authenticate(ep, c.h, body, now)
		if (err == nil) != c.want {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && (mih.ErrorCode(err) != mih.CodeUnauthorized || strings.Contains(err.Error(), "whsec_") || strings.Contains(err.Error(), token)) {
			t.Errorf("%s: %v, want unauthorized without secrets", name, err)
		}
	}
	// A body changed after signing fails.
	if _, err := inbound.Authenticate(ep, signed(t, secretOld, "m1", now, body), []byte(`{"a":2}`), now); err == nil {
		t.Error("tampered body accepted")
	}
	// After the rotation ends, the old secret stops working.
	ep.Secrets = []string{secretNew}
	if _, err := inbound.Authenticate(ep, signed(t, secretOld, "m1", now, body), body, now); err == nil {
		t.Error("old secret accepted after rotation")
	}
}

// Moodle's errors in HTTP 200 bodies: invalidparameter is final at the first attempt; the
// site in maintenance is retried until it answers.
func TestMoodleErrors(t *testing.T) {
	h := newHub(t)
	h.moodle.AddUser(moodletest.User{Username: "taken", FirstName: "T", LastName: "T", Email: "t@example.edu"})
	dup := []byte(`{"action": "student.created", "student": {"id": 1, "username": "taken", "first": "A", "last": "B", "email": "a@example.edu"}}`)
	res := h.send(t, signed(t, secretOld, "dup", time.Now(), dup), dup)
	h.run(t, func() bool { return dead(t, h, res.EventID) == 1 })
	ds, _, _ := h.st.FindDeliveries(t.Context(), mih.DeliveryFilter{EventID: res.EventID})
	if ds[0].Attempts != 1 || ds[0].DeadReason != mih.ReasonFailed || !strings.Contains(ds[0].LastError, "invalidparameter") {
		t.Errorf("refused call: attempts %d reason %s error %q", ds[0].Attempts, ds[0].DeadReason, ds[0].LastError)
	}

	h.moodle.FailNext("core_user_create_users", 2, moodletest.Failure{Exception: &moodletest.Exception{
		Class: "moodle_exception", ErrorCode: "sitemaintenance", Message: "Site is undergoing maintenance and is currently not available"}})
	res = h.send(t, signed(t, secretOld, "maint", time.Now(), created), created)
	h.run(t, func() bool { _, ok := h.moodle.UserByUsername("ada.l"); return ok })
	ds, _, _ = h.st.FindDeliveries(t.Context(), mih.DeliveryFilter{EventID: res.EventID})
	for _, d := range ds {
		if d.Endpoint == "core_user_create_users" && d.Attempts != 3 {
			t.Errorf("create after maintenance: %d attempts, want 3", d.Attempts)
		}
	}
}

func dead(t *testing.T, h *hub, eventID string) int {
	ds, _, err := h.st.FindDeliveries(context.Background(), mih.DeliveryFilter{EventID: eventID, State: mih.DeliveryDead})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}

// A template that cannot build parameters leaves a dead delivery saying why; a message that is
// not a JSON object is refused before anything is stored.
func TestBadMessages(t *testing.T) {
	h := newHub(t)
	if _, err := h.recv.Receive(t.Context(), h.ep, "x", []byte(`[1,2]`), "http"); mih.ErrorCode(err) != mih.CodeInvalid {
		t.Errorf("array message: %v", err)
	}
	if _, err := h.recv.Receive(t.Context(), h.ep, strings.Repeat("x", 300), created, "http"); mih.ErrorCode(err) != mih.CodeInvalid {
		t.Errorf("long id: %v", err)
	}
	evs, _, _ := h.st.FindEvents(t.Context(), mih.EventFilter{})
	if len(evs) != 0 {
		t.Errorf("%d events stored from refused messages", len(evs))
	}
}

func TestPreview(t *testing.T) {
	r := &mih.InboundRule{Endpoint: "sis", Site: "main", Function: "enrol_manual_enrol_users", Filter: `action == "student.created"`,
		Template: `{"enrolments": [{"roleid": 5, "userid": {{student.moodleid}}, "courseid": 7}]}`}
	call, err := inbound.Preview(r, []byte(`{"action": "student.created", "student": {"moodleid": 42}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "wstoken=" + mih.Masked + "&wsfunction=enrol_manual_enrol_users&moodlewsrestformat=json&" +
		"enrolments%5B0%5D%5Bcourseid%5D=7&enrolments%5B0%5D%5Broleid%5D=5&enrolments%5B0%5D%5Buserid%5D=42"
	if !call.Matched || call.Form != want {
		t.Errorf("preview %+v\nwant form %s", call, want)
	}
	var params map[string]any
	if err := json.Unmarshal(call.Params, &params); err != nil {
		t.Fatal(err)
	}
	call, _ = inbound.Preview(r, []byte(`{"action": "other"}`))
	if call.Matched || len(call.Warnings) == 0 {
		t.Errorf("non-matching preview %+v", call)
	}
	if _, err := inbound.Preview(&mih.InboundRule{Endpoint: "sis", Site: "main", Function: "f", Template: `[1]`}, []byte(`{}`)); mih.ErrorCode(err) != mih.CodeInvalid {
		t.Errorf("array template: %v", err)
	}
}

// A password in a message reaches Moodle, but the stored copy of the message masks it.
func TestStoredMessageMasksPasswords(t *testing.T) {
	h := newHub(t)
	body := []byte(`{"action": "student.created", "student": {"id": 7, "username": "bo", "first": "B", "last": "O",
		"email": "bo@example.edu", "password": "S3cret!pw"}}`)
	res := h.send(t, signed(t, secretOld, "pw", time.Now(), body), body)
	ev, err := h.st.FindEventByID(t.Context(), res.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ev.Other), "S3cret!pw") || !strings.Contains(string(ev.Other), `"password":"********"`) {
		t.Errorf("stored message %s", ev.Other)
	}
}
