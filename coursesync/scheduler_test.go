package coursesync

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/store/postgres"
	"github.com/mihhub/mih/store/storetest"
)

// clock is a settable clock for schedules.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// twoSchedulers runs the scheduled-time race of two processes sharing a store: both learn the
// schedule, the clock passes 06:00, both tick at once; exactly one runs the job, once.
func twoSchedulers(t *testing.T, f *fixture, second *Runner) {
	f.users("alice", "bob")
	f.src.set(http.StatusOK, []byte(`[{"shortname":"GEO","name":"Geography","participants":[{"username":"alice"},{"username":"bob"}]}]`))
	clk := &clock{now: time.Date(2026, 3, 2, 5, 59, 58, 0, time.UTC)}
	s1 := NewScheduler(f.runner, SchedulerOptions{Now: clk.Now})
	s2 := NewScheduler(second, SchedulerOptions{Now: clk.Now})
	ctx := context.Background()
	tickBoth := func() {
		var wg sync.WaitGroup
		wg.Go(func() { s1.tick(ctx) })
		wg.Go(func() { s2.tick(ctx) })
		wg.Wait()
		s1.wg.Wait()
		s2.wg.Wait()
	}
	tickBoth()
	if runs, _, _ := f.store.FindSyncRuns(ctx, mih.SyncRunFilter{}); len(runs) != 0 {
		t.Fatalf("%d runs before the scheduled time", len(runs))
	}
	clk.Set(time.Date(2026, 3, 2, 6, 0, 1, 0, time.UTC))
	tickBoth()
	clk.Set(time.Date(2026, 3, 2, 6, 0, 2, 0, time.UTC))
	tickBoth()
	runs, _, err := f.store.FindSyncRuns(ctx, mih.SyncRunFilter{Job: "webcourse"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("%d runs, want exactly 1", len(runs))
	}
	r := runs[0]
	if r.Status != mih.SyncSucceeded || r.Trigger != mih.TriggerSchedule || !r.ScheduledAt.Equal(time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("run %+v", r)
	}
	if c := f.ws.Calls(); c.ByFunction[moodle.FuncCreateCourses] != 1 || c.ByFunction[moodle.FuncEnrolUsers] != 1 {
		t.Errorf("Moodle calls %v: the job ran more than once", c.ByFunction)
	}
	if got := f.enrolments("GEO"); len(got) != 2 {
		t.Errorf("enrolments %v", got)
	}
}

func scheduledJob(j *mih.SyncJob) { j.Schedule = "CRON_TZ=UTC 0 6 * * *" }

func TestScheduler_TwoProcessesOneRun(t *testing.T) {
	f := newFixture(t, scheduledJob)
	second := New(Config{Store: f.store, Gateway: f.gw, Runner: "second-process"})
	twoSchedulers(t, f, second)
}

// The same on PostgreSQL, with two stores (two connection pools, as two `mih serve` processes
// have) on one database.
func TestScheduler_TwoProcessesOneRunPostgres(t *testing.T) {
	url := os.Getenv("MIH_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("MIH_TEST_POSTGRES_URL is not set; start a server with: url=$(scripts/postgres.sh start /tmp/pgtest)")
	}
	schema := fmt.Sprintf("mihsync_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	box := storetest.NewBox(t)
	open := func() mih.Store {
		st, err := postgres.Open(context.Background(), url, box, postgres.WithSchema(schema))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st1 := open()
	st2 := open()
	t.Cleanup(func() {
		st2.Close()
		st1.Close()
		dropSchema(t, url, schema)
	})
	f := newFixtureOn(t, st1, scheduledJob)
	second := New(Config{Store: st2, Gateway: newGateway(t), Runner: "second-process"})
	twoSchedulers(t, f, second)
}

// A run queued through the API is taken by the scheduler's next round and recorded; runs of the
// same job wait for each other.
func TestScheduler_QueuedRuns(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice")
	f.src.set(http.StatusOK, []byte(`[{"shortname":"GEO","name":"Geography","participants":[{"username":"alice"}]}]`))
	var ids []int64
	for _, kind := range []mih.SyncRunKind{mih.SyncPlanOnly, mih.SyncApply, mih.SyncApply} {
		r := &mih.SyncRun{Job: "webcourse", Kind: kind, Trigger: mih.TriggerAPI, Status: mih.SyncQueued}
		if err := f.store.CreateSyncRun(f.ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := NewScheduler(f.runner, SchedulerOptions{Interval: 10 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	eventually(t, 10*time.Second, "queued runs finished", func() bool {
		r, err := f.store.FindSyncRunByID(f.ctx, ids[2])
		return err == nil && r.Status.Done()
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range ids {
		r, _ := f.store.FindSyncRunByID(f.ctx, id)
		got = append(got, fmt.Sprintf("%s:%s:%d", r.Kind, r.Status, r.Counts.Applied.Total()))
	}
	// The plan changes nothing; the first apply creates and enrols; the second has nothing to do.
	if want := "[plan:succeeded:0 apply:succeeded:2 apply:succeeded:0]"; fmt.Sprint(got) != want {
		t.Errorf("runs %v, want %s", got, want)
	}
}

// Shutting the scheduler down stops a run in the middle: it is recorded as interrupted, and the
// scheduler returns without waiting for Moodle.
func TestScheduler_ShutdownInterruptsRun(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice")
	f.src.set(http.StatusOK, []byte(`[{"shortname":"GEO","name":"Geography","participants":[{"username":"alice"}]}]`))
	f.ws.SetLatency(moodle.FuncEnrolUsers, 20*time.Second)
	r := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Status: mih.SyncQueued}
	if err := f.store.CreateSyncRun(f.ctx, r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := NewScheduler(f.runner, SchedulerOptions{Interval: 10 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	eventually(t, 10*time.Second, "the run enrolling", func() bool {
		got, err := f.store.FindSyncRunByID(f.ctx, r.ID)
		return err == nil && got.Progress.Phase == mih.PhaseEnrol
	})
	start := time.Now()
	cancel()
	<-done
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	got, _ := f.store.FindSyncRunByID(f.ctx, r.ID)
	if got.Status != mih.SyncFailed || !strings.Contains(got.Error, "interrupted") || got.Counts.Applied.Create != 1 {
		t.Errorf("interrupted run %+v", got)
	}
	// The lease is free again.
	now := time.Now()
	if won, err := f.store.TryLease(f.ctx, LeaseName("webcourse"), "someone-else", now.Add(time.Minute), now); err != nil || !won {
		t.Errorf("lease after shutdown: won %v, %v", won, err)
	}
}

// A run whose lease another process takes (its own renewals failed for a lease period) stops.
func TestRun_LostLease(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.Lease = 300 * time.Millisecond })
	f.users("alice")
	f.src.set(http.StatusOK, []byte(`[{"shortname":"GEO","name":"Geography","participants":[{"username":"alice"}]}]`))
	f.ws.SetLatency(moodle.FuncEnrolUsers, 20*time.Second)
	var stolen atomic.Bool
	go func() {
		// Wait for the run to hold the lease, then take it over as another process would once
		// it ran out. Bounded: a run that never enrols fails the test below, not this loop.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(10 * time.Second); !stolen.Load() && time.Now().Before(deadline); {
			<-tick.C
			runs, _, _ := f.store.FindSyncRuns(context.Background(), mih.SyncRunFilter{Job: "webcourse"})
			if len(runs) == 1 && runs[0].Progress.Phase == mih.PhaseEnrol {
				f.store.ReleaseLease(context.Background(), LeaseName("webcourse"), "test-runner")
				now := time.Now()
				if won, _ := f.store.TryLease(context.Background(), LeaseName("webcourse"), "thief", now.Add(time.Hour), now); won {
					stolen.Store(true)
				}
			}
		}
	}()
	start := time.Now()
	run := f.run(mih.SyncApply)
	if !stolen.Load() {
		t.Fatal("the lease was never taken over")
	}
	wantStatus(t, run, mih.SyncFailed)
	if !strings.Contains(run.Error, "lost the job's lease") || time.Since(start) > 5*time.Second {
		t.Errorf("run %q after %v", run.Error, time.Since(start))
	}
}

// A job with an unparsable schedule (stored by other means than the API) is reported and skipped;
// a disabled job does not run on its schedule.
func TestScheduler_SkipsBadAndDisabled(t *testing.T) {
	f := newFixture(t, func(j *mih.SyncJob) { j.Schedule = "@every 1m" })
	j := f.job()
	j.Schedule = "61 * * * *" // passes Validate (five fields), fails the parser
	if err := f.store.UpdateSyncJob(f.ctx, j); err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now()}
	s := NewScheduler(f.runner, SchedulerOptions{Now: clk.Now, Logger: f.runner.log})
	s.tick(f.ctx)
	clk.Set(clk.Now().Add(2 * time.Hour))
	s.tick(f.ctx)
	s.wg.Wait()
	if runs, _, _ := f.store.FindSyncRuns(f.ctx, mih.SyncRunFilter{}); len(runs) != 0 {
		t.Errorf("%d runs of a job with a bad schedule", len(runs))
	}
	if !strings.Contains(f.logs.String(), "invalid schedule") {
		t.Errorf("logs %q do not report the schedule", f.logs.String())
	}

	j.Schedule, j.Enabled = "@every 1m", false
	if err := f.store.UpdateSyncJob(f.ctx, j); err != nil {
		t.Fatal(err)
	}
	s.tick(f.ctx)
	clk.Set(clk.Now().Add(2 * time.Hour))
	s.tick(f.ctx)
	s.wg.Wait()
	if runs, _, _ := f.store.FindSyncRuns(f.ctx, mih.SyncRunFilter{}); len(runs) != 0 {
		t.Errorf("%d runs of a disabled job", len(runs))
	}
}

func dropSchema(t *testing.T, url, schema string) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Error(err)
		return
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
		t.Error(err)
	}
}
