package web

import "net/http"

// syncPage is the course sync entry of the UI. Sync jobs are configured with `mih apply` (and
// the /api/v1/sync endpoints) for now; the page with their plans, runs and reports will replace
// this handler and its template, and nothing else.
func (h *Handler) syncPage(w http.ResponseWriter, r *http.Request) error {
	return h.render(w, r, http.StatusOK, "sync", "Course sync", "sync", nil)
}
