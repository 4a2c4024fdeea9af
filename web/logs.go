package web

import (
	"net/http"

	"github.com/mihhub/mih"
)

type logListData struct {
	Entries      []*mih.LogEntry
	Next         string
	Service      string
	Success      string
	Since        string
	Services     []string
	SinceChoices any
}

// logList shows the request log, newest first, filtered by service, outcome and period.
func (h *Handler) logList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := logListData{Service: q.Get("service"), Success: q.Get("success"), Since: q.Get("since"), SinceChoices: sinceChoices}
	f := mih.LogFilter{Service: d.Service, Since: h.since(d.Since), Limit: pageSize, Cursor: q.Get("cursor")}
	switch d.Success {
	case "true", "false":
		ok := d.Success == "true"
		f.Success = &ok
	default:
		d.Success = ""
	}
	entries, next, err := h.store.FindLogs(r.Context(), f)
	if err != nil {
		return err
	}
	if d.Services, err = h.serviceNames(r); err != nil {
		return err
	}
	d.Entries = entries
	d.Next = nextPage("/logs", q, next)
	return h.render(w, r, http.StatusOK, "logs", "Request log", "logs", d)
}
