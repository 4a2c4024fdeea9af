package coursesync

import (
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

// QueueRun refuses what the API and the web UI refuse, and stores the rest queued; DeleteJob
// waits for the job's runs to be over.
func TestQueueRun(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name   string
		job    string
		kind   mih.SyncRunKind
		expect string
		want   mih.Code
	}{
		{"plan", "webcourse", mih.SyncPlanOnly, "", ""},
		{"apply of a plan", "webcourse", mih.SyncApply, " abc123 ", ""},
		{"expect on a plan", "webcourse", mih.SyncPlanOnly, "abc123", mih.CodeInvalid},
		{"unknown kind", "webcourse", "purge", "", mih.CodeInvalid},
		{"unknown job", "nope", mih.SyncPlanOnly, "", mih.CodeNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run, err := QueueRun(f.ctx, f.store, tc.job, tc.kind, mih.TriggerAPI, tc.expect)
			if got := mih.ErrorCode(err); err != nil && got != tc.want || err == nil && tc.want != "" {
				t.Fatalf("got %v, want code %q", err, tc.want)
			}
			if err != nil {
				return
			}
			stored, err := f.store.FindSyncRunByID(f.ctx, run.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.Status != mih.SyncQueued || stored.Progress.Phase != mih.PhaseQueued || stored.Kind != tc.kind ||
				stored.Trigger != mih.TriggerAPI || stored.Expect != strings.TrimSpace(tc.expect) {
				t.Errorf("stored run %+v", stored)
			}
		})
	}

	j := f.job()
	j.Enabled = false
	if err := f.store.UpdateSyncJob(f.ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := QueueRun(f.ctx, f.store, "webcourse", mih.SyncApply, mih.TriggerAPI, ""); mih.ErrorCode(err) != mih.CodeConflict {
		t.Errorf("apply of a disabled job: %v", err)
	}
	if _, err := QueueRun(f.ctx, f.store, "webcourse", mih.SyncPlanOnly, mih.TriggerAPI, ""); err != nil {
		t.Errorf("plan of a disabled job: %v", err)
	}

	busy, err := BusyRun(f.ctx, f.store, "webcourse")
	if err != nil || busy == nil || busy.Status != mih.SyncQueued {
		t.Fatalf("busy run %+v, %v", busy, err)
	}
	if err := DeleteJob(f.ctx, f.store, "webcourse"); mih.ErrorCode(err) != mih.CodeConflict {
		t.Fatalf("delete with queued runs: %v", err)
	}
	// The queued runs go through (a process takes them), then the job can go.
	for {
		busy, err := BusyRun(f.ctx, f.store, "webcourse")
		if err != nil {
			t.Fatal(err)
		}
		if busy == nil {
			break
		}
		if _, err := f.runner.RunQueued(f.ctx, busy.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := DeleteJob(f.ctx, f.store, "webcourse"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.FindSyncJobByName(f.ctx, "webcourse"); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("job after delete: %v", err)
	}
	if err := DeleteJob(f.ctx, f.store, "webcourse"); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("delete of a deleted job: %v", err)
	}
}
