package coursesync

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
)

// withTimeout gives the site's client a short timeout, and the job the same.
func withTimeout(d time.Duration) fixtureOption {
	return func(c *Config) {
		c.Client = func(site *mih.Site) (*moodle.Client, error) {
			return moodle.New(site.URL, site.Token, moodle.Options{Timeout: d})
		}
		c.Timeout = d
	}
}

// coursesSource is n courses, each with the given participants.
func coursesSource(n int, participants ...string) []any {
	var list []any
	for i := range n {
		var parts []any
		for _, p := range participants {
			parts = append(parts, map[string]any{"username": p})
		}
		list = append(list, map[string]any{"shortname": fmt.Sprintf("C%04d", i), "name": fmt.Sprintf("Course %d", i), "participants": parts})
	}
	return list
}

// Course creation gets slower as the category fills (Moodle on PostgreSQL rewrites every
// course of the category for each new one): fixed batches of 100 end up over the timeout,
// where batches sized by how long Moodle takes go through, and every course is created once.
func TestApply_CategoryFillsUp(t *testing.T) {
	if testing.Short() {
		t.Skip("slow on purpose")
	}
	const n = 400
	f := newFixture(t, nil, withTimeout(300*time.Millisecond))
	f.ws.SetCreateCost(0, 20*time.Microsecond)
	f.src.setJSON(t, coursesSource(n))
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	if run.Counts.Applied.Create != n || len(f.ws.Courses()) != n || len(run.Errors) != 0 {
		t.Fatalf("applied %+v, %d courses in Moodle, errors %v; want %d", run.Counts.Applied, len(f.ws.Courses()), run.Errors, n)
	}
	t.Logf("%d create calls", f.ws.Calls().ByFunction[moodle.FuncCreateCourses])
	f.noChanges()
}

// A call that times out but that Moodle carries out to the end a little later: its courses
// are found by reading Moodle, counted as created, not sent again and not reported as failed.
// With the site's database, the courses are read back in one query instead of a call each.
func TestApply_TimeoutCompletesLate(t *testing.T) {
	for _, viaDB := range []bool{false, true} {
		t.Run(fmt.Sprintf("database=%v", viaDB), func(t *testing.T) {
			const n = 30
			db := &siteDB{}
			f := newFixture(t, nil, withTimeout(300*time.Millisecond), withSiteDB(&db))
			if viaDB {
				f.giveSiteDB(db)
			}
			f.users("alice")
			// The first batch (10 courses) takes 500 ms, over the timeout.
			f.ws.SetCreateCost(50*time.Millisecond, 0)
			f.src.setJSON(t, coursesSource(n, "alice"))
			run := f.run(mih.SyncApply)
			wantStatus(t, run, mih.SyncSucceeded)
			if run.Counts.Applied.Create != n || run.Counts.Applied.Enrol != n || len(run.Errors) != 0 {
				t.Fatalf("applied %+v, errors %v; want %d courses and enrolments", run.Counts.Applied, run.Errors, n)
			}
			if got := len(f.ws.Courses()); got != n {
				t.Fatalf("%d courses in Moodle, want %d", got, n)
			}
			byName := f.ws.Calls().ByFunction[moodle.FuncCoursesByField]
			switch {
			case viaDB && byName != 0:
				t.Errorf("%d %s calls: want the courses read back from the database", byName, moodle.FuncCoursesByField)
			case !viaDB && byName < 10:
				t.Errorf("%d %s calls: want the timed-out batch read back course by course", byName, moodle.FuncCoursesByField)
			}
			f.noChanges()
		})
	}
}

// A site whose mail fails: Moodle commits the enrolments, then the welcome message throws and
// the call answers an exception. The enrolments are read back and counted as made, in a few
// calls rather than one per enrolment, and nothing is reported as failed.
func TestApply_ExceptionAfterCommit(t *testing.T) {
	f := newFixture(t, nil)
	users := []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8"}
	f.users(users...)
	f.src.setJSON(t, coursesSource(5, users...))
	f.ws.SetMailFailing(true)
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	if run.Counts.Applied.Enrol != 40 || len(run.Errors) != 0 {
		t.Fatalf("applied %+v, errors %v; want 40 enrolments, no error", run.Counts.Applied, run.Errors)
	}
	if c := f.ws.Calls().ByFunction[moodle.FuncEnrolUsers]; c > 5 {
		t.Errorf("%d enrol calls: the batches were split although every enrolment was made", c)
	}
	f.noChanges()
}

// A call that fails once with an error page is read back and sent again: the run goes on.
func TestApply_RetryAfterErrorPage(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice", "bob")
	f.src.setJSON(t, coursesSource(3, "alice", "bob"))
	f.ws.FailNext(moodle.FuncEnrolUsers, 1, moodletest.Failure{Status: http.StatusBadGateway, Body: "<html>bad gateway</html>", ContentType: "text/html"})
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	if run.Counts.Applied.Enrol != 6 {
		t.Fatalf("applied %+v, want 6 enrolments", run.Counts.Applied)
	}
	f.noChanges()
}

// A refused item is found by splitting only what the read back shows as not done.
func TestApply_RefusedItemAmongDone(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice", "bob")
	f.src.setJSON(t, coursesSource(4, "alice", "bob"))
	f.ws.AddCourse(moodletest.Course{ShortName: "C0002", FullName: "Course 2", CategoryID: 1, NoManualInstance: true})
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncPartial)
	if run.Counts.Applied.Enrol != 6 || len(run.Errors) != 2 {
		t.Fatalf("applied %+v errors %v: want 6 enrolments and both of C0002 refused", run.Counts.Applied, run.Errors)
	}
	for _, e := range run.Errors {
		if e.Course != "C0002" || e.Code != moodle.CodeNoInstance {
			t.Errorf("error %+v: want C0002 wsnoinstance", e)
		}
	}
}

// Listing every course in one call takes longer than the timeout on a large site: the plan
// falls back to one call per short name, and says so.
func TestPlan_ListAllTimesOut(t *testing.T) {
	f := newFixture(t, nil, withTimeout(200*time.Millisecond))
	for i := range 40 {
		f.ws.AddCourse(moodletest.Course{ShortName: fmt.Sprintf("C%04d", i), FullName: fmt.Sprintf("Course %d", i), CategoryID: 1})
	}
	f.ws.SetListCost(10 * time.Millisecond) // 400 ms for the whole list
	f.src.setJSON(t, coursesSource(30))
	run := f.run(mih.SyncPlanOnly)
	wantStatus(t, run, mih.SyncSucceeded)
	if run.Counts.Planned.Total() != 0 || len(run.Plan.Warnings) != 1 || !strings.Contains(run.Plan.Warnings[0], "one by one") {
		t.Errorf("planned %+v, warnings %q: want nothing to do, and the fallback said", run.Counts.Planned, run.Plan.Warnings)
	}
}

// The job's settings for its calls are checked when saved, and override the runner's defaults.
func TestJob_CallSettings(t *testing.T) {
	for _, bad := range []func(j *mih.SyncJob){
		func(j *mih.SyncJob) { j.TimeoutS = -1 },
		func(j *mih.SyncJob) { j.TimeoutS = 3601 },
		func(j *mih.SyncJob) { j.BatchMax = 1001 },
		func(j *mih.SyncJob) { j.WriteParallel = 33 },
		func(j *mih.SyncJob) { j.ReadParallel = -2 },
	} {
		j := mih.NewSyncJob()
		j.Name, j.Site, j.SourceService, j.SourcePath = "j", "main", "academic", "/courses"
		bad(j)
		j.Normalize()
		if err := j.Validate(); mih.ErrorCode(err) != mih.CodeInvalid {
			t.Errorf("%+v: %v, want invalid", j, err)
		}
	}
	r := New(Config{})
	j := mih.NewSyncJob()
	if tu := r.tuning(j); tu.timeout != DefaultTimeout || tu.batchMax != DefaultBatchMax || tu.writeParallel != DefaultWriteParallel || tu.readParallel != DefaultParallel {
		t.Errorf("defaults: %+v", tu)
	}
	j.TimeoutS, j.BatchMax, j.WriteParallel, j.ReadParallel = 12.5, 40, 2, 8
	if tu := r.tuning(j); tu.timeout != 12500*time.Millisecond || tu.batchMax != 40 || tu.writeParallel != 2 || tu.readParallel != 8 || tu.target != tu.timeout/6 {
		t.Errorf("job's settings: %+v", tu)
	}
}

// Batches shrink to what fits the target when Moodle is slow, grow (at most doubling, up to the
// maximum) when it is fast, and a timeout cuts them to a quarter and the calls in flight to one.
func TestPacer(t *testing.T) {
	p := newPacer(tuning{target: time.Second, batchMax: 100, writeParallel: 4}, 100)
	if p.batchSize() != firstBatch || p.limit != 1 {
		t.Fatalf("start: size %d, limit %d", p.batchSize(), p.limit)
	}
	p.answered(10, 100*time.Millisecond) // 10 ms an item: fast
	if p.batchSize() != 20 || p.limit != 2 {
		t.Errorf("after a fast call: size %d, limit %d; want 20, 2", p.batchSize(), p.limit)
	}
	for range 5 {
		p.answered(p.batchSize(), time.Duration(p.batchSize())*time.Millisecond)
	}
	if p.batchSize() != 100 || p.limit != 4 {
		t.Errorf("after fast calls: size %d, limit %d; want the maximum 100, 4", p.batchSize(), p.limit)
	}
	p.answered(100, 4*time.Second) // 40 ms an item: 25 fit the target
	if p.batchSize() != 25 || p.limit != 2 {
		t.Errorf("after a slow call: size %d, limit %d; want 25, 2", p.batchSize(), p.limit)
	}
	p.timedOut(25)
	if p.batchSize() != 6 || p.limit != 1 {
		t.Errorf("after a timeout: size %d, limit %d; want 6, 1", p.batchSize(), p.limit)
	}
}

// A database error under concurrent writes (a deadlock between two enrolment calls on
// PostgreSQL) is read back, sent again, and the calls go one at a time for a while.
func TestApply_DeadlockGoesSerial(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice", "bob")
	f.src.setJSON(t, coursesSource(20, "alice", "bob"))
	f.ws.FailNext(moodle.FuncEnrolUsers, 5, moodletest.Failure{Exception: &moodletest.Exception{Class: "dml_write_exception",
		ErrorCode: "dmlwriteexception", Message: "Error writing to database", DebugInfo: "ERROR:  deadlock detected"}})
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	if run.Counts.Applied.Enrol != 40 {
		t.Fatalf("applied %+v, want 40 enrolments", run.Counts.Applied)
	}
	p := newPacer(tuning{target: time.Second, batchMax: 100, writeParallel: 4}, 100)
	p.contended()
	for range 10 {
		p.answered(1, time.Millisecond)
	}
	if p.limit != 1 {
		t.Errorf("after a deadlock and 10 quick answers: %d calls at once, want 1", p.limit)
	}
}
