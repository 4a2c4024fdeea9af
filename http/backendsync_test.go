package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

// The bodies the backend_sync guide's observer posts, byte for byte as PHP's json_encode writes
// them from Moodle records (every database column a string; roleid the literal 5; suspended and
// deleted cast to bool; a grade's timecreated often NULL).
const (
	seedUserCreated  = `{"eventname":"\\core\\event\\user_created","userid":"42","username":"jdoe","firstname":"Jane","lastname":"O'Hara","email":"jdoe@example.edu","idnumber":"S1234","phone1":"","city":"Lisbon","country":"PT","suspended":false,"deleted":false,"timecreated":"1767000000","timemodified":"1767000000"}`
	seedUserUpdated  = `{"eventname":"\\core\\event\\user_updated","userid":"42","username":"jdoe","firstname":"Jane","lastname":"O'Hara","email":"jane.ohara@example.edu","idnumber":"S1234","phone1":"","city":"Porto","country":"PT","suspended":true,"deleted":false,"timecreated":"1767000000","timemodified":"1767003600"}`
	seedUserEnrolled = `{"eventname":"\\core\\event\\user_enrolment_created","enrollmentid":"905","userid":"42","courseid":"7","roleid":5,"status":"0","timestart":"1767000000","timeend":"0","timecreated":"1767000100"}`
	seedGradeUpdated = `{"eventname":"\\core\\event\\user_graded","gradeid":"5521","userid":"42","itemid":"88","itemname":"Essay 1","finalgrade":"87.50000","feedback":"","grader":"2","timecreated":null,"timemodified":"1767000500"}`
)

// moodleHeaders are the headers the backend_sync observer sends.
func moodleHeaders(token string) map[string]string {
	return map[string]string{"Content-Type": "application/json", HeaderMoodleToken: token}
}

// storedEvent returns the one stored event with the given name.
func (h *testHub) storedEvent(name string) *mih.Event {
	h.t.Helper()
	recs, _, err := h.store.FindEvents(context.Background(), mih.EventFilter{EventName: name, Limit: 10})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(recs) != 1 {
		h.t.Fatalf("got %d events %s stored, want 1", len(recs), name)
	}
	return recs[0].Event
}

func ptrOf[T any](v T) *T { return &v }

func TestBackendSync_SeedBodies(t *testing.T) {
	tests := []struct {
		endpoint string
		body     string
		want     mih.Event
		other    map[string]any // a few fields of other, typed
	}{
		{"user_created", seedUserCreated, mih.Event{
			EventName: `\core\event\user_created`, Component: "core", Action: "created", Target: "user",
			ObjectTable: ptrOf("user"), ObjectID: ptrOf[int64](42), CRUD: "c", EduLevel: 0,
			ContextLevel: 30, ContextInstanceID: 42, UserID: 0, CourseID: 0, RelatedUserID: ptrOf[int64](42),
			TimeCreated: 1767000000,
		}, map[string]any{"email": "jdoe@example.edu", "userid": 42.0, "lastname": "O'Hara", "suspended": false, "timemodified": 1767000000.0}},
		{"user_updated", seedUserUpdated, mih.Event{
			EventName: `\core\event\user_updated`, Component: "core", Action: "updated", Target: "user",
			ObjectTable: ptrOf("user"), ObjectID: ptrOf[int64](42), CRUD: "u", EduLevel: 0,
			ContextLevel: 30, ContextInstanceID: 42, RelatedUserID: ptrOf[int64](42),
			TimeCreated: 1767003600, // the update's time, not the account's
		}, map[string]any{"email": "jane.ohara@example.edu", "city": "Porto", "suspended": true}},
		{"user_enrolled", seedUserEnrolled, mih.Event{
			EventName: `\core\event\user_enrolment_created`, Component: "core", Action: "created", Target: "user_enrolment",
			ObjectTable: ptrOf("user_enrolments"), ObjectID: ptrOf[int64](905), CRUD: "c", EduLevel: 0,
			ContextLevel: 50, ContextInstanceID: 7, CourseID: 7, RelatedUserID: ptrOf[int64](42),
			TimeCreated: 1767000100,
		}, map[string]any{"roleid": 5.0, "status": 0.0, "enrollmentid": 905.0, "timeend": 0.0}},
		{"grade_updated", seedGradeUpdated, mih.Event{
			EventName: `\core\event\user_graded`, Component: "core", Action: "graded", Target: "user",
			ObjectTable: ptrOf("grade_grades"), ObjectID: ptrOf[int64](5521), CRUD: "u", EduLevel: 1,
			ContextLevel: 50, UserID: 2, RelatedUserID: ptrOf[int64](42),
			TimeCreated: 1767000500,
		}, map[string]any{"itemid": 88.0, "finalgrade": 87.5, "itemname": "Essay 1", "timecreated": nil, "grader": 2.0}},
	}
	h := newTestHub(t)
	for _, tc := range tests {
		t.Run(tc.endpoint, func(t *testing.T) {
			var res mih.IngestResult
			h.doWith("POST", "/api/v1/events/moodle/"+tc.endpoint, tc.body, moodleHeaders(h.token)).want(http.StatusOK).decode(&res)
			if res.Accepted != 1 || res.Duplicates != 0 {
				t.Fatalf("got %+v, want 1 accepted", res)
			}
			got := h.storedEvent(tc.want.EventName)
			if !strings.HasPrefix(got.ID, "backend_sync:"+tc.endpoint+":") {
				t.Errorf("id %q, want backend_sync:%s:…", got.ID, tc.endpoint)
			}
			w := tc.want
			if got.Component != w.Component || got.Action != w.Action || got.Target != w.Target || got.CRUD != w.CRUD || got.EduLevel != w.EduLevel {
				t.Errorf("component/action/target/crud/edulevel = %s/%s/%s/%s/%d, want %s/%s/%s/%s/%d",
					got.Component, got.Action, got.Target, got.CRUD, got.EduLevel, w.Component, w.Action, w.Target, w.CRUD, w.EduLevel)
			}
			if *got.ObjectTable != *w.ObjectTable || *got.ObjectID != *w.ObjectID || *got.RelatedUserID != *w.RelatedUserID {
				t.Errorf("objecttable/objectid/relateduserid = %s/%d/%d, want %s/%d/%d",
					*got.ObjectTable, *got.ObjectID, *got.RelatedUserID, *w.ObjectTable, *w.ObjectID, *w.RelatedUserID)
			}
			if got.UserID != w.UserID || got.CourseID != w.CourseID || got.ContextLevel != w.ContextLevel ||
				got.ContextInstanceID != w.ContextInstanceID || got.ContextID != 0 || got.TimeCreated != w.TimeCreated {
				t.Errorf("userid/courseid/contextlevel/contextinstanceid/contextid/timecreated = %d/%d/%d/%d/%d/%d, want %d/%d/%d/%d/0/%d",
					got.UserID, got.CourseID, got.ContextLevel, got.ContextInstanceID, got.ContextID, got.TimeCreated,
					w.UserID, w.CourseID, w.ContextLevel, w.ContextInstanceID, w.TimeCreated)
			}
			var other map[string]any
			if err := json.Unmarshal(got.Other, &other); err != nil {
				t.Fatalf("other %s: %v", got.Other, err)
			}
			for k, v := range tc.other {
				if gv, ok := other[k]; !ok || gv != v {
					t.Errorf("other.%s = %#v, want %#v (other %s)", k, gv, v, got.Other)
				}
			}
			// Every field the body had is in other.
			var sent map[string]any
			json.Unmarshal([]byte(tc.body), &sent)
			for k := range sent {
				if _, ok := other[k]; !ok {
					t.Errorf("other lacks the body's %s", k)
				}
			}
		})
	}
}

// A rule on the core event renders the backend_sync body's fields from other.
func TestBackendSync_Rule(t *testing.T) {
	h := newTestHub(t)
	h.createService("crm")
	h.createRule("crm", `\core\event\user_created`, `{"email": "{{other.email}}", "user": {{relateduserid}}, "name": "{{firstname}} {{lastname}}"}`)
	h.doWith("POST", "/api/v1/events/moodle/user_created", seedUserCreated, moodleHeaders(h.token)).want(http.StatusOK)
	ev := h.storedEvent(`\core\event\user_created`)
	var l list[*mih.Delivery]
	h.do("GET", "/api/v1/deliveries?event="+url.QueryEscape(ev.ID), nil).want(http.StatusOK).decode(&l)
	if len(l.Items) != 1 {
		t.Fatalf("got %d deliveries, want 1", len(l.Items))
	}
	var payload map[string]any
	if err := json.Unmarshal(l.Items[0].Payload, &payload); err != nil {
		t.Fatalf("payload %s: %v", l.Items[0].Payload, err)
	}
	if payload["email"] != "jdoe@example.edu" || payload["user"] != 42.0 || payload["name"] != "Jane O'Hara" {
		t.Errorf("payload %s, want the user's email, id and name", l.Items[0].Payload)
	}
}

func TestBackendSync_Auth(t *testing.T) {
	h := newTestHub(t)
	tests := []struct {
		name    string
		path    string
		headers map[string]string
		status  int
		code    string
	}{
		{"X-Moodle-Token", "/api/v1/events/moodle/user_created", moodleHeaders(h.token), 200, ""},
		{"bearer token", "/api/v1/events/moodle/user_updated", map[string]string{"Authorization": "Bearer " + h.token}, 200, ""},
		{"no token", "/api/v1/events/moodle/user_created", map[string]string{}, 401, "unauthorized"},
		{"empty X-Moodle-Token", "/api/v1/events/moodle/user_created", moodleHeaders(""), 401, "unauthorized"},
		{"bad X-Moodle-Token", "/api/v1/events/moodle/user_created", moodleHeaders("mih_wrong"), 401, "unauthorized"},
		{"bad bearer beats a good X-Moodle-Token", "/api/v1/events/moodle/user_created",
			map[string]string{"Authorization": "Bearer mih_wrong", HeaderMoodleToken: h.token}, 401, "unauthorized"},
		{"unknown name", "/api/v1/events/moodle/course_created", moodleHeaders(h.token), 404, "not_found"},
		{"unknown name without token", "/api/v1/events/moodle/course_created", map[string]string{}, 401, "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := seedUserCreated
			if strings.HasSuffix(tc.path, "user_updated") {
				body = seedUserUpdated
			}
			r := h.doWith("POST", tc.path, body, tc.headers)
			if tc.code == "" {
				r.want(tc.status)
				return
			}
			r.wantError(tc.status, tc.code)
			if tc.status == 404 && !strings.Contains(r.errMessage(), "user_enrolled") {
				t.Errorf("message %q does not list the endpoints", r.errMessage())
			}
		})
	}
	// X-Moodle-Token opens only these routes.
	h.doWith("GET", "/api/v1/services", nil, moodleHeaders(h.token)).wantError(401, "unauthorized")
	h.doWith("POST", "/api/v1/events", testEvent("x", `\core\event\user_created`, 2), moodleHeaders(h.token)).wantError(401, "unauthorized")
	if n := h.countEvents(); n != 2 {
		t.Errorf("got %d events stored, want 2", n)
	}
}

func TestBackendSync_BadBodies(t *testing.T) {
	h := newTestHub(t)
	edit := func(body string, f func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name     string
		endpoint string
		body     string
		mention  string
	}{
		{"not JSON", "user_created", `{"userid": `, "not valid JSON"},
		{"an array", "user_created", `[` + seedUserCreated + `]`, "JSON object"},
		{"data after the body", "user_created", seedUserCreated + ` {}`, "after"},
		{"empty body", "user_created", ``, "JSON"},
		{"user without userid", "user_created", edit(seedUserCreated, func(m map[string]any) { delete(m, "userid") }), "userid: required"},
		{"null userid", "user_updated", edit(seedUserUpdated, func(m map[string]any) { m["userid"] = nil }), "userid: required"},
		{"userid not a number", "user_created", edit(seedUserCreated, func(m map[string]any) { m["userid"] = "jdoe" }), "userid"},
		{"userid zero", "user_created", edit(seedUserCreated, func(m map[string]any) { m["userid"] = 0 }), "userid"},
		{"userid fractional", "user_created", edit(seedUserCreated, func(m map[string]any) { m["userid"] = 4.5 }), "userid"},
		{"email an object", "user_created", edit(seedUserCreated, func(m map[string]any) { m["email"] = map[string]any{} }), "email"},
		{"suspended not a boolean", "user_created", edit(seedUserCreated, func(m map[string]any) { m["suspended"] = "maybe" }), "suspended"},
		{"negative timecreated", "user_created", edit(seedUserCreated, func(m map[string]any) { m["timecreated"] = -5 }), "timecreated"},
		{"eventname of another event", "user_created", edit(seedUserCreated, func(m map[string]any) { m["eventname"] = `\core\event\user_deleted` }), "eventname"},
		{"enrolment without courseid", "user_enrolled", edit(seedUserEnrolled, func(m map[string]any) { delete(m, "courseid") }), "courseid: required"},
		{"enrolment without enrollmentid", "user_enrolled", edit(seedUserEnrolled, func(m map[string]any) { delete(m, "enrollmentid") }), "enrollmentid: required"},
		{"enrolment with a bad roleid", "user_enrolled", edit(seedUserEnrolled, func(m map[string]any) { m["roleid"] = "student" }), "roleid"},
		{"grade without gradeid", "grade_updated", edit(seedGradeUpdated, func(m map[string]any) { delete(m, "gradeid") }), "gradeid: required"},
		{"grade without userid", "grade_updated", edit(seedGradeUpdated, func(m map[string]any) { delete(m, "userid") }), "userid: required"},
		{"finalgrade not a number", "grade_updated", edit(seedGradeUpdated, func(m map[string]any) { m["finalgrade"] = "A+" }), "finalgrade"},
		{"finalgrade NaN", "grade_updated", edit(seedGradeUpdated, func(m map[string]any) { m["finalgrade"] = "NaN" }), "finalgrade"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.doWith("POST", "/api/v1/events/moodle/"+tc.endpoint, tc.body, moodleHeaders(h.token)).wantError(400, "invalid")
			if !strings.Contains(r.errMessage(), tc.mention) {
				t.Errorf("message %q does not mention %q", r.errMessage(), tc.mention)
			}
		})
	}
	if n := h.countEvents(); n != 0 {
		t.Errorf("got %d events stored from bad bodies, want 0", n)
	}
}

func TestBackendSync_Dedupe(t *testing.T) {
	h := newTestHub(t)
	post := func(endpoint, body string, headers map[string]string, path string) mih.IngestResult {
		t.Helper()
		hd := moodleHeaders(h.token)
		for k, v := range headers {
			hd[k] = v
		}
		var res mih.IngestResult
		h.doWith("POST", "/api/v1/events/moodle/"+endpoint+path, body, hd).want(http.StatusOK).decode(&res)
		return res
	}
	if res := post("grade_updated", seedGradeUpdated, nil, ""); res.Accepted != 1 {
		t.Fatalf("first post: %+v, want accepted", res)
	}
	// The plugin posting the same event again, even a minute later, is a duplicate.
	h.clock.Add(60e9)
	if res := post("grade_updated", seedGradeUpdated, nil, ""); res.Accepted != 0 || res.Duplicates != 1 {
		t.Errorf("retried post: %+v, want a duplicate", res)
	}
	// The same values typed as numbers are the same event.
	numeric := strings.NewReplacer(`"5521"`, `5521`, `"42"`, `42`, `"88"`, `88`, `"2"`, `2`, `"1767000500"`, `1767000500`).Replace(seedGradeUpdated)
	if res := post("grade_updated", numeric, nil, ""); res.Duplicates != 1 {
		t.Errorf("numbers instead of strings: %+v, want a duplicate", res)
	}
	// A grade changed again within the minute is a new event (local_integrationhub's dedupe dropped
	// it).
	changed := strings.NewReplacer(`"87.50000"`, `"91.00000"`, `"1767000500"`, `"1767000530"`).Replace(seedGradeUpdated)
	if res := post("grade_updated", changed, nil, ""); res.Accepted != 1 {
		t.Errorf("a second change: %+v, want accepted", res)
	}
	// The same body from another site is another event.
	if res := post("grade_updated", seedGradeUpdated, map[string]string{HeaderSite: "main"}, ""); res.Accepted != 1 {
		t.Errorf("from site main: %+v, want accepted", res)
	}
	if res := post("grade_updated", seedGradeUpdated, nil, "?site=main"); res.Duplicates != 1 {
		t.Errorf("?site=main after X-MIH-Site: main: %+v, want a duplicate", res)
	}

	// Without any time in the body the event is timed now, and a retry is still a duplicate.
	bare := `{"userid": 77, "email": "new@example.edu"}`
	first := h.clock.Now()
	post("user_created", bare, nil, "")
	h.clock.Add(5e9)
	if res := post("user_created", bare, nil, ""); res.Duplicates != 1 {
		t.Errorf("retry of a body without times: %+v, want a duplicate", res)
	}
	var l list[*mih.EventRecord]
	h.do("GET", "/api/v1/events?userid=0&eventname="+url.QueryEscape(`\core\event\user_created`), nil).want(http.StatusOK).decode(&l)
	if len(l.Items) != 1 || l.Items[0].TimeCreated != first.Unix() {
		t.Errorf("events %+v, want one timed when it was first posted", l.Items)
	}
}

func TestBackendSync_Site(t *testing.T) {
	h := newTestHub(t)
	post := func(path string, headers map[string]string) *response {
		hd := moodleHeaders(h.token)
		for k, v := range headers {
			hd[k] = v
		}
		return h.doWith("POST", "/api/v1/events/moodle/user_enrolled"+path, seedUserEnrolled, hd)
	}
	post("", map[string]string{HeaderSite: "main"}).want(http.StatusOK)
	if ev := h.storedEvent(`\core\event\user_enrolment_created`); ev.Site != "main" {
		t.Errorf("site %q, want main", ev.Site)
	}
	post("?site=main", map[string]string{HeaderSite: "other"}).wantError(400, "invalid")
	post("?site=Bad%20Site", nil).wantError(400, "invalid")
	post("", map[string]string{HeaderSite: "main"}).want(http.StatusOK)
	if n := h.countEvents(); n != 1 {
		t.Errorf("got %d events, want 1", n)
	}
}
