package coursesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/moodle"
)

// Store is what course sync reads and keeps: jobs and runs, the job leases, the sites and
// services, and the request log of source fetches. mih.Store implements it.
type Store interface {
	mih.SyncStore
	mih.LeaseStore
	FindSiteByName(ctx context.Context, name string) (*mih.Site, error)
	FindServiceByName(ctx context.Context, name string) (*mih.Service, error)
	CreateLogs(ctx context.Context, entries []*mih.LogEntry) error
}

// Gateway fetches the source through the service's resilience layer; *gateway.Gateway
// implements it.
type Gateway interface {
	Do(ctx context.Context, svc *mih.Service, req *mih.Request) (*gateway.Result, error)
}

// Defaults of Config.
const (
	DefaultLease          = time.Minute
	DefaultParallel       = 4
	DefaultListAllAbove   = 20
	DefaultMaxSourceBytes = 64 << 20
	DefaultKeepRuns       = 200
	DefaultProgressEvery  = 500 * time.Millisecond
)

// Config wires a Runner. Store, Gateway and Runner are required.
type Config struct {
	Store   Store
	Gateway Gateway
	// Client builds a site's Web Services client (nil: moodle.New with the site's URL and token).
	Client func(site *mih.Site) (*moodle.Client, error)
	// Database opens a site's database for reading; it is used only for sites that have a db
	// URL. cmd/mih passes one built on package coursesync/moodledb; nil reads every site through
	// its Web Services, with a warning in the plan.
	Database func(site *mih.Site) (MoodleDB, error)
	// Runner names this process in leases and runs; unique per process (host:pid:start).
	Runner string
	Logger *slog.Logger
	// Now is the clock of leases and run times (default time.Now).
	Now func() time.Time
	// Lease is how long a job's lease lasts; it is renewed every third of it while a run goes on.
	Lease time.Duration
	// Parallel bounds the Web Service reads made at once (default 4; a job's read_parallel
	// overrides it).
	Parallel int
	// BatchSize is the most items an apply sends per call (default 100; a job's batch_max
	// overrides it). Calls are sized below it by how long Moodle takes, and kept under the
	// site's max_input_vars.
	BatchSize int
	// WriteParallel bounds the write calls made at once (default 4; a job's write_parallel
	// overrides it).
	WriteParallel int
	// Timeout bounds each call to Moodle (default 60 s; a job's timeout_s overrides it).
	Timeout time.Duration
	// ListAllAbove is the number of source courses above which Moodle's courses are listed in one
	// call rather than looked up one by one (default 20).
	ListAllAbove int
	// MaxSourceBytes bounds the source's answer (default 64 MiB). The gateway's REST transport
	// must read at least one byte more for an oversized answer to be told from a complete one.
	MaxSourceBytes int64
	// KeepRuns is how many finished runs of a job are kept (default 200).
	KeepRuns int
	// ProgressEvery bounds how often a run's progress is written to the store (default 500 ms;
	// a change of phase is always written).
	ProgressEvery time.Duration
}

// Runner plans and applies sync jobs and records their runs.
type Runner struct {
	store         Store
	gateway       Gateway
	newClient     func(site *mih.Site) (*moodle.Client, error)
	database      func(site *mih.Site) (MoodleDB, error)
	runner        string
	log           *slog.Logger
	now           func() time.Time
	lease         time.Duration
	parallel      int
	batch         int
	writeParallel int
	timeout       time.Duration
	listAllAbove  int
	maxSource     int64
	keepRuns      int
	progressEvery time.Duration
}

// New returns a Runner for cfg, with defaults filled in.
func New(cfg Config) *Runner {
	r := &Runner{
		store: cfg.Store, gateway: cfg.Gateway, newClient: cfg.Client, database: cfg.Database, runner: cfg.Runner, log: cfg.Logger, now: cfg.Now,
		lease: cfg.Lease, parallel: cfg.Parallel, batch: cfg.BatchSize, listAllAbove: cfg.ListAllAbove,
		writeParallel: cfg.WriteParallel, timeout: cfg.Timeout,
		maxSource: cfg.MaxSourceBytes, keepRuns: cfg.KeepRuns, progressEvery: cfg.ProgressEvery,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.lease <= 0 {
		r.lease = DefaultLease
	}
	if r.parallel <= 0 {
		r.parallel = DefaultParallel
	}
	if r.batch <= 0 {
		r.batch = DefaultBatchMax
	}
	if r.writeParallel <= 0 {
		r.writeParallel = DefaultWriteParallel
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.listAllAbove <= 0 {
		r.listAllAbove = DefaultListAllAbove
	}
	if r.maxSource <= 0 {
		r.maxSource = DefaultMaxSourceBytes
	}
	if r.keepRuns <= 0 {
		r.keepRuns = DefaultKeepRuns
	}
	if r.progressEvery <= 0 {
		r.progressEvery = DefaultProgressEvery
	}
	if r.database == nil {
		r.database = func(*mih.Site) (MoodleDB, error) {
			return nil, mih.Errorf(mih.CodeUnavailable, "this process has no reader for Moodle databases")
		}
	}
	if r.newClient == nil {
		log := r.log
		r.newClient = func(site *mih.Site) (*moodle.Client, error) {
			return moodle.New(site.URL, site.Token, moodle.Options{Logger: log, UserAgent: "mih"})
		}
	}
	return r
}

func (r *Runner) client(site *mih.Site) (*moodle.Client, error) { return r.newClient(site) }

// LeaseName is the lease a run of job holds, so that one process at a time runs the job.
func LeaseName(job string) string { return "sync:" + job }

// RunRequest asks for a run.
type RunRequest struct {
	Job     string
	Kind    mih.SyncRunKind
	Trigger mih.SyncTrigger
	// Expect is the fingerprint of a plan the caller confirmed (apply only).
	Expect string
	// ScheduledAt is the schedule's time a scheduled run stands for; the run is skipped
	// (CodeConflict) when another scheduled run of the job stood for this time, a later one, or
	// one less than Dedupe before it: another process got there first.
	ScheduledAt *time.Time
	Dedupe      time.Duration
	// Progress, when set, is told every step (a progress bar); the store gets them too.
	Progress func(mih.SyncProgress)
}

// Run runs a job now, in this process, under the job's lease, and records the run. It returns
// the finished run — failed runs included, with why — with its whole plan and CSV; the stored
// copy keeps at most mih.SyncStoredItems per list. The error is for runs that could not start:
// an unknown job (CodeNotFound), a job running elsewhere or already run for this schedule time
// (CodeConflict), an apply of a disabled job (CodeConflict).
func (r *Runner) Run(ctx context.Context, req RunRequest) (*mih.SyncRun, error) {
	if req.Kind != mih.SyncPlanOnly && req.Kind != mih.SyncApply {
		return nil, mih.Errorf(mih.CodeInvalid, "run kind %q: want plan or apply", req.Kind)
	}
	job, err := r.store.FindSyncJobByName(ctx, req.Job)
	if err != nil {
		return nil, err
	}
	if req.Kind == mih.SyncApply && !job.Enabled {
		return nil, mih.Errorf(mih.CodeConflict, "sync job %q is disabled: enable it to apply changes (a plan is still possible)", job.Name)
	}
	release, err := r.takeLease(ctx, job.Name)
	if err != nil {
		return nil, err
	}
	defer release()
	if req.ScheduledAt != nil {
		last, _, err := r.store.FindSyncRuns(ctx, mih.SyncRunFilter{Job: job.Name, Trigger: mih.TriggerSchedule, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("sync %s: %w", job.Name, err)
		}
		if len(last) > 0 && last[0].ScheduledAt != nil && !last[0].ScheduledAt.Before(req.ScheduledAt.Add(-req.Dedupe)) {
			return nil, mih.Errorf(mih.CodeConflict, "sync job %q already ran for %s", job.Name, req.ScheduledAt.Format(time.RFC3339))
		}
	}
	run := &mih.SyncRun{Job: job.Name, Kind: req.Kind, Trigger: req.Trigger, Status: mih.SyncRunning, Runner: r.runner,
		Expect: req.Expect, ScheduledAt: req.ScheduledAt, Progress: mih.SyncProgress{Phase: mih.PhaseSource}}
	if err := r.store.CreateSyncRun(ctx, run); err != nil {
		return nil, fmt.Errorf("sync %s: record the run: %w", job.Name, err)
	}
	return r.execute(ctx, job, run, req.Progress), nil
}

// RunQueued takes a run queued through the API and runs it, under the job's lease. A run that
// another process took, or whose job runs elsewhere (it waits for its turn), is CodeConflict.
func (r *Runner) RunQueued(ctx context.Context, id int64) (*mih.SyncRun, error) {
	run, err := r.store.FindSyncRunByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if run.Status != mih.SyncQueued {
		return nil, mih.Errorf(mih.CodeConflict, "sync run %d is %s, not queued", id, run.Status)
	}
	job, err := r.store.FindSyncJobByName(ctx, run.Job)
	if err != nil {
		return nil, err
	}
	release, err := r.takeLease(ctx, job.Name)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := r.store.StartSyncRun(ctx, id, r.runner, r.now()); err != nil {
		return nil, err
	}
	run.Status, run.Runner = mih.SyncRunning, r.runner
	if run.Kind == mih.SyncApply && !job.Enabled {
		run.Status, run.ErrorCode = mih.SyncFailed, mih.CodeConflict
		run.Error = fmt.Sprintf("sync job %q is disabled: enable it to apply changes", job.Name)
		r.finish(ctx, run)
		return run, nil
	}
	return r.execute(ctx, job, run, nil), nil
}

// takeLease takes the job's lease and fails the job's runs left running by a process that went
// away (whoever holds the lease now is the only one that may be running the job).
func (r *Runner) takeLease(ctx context.Context, job string) (release func(), err error) {
	name := LeaseName(job)
	now := r.now()
	won, err := r.store.TryLease(ctx, name, r.runner, now.Add(r.lease), now)
	if err != nil {
		return nil, fmt.Errorf("sync %s: take the lease: %w", job, err)
	}
	if !won {
		return nil, mih.Errorf(mih.CodeConflict, "sync job %q is running in another process", job)
	}
	release = func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := r.store.ReleaseLease(rctx, name, r.runner); err != nil {
			r.log.Warn("release sync lease", "job", job, "err", err)
		}
	}
	n, err := r.store.AbandonSyncRuns(ctx, job, r.runner, "interrupted: the process running it stopped before it finished", now)
	if err != nil {
		release()
		return nil, fmt.Errorf("sync %s: %w", job, err)
	}
	if n > 0 {
		r.log.Warn("sync runs left over by a stopped process marked failed", "job", job, "runs", n)
	}
	return release, nil
}

var errLostLease = errors.New("lost the job's lease")

// keepLease renews the job's lease while a run goes on, and cancels the run (with
// errLostLease) when another process has taken it or the lease ran out without a renewal.
func (r *Runner) keepLease(ctx context.Context, job string, cancel context.CancelCauseFunc) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(r.lease / 3)
		defer t.Stop()
		renewed := r.now()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			now := r.now()
			won, err := r.store.TryLease(ctx, LeaseName(job), r.runner, now.Add(r.lease), now)
			switch {
			case err == nil && won:
				renewed = now
			case err == nil:
				cancel(errLostLease)
				return
			case now.Sub(renewed) >= r.lease:
				cancel(fmt.Errorf("%w: %v", errLostLease, err))
				return
			default:
				r.log.Warn("renew sync lease", "job", job, "err", err)
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// recorder passes progress on to the caller and, at most every progressEvery and at every change
// of phase, to the store.
type recorder struct {
	r     *Runner
	ctx   context.Context
	run   *mih.SyncRun
	extra func(mih.SyncProgress)

	mu      sync.Mutex
	last    mih.SyncProgress
	written time.Time
}

func (rc *recorder) progress(p mih.SyncProgress) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if p.Phase == rc.last.Phase && p.Done < rc.last.Done && p.Total == rc.last.Total {
		return // parallel workers may report out of order
	}
	phaseChanged := p.Phase != rc.last.Phase
	rc.last = p
	rc.run.Progress = p
	if rc.extra != nil {
		rc.extra(p)
	}
	now := rc.r.now()
	if !phaseChanged && now.Sub(rc.written) < rc.r.progressEvery && p.Done != p.Total {
		return
	}
	rc.written = now
	if err := rc.r.store.SetSyncRunProgress(rc.ctx, rc.run.ID, rc.r.runner, p); err != nil && rc.ctx.Err() == nil {
		rc.r.log.Debug("record sync progress", "run", rc.run.ID, "err", err)
	}
}

// execute plans, applies when asked, and records the outcome. It never fails: what goes wrong is
// the run's outcome.
func (r *Runner) execute(parent context.Context, job *mih.SyncJob, run *mih.SyncRun, extra func(mih.SyncProgress)) *mih.SyncRun {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	stop := r.keepLease(ctx, job.Name, cancel)
	rec := &recorder{r: r, ctx: ctx, run: run, extra: extra}
	start := r.now()

	outcome := func() error {
		plan, err := r.Plan(ctx, job, rec.progress)
		if err != nil {
			return err
		}
		defer plan.Close()
		run.Plan, run.Counts = plan.SyncPlan, plan.Counts
		if len(plan.Missing) > 0 {
			run.MissingCSV = MissingCSV(plan.Missing)
		}
		if run.Kind != mih.SyncApply {
			return nil
		}
		if run.Expect != "" && run.Expect != plan.Fingerprint {
			return mih.Errorf(mih.CodeConflict, "the plan changed since it was confirmed (fingerprint %s, now %s): nothing was applied; review the new plan", run.Expect, plan.Fingerprint)
		}
		rep, err := r.Apply(ctx, plan, rec.progress)
		run.Counts.Applied, run.Errors, run.Counts.Failed = rep.Applied, rep.Errors, len(rep.Errors)
		return err
	}()
	stop()

	switch cause := context.Cause(ctx); {
	case outcome == nil && len(run.Errors) > 0:
		run.Status = mih.SyncPartial
	case outcome == nil:
		run.Status = mih.SyncSucceeded
	case errors.Is(cause, errLostLease):
		run.Status, run.ErrorCode = mih.SyncFailed, mih.CodeUnavailable
		run.Error = "interrupted: " + cause.Error() + " (another process may have taken the job over); the next run plans again from Moodle's state"
	case parent.Err() != nil:
		run.Status, run.ErrorCode = mih.SyncFailed, mih.CodeUnavailable
		run.Error = "interrupted: the process stopped before the run finished; the next run plans again from Moodle's state"
	default:
		run.Status, run.ErrorCode, run.Error = mih.SyncFailed, mih.ErrorCode(outcome), mih.ErrorMessage(outcome)
		if run.ErrorCode == mih.CodeInternal {
			r.log.Error("sync run failed", "job", job.Name, "run", run.ID, "err", outcome)
		}
	}
	if run.Status != mih.SyncFailed {
		run.Progress = mih.SyncProgress{Phase: mih.PhaseDone, Done: 1, Total: 1}
	}
	r.finish(parent, run)
	r.log.Info("sync run finished", "job", job.Name, "run", run.ID, "kind", run.Kind, "trigger", run.Trigger,
		"status", run.Status, "duration", r.now().Sub(start).Round(time.Millisecond),
		"planned", run.Counts.Planned.Total(), "applied", run.Counts.Applied.Total(), "failed", run.Counts.Failed,
		"missing_users", run.Counts.MissingUsers, "error", run.Error)
	return run
}

// finish records the run's outcome, also when the run's context is over, and prunes old runs.
func (r *Runner) finish(ctx context.Context, run *mih.SyncRun) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	now := r.now().UTC()
	run.FinishedAt = &now
	if err := r.store.FinishSyncRun(wctx, run); err != nil {
		r.log.Error("record sync run", "job", run.Job, "run", run.ID, "err", err)
		return
	}
	if _, err := r.store.PruneSyncRuns(wctx, run.Job, r.keepRuns); err != nil {
		r.log.Warn("prune sync runs", "job", run.Job, "err", err)
	}
}
