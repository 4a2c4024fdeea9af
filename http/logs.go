package http

import (
	"net/http"

	"github.com/mihhub/mih"
)

// logHandler serves the request log, /api/v1/logs.
type logHandler struct {
	store mih.LogStore
}

// list answers log entries, newest first, filtered by service, success and since.
func (h *logHandler) list(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	f := mih.LogFilter{
		Service: q.str("service"),
		Success: q.boolPtr("success"),
		Since:   q.time("since"),
		Limit:   q.limit(),
		Cursor:  q.cursor(),
	}
	if q.err != nil {
		return q.err
	}
	entries, next, err := h.store.FindLogs(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, entries, next)
	return nil
}
