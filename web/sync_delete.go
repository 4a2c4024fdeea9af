package web

import (
	"net/http"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/coursesync"
)

type syncDeleteData struct {
	Job *mih.SyncJob
	// Runs is how many runs the history holds (at most one page is counted: More says so).
	Runs int
	More bool
	// Busy is a run queued or going on: the job cannot be deleted until it is over.
	Busy *mih.SyncRun
}

// syncDeleteConfirm says what deleting the job takes along before anything happens: its run
// history with the plans, reports and missing-users CSVs. Moodle is not touched.
func (h *Handler) syncDeleteConfirm(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	j, err := h.store.FindSyncJobByName(ctx, r.PathValue("job"))
	if err != nil {
		return err
	}
	runs, next, err := h.store.FindSyncRuns(ctx, mih.SyncRunFilter{Job: j.Name, Limit: coursesync.DefaultKeepRuns})
	if err != nil {
		return err
	}
	busy, err := coursesync.BusyRun(ctx, h.store, j.Name)
	if err != nil {
		return err
	}
	d := syncDeleteData{Job: j, Runs: len(runs), More: next != "", Busy: busy}
	return h.render(w, r, http.StatusOK, "sync_delete", "Delete sync job "+j.Name, "sync", d)
}

// syncDelete deletes the job once confirmed on syncDeleteConfirm's page, as the API does
// (coursesync.DeleteJob: refused while a run is queued or going on).
func (h *Handler) syncDelete(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("job")
	if r.PostFormValue("confirm") != "yes" {
		return mih.Errorf(mih.CodeConfirm, "Deleting sync job %s needs confirmation: use the Delete button of its confirmation page.", name)
	}
	if err := h.ops.DeleteSyncJob(r.Context(), name); err != nil {
		return err
	}
	return h.redirect(w, r, "/sync", "ok", "Sync job %s deleted with its run history. Moodle's courses and enrolments are as they were.", name)
}
