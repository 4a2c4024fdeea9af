package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/mihhub/mih/moodle/moodletest"
	"github.com/mihhub/mih/webhook"
)

const sisSecret = "whsec_c2lzLWUyZS1zaWduaW5nLWtleS0wMTIzNDU2Nzg5"

// ceReceiver is a CloudEvents receiver built with the official SDK on 127.0.0.1: what an event
// router would run. Events it parses arrive on the channel.
func ceReceiver(t *testing.T) (string, <-chan cloudevents.Event) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := cloudevents.NewHTTP(cehttp.WithListener(ln))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cloudevents.NewClient(p)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan cloudevents.Event, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.StartReceiver(ctx, func(e cloudevents.Event) { got <- e })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String(), got
}

// configureInbound sets up, through the API, what a student system integration needs: the
// site, the CloudEvents receiver as a service with a rule for user_created, the endpoint and
// its two rules (create the account, enrol it).
func configureInbound(t *testing.T, hub, siteURL, token, receiver, course string) {
	t.Helper()
	for _, c := range []struct {
		path string
		body any
	}{
		{"sites", map[string]any{"name": "main", "url": siteURL, "token": token}},
		{"services", map[string]any{"name": "bus", "type": "rest", "base_url": receiver, "initial_backoff_s": 0.1, "max_backoff_s": 0.5}},
		{"rules", map[string]any{"name": "accounts to the bus", "event": `\core\event\user_created`, "service": "bus",
			"format": "cloudevents", "template": `{"userid": {{objectid}}, "username": {{relateduser.username}}, "email": {{relateduser.email}}}`}},
		{"inbound-endpoints", map[string]any{"name": "sis", "secrets": []string{sisSecret}}},
		{"inbound-rules", map[string]any{"endpoint": "sis", "name": "create account", "site": "main", "function": "core_user_create_users",
			"filter": `$env["type"] == "student.admitted"`,
			"template": `{"users": [{"username": {{student.username}}, "firstname": {{student.first}}, "lastname": {{student.last}},
				"email": {{student.email}}, "idnumber": "{{student.id}}", "createpassword": 1}]}`}},
		{"inbound-rules", map[string]any{"endpoint": "sis", "name": "enrol", "site": "main", "function": "enrol_manual_enrol_users",
			"filter": `$env["type"] == "student.admitted"`,
			"template": `{"enrolments": [{"roleid": 5, "userid": {"$user": {"username": {{student.username}}}},
				"courseid": {"$course": {"shortname": ` + fmt.Sprintf("%q", course) + `}}}]}`}},
	} {
		if code, body := apiCall(t, "POST", hub+"api/v1/"+c.path, c.body); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", c.path, code, body)
		}
	}
}

// postSigned sends a message to the endpoint the way a Standard Webhooks sender does.
func postSigned(t *testing.T, hub, id string, body []byte) map[string]any {
	t.Helper()
	ts := time.Now().Unix()
	sig, err := webhook.Sign(sisSecret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", hub+"api/v1/inbound/sis", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", fmt.Sprint(ts))
	req.Header.Set("webhook-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("inbound: %d %v", resp.StatusCode, out)
	}
	return out
}

func admission(username string) []byte {
	return []byte(fmt.Sprintf(`{"type": "student.admitted", "student": {"id": 2026%d, "username": %q,
		"first": "Ada", "last": "Lovelace", "email": "%s@example.edu"}}`, time.Now().UnixNano()%100000, username, username))
}

func waitCloudEvent(t *testing.T, got <-chan cloudevents.Event, within time.Duration) cloudevents.Event {
	t.Helper()
	select {
	case e := <-got:
		return e
	case <-time.After(within):
		t.Fatal("no CloudEvent arrived")
	}
	return cloudevents.Event{}
}

// A signed message from a student system creates the account and enrols it in Moodle (two Web
// Service calls through the ledger), and the user_created event Moodle then reports goes out as
// a CloudEvent that the official SDK's receiver parses. moodletest stands in for Moodle and the
// test posts the event Moodle's plugin would post; TestInbound_RealMoodle does it for real.
func TestInbound_StudentSystemToCloudEvent(t *testing.T) {
	hub, _ := startInProcess(t)
	ws := moodletest.NewServer(t, moodletest.Options{})
	course := ws.AddCourse(moodletest.Course{ShortName: "BIO101", FullName: "Biology", CategoryID: 1})
	receiver, got := ceReceiver(t)
	configureInbound(t, hub, ws.URL, ws.Token, receiver, "BIO101")

	res := postSigned(t, hub, "adm-1", admission("ada.l"))
	if res["calls"] != 2.0 {
		t.Fatalf("result %v", res)
	}
	var uid int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		u, ok := ws.UserByUsername("ada.l")
		if ok && len(ws.Enrolments(course)) == 1 {
			uid = u.ID
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("user created %v, enrolments %v", ok, ws.Enrolments(course))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The same message again is dropped by its webhook-id.
	if again := postSigned(t, hub, "adm-1", admission("ada.l")); again["duplicate"] != true {
		t.Errorf("duplicate: %v", again)
	}

	// What Moodle's plugin posts for the new account.
	event := map[string]any{"id": "local_mih:u1", "site": "main", "eventname": `\core\event\user_created`, "component": "core",
		"action": "created", "target": "user", "objecttable": "user", "objectid": uid, "crud": "c", "edulevel": 0,
		"contextid": 30, "contextlevel": 30, "contextinstanceid": uid, "userid": 2, "courseid": 0, "relateduserid": uid,
		"anonymous": 0, "other": nil, "timecreated": time.Now().Unix()}
	if code, body := apiCall(t, "POST", hub+"api/v1/events", event); code != http.StatusAccepted {
		t.Fatalf("post event: %d %s", code, body)
	}
	e := waitCloudEvent(t, got, 10*time.Second)
	checkUserCreated(t, e, ws.URL, uid, "ada.l")
}

func checkUserCreated(t *testing.T, e cloudevents.Event, site string, uid int64, username string) {
	t.Helper()
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.Type() != "org.moodle.core.event.user_created" || e.Source() != strings.TrimRight(site, "/") ||
		e.Subject() != fmt.Sprintf("user/%d", uid) || e.DataContentType() != "application/json" {
		t.Errorf("event %s", e)
	}
	var data struct {
		UserID   int64  `json:"userid"`
		Username string `json:"username"`
		Email    string `json:"email"`
	}
	if err := e.DataAs(&data); err != nil || data.UserID != uid || data.Username != username || data.Email != username+"@example.edu" {
		t.Errorf("data %s: %v", e.Data(), err)
	}
}

// TestInbound_RealMoodle runs the same flow against a real Moodle when MIH_TEST_MOODLE_URL and
// MIH_TEST_MOODLE_TOKEN name one (a token whose service has core_user_create_users,
// enrol_manual_enrol_users, core_user_get_users_by_field and core_course_get_courses_by_field),
// with MIH_TEST_MOODLE_COURSE the short name of a course to enrol in. Moodle's user_created
// reaches the hub through the log store tailer when MIH_TEST_MOODLE_DB is its database URL.
func TestInbound_RealMoodle(t *testing.T) {
	site, token, course, db := os.Getenv("MIH_TEST_MOODLE_URL"), os.Getenv("MIH_TEST_MOODLE_TOKEN"),
		os.Getenv("MIH_TEST_MOODLE_COURSE"), os.Getenv("MIH_TEST_MOODLE_DB")
	if site == "" || token == "" || course == "" || db == "" {
		t.Skip("MIH_TEST_MOODLE_URL, MIH_TEST_MOODLE_TOKEN, MIH_TEST_MOODLE_COURSE and MIH_TEST_MOODLE_DB name a real Moodle")
	}
	hub, _ := startInProcess(t)
	receiver, got := ceReceiver(t)
	configureInbound(t, hub, site, token, receiver, course)
	// Tail the site's log store from now on, so the user_created of the account comes from Moodle.
	if code, body := apiCall(t, "PUT", hub+"api/v1/sites/main", map[string]any{"url": site, "token": token, "db": db, "tail": true,
		"tail_from": "latest", "prefix": envOr("MIH_TEST_MOODLE_PREFIX", "mdl_")}); code != http.StatusOK {
		t.Fatalf("enable tailing: %d %s", code, body)
	}
	// The tailer takes its cursor at the log's end when it starts: wait for that, or the new
	// account's event could come before it and be skipped.
	for start := time.Now(); ; time.Sleep(200 * time.Millisecond) {
		_, body := apiCall(t, "GET", hub+"api/v1/sites/main", nil)
		var s struct {
			TailStatus struct {
				Running bool  `json:"running"`
				Cursor  int64 `json:"cursor"`
			} `json:"tail_status"`
		}
		json.Unmarshal(body, &s)
		if s.TailStatus.Running && s.TailStatus.Cursor > 0 {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the tailer did not start: %s", body)
		}
	}

	username := fmt.Sprintf("mih.e2e.%d", time.Now().Unix())
	if res := postSigned(t, hub, "adm-"+username, admission(username)); res["calls"] != 2.0 {
		t.Fatalf("result %v", res)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case e := <-got:
			var data struct {
				Username string `json:"username"`
				UserID   int64  `json:"userid"`
			}
			if e.DataAs(&data) == nil && data.Username == username {
				checkUserCreated(t, e, site, data.UserID, username)
				// Both calls of the message succeeded: the account and its enrolment.
				for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
					_, body := apiCall(t, "GET", hub+"api/v1/deliveries?service=moodle:main&status=succeeded", nil)
					if strings.Contains(string(body), "core_user_create_users") && strings.Contains(string(body), "enrol_manual_enrol_users") {
						// When the course has a teacher, Moodle sends a welcome message on
						// enrolment; a site whose mail fails answers "Message was not sent."
						// after committing the enrolment, which counts as success.
						var l struct {
							Items []struct {
								ID       int64  `json:"id"`
								Endpoint string `json:"endpoint"`
							}
						}
						json.Unmarshal(body, &l)
						for _, d := range l.Items {
							if d.Endpoint == "enrol_manual_enrol_users" {
								_, detail := apiCall(t, "GET", hub+"api/v1/deliveries/"+itoa64(d.ID), nil)
								if strings.Contains(string(detail), "Message was not sent.") {
									t.Log("the enrolment's welcome message failed; the call succeeded")
								}
							}
						}
						return
					}
					if time.Since(start) > 30*time.Second {
						_, all := apiCall(t, "GET", hub+"api/v1/deliveries?service=moodle:main", nil)
						t.Fatalf("the Web Service calls did not both succeed: %s", all)
					}
				}
			}
		case <-time.After(time.Until(deadline)):
			_, ds := apiCall(t, "GET", hub+"api/v1/deliveries?limit=100", nil)
			var dl struct{ Items []map[string]any }
			json.Unmarshal(ds, &dl)
			for _, d := range dl.Items {
				t.Logf("delivery %v %v %v %v %v %v", d["id"], d["event_id"], d["service"], d["endpoint"], d["state"], d["last_error"])
			}
			ds = nil
			_, evs := apiCall(t, "GET", hub+"api/v1/events?limit=5", nil)
			_, st := apiCall(t, "GET", hub+"api/v1/sites/main", nil)
			t.Fatalf("no CloudEvent for the new account within 90 s\ndeliveries %s\nevents %s\nsite %s", ds, evs, st)
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
