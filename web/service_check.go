package web

import (
	"net/http"
	"time"
)

// The "Test connection" button makes one call of the stored service and shows what happened
// (ops.TestService: the transport's own check when it offers one, else a GET through the
// gateway).

// testOutcome is the result shown on the service's page.
type testOutcome struct {
	Level   string // "ok", "warn" or "bad"
	Summary string
	Detail  string
	Status  int
	Latency string
	Body    string
}

// serviceTest tests the stored service and shows the outcome on its page.
func (h *Handler) serviceTest(w http.ResponseWriter, r *http.Request) error {
	s, res, err := h.ops.TestService(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	rd := secretsOf(s)
	out := &testOutcome{Level: res.Level, Summary: rd.apply(res.Summary), Detail: rd.apply(res.Detail),
		Status: res.Status, Body: rd.apply(res.Body)}
	if res.Latency > 0 {
		out.Latency = formatMS(float64(res.Latency) / float64(time.Millisecond))
	}
	f := newServiceForm(s, false)
	f.Test = out
	return h.renderServiceForm(w, r, http.StatusOK, f)
}
