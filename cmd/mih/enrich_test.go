package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
)

// A rule that needs the user gets it from the site's Moodle Web Services at delivery time; while
// Moodle fails the delivery waits and retries, and ingest is not held up.
func TestServe_Enrichment(t *testing.T) {
	url, _ := startInProcess(t)
	ws := moodletest.NewServer(t, moodletest.Options{})
	uid := ws.AddUser(moodletest.User{Username: "jdoe", FirstName: "Jane", LastName: "Doe", Email: "jdoe@example.edu"})

	var (
		mu   sync.Mutex
		got  []string
		hits = make(chan struct{}, 10)
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
		hits <- struct{}{}
	}))
	t.Cleanup(recv.Close)

	for _, c := range []struct {
		path string
		body any
	}{
		{"sites", map[string]any{"name": "main", "url": ws.URL, "token": ws.Token}},
		{"services", map[string]any{"name": "slack", "type": "rest", "base_url": recv.URL, "initial_backoff_s": 0.1, "max_backoff_s": 0.2}},
		{"rules", map[string]any{"name": "logins", "event": `\core\event\user_loggedin`, "service": "slack", "endpoint": "/hook",
			"template": `{"text": "User {{username}} ({{user.email}}) just logged in from IP {{ip}}!"}`}},
	} {
		if code, body := apiCall(t, "POST", url+"api/v1/"+c.path, c.body); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", c.path, code, body)
		}
	}
	// Moodle answers the first two lookups with an error page: the delivery must retry.
	ws.FailNext(moodle.FuncUsersByField, 2, moodletest.Failure{Status: http.StatusServiceUnavailable, Body: "<html>maintenance</html>", ContentType: "text/html"})

	event := map[string]any{"id": "local_mih:e1", "site": "main", "eventname": `\core\event\user_loggedin`, "component": "core",
		"action": "loggedin", "target": "user", "objecttable": "user", "objectid": uid, "crud": "r", "edulevel": 0,
		"contextid": 1, "contextlevel": 10, "contextinstanceid": 0, "userid": uid, "courseid": 0, "relateduserid": nil,
		"anonymous": 0, "other": map[string]any{"username": "jdoe"}, "timecreated": time.Now().Unix(), "ip": "203.0.113.9"}
	start := time.Now()
	if code, body := apiCall(t, "POST", url+"api/v1/events", event); code != http.StatusAccepted {
		t.Fatalf("post event: %d %s", code, body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ingest took %v while Moodle was failing", d)
	}
	select {
	case <-hits:
	case <-time.After(15 * time.Second):
		t.Fatal("nothing delivered")
	}
	mu.Lock()
	defer mu.Unlock()
	var payload map[string]string
	if err := json.Unmarshal([]byte(got[0]), &payload); err != nil {
		t.Fatalf("payload %s: %v", got[0], err)
	}
	if want := "User jdoe (jdoe@example.edu) just logged in from IP 203.0.113.9!"; payload["text"] != want {
		t.Errorf("got %q, want %q", payload["text"], want)
	}

	// The attempts show the failed lookups, the delivery keeps what was rendered.
	var page struct {
		Items []struct {
			ID       int64           `json:"id"`
			Attempts int             `json:"attempts"`
			Payload  json.RawMessage `json:"payload"`
		}
	}
	for deadline := time.Now().Add(5 * time.Second); len(page.Items) == 0; time.Sleep(20 * time.Millisecond) {
		code, body := apiCall(t, "GET", url+"api/v1/deliveries?status=succeeded", nil)
		if code != 200 || json.Unmarshal(body, &page) != nil || time.Now().After(deadline) {
			t.Fatalf("succeeded deliveries: %d %s", code, body)
		}
	}
	var stored map[string]string
	json.Unmarshal(page.Items[0].Payload, &stored)
	if d := page.Items[0]; d.Attempts != 3 || stored["text"] != payload["text"] {
		t.Errorf("delivery: %d attempts, payload %s; want 3 attempts (2 failed lookups) and the payload sent", d.Attempts, d.Payload)
	}
}
