package web

import (
	"net/http"
	"net/url"

	"github.com/mihhub/mih"
)

// syncNew shows the form of a new sync job with the defaults written out.
func (h *Handler) syncNew(w http.ResponseWriter, r *http.Request) error {
	return h.renderSyncForm(w, r, http.StatusOK, newSyncForm(newSyncJobDefaults(), true))
}

// syncCreate adds a job from the form, checked as the API checks it (coursesync.CheckJob: the
// fields, the schedule with the scheduler's parser, the site and the REST source service), or
// shows the form again with its errors. The form's "More rows" button only adds empty rows.
func (h *Handler) syncCreate(w http.ResponseWriter, r *http.Request) error {
	j, f := parseSyncForm(r, nil)
	if r.PostFormValue("action") == "more" {
		f.blanks(syncMoreRows)
		return h.renderSyncForm(w, r, http.StatusOK, f)
	}
	if j == nil {
		return h.renderSyncForm(w, r, http.StatusBadRequest, f)
	}
	ok, err := h.checkSyncJob(r, j, f)
	if err != nil {
		return err
	}
	if !ok {
		return h.renderSyncForm(w, r, http.StatusBadRequest, f)
	}
	if err := h.ops.CreateSyncJob(r.Context(), j); err != nil {
		if mih.ErrorCode(err) == mih.CodeConflict {
			f.fail("name", "a sync job named %q exists already", j.Name)
			return h.renderSyncForm(w, r, http.StatusConflict, f)
		}
		return err
	}
	return h.redirect(w, r, syncJobPath(j.Name), "ok",
		"Sync job %s added. Preview it to see what it would change in Moodle; nothing changes before you confirm.", j.Name)
}

// syncEdit shows a stored job's form.
func (h *Handler) syncEdit(w http.ResponseWriter, r *http.Request) error {
	j, err := h.store.FindSyncJobByName(r.Context(), r.PathValue("job"))
	if err != nil {
		return err
	}
	return h.renderSyncForm(w, r, http.StatusOK, newSyncForm(j, false))
}

// syncUpdate saves the form over a stored job. A run already queued or going on keeps the
// settings it started with; the next one takes the new ones.
func (h *Handler) syncUpdate(w http.ResponseWriter, r *http.Request) error {
	old, err := h.store.FindSyncJobByName(r.Context(), r.PathValue("job"))
	if err != nil {
		return err
	}
	j, f := parseSyncForm(r, old)
	if r.PostFormValue("action") == "more" {
		f.blanks(syncMoreRows)
		return h.renderSyncForm(w, r, http.StatusOK, f)
	}
	if j == nil {
		return h.renderSyncForm(w, r, http.StatusBadRequest, f)
	}
	ok, err := h.checkSyncJob(r, j, f)
	if err != nil {
		return err
	}
	if !ok {
		return h.renderSyncForm(w, r, http.StatusBadRequest, f)
	}
	if err := h.ops.UpdateSyncJob(r.Context(), j); err != nil {
		return err
	}
	return h.redirect(w, r, syncJobPath(j.Name), "ok", "Sync job %s saved.", j.Name)
}

// checkSyncJob runs the API's check and puts its fault next to its field. It reports whether the
// job passed; an error is the store's.
func (h *Handler) checkSyncJob(r *http.Request, j *mih.SyncJob, f *syncForm) (bool, error) {
	err := h.ops.CheckSyncJob(r.Context(), j)
	if err == nil {
		return true, nil
	}
	if mih.ErrorCode(err) != mih.CodeInvalid {
		return false, err
	}
	msg := mih.ErrorMessage(err)
	f.fail(syncFieldOf(msg), "%s", msg)
	return false, nil
}

// syncJobPath is a job's page: its settings and its runs.
func syncJobPath(job string) string { return "/sync/" + url.PathEscape(job) + "/runs" }
