package coursesync

import (
	"context"
	"fmt"
	"strings"

	"github.com/mihhub/mih"
)

// QueueRun asks for a run of a job without running it: the run is stored queued, and the
// Scheduler of a `mih serve` process (any of them, on a shared database) takes it within a
// second, under the job's lease. The API and the web UI queue runs through it, so both refuse
// the same things: an unknown job (CodeNotFound), an apply of a disabled job (CodeConflict; a
// plan is still possible), and an expected fingerprint on anything but an apply (CodeInvalid).
//
// expect, for an apply, is the fingerprint of the plan the caller confirmed: the run applies
// only that plan, and fails with CodeConflict, changing nothing, when the fresh plan differs.
func QueueRun(ctx context.Context, st mih.SyncStore, job string, kind mih.SyncRunKind, trigger mih.SyncTrigger, expect string) (*mih.SyncRun, error) {
	if kind != mih.SyncPlanOnly && kind != mih.SyncApply {
		return nil, mih.Errorf(mih.CodeInvalid, "run kind %q: want plan or apply", kind)
	}
	expect = strings.TrimSpace(expect)
	if expect != "" && kind != mih.SyncApply {
		return nil, mih.Errorf(mih.CodeInvalid, "expect: only an apply confirms a plan")
	}
	j, err := st.FindSyncJobByName(ctx, job)
	if err != nil {
		return nil, err
	}
	if kind == mih.SyncApply && !j.Enabled {
		return nil, mih.Errorf(mih.CodeConflict, "sync job %q is disabled: enable it to apply changes (a plan is still possible)", j.Name)
	}
	run := &mih.SyncRun{Job: j.Name, Kind: kind, Trigger: trigger, Status: mih.SyncQueued,
		Expect: expect, Progress: mih.SyncProgress{Phase: mih.PhaseQueued}}
	if err := st.CreateSyncRun(ctx, run); err != nil {
		return nil, fmt.Errorf("queue a %s run of %s: %w", kind, j.Name, err)
	}
	return run, nil
}

// DeleteJob deletes a job with its run history. A job with a run queued or going on is refused
// (CodeConflict): the run would go on without its job, and its report would have nowhere to go.
// Moodle is not touched: the courses and enrolments the job made stay.
func DeleteJob(ctx context.Context, st mih.SyncStore, name string) error {
	if _, err := st.FindSyncJobByName(ctx, name); err != nil {
		return err
	}
	busy, err := BusyRun(ctx, st, name)
	if err != nil {
		return err
	}
	if busy != nil {
		return mih.Errorf(mih.CodeConflict, "sync job %q has run %d %s: delete it when the run is over", name, busy.ID, busy.Status)
	}
	if err := st.DeleteSyncJob(ctx, name); err != nil {
		return fmt.Errorf("delete sync job %s: %w", name, err)
	}
	return nil
}

// BusyRun returns the job's newest run that is queued or running, or nil when there is none.
func BusyRun(ctx context.Context, st mih.SyncStore, job string) (*mih.SyncRun, error) {
	busy, _, err := st.FindSyncRuns(ctx, mih.SyncRunFilter{Job: job,
		Status: []mih.SyncRunStatus{mih.SyncQueued, mih.SyncRunning}, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("find the runs of sync job %s: %w", job, err)
	}
	if len(busy) == 0 {
		return nil, nil
	}
	return busy[0], nil
}
