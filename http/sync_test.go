package http

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/coursesync"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/moodle/moodletest"
	"github.com/mihhub/mih/transport/rest"
)

const academicToken = "acad-token-41c2e9"

// syncHub is a test hub with a Moodle site, an academic system registered as a REST service, and
// a scheduler taking the runs the API queues, as `mih serve` has.
type syncHub struct {
	*testHub
	ws     *moodletest.Server
	source atomic.Value // string: the body the academic system answers
	stop   func()
}

func newSyncHub(t *testing.T) *syncHub {
	h := &syncHub{testHub: newTestHub(t), ws: moodletest.NewServer(t, moodletest.Options{})}
	h.source.Store(`{"courses":[]}`)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+academicToken {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, h.source.Load().(string))
	}))
	t.Cleanup(src.Close)
	h.do("POST", "/api/v1/sites", map[string]any{"name": "main", "url": h.ws.URL, "token": h.ws.Token}).want(http.StatusCreated)
	h.do("POST", "/api/v1/services", map[string]any{"name": "academic", "type": "rest", "base_url": src.URL,
		"auth": map[string]any{"type": "bearer", "token": academicToken}, "max_retries": 0}).want(http.StatusCreated)

	tr := rest.New(rest.Options{MaxResponseBody: coursesync.DefaultMaxSourceBytes + 1})
	t.Cleanup(func() { tr.Close() })
	gw := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{})
	runner := coursesync.New(coursesync.Config{Store: h.store, Gateway: gw, Runner: "api-test"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- coursesync.NewScheduler(runner, coursesync.SchedulerOptions{Interval: 20 * time.Millisecond}).Run(ctx)
	}()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(h.stop)
	return h
}

func (h *syncHub) waitRun(id int64) *mih.SyncRun {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var run mih.SyncRun
		h.do("GET", fmt.Sprintf("/api/v1/sync/runs/%d", id), nil).want(http.StatusOK).decode(&run)
		if run.Status.Done() {
			return &run
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("run %d still %s at %+v", id, run.Status, run.Progress)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSync_JobsCRUD(t *testing.T) {
	h := newSyncHub(t)
	job := map[string]any{"name": "webcourse", "site": "main", "source_service": "academic", "source_path": "/courses",
		"category": 1, "match_field": "username", "roles": map[string]any{"teacher": "editingteacher", "professor": "editingteacher", "student": "student"},
		"default_role": "student", "role_ids": map[string]any{"editingteacher": 3, "teacher": 4, "student": 5}, "removal": "keep",
		"update_courses": true, "schedule": "@hourly", "enabled": true}
	r := h.do("POST", "/api/v1/sync", job).want(http.StatusCreated)
	if r.Header.Get("Location") != "/api/v1/sync/webcourse" {
		t.Errorf("Location %q", r.Header.Get("Location"))
	}
	var got mih.SyncJob
	r.decode(&got)
	if got.RoleIDs["manager"] != 1 || got.RoleIDs["student"] != 5 || got.Schedule != "@hourly" || !got.UpdateCourses || got.CreatedAt.IsZero() {
		t.Errorf("created %+v", got)
	}
	h.do("POST", "/api/v1/sync", job).want(http.StatusConflict)

	// Defaults, a category by idnumber.
	h.do("POST", "/api/v1/sync", map[string]any{"name": "minimal", "site": "main", "source_service": "academic",
		"source_path": "/other", "category": "SCI"}).want(http.StatusCreated).decode(&got)
	if got.Category.IDNumber != "SCI" || got.MatchField != "username" || got.Removal != "keep" || !got.Enabled || got.Roles["professor"] != "editingteacher" {
		t.Errorf("defaults %+v", got)
	}
	r = h.do("GET", "/api/v1/sync/minimal", nil).want(http.StatusOK)
	if !strings.Contains(string(r.Body), `"category":"SCI"`) {
		t.Errorf("category reads back as %s", r.Body)
	}
	var page struct {
		Items []mih.SyncJob `json:"items"`
		Next  string        `json:"next"`
	}
	h.do("GET", "/api/v1/sync?limit=1", nil).want(http.StatusOK).decode(&page)
	if len(page.Items) != 1 || page.Next == "" {
		t.Errorf("page %+v", page)
	}

	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"unknown site", map[string]any{"name": "x", "site": "nope", "source_service": "academic", "source_path": "/c"}, "does not exist: register the Moodle site"},
		{"unknown service", map[string]any{"name": "x", "site": "main", "source_service": "nope", "source_path": "/c"}, "register the academic system"},
		{"bad schedule", map[string]any{"name": "x", "site": "main", "source_service": "academic", "source_path": "/c", "schedule": "every day"}, "schedule"},
		{"cron out of range", map[string]any{"name": "x", "site": "main", "source_service": "academic", "source_path": "/c", "schedule": "0 25 * * *"}, "schedule"},
		{"reserved", map[string]any{"name": "runs", "site": "main", "source_service": "academic", "source_path": "/c"}, "reserved"},
		{"category object", map[string]any{"name": "x", "site": "main", "source_service": "academic", "source_path": "/c", "category": map[string]any{"id": 1}}, "category"},
		{"unknown field", map[string]any{"name": "x", "site": "main", "source_service": "academic", "source_path": "/c", "delete_courses": true}, "delete_courses"},
		{"removal", map[string]any{"name": "x", "site": "main", "source_service": "academic", "source_path": "/c", "removal": "purge"}, "removal"},
	} {
		r := h.do("POST", "/api/v1/sync", tc.body)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), tc.want) {
			t.Errorf("%s: %d %s, want 400 mentioning %q", tc.name, r.Status, r.Body, tc.want)
		}
	}

	job["removal"] = "suspend"
	delete(job, "name")
	h.do("PUT", "/api/v1/sync/webcourse", job).want(http.StatusOK).decode(&got)
	if got.Removal != "suspend" || got.Name != "webcourse" {
		t.Errorf("updated %+v", got)
	}
	job["name"] = "renamed"
	h.do("PUT", "/api/v1/sync/webcourse", job).want(http.StatusBadRequest)
	h.do("PUT", "/api/v1/sync/nope", job).want(http.StatusNotFound)
	h.do("DELETE", "/api/v1/sync/minimal", nil).want(http.StatusNoContent)
	h.do("GET", "/api/v1/sync/minimal", nil).want(http.StatusNotFound)
}

// Plan, apply, the run with its progress and report, the runs of the job and the CSV, all
// through the API, with the scheduler taking the queued runs.
func TestSync_PlanApplyRuns(t *testing.T) {
	h := newSyncHub(t)
	for _, u := range []string{"alice", "bob"} {
		h.ws.AddUser(moodletest.User{Username: u, FirstName: u, LastName: "X", Email: u + "@x.edu"})
	}
	h.source.Store(`{"courses":[{"shortname":"GEO","name":"Geography","participants":[{"username":"alice"},{"username":"bob","roleid":"professor"},{"username":"zoe, \"z\""}]}]}`)
	h.do("POST", "/api/v1/sync", map[string]any{"name": "webcourse", "site": "main", "source_service": "academic",
		"source_path": "/courses", "removal": "unenrol"}).want(http.StatusCreated)

	r := h.do("POST", "/api/v1/sync/webcourse/plan", nil).want(http.StatusOK)
	var plan syncRunDoc
	r.decode(&plan)
	if plan.Kind != mih.SyncPlanOnly || plan.Status != mih.SyncSucceeded || plan.Plan == nil || len(plan.Plan.Create) != 1 ||
		len(plan.Plan.Enrol) != 2 || plan.Counts.MissingUsers != 1 || plan.MissingCSVURL != fmt.Sprintf("/api/v1/sync/runs/%d/missing.csv", plan.ID) {
		t.Fatalf("plan run %+v", plan)
	}
	if len(h.ws.Courses()) != 0 {
		t.Fatal("planning created a course")
	}
	r = h.do("GET", plan.MissingCSVURL, nil).want(http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || string(r.Body) != "username,course_shortname,role\r\n\"zoe, \"\"z\"\"\",GEO,student\r\n" {
		t.Errorf("CSV %q as %q", r.Body, ct)
	}
	if !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("Content-Disposition %q", r.Header.Get("Content-Disposition"))
	}

	// An apply confirmed against another plan changes nothing.
	r = h.do("POST", "/api/v1/sync/webcourse/apply", map[string]any{"expect": "0000"}).want(http.StatusAccepted)
	var queued syncRunDoc
	r.decode(&queued)
	if queued.Status != mih.SyncQueued || queued.Progress.Phase != mih.PhaseQueued || r.Header.Get("Location") != runPath(queued.ID) {
		t.Errorf("queued run %+v, Location %q", queued, r.Header.Get("Location"))
	}
	if run := h.waitRun(queued.ID); run.Status != mih.SyncFailed || run.ErrorCode != mih.CodeConflict || len(h.ws.Courses()) != 0 {
		t.Fatalf("apply with a stale fingerprint: %+v", run)
	}

	h.do("POST", "/api/v1/sync/webcourse/apply", map[string]any{"expect": plan.Plan.Fingerprint}).want(http.StatusAccepted).decode(&queued)
	run := h.waitRun(queued.ID)
	if run.Status != mih.SyncSucceeded || run.Counts.Applied != (mih.SyncActionCounts{Create: 1, Enrol: 2}) || run.Progress.Phase != mih.PhaseDone {
		t.Fatalf("apply run %+v", run)
	}
	geo, ok := h.ws.CourseByShortName("GEO")
	if !ok || len(h.ws.Enrolments(geo.ID)) != 2 {
		t.Fatalf("Moodle after apply: %+v", geo)
	}

	// ?wait makes an apply answer with the finished run.
	r = h.do("POST", "/api/v1/sync/webcourse/apply?wait=20", nil).want(http.StatusOK)
	var again syncRunDoc
	r.decode(&again)
	if again.Status != mih.SyncSucceeded || again.Counts.Planned.Total() != 0 {
		t.Errorf("second apply %+v", again)
	}

	var runs struct {
		Items []syncRunDoc `json:"items"`
		Next  string       `json:"next"`
	}
	h.do("GET", "/api/v1/sync/webcourse/runs", nil).want(http.StatusOK).decode(&runs)
	if len(runs.Items) != 4 || runs.Items[0].ID != again.ID || runs.Items[3].ID != plan.ID || runs.Items[0].Plan != nil {
		t.Errorf("runs %+v", runs.Items)
	}
	h.do("GET", "/api/v1/sync/webcourse/runs?status=failed", nil).want(http.StatusOK).decode(&runs)
	if len(runs.Items) != 1 || runs.Items[0].ErrorCode != mih.CodeConflict {
		t.Errorf("failed runs %+v", runs.Items)
	}
	h.do("GET", "/api/v1/sync/webcourse/runs?status=bogus", nil).want(http.StatusBadRequest)
	h.do("GET", "/api/v1/sync/webcourse/runs?trigger=api&limit=2", nil).want(http.StatusOK).decode(&runs)
	if len(runs.Items) != 2 || runs.Next == "" {
		t.Errorf("page of 2: %d items, next %q", len(runs.Items), runs.Next)
	}
	h.do("GET", "/api/v1/sync/nope/runs", nil).want(http.StatusNotFound)
	h.do("GET", "/api/v1/sync/webcourse/bogus", nil).want(http.StatusNotFound)
	r = h.do("GET", "/api/v1/sync/webcourse/plan", nil).want(http.StatusMethodNotAllowed)
	if r.Header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.Header.Get("Allow"))
	}
	h.do("GET", "/api/v1/sync/runs/999999", nil).want(http.StatusNotFound)
	h.do("GET", "/api/v1/sync/runs/abc", nil).want(http.StatusNotFound)
	h.do("GET", "/api/v1/sync/runs/999999/missing.csv", nil).want(http.StatusNotFound)
	h.do("POST", "/api/v1/sync/nope/plan", nil).want(http.StatusNotFound)
	h.do("POST", "/api/v1/sync/webcourse/plan", map[string]any{"expect": "x"}).want(http.StatusBadRequest)
	h.do("POST", "/api/v1/sync/webcourse/plan?wait=soon", nil).want(http.StatusBadRequest)

	// A run without missing users serves the header alone.
	r = h.do("GET", fmt.Sprintf("/api/v1/sync/runs/%d/missing.csv", again.ID-1), nil).want(http.StatusOK)
	if !strings.HasPrefix(string(r.Body), "username,course_shortname,role\r\n") {
		t.Errorf("CSV %q", r.Body)
	}
	for _, s := range []string{academicToken, h.ws.Token} {
		for _, id := range []int64{plan.ID, run.ID} {
			if b := h.do("GET", runPath(id), nil).Body; strings.Contains(string(b), s) {
				t.Errorf("run %d shows a secret", id)
			}
		}
	}
}

// Without a process taking queued runs, a plan answers 202 when its wait is up; a job with a
// run waiting cannot be deleted; a disabled job is not applied.
func TestSync_QueuedAndDisabled(t *testing.T) {
	h := newSyncHub(t)
	h.stop()
	h.do("POST", "/api/v1/sync", map[string]any{"name": "webcourse", "site": "main", "source_service": "academic",
		"source_path": "/courses"}).want(http.StatusCreated)
	start := time.Now()
	var run syncRunDoc
	h.do("POST", "/api/v1/sync/webcourse/plan?wait=0.3", nil).want(http.StatusAccepted).decode(&run)
	if run.Status != mih.SyncQueued || time.Since(start) < 300*time.Millisecond {
		t.Errorf("run %+v after %v", run, time.Since(start))
	}
	r := h.do("DELETE", "/api/v1/sync/webcourse", nil).want(http.StatusConflict)
	if !strings.Contains(string(r.Body), "queued") {
		t.Errorf("delete refusal %s", r.Body)
	}
	h.do("PUT", "/api/v1/sync/webcourse", map[string]any{"site": "main", "source_service": "academic",
		"source_path": "/courses", "enabled": false}).want(http.StatusOK)
	r = h.do("POST", "/api/v1/sync/webcourse/apply", nil).want(http.StatusConflict)
	if !strings.Contains(string(r.Body), "disabled") {
		t.Errorf("apply of a disabled job %s", r.Body)
	}
}
