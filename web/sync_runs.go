package web

import (
	"net/http"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/coursesync"
)

type syncRunRow struct {
	Run      *mih.SyncRun
	Badge    badge
	Trigger  string
	Duration string
}

type syncRunsData struct {
	syncJobRow
	// Roles is the role mapping, sorted by source name.
	Roles []syncRoleRow
	Rows  []syncRunRow
	Pager string
	// Busy is a run queued or going on: a new preview would wait behind it.
	Busy *mih.SyncRun
	Now  time.Time
}

// syncRuns is a job's page: its settings, the actions on it, and its run history (newest first,
// a page at a time) with each run's status, kind, start, duration and counts.
func (h *Handler) syncRuns(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	j, err := h.store.FindSyncJobByName(ctx, r.PathValue("job"))
	if err != nil {
		return err
	}
	row, err := h.syncJobRow(ctx, j)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	runs, next, err := h.store.FindSyncRuns(ctx, mih.SyncRunFilter{Job: j.Name, Limit: pageSize, Cursor: q.Get("cursor")})
	if err != nil {
		return err
	}
	busy, err := coursesync.BusyRun(ctx, h.store, j.Name)
	if err != nil {
		return err
	}
	now := h.now()
	d := syncRunsData{syncJobRow: row, Roles: syncRoleRows(j), Busy: busy, Now: now}
	for _, run := range runs {
		d.Rows = append(d.Rows, syncRunRow{Run: run, Badge: syncRunBadge(run.Status), Trigger: syncTriggerLabel(run.Trigger), Duration: runDuration(run, now)})
	}
	d.Pager = nextPage(syncJobPath(j.Name), q, next)
	return h.render(w, r, http.StatusOK, "sync_runs", "Sync job "+j.Name, "sync", d)
}
