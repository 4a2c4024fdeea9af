package http

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/mihhub/mih"
)

// healthHandler answers GET /api/v1/health, without a token, for load balancers and monitors.
type healthHandler struct {
	store   mih.MetaStore
	version string
	logger  *slog.Logger
}

type healthBody struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Store   string `json:"store"`
}

// get pings the store with its cheapest read. A store that does not answer makes the hub
// unhealthy: 503 with "store":"unavailable".
func (h *healthHandler) get(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := h.store.ConfigVersion(ctx); err != nil {
		h.logger.LogAttrs(r.Context(), slog.LevelError, "health: store does not answer",
			slog.String("request_id", RequestID(r.Context())), slog.String("err", err.Error()))
		writeJSON(w, http.StatusServiceUnavailable, healthBody{Status: "unavailable", Version: h.version, Store: "unavailable"})
		return nil
	}
	writeJSON(w, http.StatusOK, healthBody{Status: "ok", Version: h.version, Store: "ok"})
	return nil
}

// ReadinessCheck is one line of a readiness answer.
type ReadinessCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// readyHandler answers GET /api/v1/ready, without a token: 200 when every check passes, else
// 503, so that an orchestrator sends traffic only to a process that can serve it.
type readyHandler struct {
	checks  func(ctx context.Context) []ReadinessCheck
	version string
}

type readyBody struct {
	Status  string           `json:"status"`
	Version string           `json:"version"`
	Checks  []ReadinessCheck `json:"checks"`
}

func (h *readyHandler) get(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var checks []ReadinessCheck
	if h.checks != nil {
		checks = h.checks(ctx)
	}
	body := readyBody{Status: "ready", Version: h.version, Checks: checks}
	if body.Checks == nil {
		body.Checks = []ReadinessCheck{}
	}
	status := http.StatusOK
	for _, c := range checks {
		if !c.OK {
			body.Status, status = "not_ready", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, body)
	return nil
}
