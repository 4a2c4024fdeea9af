package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle/moodletest"
)

// webcourseCourses is the course list of the local_webcourse plugin's documentation, as it is
// written.
const webcourseCourses = `{"courses": [
{"shortname": "unique_field1", "name": "Exemple name - Geography Course", "participants": [
{ "username": "00000000074" }, { "username": "00000000076" }, { "username": "00000000077" },
{ "username": "00000000078", "roleid": "teacher" }, { "username": "00000000069" }]},
{"shortname": "unique_field2", "name": "Exemple name - Physics Course", "participants": [
{ "username": "00000000023", "roleid": "teacher" }, { "username": "00000000076" }, { "username": "00000000087"}, { "username": "00000000078"}]},
{"shortname": "unique_field3", "name": "Exemple name - Math Course", "participants": [
{ "username": "00000000023", "roleid": "professor" }, { "username": "00000000076" }, { "username": "00000000087"}, { "username": "00000000078"}]}
]}`

// The course sync end to end in a real hub: the job registered through the API, run from the
// CLI (dry run with the CSV, apply, a second apply that changes nothing), then through the API,
// where `mih serve`'s scheduler takes the queued run.
func TestCLI_Sync(t *testing.T) {
	data := t.TempDir()
	hub, _ := startHubIn(t, data)
	ws := moodletest.NewServer(t, moodletest.Options{})
	for _, u := range []string{"00000000074", "00000000076", "00000000077", "00000000078", "00000000023", "00000000087"} {
		ws.AddUser(moodletest.User{Username: u, FirstName: "F", LastName: u, Email: u + "@example.edu"})
	}
	var status atomic.Int32
	status.Store(http.StatusOK)
	body := atomic.Value{}
	body.Store(webcourseCourses)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer academic-secret-9f" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(int(status.Load()))
		fmt.Fprint(w, body.Load().(string))
	}))
	t.Cleanup(src.Close)

	for _, c := range []struct {
		path string
		body any
	}{
		{"sites", map[string]any{"name": "main", "url": ws.URL, "token": ws.Token}},
		{"services", map[string]any{"name": "academic", "type": "rest", "base_url": src.URL, "max_retries": 0,
			"auth": map[string]any{"type": "bearer", "token": "academic-secret-9f"}}},
		{"sync", map[string]any{"name": "webcourse", "site": "main", "source_service": "academic", "source_path": "/courses",
			"removal": "suspend"}},
	} {
		if code, b := apiCall(t, "POST", hub+"api/v1/"+c.path, c.body); code != http.StatusCreated {
			t.Fatalf("create %s: %d %s", c.path, code, b)
		}
	}

	csvPath := filepath.Join(t.TempDir(), "missing.csv")
	code, out, errOut := runCLI(t, nil, "sync", "run", "webcourse", "--dry-run", "--csv", csvPath, "--data", data)
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"plan (dry run, nothing changed)", "Courses to create (3):",
		`unique_field1  "Exemple name - Geography Course"  category 1`, "Enrolments to add (12):",
		"unique_field3  00000000023  editingteacher", "Missing users (no Moodle account) (1):",
		"00000000069  in unique_field1  as student", "Plan: 3 course(s) to create, 12 enrolment(s) to add", "Status: succeeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	// Not a terminal: one plain line per phase.
	if !strings.Contains(errOut, "source     1/1\n") || strings.Contains(errOut, "\r") {
		t.Errorf("progress on a pipe %q, want plain lines", errOut)
	}
	if b, err := os.ReadFile(csvPath); err != nil || string(b) != "username,course_shortname,role\r\n00000000069,unique_field1,student\r\n" {
		t.Errorf("CSV file %q, %v", b, err)
	}
	if len(ws.Courses()) != 0 {
		t.Fatal("a dry run created courses")
	}

	code, out, errOut = runCLI(t, nil, "sync", "run", "webcourse", "--data", data)
	if code != exitOK || !strings.Contains(out, "Applied: 3 course(s) created, 12 enrolment(s) added") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if len(ws.Courses()) != 3 {
		t.Fatalf("%d courses after apply", len(ws.Courses()))
	}
	ws.ResetCalls()
	code, out, _ = runCLI(t, nil, "sync", "run", "webcourse", "--data", data)
	if code != exitOK || !strings.Contains(out, "Nothing to change") || ws.Calls().Writes != 0 {
		t.Fatalf("second apply: exit %d, %d writes\n%s", code, ws.Calls().Writes, out)
	}

	// Through the API: a participant leaves, the hub's scheduler takes the queued apply and
	// suspends her.
	body.Store(strings.Replace(webcourseCourses, `{ "username": "00000000077" },`, "", 1))
	code, b := apiCall(t, "POST", hub+"api/v1/sync/webcourse/apply", nil)
	if code != http.StatusAccepted {
		t.Fatalf("apply through the API: %d %s", code, b)
	}
	var run mih.SyncRun
	json.Unmarshal(b, &run)
	deadline := time.Now().Add(15 * time.Second)
	for !run.Status.Done() {
		if time.Now().After(deadline) {
			t.Fatalf("queued run not taken: %+v", run)
		}
		time.Sleep(50 * time.Millisecond)
		_, b = apiCall(t, "GET", fmt.Sprintf("%sapi/v1/sync/runs/%d", hub, run.ID), nil)
		json.Unmarshal(b, &run)
	}
	if run.Status != mih.SyncSucceeded || run.Counts.Applied != (mih.SyncActionCounts{Suspend: 1}) || run.Trigger != mih.TriggerAPI {
		t.Fatalf("API run %+v", run)
	}
	geo, _ := ws.CourseByShortName("unique_field1")
	suspended := 0
	for _, e := range ws.Enrolments(geo.ID) {
		if e.Suspended {
			suspended++
			if e.Username != "00000000077" {
				t.Errorf("suspended %s, want 00000000077", e.Username)
			}
		}
	}
	if suspended != 1 {
		t.Errorf("%d suspended, want 1", suspended)
	}

	code, out, _ = runCLI(t, nil, "sync", "list", "--data", data)
	if code != exitOK || !strings.Contains(out, "webcourse") || !strings.Contains(out, "apply succeeded") {
		t.Errorf("sync list: exit %d\n%s", code, out)
	}

	// A source that fails is exit 1, and nothing is removed.
	status.Store(http.StatusInternalServerError)
	code, out, errOut = runCLI(t, nil, "sync", "run", "webcourse", "--data", data)
	if code != exitError || !strings.Contains(errOut, "500") || strings.Contains(out+errOut, "academic-secret-9f") {
		t.Errorf("failing source: exit %d\n%s\n%s", code, out, errOut)
	}
	status.Store(http.StatusOK)

	code, _, errOut = runCLI(t, nil, "sync", "run", "nope", "--data", data)
	if code != exitNotFound || !strings.Contains(errOut, `sync job "nope" not found`) {
		t.Errorf("unknown job: exit %d %q", code, errOut)
	}
	for _, args := range [][]string{{"sync"}, {"sync", "run"}, {"sync", "run", "a", "b"}, {"sync", "bogus"}, {"sync", "run", "--bogus", "x"}} {
		if code, _, _ := runCLI(t, nil, append(args, "--data", data)...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	var runs struct{ Items []mih.SyncRun }
	_, b = apiCall(t, "GET", hub+"api/v1/sync/webcourse/runs?trigger=cli", nil)
	json.Unmarshal(b, &runs)
	if len(runs.Items) != 4 {
		t.Errorf("%d CLI runs recorded, want 4", len(runs.Items))
	}
}

// Sync jobs in `mih apply` files: created after their site and service, unchanged the second
// time, checked before anything is written.
func TestCLI_ApplySync(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "hub.yaml")
	os.WriteFile(file, []byte(`sites:
  - name: main
    url: https://moodle.example.edu
    token: "${MOODLE_TOKEN}"
services:
  - name: academic
    type: rest
    base_url: https://sis.example.edu/api
    auth: {type: bearer, token: "${SIS_TOKEN}"}
sync:
  - name: webcourse
    site: main
    source_service: academic
    source_path: /courses
    category: SCI
    roles: {teacher: editingteacher, professor: editingteacher, aluno: student}
    removal: suspend
    schedule: "CRON_TZ=UTC 30 5 * * *"
`), 0o600)
	env := []string{"MOODLE_TOKEN=ws-0123456789abcdef", "SIS_TOKEN=sis-secret"}
	code, out, errOut := runCLI(t, env, "apply", "-f", file, "--data", data, "--dry-run")
	if code != exitOK || !strings.Contains(out, "sync job webcourse created (dry run)") {
		t.Fatalf("dry run: exit %d %q %q", code, out, errOut)
	}
	code, out, errOut = runCLI(t, env, "apply", "-f", file, "--data", data)
	if code != exitOK || !strings.Contains(out, "sync job webcourse created\n") {
		t.Fatalf("apply: exit %d %q %q", code, out, errOut)
	}
	if code, out, _ = runCLI(t, env, "apply", "-f", file, "--data", data); code != exitOK || !strings.Contains(out, "sync job webcourse unchanged") {
		t.Fatalf("second apply: exit %d %q", code, out)
	}
	st, err := openStore(context.Background(), &Config{Data: data}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	j, err := st.FindSyncJobByName(context.Background(), "webcourse")
	st.Close()
	if err != nil || j.Category.IDNumber != "SCI" || j.Roles["aluno"] != "student" || j.Removal != "suspend" || j.RoleIDs["student"] != 5 {
		t.Fatalf("stored job %+v, %v", j, err)
	}

	for _, tc := range []struct{ yaml, want string }{
		{"sync:\n  - {name: x, site: nope, source_service: academic, source_path: /c}\n", `site "nope" does not exist`},
		{"sync:\n  - {name: x, site: main, source_service: academic, source_path: /c, schedule: '99 * * * *'}\n", "schedule"},
		{"sync:\n  - {name: x, site: main, source_service: academic, source_path: /c, category: {id: 3}}\n", "category"},
		{"sync:\n  - {name: x, site: main, source_service: academic, source_path: /c, purge: true}\n", "purge"},
	} {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		os.WriteFile(bad, []byte(tc.yaml), 0o600)
		if code, out, errOut := runCLI(t, nil, "apply", "-f", bad, "--data", data); code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d %q %q; want exit 2 mentioning %q", tc.yaml, code, out, errOut, tc.want)
		}
	}
}

// On a terminal the progress is one line redrawn in place, cleared at the end.
func TestSyncProgress_Terminal(t *testing.T) {
	var b strings.Builder
	p := &progress{w: &b, tty: true}
	p.update(mih.SyncProgress{Phase: mih.PhaseEnrol, Done: 0, Total: 4})
	p.update(mih.SyncProgress{Phase: mih.PhaseEnrol, Done: 1, Total: 4}) // within 100 ms: not drawn
	p.update(mih.SyncProgress{Phase: mih.PhaseEnrol, Done: 4, Total: 4}) // the end of a phase always is
	p.finish()
	want := "\r\033[Kenrol      [" + strings.Repeat(".", 30) + "] 0/4" +
		"\r\033[Kenrol      [" + strings.Repeat("#", 30) + "] 4/4" + "\r\033[K"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

// On a pipe or in a log, a line at least every interval while a phase goes on, with the
// counts, the rate and the time left; a line when a phase ends.
func TestSyncProgress_Log(t *testing.T) {
	var mu sync.Mutex
	var b strings.Builder
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return b.Write(p) })
	clock := time.Unix(1000, 0)
	var cmu sync.Mutex
	now := func() time.Time { cmu.Lock(); defer cmu.Unlock(); return clock }
	advance := func(d time.Duration) { cmu.Lock(); clock = clock.Add(d); cmu.Unlock() }
	p := &progress{w: w, interval: 40 * time.Millisecond, now: now}
	p.start()
	p.update(mih.SyncProgress{Phase: mih.PhaseEnrol, Total: 1000})
	advance(20 * time.Second)
	p.update(mih.SyncProgress{Phase: mih.PhaseEnrol, Done: 400, Total: 1000})
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		s := b.String()
		mu.Unlock()
		if strings.Contains(s, "enrol      400/1000  20.0/s  about 30s left\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress line within 5 s: %q", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.update(mih.SyncProgress{Phase: mih.PhaseRoles, Total: 10})
	p.finish()
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasSuffix(b.String(), "enrol      400/1000  20.0/s  about 30s left\nroles      0/10\n") {
		t.Errorf("got %q: want the enrol line when the phase ends, and the roles line at the end", b.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// mih sync --help and each subcommand's --help print their usage and exit 0.
func TestCLI_SyncHelp(t *testing.T) {
	for _, args := range [][]string{{"sync", "--help"}, {"sync", "-h"}, {"sync", "run", "--help"}, {"sync", "list", "--help"}} {
		code, out, errOut := runCLI(t, nil, args...)
		if code != 0 || !strings.Contains(strings.ToLower(out), "usage: mih sync") {
			t.Errorf("%v: exit %d, %q %q", args, code, out, errOut)
		}
	}
	if code, _, _ := runCLI(t, nil, "sync", "nope"); code != exitUsage {
		t.Errorf("unknown sync command: exit %d, want %d", code, exitUsage)
	}
}
