package storetest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

var syncTests = []test{
	{"JobCreateFind", testSyncJobCreateFind},
	{"JobErrNotFound", testSyncJobNotFound},
	{"JobConflict", testSyncJobConflict},
	{"JobInvalid", testSyncJobInvalid},
	{"JobUpdate", testSyncJobUpdate},
	{"JobDeleteWithRuns", testSyncJobDelete},
	{"RunLifecycle", testSyncRunLifecycle},
	{"RunErrNotFound", testSyncRunNotFound},
	{"RunStartExclusive", testSyncRunStartExclusive},
	{"RunList", testSyncRunList},
	{"RunAbandon", testSyncRunAbandon},
	{"RunPrune", testSyncRunPrune},
	{"RunPlanCut", testSyncRunPlanCut},
}

// NewSyncJob returns a valid job of the shape local_webcourse's documentation gives (docs/sync.md).
func NewSyncJob(name string) *mih.SyncJob {
	j := mih.NewSyncJob()
	j.Name = name
	j.Site = "main"
	j.SourceService = "academic"
	j.SourcePath = "/courses"
	j.Removal = mih.RemovalSuspend
	j.Schedule = "@hourly"
	j.UpdateCourses = true
	return j
}

func testSyncJobCreateFind(t *testing.T, s mih.Store) {
	ctx := t.Context()
	j := NewSyncJob("webcourse")
	j.RoleIDs = map[string]int64{"student": 10}
	ok(t, s.CreateSyncJob(ctx, j))
	got := must[*mih.SyncJob](t)(s.FindSyncJobByName(ctx, "webcourse"))
	wantUTC(t, "created_at", got.CreatedAt)
	if !got.CreatedAt.Equal(j.CreatedAt) || !got.UpdatedAt.Equal(j.UpdatedAt) {
		t.Errorf("times: got %v/%v, want %v/%v", got.CreatedAt, got.UpdatedAt, j.CreatedAt, j.UpdatedAt)
	}
	// The defaults are filled in: category 1, username, the standard mapping; role_ids keeps the
	// given id and the standard ones for the rest.
	if got.Category != (mih.SyncCategory{ID: 1}) || got.MatchField != mih.MatchUsername || got.DefaultRole != "student" ||
		got.Removal != mih.RemovalSuspend || got.Schedule != "@hourly" || !got.Enabled || !got.UpdateCourses {
		t.Errorf("stored job %+v", got)
	}
	if !maps.Equal(got.Roles, mih.DefaultSyncRoles()) {
		t.Errorf("roles %v, want the defaults", got.Roles)
	}
	if got.RoleIDs["student"] != 10 || got.RoleIDs["editingteacher"] != 3 || got.RoleIDs["manager"] != 1 {
		t.Errorf("role_ids %v, want student 10 and the standard ids for the rest", got.RoleIDs)
	}

	idn := NewSyncJob("by-idnumber")
	idn.Category = mih.SyncCategory{IDNumber: "SCI"}
	idn.Roles = map[string]string{" Docente ": "editingteacher", "Aluno": "student"}
	ok(t, s.CreateSyncJob(ctx, idn))
	got = must[*mih.SyncJob](t)(s.FindSyncJobByName(ctx, "by-idnumber"))
	if got.Category.IDNumber != "SCI" || got.Category.ID != 0 {
		t.Errorf("category %+v, want idnumber SCI", got.Category)
	}
	if !maps.Equal(got.Roles, map[string]string{"docente": "editingteacher", "aluno": "student"}) {
		t.Errorf("roles %v: a given mapping replaces the defaults, names lowercased", got.Roles)
	}
	jobs := must[[]*mih.SyncJob](t)(s.FindSyncJobs(ctx))
	if len(jobs) != 2 || jobs[0].Name != "by-idnumber" || jobs[1].Name != "webcourse" {
		t.Errorf("FindSyncJobs: got %d jobs, want by-idnumber and webcourse", len(jobs))
	}
}

func testSyncJobNotFound(t *testing.T, s mih.Store) {
	ctx := t.Context()
	_, err := s.FindSyncJobByName(ctx, "nope")
	wantCode(t, err, mih.CodeNotFound)
	wantCode(t, s.UpdateSyncJob(ctx, NewSyncJob("nope")), mih.CodeNotFound)
	wantCode(t, s.DeleteSyncJob(ctx, "nope"), mih.CodeNotFound)
}

func testSyncJobConflict(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("webcourse")))
	wantCode(t, s.CreateSyncJob(ctx, NewSyncJob("webcourse")), mih.CodeConflict)
}

func testSyncJobInvalid(t *testing.T, s mih.Store) {
	ctx := t.Context()
	for name, mut := range map[string]func(*mih.SyncJob){
		"name":              func(j *mih.SyncJob) { j.Name = "Web Course" },
		"site":              func(j *mih.SyncJob) { j.Site = "" },
		"service":           func(j *mih.SyncJob) { j.SourceService = "" },
		"path":              func(j *mih.SyncJob) { j.SourcePath = "courses" },
		"path newline":      func(j *mih.SyncJob) { j.SourcePath = "/courses\r\nX-Evil: 1" },
		"match":             func(j *mih.SyncJob) { j.MatchField = "firstname" },
		"removal":           func(j *mih.SyncJob) { j.Removal = "delete" },
		"role target":       func(j *mih.SyncJob) { j.Roles = map[string]string{"teacher": "headmaster"} },
		"default role":      func(j *mih.SyncJob) { j.DefaultRole = "pupil" },
		"role id":           func(j *mih.SyncJob) { j.RoleIDs = map[string]int64{"student": 0} },
		"schedule":          func(j *mih.SyncJob) { j.Schedule = "every hour" },
		"category both":     func(j *mih.SyncJob) { j.Category = mih.SyncCategory{ID: 2, IDNumber: "X"} },
		"category negative": func(j *mih.SyncJob) { j.Category = mih.SyncCategory{ID: -3} },
	} {
		j := NewSyncJob("webcourse")
		mut(j)
		if err := s.CreateSyncJob(ctx, j); mih.ErrorCode(err) != mih.CodeInvalid {
			t.Errorf("%s: got %v, want code invalid", name, err)
		}
	}
	if jobs := must[[]*mih.SyncJob](t)(s.FindSyncJobs(ctx)); len(jobs) != 0 {
		t.Errorf("invalid jobs were stored: %d", len(jobs))
	}
}

func testSyncJobUpdate(t *testing.T, s mih.Store) {
	ctx := t.Context()
	j := NewSyncJob("webcourse")
	ok(t, s.CreateSyncJob(ctx, j))
	time.Sleep(2 * time.Millisecond)
	edit := NewSyncJob("webcourse")
	edit.Removal = mih.RemovalUnenrol
	edit.Enabled = false
	edit.Schedule = "30 6 * * 1-5"
	ok(t, s.UpdateSyncJob(ctx, edit))
	got := must[*mih.SyncJob](t)(s.FindSyncJobByName(ctx, "webcourse"))
	if got.Removal != mih.RemovalUnenrol || got.Enabled || got.Schedule != "30 6 * * 1-5" {
		t.Errorf("updated job %+v", got)
	}
	if !got.CreatedAt.Equal(j.CreatedAt) || !got.UpdatedAt.After(got.CreatedAt) {
		t.Errorf("times: created %v updated %v, want created kept and updated later", got.CreatedAt, got.UpdatedAt)
	}
}

func testSyncJobDelete(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("webcourse")))
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("other")))
	r := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Status: mih.SyncQueued}
	ok(t, s.CreateSyncRun(ctx, r))
	keep := &mih.SyncRun{Job: "other", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Status: mih.SyncQueued}
	ok(t, s.CreateSyncRun(ctx, keep))
	ok(t, s.DeleteSyncJob(ctx, "webcourse"))
	_, err := s.FindSyncJobByName(ctx, "webcourse")
	wantCode(t, err, mih.CodeNotFound)
	_, err = s.FindSyncRunByID(ctx, r.ID)
	wantCode(t, err, mih.CodeNotFound)
	must[*mih.SyncRun](t)(s.FindSyncRunByID(ctx, keep.ID))
}

func samplePlan() *mih.SyncPlan {
	visible := true
	return &mih.SyncPlan{
		Fingerprint: "f1",
		Create:      []mih.SyncCourse{{ShortName: "PHY1", FullName: "Physics", CategoryID: 1, Visible: &visible}},
		Update: []mih.SyncCourseUpdate{{CourseID: 7, ShortName: "GEO1",
			Changes: []mih.SyncFieldChange{{Field: "fullname", From: "Geo", To: "Geography"}}}},
		Enrol:       []mih.SyncEnrolment{{Course: "PHY1", User: "00000000023", UserID: 5, Role: "editingteacher", RoleID: 3}},
		Reactivate:  []mih.SyncEnrolment{},
		RoleChanges: []mih.SyncRoleChange{{Course: "GEO1", CourseID: 7, User: "u1", UserID: 9, Add: []mih.SyncRole{{ID: 3, ShortName: "editingteacher"}}}},
		Suspend:     []mih.SyncEnrolment{},
		Unenrol:     []mih.SyncEnrolment{},
		Missing:     []mih.SyncMissingUser{{User: "00000000069", Course: "GEO1", Role: "student"}},
		UnknownRole: []mih.SyncUnknownRole{},
		Invalid:     []mih.SyncInvalidItem{{Index: 3, Reason: "shortname: empty"}},
		Warnings:    []string{},
	}
}

func testSyncRunLifecycle(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("webcourse")))
	r := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Status: mih.SyncQueued,
		Expect: "abc", Progress: mih.SyncProgress{Phase: mih.PhaseQueued}}
	ok(t, s.CreateSyncRun(ctx, r))
	if r.ID == 0 {
		t.Fatal("no id")
	}
	wantUTC(t, "created_at", r.CreatedAt)
	got := must[*mih.SyncRun](t)(s.FindSyncRunByID(ctx, r.ID))
	if got.Status != mih.SyncQueued || got.Expect != "abc" || got.StartedAt != nil || got.Plan != nil || got.Runner != "" {
		t.Errorf("queued run %+v", got)
	}

	t0 := base()
	ok(t, s.StartSyncRun(ctx, r.ID, "p1", t0))
	wantCode(t, s.StartSyncRun(ctx, r.ID, "p2", t0), mih.CodeConflict)
	wantCode(t, s.SetSyncRunProgress(ctx, r.ID, "p2", mih.SyncProgress{Phase: mih.PhaseEnrol}), mih.CodeConflict)
	ok(t, s.SetSyncRunProgress(ctx, r.ID, "p1", mih.SyncProgress{Phase: mih.PhaseEnrol, Done: 3, Total: 40}))
	got = must[*mih.SyncRun](t)(s.FindSyncRunByID(ctx, r.ID))
	if got.Status != mih.SyncRunning || got.Runner != "p1" || got.Progress != (mih.SyncProgress{Phase: mih.PhaseEnrol, Done: 3, Total: 40}) {
		t.Errorf("running run %+v", got)
	}
	wantTime(t, "started_at", *got.StartedAt, t0)

	csv := []byte("username,course_shortname,role\r\n00000000069,GEO1,student\r\n")
	done := &mih.SyncRun{ID: r.ID, Runner: "p2", Status: mih.SyncPartial}
	wantCode(t, s.FinishSyncRun(ctx, done), mih.CodeConflict) // not p2's run
	done = &mih.SyncRun{ID: r.ID, Runner: "p1", Status: mih.SyncPartial,
		Progress: mih.SyncProgress{Phase: mih.PhaseDone},
		Counts: mih.SyncCounts{SourceCourses: 3, SourceParticipants: 13, MissingUsers: 1, Failed: 1,
			Planned: mih.SyncActionCounts{Create: 1, Enrol: 1}, Applied: mih.SyncActionCounts{Enrol: 1}},
		Plan:       samplePlan(),
		Errors:     []mih.SyncItemError{{Action: "create", Course: "PHY1", Code: "shortnametaken", Message: "Short name is already used"}},
		MissingCSV: csv,
	}
	ok(t, s.FinishSyncRun(ctx, done))
	wantCode(t, s.FinishSyncRun(ctx, done), mih.CodeConflict) // finished once
	got = must[*mih.SyncRun](t)(s.FindSyncRunByID(ctx, r.ID))
	if got.Status != mih.SyncPartial || got.Counts != done.Counts || got.FinishedAt == nil || len(got.Errors) != 1 ||
		got.Errors[0] != done.Errors[0] || got.Plan == nil || got.Plan.Fingerprint != "f1" || len(got.Plan.Create) != 1 ||
		!*got.Plan.Create[0].Visible || got.Plan.Missing[0] != done.Plan.Missing[0] || got.Plan.Truncated {
		t.Errorf("finished run %+v", got)
	}
	wantUTC(t, "finished_at", *got.FinishedAt)
	if string(must[[]byte](t)(s.FindSyncRunCSV(ctx, r.ID))) != string(csv) {
		t.Error("the CSV did not come back as stored")
	}

	// A failed run keeps why.
	f := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncPlanOnly, Trigger: mih.TriggerCLI, Status: mih.SyncRunning, Runner: "cli"}
	ok(t, s.CreateSyncRun(ctx, f))
	if f.StartedAt == nil {
		t.Error("a run created running has no started_at")
	}
	f.Status, f.ErrorCode, f.Error = mih.SyncFailed, mih.CodeUnavailable, "source academic answered 500"
	ok(t, s.FinishSyncRun(ctx, f))
	got = must[*mih.SyncRun](t)(s.FindSyncRunByID(ctx, f.ID))
	if got.Status != mih.SyncFailed || got.ErrorCode != mih.CodeUnavailable || got.Error != f.Error || got.Plan != nil {
		t.Errorf("failed run %+v", got)
	}
	if b := must[[]byte](t)(s.FindSyncRunCSV(ctx, f.ID)); len(b) != 0 {
		t.Errorf("a run without missing users has CSV %q", b)
	}
	wantCode(t, s.CreateSyncRun(ctx, &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Status: mih.SyncSucceeded}), mih.CodeInvalid)
	wantCode(t, s.CreateSyncRun(ctx, &mih.SyncRun{Job: "webcourse", Kind: "delete", Status: mih.SyncQueued}), mih.CodeInvalid)
	wantCode(t, s.FinishSyncRun(ctx, &mih.SyncRun{ID: f.ID, Runner: "cli", Status: mih.SyncRunning}), mih.CodeInvalid)
}

func testSyncRunNotFound(t *testing.T, s mih.Store) {
	ctx := t.Context()
	err := s.CreateSyncRun(ctx, &mih.SyncRun{Job: "nope", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Status: mih.SyncQueued})
	wantCode(t, err, mih.CodeNotFound)
	_, err = s.FindSyncRunByID(ctx, 424242)
	wantCode(t, err, mih.CodeNotFound)
	_, err = s.FindSyncRunCSV(ctx, 424242)
	wantCode(t, err, mih.CodeNotFound)
	wantCode(t, s.StartSyncRun(ctx, 424242, "p1", base()), mih.CodeNotFound)
	wantCode(t, s.SetSyncRunProgress(ctx, 424242, "p1", mih.SyncProgress{}), mih.CodeNotFound)
}

// Processes polling for queued runs race for each; exactly one starts it.
func testSyncRunStartExclusive(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("webcourse")))
	r := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Status: mih.SyncQueued}
	ok(t, s.CreateSyncRun(ctx, r))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []string
	)
	for i := range 6 {
		wg.Go(func() {
			runner := fmt.Sprintf("p%d", i)
			err := s.StartSyncRun(ctx, r.ID, runner, base())
			switch mih.ErrorCode(err) {
			case "":
				mu.Lock()
				wins = append(wins, runner)
				mu.Unlock()
			case mih.CodeConflict:
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("winners %v, want exactly one", wins)
	}
	if got := must[*mih.SyncRun](t)(s.FindSyncRunByID(ctx, r.ID)); got.Runner != wins[0] {
		t.Errorf("runner %q, want the winner %q", got.Runner, wins[0])
	}
}

func testSyncRunList(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("a")))
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("b")))
	var ids []int64
	t0 := base()
	for i := range 5 {
		job, trig := "a", mih.TriggerAPI
		if i%2 == 1 {
			job, trig = "b", mih.TriggerSchedule
		}
		at := t0.Add(time.Duration(i) * time.Minute)
		r := &mih.SyncRun{Job: job, Kind: mih.SyncApply, Trigger: trig, Status: mih.SyncRunning, Runner: "p1", ScheduledAt: &at}
		ok(t, s.CreateSyncRun(ctx, r))
		ids = append(ids, r.ID)
	}
	done := &mih.SyncRun{ID: ids[0], Runner: "p1", Status: mih.SyncSucceeded, Plan: samplePlan()}
	ok(t, s.FinishSyncRun(ctx, done))

	idsOf := func(rs []*mih.SyncRun) []int64 {
		out := make([]int64, len(rs))
		for i, r := range rs {
			out[i] = r.ID
			if r.Plan != nil || r.Errors != nil {
				t.Errorf("run %d listed with its plan or errors", r.ID)
			}
		}
		return out
	}
	all, next, err := s.FindSyncRuns(ctx, mih.SyncRunFilter{})
	ok(t, err)
	if want := []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}; !slices.Equal(idsOf(all), want) || next != "" {
		t.Errorf("all: got %v next %q, want %v newest first", idsOf(all), next, want)
	}
	wantTime(t, "scheduled_at", *all[0].ScheduledAt, t0.Add(4*time.Minute))
	a, _, err := s.FindSyncRuns(ctx, mih.SyncRunFilter{Job: "a"})
	ok(t, err)
	if want := []int64{ids[4], ids[2], ids[0]}; !slices.Equal(idsOf(a), want) {
		t.Errorf("job a: got %v, want %v", idsOf(a), want)
	}
	running, _, err := s.FindSyncRuns(ctx, mih.SyncRunFilter{Job: "a", Status: []mih.SyncRunStatus{mih.SyncRunning, mih.SyncQueued}})
	ok(t, err)
	if want := []int64{ids[4], ids[2]}; !slices.Equal(idsOf(running), want) {
		t.Errorf("job a running: got %v, want %v", idsOf(running), want)
	}
	sched, _, err := s.FindSyncRuns(ctx, mih.SyncRunFilter{Trigger: mih.TriggerSchedule})
	ok(t, err)
	if want := []int64{ids[3], ids[1]}; !slices.Equal(idsOf(sched), want) {
		t.Errorf("scheduled: got %v, want %v", idsOf(sched), want)
	}
	p1, next, err := s.FindSyncRuns(ctx, mih.SyncRunFilter{Limit: 2})
	ok(t, err)
	p2, next2, err := s.FindSyncRuns(ctx, mih.SyncRunFilter{Limit: 2, Cursor: next})
	ok(t, err)
	p3, next3, err := s.FindSyncRuns(ctx, mih.SyncRunFilter{Limit: 2, Cursor: next2})
	ok(t, err)
	if got := append(append(idsOf(p1), idsOf(p2)...), idsOf(p3)...); !slices.Equal(got, idsOf(all)) || next3 != "" {
		t.Errorf("pages: got %v (last next %q), want %v", got, next3, idsOf(all))
	}
	_, _, err = s.FindSyncRuns(ctx, mih.SyncRunFilter{Cursor: "x"})
	wantCode(t, err, mih.CodeInvalid)
}

func testSyncRunAbandon(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("webcourse")))
	dead := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerSchedule, Status: mih.SyncRunning, Runner: "gone"}
	ok(t, s.CreateSyncRun(ctx, dead))
	mine := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerSchedule, Status: mih.SyncRunning, Runner: "me"}
	ok(t, s.CreateSyncRun(ctx, mine))
	queued := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Status: mih.SyncQueued}
	ok(t, s.CreateSyncRun(ctx, queued))
	n := must[int](t)(s.AbandonSyncRuns(ctx, "webcourse", "me", "interrupted: the process running it stopped", base()))
	if n != 1 {
		t.Errorf("abandoned %d runs, want 1", n)
	}
	got := must[*mih.SyncRun](t)(s.FindSyncRunByID(ctx, dead.ID))
	if got.Status != mih.SyncFailed || got.Error == "" || got.FinishedAt == nil || got.Progress.Phase != mih.PhaseInterrupted {
		t.Errorf("abandoned run %+v", got)
	}
	for _, r := range []*mih.SyncRun{mine, queued} {
		if got := must[*mih.SyncRun](t)(s.FindSyncRunByID(ctx, r.ID)); got.Status != r.Status {
			t.Errorf("run %d: status %s, want %s untouched", r.ID, got.Status, r.Status)
		}
	}
}

func testSyncRunPrune(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("webcourse")))
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("other")))
	var finished []int64
	for range 5 {
		r := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerSchedule, Status: mih.SyncRunning, Runner: "p"}
		ok(t, s.CreateSyncRun(ctx, r))
		r.Status = mih.SyncSucceeded
		ok(t, s.FinishSyncRun(ctx, r))
		finished = append(finished, r.ID)
	}
	queued := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Status: mih.SyncQueued}
	ok(t, s.CreateSyncRun(ctx, queued))
	other := &mih.SyncRun{Job: "other", Kind: mih.SyncApply, Trigger: mih.TriggerSchedule, Status: mih.SyncRunning, Runner: "p"}
	ok(t, s.CreateSyncRun(ctx, other))
	other.Status = mih.SyncFailed
	ok(t, s.FinishSyncRun(ctx, other))

	if n := must[int](t)(s.PruneSyncRuns(ctx, "webcourse", 2)); n != 3 {
		t.Errorf("pruned %d, want 3", n)
	}
	left, _, err := s.FindSyncRuns(ctx, mih.SyncRunFilter{Job: "webcourse"})
	ok(t, err)
	var ids []int64
	for _, r := range left {
		ids = append(ids, r.ID)
	}
	if want := []int64{queued.ID, finished[4], finished[3]}; !slices.Equal(ids, want) {
		t.Errorf("left %v, want %v", ids, want)
	}
	must[*mih.SyncRun](t)(s.FindSyncRunByID(ctx, other.ID))
	if n := must[int](t)(s.PruneSyncRuns(ctx, "webcourse", 2)); n != 0 {
		t.Errorf("second prune deleted %d, want 0", n)
	}
}

// A large plan is stored with its lists cut, marked, while the counts stay exact.
func testSyncRunPlanCut(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateSyncJob(ctx, NewSyncJob("webcourse")))
	r := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncPlanOnly, Trigger: mih.TriggerAPI, Status: mih.SyncRunning, Runner: "p"}
	ok(t, s.CreateSyncRun(ctx, r))
	plan := samplePlan()
	for i := range mih.SyncStoredItems + 10 {
		plan.Enrol = append(plan.Enrol, mih.SyncEnrolment{Course: "BIG", User: fmt.Sprintf("u%05d", i), UserID: int64(i + 10), Role: "student", RoleID: 5})
	}
	r.Plan, r.Status = plan, mih.SyncSucceeded
	r.Counts.Planned = plan.Counts()
	ok(t, s.FinishSyncRun(ctx, r))
	got := must[*mih.SyncRun](t)(s.FindSyncRunByID(ctx, r.ID))
	if len(got.Plan.Enrol) != mih.SyncStoredItems || !got.Plan.Truncated || got.Counts.Planned.Enrol != mih.SyncStoredItems+11 {
		t.Errorf("stored %d enrolments (truncated %v), counts %d", len(got.Plan.Enrol), got.Plan.Truncated, got.Counts.Planned.Enrol)
	}
	if len(plan.Enrol) != mih.SyncStoredItems+11 {
		t.Error("storing the plan cut the caller's plan")
	}
}
