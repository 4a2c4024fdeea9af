package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mihhub/mih/moodle/moodletest"
)

// An xapi rule sends a learning record store one statement per learning event, with names and
// the score looked up in Moodle, and skips the events that have none.
func TestServe_XAPIToLRS(t *testing.T) {
	hub, _ := startInProcess(t)
	ws := moodletest.NewServer(t, moodletest.Options{})
	course := ws.AddCourse(moodletest.Course{ShortName: "BIO101", FullName: "Biology", CategoryID: 1})
	uid := ws.AddUser(moodletest.User{Username: "ada", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.edu"})
	ws.AddModule(moodletest.Module{ID: 31, CourseID: course, ModName: "page", Name: "Cell structure", Instance: 3})
	ws.AddGradeItem(moodletest.GradeItem{ID: 88, CourseID: course, ItemName: "Lab report", ItemType: "mod", ItemModule: "assign",
		Instance: 4, CMID: 33, GradeMin: 0, GradeMax: 20})

	type received struct {
		version string
		st      map[string]any
	}
	got := make(chan received, 10)
	lrs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var st map[string]any
		json.Unmarshal(b, &st)
		got <- received{r.Header.Get("X-Experience-API-Version"), st}
		w.Write([]byte(`["` + st["id"].(string) + `"]`))
	}))
	t.Cleanup(lrs.Close)
	for _, c := range []struct {
		path string
		body any
	}{
		{"sites", map[string]any{"name": "main", "url": ws.URL, "token": ws.Token}},
		{"services", map[string]any{"name": "lrs", "type": "rest", "base_url": lrs.URL, "initial_backoff_s": 0.1, "max_backoff_s": 0.2}},
		{"rules", map[string]any{"name": "learning records", "event": "*", "service": "lrs", "endpoint": "/statements", "format": "xapi"}},
	} {
		if code, body := apiCall(t, "POST", hub+"api/v1/"+c.path, c.body); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", c.path, code, body)
		}
	}
	now := time.Now().Unix()
	events := []map[string]any{
		// No statement for a new account: no delivery at all.
		{"id": "e0", "site": "main", "eventname": `\core\event\user_created`, "component": "core", "action": "created", "target": "user",
			"objecttable": "user", "objectid": uid, "crud": "c", "edulevel": 0, "contextid": 30, "contextlevel": 30, "contextinstanceid": uid,
			"userid": 2, "courseid": 0, "relateduserid": uid, "anonymous": 0, "other": nil, "timecreated": now},
		{"id": "e1", "site": "main", "eventname": `\core\event\course_module_completion_updated`, "component": "core", "action": "updated",
			"target": "course_module_completion", "objecttable": "course_modules_completion", "objectid": 5, "crud": "u", "edulevel": 2,
			"contextid": 140, "contextlevel": 70, "contextinstanceid": 31, "userid": uid, "courseid": course, "relateduserid": uid,
			"anonymous": 0, "other": map[string]any{"relateduserid": uid, "overrideby": nil, "completionstate": 1}, "timecreated": now},
		{"id": "e2", "site": "main", "eventname": `\core\event\user_graded`, "component": "core", "action": "graded", "target": "user",
			"objecttable": "grade_grades", "objectid": 9, "crud": "u", "edulevel": 1, "contextid": 120, "contextlevel": 50,
			"contextinstanceid": course, "userid": 2, "courseid": course, "relateduserid": uid, "anonymous": 0,
			"other": map[string]any{"itemid": 88, "overridden": false, "finalgrade": 17}, "timecreated": now},
	}
	if code, body := apiCall(t, "POST", hub+"api/v1/events", events); code != http.StatusAccepted {
		t.Fatalf("post events: %d %s", code, body)
	}
	byVerb := map[string]map[string]any{}
	for range 2 {
		select {
		case r := <-got:
			if r.version != "1.0.3" {
				t.Errorf("X-Experience-API-Version %q", r.version)
			}
			verb, _ := r.st["verb"].(map[string]any)
			byVerb[verb["id"].(string)] = r.st
		case <-time.After(10 * time.Second):
			t.Fatalf("statements received: %d, want 2", len(byVerb))
		}
	}
	comp := byVerb["http://adlnet.gov/expapi/verbs/completed"]
	obj, _ := comp["object"].(map[string]any)
	def, _ := obj["definition"].(map[string]any)
	actor, _ := comp["actor"].(map[string]any)
	if obj["id"] != ws.URL+"/mod/page/view.php?id=31" || def["name"].(map[string]any)["und"] != "Cell structure" || actor["name"] != "Ada Lovelace" {
		t.Errorf("completion statement %v", comp)
	}
	grade := byVerb["http://adlnet.gov/expapi/verbs/scored"]
	score := grade["result"].(map[string]any)["score"].(map[string]any)
	if score["raw"] != 17.0 || score["max"] != 20.0 || score["scaled"] != 0.85 || grade["object"].(map[string]any)["id"] != ws.URL+"/mod/assign/view.php?id=33" {
		t.Errorf("grade statement %v", grade)
	}
	if code, body := apiCall(t, "GET", hub+"api/v1/deliveries?service=lrs", nil); code != 200 || countItems(body) != 2 {
		t.Errorf("deliveries: %s", body)
	}
}

func countItems(body []byte) int {
	var l struct{ Items []json.RawMessage }
	json.Unmarshal(body, &l)
	return len(l.Items)
}
