package web

import (
	"net/http"
	"strconv"

	"github.com/mihhub/mih"
)

// The actions on a job: enable or disable it, preview it (a plan run) and confirm a preview (an
// apply run of exactly that plan). Runs are queued in the store, as the API queues them
// (coursesync.QueueRun); the scheduler of a `mih serve` process takes them within a second, and
// the run's page shows its progress until it is over. Runs asked for here are recorded with the
// trigger "web".

// syncEnable turns a job on or off. A disabled job runs neither on its schedule nor on a
// confirmation; it can still be previewed.
func (h *Handler) syncEnable(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("job")
	on := r.PostFormValue("enabled") == "true"
	if _, err := h.ops.SetSyncJobEnabled(ctx, name, on); err != nil {
		return err
	}
	word := "disabled: it runs neither on its schedule nor when confirmed, and can still be previewed"
	if on {
		word = "enabled"
	}
	return h.redirect(w, r, back(r, "/sync"), "ok", "Sync job %s %s.", name, word)
}

// syncPlan queues a preview: a run that computes the plan and changes nothing.
func (h *Handler) syncPlan(w http.ResponseWriter, r *http.Request) error {
	run, err := h.ops.QueueSync(r.Context(), r.PathValue("job"), mih.SyncPlanOnly, mih.TriggerWeb, "")
	if err != nil {
		return err
	}
	return h.redirect(w, r, syncRunPath(run.Job, run.ID), "ok",
		"Preview of %s queued as run %d: the plan shows here when it is ready. Nothing is changed in Moodle.", run.Job, run.ID)
}

// syncApply queues the apply of a previewed plan. The form carries the plan's fingerprint: the
// run applies that plan only, and changes nothing when the source or Moodle changed since the
// preview (the run then fails with a conflict and asks for a new preview). Without a
// fingerprint there is nothing confirmed, so nothing is queued.
func (h *Handler) syncApply(w http.ResponseWriter, r *http.Request) error {
	job := r.PathValue("job")
	expect := r.PostFormValue("expect")
	if expect == "" {
		return mih.Errorf(mih.CodeInvalid, "Applying sync job %s needs a previewed plan: preview it, then confirm the plan.", job)
	}
	run, err := h.ops.QueueSync(r.Context(), job, mih.SyncApply, mih.TriggerWeb, expect)
	if err != nil {
		return err
	}
	from := ""
	if id, err := strconv.ParseInt(r.PostFormValue("plan"), 10, 64); err == nil && id > 0 {
		from = " of run " + strconv.FormatInt(id, 10)
	}
	return h.redirect(w, r, syncRunPath(run.Job, run.ID), "ok", "Applying the plan%s as run %d.", from, run.ID)
}
