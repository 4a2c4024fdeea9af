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
