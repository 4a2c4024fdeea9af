package coursesync

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mihhub/mih"
)

// SchedulerOptions tunes a Scheduler. The zero value is usable.
type SchedulerOptions struct {
	// Interval is how often the scheduler looks for due jobs and queued runs (default 1 s): the
	// delay before a run asked for through the API starts.
	Interval time.Duration
	Logger   *slog.Logger
	// Now is the clock schedules are evaluated on (default time.Now).
	Now func() time.Time
}

// Scheduler runs, inside `mih serve`, the jobs whose schedule is due and the runs queued through
// the API. Every process of the hub may run one: a job runs under its lease, so one process at a
// time runs it, and a scheduled time is run once, by whichever process gets there first.
type Scheduler struct {
	runner   *Runner
	store    Store
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time

	mu   sync.Mutex
	busy map[string]bool          // jobs this process is running
	next map[string]scheduleState // by job
	wg   sync.WaitGroup
	bad  map[string]string // job → schedule already reported as unparsable
}

type scheduleState struct {
	spec  string
	sched Schedule
	next  time.Time
}

// NewScheduler returns a scheduler that runs jobs with r.
func NewScheduler(r *Runner, opts SchedulerOptions) *Scheduler {
	s := &Scheduler{runner: r, store: r.store, interval: opts.Interval, log: opts.Logger, now: opts.Now,
		busy: map[string]bool{}, next: map[string]scheduleState{}, bad: map[string]string{}}
	if s.interval <= 0 {
		s.interval = time.Second
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Run looks for due jobs and queued runs every Interval until ctx ends, then waits for the runs
// it started: they stop at once, recording that they were interrupted (Moodle's state stays
// consistent, each call being one transaction, and the next run plans again from it).
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.tick(ctx)
		select {
		case <-ctx.Done():
			s.wg.Wait()
			return nil
		case <-t.C:
		}
	}
}

// tick starts what is due: scheduled jobs first, then queued runs, oldest first.
func (s *Scheduler) tick(ctx context.Context) {
	now := s.now()
	jobs, err := s.store.FindSyncJobs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("sync scheduler: list jobs", "err", err)
		}
		return
	}
	seen := map[string]bool{}
	for _, job := range jobs {
		seen[job.Name] = true
		if !job.Enabled || job.Schedule == "" {
			delete(s.next, job.Name)
			continue
		}
		st := s.next[job.Name]
		if st.spec != job.Schedule {
			sched, err := ParseSchedule(job.Schedule)
			if err != nil {
				if s.bad[job.Name] != job.Schedule {
					s.bad[job.Name] = job.Schedule
					s.log.Error("sync job has an invalid schedule: it does not run on its own", "job", job.Name, "err", mih.ErrorMessage(err))
				}
				delete(s.next, job.Name)
				continue
			}
			delete(s.bad, job.Name)
			st = scheduleState{spec: job.Schedule, sched: sched, next: sched.Next(now)}
			s.next[job.Name] = st
		}
		if now.Before(st.next) {
			continue
		}
		due := st.next
		st.next = st.sched.Next(now)
		s.next[job.Name] = st
		dedupe := dedupeWindow(st.sched)
		s.start(ctx, job.Name, func(ctx context.Context) (*mih.SyncRun, error) {
			return s.runner.Run(ctx, RunRequest{Job: job.Name, Kind: mih.SyncApply, Trigger: mih.TriggerSchedule,
				ScheduledAt: &due, Dedupe: dedupe})
		})
	}
	for name := range s.next {
		if !seen[name] {
			delete(s.next, name)
		}
	}

	queued, _, err := s.store.FindSyncRuns(ctx, mih.SyncRunFilter{Status: []mih.SyncRunStatus{mih.SyncQueued}, Limit: 100})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("sync scheduler: list queued runs", "err", err)
		}
		return
	}
	slices.Reverse(queued)
	for _, q := range queued {
		id := q.ID
		s.start(ctx, q.Job, func(ctx context.Context) (*mih.SyncRun, error) { return s.runner.RunQueued(ctx, id) })
	}
}

// start runs fn in the background unless this process is already running the job.
func (s *Scheduler) start(ctx context.Context, job string, fn func(context.Context) (*mih.SyncRun, error)) {
	s.mu.Lock()
	if s.busy[job] {
		s.mu.Unlock()
		return
	}
	s.busy[job] = true
	s.mu.Unlock()
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.busy, job)
			s.mu.Unlock()
		}()
		if _, err := fn(ctx); err != nil && ctx.Err() == nil {
			level := slog.LevelWarn
			if mih.ErrorCode(err) == mih.CodeConflict || mih.ErrorCode(err) == mih.CodeNotFound {
				level = slog.LevelDebug // another process has it, or it was deleted meanwhile
			}
			s.log.Log(ctx, level, "sync run not started", "job", job, "err", err)
		}
	})
}
