package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mihhub/mih"
)

// Sync jobs are stored as their JSON, since nothing queries their fields; runs keep their plan,
// errors and CSV in columns of their own so that lists read none of them.

func (s *Store) scanSyncJob(row interface{ Scan(...any) error }) (*mih.SyncJob, error) {
	var (
		name             string
		config           string
		created, updated int64
	)
	if err := row.Scan(&name, &config, &created, &updated); err != nil {
		return nil, err
	}
	j := &mih.SyncJob{}
	if err := json.Unmarshal([]byte(config), j); err != nil {
		return nil, fmt.Errorf("sync job %q: decode: %w", name, err)
	}
	j.Name = name
	j.CreatedAt, j.UpdatedAt = fromMicros(created), fromMicros(updated)
	return j, nil
}

func syncJobConfig(j *mih.SyncJob) (string, error) {
	c := *j
	c.CreatedAt, c.UpdatedAt = time.Time{}, time.Time{}
	b, err := json.Marshal(&c)
	return string(b), err
}

// FindSyncJobByName returns a job.
func (s *Store) FindSyncJobByName(ctx context.Context, name string) (*mih.SyncJob, error) {
	j, err := s.scanSyncJob(s.queryRow(ctx, s.read, `SELECT name, config, created_at, updated_at FROM sync_jobs WHERE name = ?`, name))
	if err != nil {
		return nil, fmt.Errorf("find sync job: %w", s.dbError(err, fmt.Sprintf("sync job %q", name)))
	}
	return j, nil
}

// FindSyncJobs returns every job by name.
func (s *Store) FindSyncJobs(ctx context.Context) ([]*mih.SyncJob, error) {
	rows, err := s.query(ctx, s.read, `SELECT name, config, created_at, updated_at FROM sync_jobs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find sync jobs: %w", err)
	}
	out, err := scanAll(rows, s.scanSyncJob)
	if err != nil {
		return nil, fmt.Errorf("find sync jobs: %w", err)
	}
	return out, nil
}

// CreateSyncJob normalizes, validates and stores a new job; a taken name is CodeConflict.
func (s *Store) CreateSyncJob(ctx context.Context, j *mih.SyncJob) error {
	j.Normalize()
	if err := j.Validate(); err != nil {
		return err
	}
	config, err := syncJobConfig(j)
	if err != nil {
		return fmt.Errorf("create sync job: %w", err)
	}
	now := round(s.now())
	_, err = s.exec(ctx, s.db, `INSERT INTO sync_jobs (name, config, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		j.Name, config, micros(now), micros(now))
	if err != nil {
		return fmt.Errorf("create sync job: %w", s.dbError(err, fmt.Sprintf("sync job %q", j.Name)))
	}
	j.CreatedAt, j.UpdatedAt = now, now
	return nil
}

// UpdateSyncJob replaces the stored job of the same name.
func (s *Store) UpdateSyncJob(ctx context.Context, j *mih.SyncJob) error {
	j.Normalize()
	if err := j.Validate(); err != nil {
		return err
	}
	config, err := syncJobConfig(j)
	if err != nil {
		return fmt.Errorf("update sync job: %w", err)
	}
	now := round(s.now())
	var created int64
	err = s.queryRow(ctx, s.db, `UPDATE sync_jobs SET config = ?, updated_at = ? WHERE name = ? RETURNING created_at`,
		config, micros(now), j.Name).Scan(&created)
	if err != nil {
		return fmt.Errorf("update sync job: %w", s.dbError(err, fmt.Sprintf("sync job %q", j.Name)))
	}
	j.CreatedAt, j.UpdatedAt = fromMicros(created), now
	return nil
}

// DeleteSyncJob deletes a job; its runs go with it (ON DELETE CASCADE).
func (s *Store) DeleteSyncJob(ctx context.Context, name string) error {
	n, err := s.execCount(ctx, s.db, `DELETE FROM sync_jobs WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete sync job: %w", err)
	}
	if n == 0 {
		return mih.Errorf(mih.CodeNotFound, "sync job %q not found", name)
	}
	return nil
}

// syncRunSummary are the columns of a run in lists; syncRunColumns adds plan and errors.
const (
	syncRunSummary = `id, job, kind, trigger_by, status, runner, expect, scheduled_at, created_at, started_at,
		finished_at, progress, counts, error_code, error`
	syncRunColumns = syncRunSummary + `, plan, errors`
)

func scanSyncRun(row interface{ Scan(...any) error }, full bool) (*mih.SyncRun, error) {
	var (
		r                              mih.SyncRun
		scheduled, started, finished   sql.NullInt64
		created                        int64
		progress, counts               string
		plan, errs                     sql.NullString
		kind, trigger, status, errCode string
	)
	dest := []any{&r.ID, &r.Job, &kind, &trigger, &status, &r.Runner, &r.Expect, &scheduled, &created, &started,
		&finished, &progress, &counts, &errCode, &r.Error}
	if full {
		dest = append(dest, &plan, &errs)
	}
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	r.Kind, r.Trigger, r.Status, r.ErrorCode = mih.SyncRunKind(kind), mih.SyncTrigger(trigger), mih.SyncRunStatus(status), mih.Code(errCode)
	r.ScheduledAt, r.StartedAt, r.FinishedAt = timePtr(scheduled), timePtr(started), timePtr(finished)
	r.CreatedAt = fromMicros(created)
	if err := json.Unmarshal([]byte(progress), &r.Progress); err != nil {
		return nil, fmt.Errorf("sync run %d: progress: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(counts), &r.Counts); err != nil {
		return nil, fmt.Errorf("sync run %d: counts: %w", r.ID, err)
	}
	if plan.Valid {
		r.Plan = &mih.SyncPlan{}
		if err := json.Unmarshal([]byte(plan.String), r.Plan); err != nil {
			return nil, fmt.Errorf("sync run %d: plan: %w", r.ID, err)
		}
	}
	if errs.Valid {
		if err := json.Unmarshal([]byte(errs.String), &r.Errors); err != nil {
			return nil, fmt.Errorf("sync run %d: errors: %w", r.ID, err)
		}
	}
	return &r, nil
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// CreateSyncRun stores a new queued or running run and sets its ID and CreatedAt.
func (s *Store) CreateSyncRun(ctx context.Context, r *mih.SyncRun) error {
	switch {
	case r.Status != mih.SyncQueued && r.Status != mih.SyncRunning:
		return mih.Errorf(mih.CodeInvalid, "sync run: a new run is queued or running, not %q", r.Status)
	case r.Kind != mih.SyncPlanOnly && r.Kind != mih.SyncApply:
		return mih.Errorf(mih.CodeInvalid, "sync run: kind %q: want plan or apply", r.Kind)
	case r.Status == mih.SyncRunning && r.Runner == "":
		return mih.Errorf(mih.CodeInvalid, "sync run: a running run needs its runner")
	}
	progress, err := jsonText(r.Progress)
	if err != nil {
		return fmt.Errorf("create sync run: %w", err)
	}
	counts, err := jsonText(r.Counts)
	if err != nil {
		return fmt.Errorf("create sync run: %w", err)
	}
	now := round(s.now())
	var started sql.NullInt64
	if r.Status == mih.SyncRunning {
		if r.StartedAt == nil {
			r.StartedAt = &now
		}
		started = nullMicros(*r.StartedAt)
	}
	var scheduled sql.NullInt64
	if r.ScheduledAt != nil {
		scheduled = nullMicros(*r.ScheduledAt)
	}
	err = s.queryRow(ctx, s.db, `INSERT INTO sync_runs (job, kind, trigger_by, status, runner, expect, scheduled_at,
		created_at, started_at, progress, counts, error_code, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '') RETURNING id`,
		r.Job, string(r.Kind), string(r.Trigger), string(r.Status), r.Runner, r.Expect, scheduled,
		micros(now), started, progress, counts).Scan(&r.ID)
	if err != nil {
		if s.dialect.Violation(err) == ForeignKeyConstraint {
			return mih.Errorf(mih.CodeNotFound, "sync job %q not found", r.Job)
		}
		return fmt.Errorf("create sync run: %w", err)
	}
	r.CreatedAt = now
	return nil
}

// FindSyncRunByID returns a run with its plan and errors.
func (s *Store) FindSyncRunByID(ctx context.Context, id int64) (*mih.SyncRun, error) {
	r, err := scanSyncRun(s.queryRow(ctx, s.read, `SELECT `+syncRunColumns+` FROM sync_runs WHERE id = ?`, id), true)
	if err != nil {
		return nil, fmt.Errorf("find sync run: %w", s.dbError(err, fmt.Sprintf("sync run %d", id)))
	}
	return r, nil
}

// FindSyncRuns lists runs newest first; the cursor is the id of the last run of the previous
// page.
func (s *Store) FindSyncRuns(ctx context.Context, f mih.SyncRunFilter) ([]*mih.SyncRun, string, error) {
	cursor, err := parseCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var w where
	if f.Job != "" {
		w.add("job = ?", f.Job)
	}
	if len(f.Status) > 0 {
		args := make([]any, len(f.Status))
		for i, st := range f.Status {
			args[i] = string(st)
		}
		w.add("status IN ("+placeholders(len(args))+")", args...)
	}
	if f.Trigger != "" {
		w.add("trigger_by = ?", string(f.Trigger))
	}
	if cursor > 0 {
		w.add("id < ?", cursor)
	}
	n := limit(f.Limit)
	rows, err := s.query(ctx, s.read, s.dyn(`SELECT `+syncRunSummary+` FROM sync_runs`+w.String()+
		` ORDER BY id DESC LIMIT `+fmt.Sprint(n+1)), w.args...)
	if err != nil {
		return nil, "", fmt.Errorf("find sync runs: %w", err)
	}
	defer rows.Close()
	out := []*mih.SyncRun{}
	for rows.Next() {
		r, err := scanSyncRun(rows, false)
		if err != nil {
			return nil, "", fmt.Errorf("find sync runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("find sync runs: %w", err)
	}
	more := len(out) > n
	if more {
		out = out[:n]
	}
	var last int64
	if len(out) > 0 {
		last = out[len(out)-1].ID
	}
	return out, nextCursor(more, last), nil
}

// FindSyncRunCSV returns a run's missing-users CSV.
func (s *Store) FindSyncRunCSV(ctx context.Context, id int64) ([]byte, error) {
	var csv []byte
	if err := s.queryRow(ctx, s.read, `SELECT missing_csv FROM sync_runs WHERE id = ?`, id).Scan(&csv); err != nil {
		return nil, fmt.Errorf("find sync run csv: %w", s.dbError(err, fmt.Sprintf("sync run %d", id)))
	}
	if csv == nil {
		csv = []byte{}
	}
	return csv, nil
}

// StartSyncRun moves a queued run to running, once: the status guard makes two processes
// racing for the same run meet, and only one changes the row.
func (s *Store) StartSyncRun(ctx context.Context, id int64, runner string, now time.Time) error {
	if runner == "" {
		return mih.Errorf(mih.CodeInvalid, "sync run: a runner is required")
	}
	n, err := s.execCount(ctx, s.db, `UPDATE sync_runs SET status = ?, runner = ?, started_at = ? WHERE id = ? AND status = ?`,
		string(mih.SyncRunning), runner, micros(now), id, string(mih.SyncQueued))
	if err != nil {
		return fmt.Errorf("start sync run: %w", err)
	}
	if n == 0 {
		return s.runConflict(ctx, id, "start sync run", "is not queued")
	}
	return nil
}

// runConflict explains why a guarded write to a run changed nothing: the run is gone
// (CodeNotFound) or in another state (CodeConflict).
func (s *Store) runConflict(ctx context.Context, id int64, what, why string) error {
	var status string
	err := s.queryRow(ctx, s.db, `SELECT status FROM sync_runs WHERE id = ?`, id).Scan(&status)
	if err != nil {
		return fmt.Errorf("%s: %w", what, s.dbError(err, fmt.Sprintf("sync run %d", id)))
	}
	return mih.Errorf(mih.CodeConflict, "sync run %d %s (it is %s)", id, why, status)
}

// SetSyncRunProgress records the progress of runner's running run.
func (s *Store) SetSyncRunProgress(ctx context.Context, id int64, runner string, p mih.SyncProgress) error {
	progress, err := jsonText(p)
	if err != nil {
		return fmt.Errorf("set sync run progress: %w", err)
	}
	n, err := s.execCount(ctx, s.db, `UPDATE sync_runs SET progress = ? WHERE id = ? AND status = ? AND runner = ?`,
		progress, id, string(mih.SyncRunning), runner)
	if err != nil {
		return fmt.Errorf("set sync run progress: %w", err)
	}
	if n == 0 {
		return s.runConflict(ctx, id, "set sync run progress", "is not running for "+runner)
	}
	return nil
}

// FinishSyncRun records the outcome of runner's running run.
func (s *Store) FinishSyncRun(ctx context.Context, r *mih.SyncRun) error {
	if !r.Status.Done() {
		return mih.Errorf(mih.CodeInvalid, "sync run: finish with succeeded, partial or failed, not %q", r.Status)
	}
	progress, err := jsonText(r.Progress)
	if err != nil {
		return fmt.Errorf("finish sync run: %w", err)
	}
	counts, err := jsonText(r.Counts)
	if err != nil {
		return fmt.Errorf("finish sync run: %w", err)
	}
	var plan, errs sql.NullString
	if r.Plan != nil {
		text, err := jsonText(r.Plan.Cut(mih.SyncStoredItems))
		if err != nil {
			return fmt.Errorf("finish sync run: %w", err)
		}
		plan = sql.NullString{String: text, Valid: true}
	}
	if len(r.Errors) > 0 {
		text, err := jsonText(r.Errors[:min(len(r.Errors), mih.SyncStoredItems)])
		if err != nil {
			return fmt.Errorf("finish sync run: %w", err)
		}
		errs = sql.NullString{String: text, Valid: true}
	}
	now := round(s.now())
	if r.FinishedAt == nil {
		r.FinishedAt = &now
	}
	var csv any
	if len(r.MissingCSV) > 0 {
		csv = r.MissingCSV
	}
	n, err := s.execCount(ctx, s.db, `UPDATE sync_runs SET status = ?, finished_at = ?, progress = ?, counts = ?, plan = ?,
		errors = ?, error_code = ?, error = ?, missing_csv = ? WHERE id = ? AND status = ? AND runner = ?`,
		string(r.Status), micros(*r.FinishedAt), progress, counts, plan, errs, string(r.ErrorCode), r.Error, csv,
		r.ID, string(mih.SyncRunning), r.Runner)
	if err != nil {
		return fmt.Errorf("finish sync run: %w", err)
	}
	if n == 0 {
		return s.runConflict(ctx, r.ID, "finish sync run", "is not running for "+r.Runner)
	}
	return nil
}

// AbandonSyncRuns fails the job's running runs of other runners.
func (s *Store) AbandonSyncRuns(ctx context.Context, job, runner, reason string, now time.Time) (int, error) {
	progress, err := jsonText(mih.SyncProgress{Phase: mih.PhaseInterrupted})
	if err != nil {
		return 0, err
	}
	n, err := s.execCount(ctx, s.db, `UPDATE sync_runs SET status = ?, finished_at = ?, progress = ?, error_code = ?, error = ?
		WHERE job = ? AND status = ? AND runner <> ?`,
		string(mih.SyncFailed), micros(now), progress, string(mih.CodeUnavailable), reason,
		job, string(mih.SyncRunning), runner)
	if err != nil {
		return 0, fmt.Errorf("abandon sync runs: %w", err)
	}
	return n, nil
}

// PruneSyncRuns deletes the job's finished runs beyond the newest keep.
func (s *Store) PruneSyncRuns(ctx context.Context, job string, keep int) (int, error) {
	if keep < 0 {
		keep = 0
	}
	var cut sql.NullInt64
	err := s.queryRow(ctx, s.read, `SELECT id FROM sync_runs WHERE job = ? AND status IN (?, ?, ?)
		ORDER BY id DESC LIMIT 1 OFFSET ?`, job, string(mih.SyncSucceeded), string(mih.SyncPartial), string(mih.SyncFailed), keep).Scan(&cut)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("prune sync runs: %w", err)
	}
	n, err := s.execCount(ctx, s.db, `DELETE FROM sync_runs WHERE job = ? AND id <= ? AND status IN (?, ?, ?)`,
		job, cut.Int64, string(mih.SyncSucceeded), string(mih.SyncPartial), string(mih.SyncFailed))
	if err != nil {
		return 0, fmt.Errorf("prune sync runs: %w", err)
	}
	return n, nil
}
