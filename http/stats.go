package http

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/ops"
)

// statsWindow is the period of the dashboard's per-service figures and status distribution.
const statsWindow = 24 * time.Hour

// trendSize is how many of the newest log entries the latency trend shows.
const trendSize = 200

// statsHandler serves the dashboard figures, /api/v1/stats.
type statsHandler struct {
	store mih.Store
	ops   *ops.Ops
	now   func() time.Time
}

type statsBody struct {
	Since time.Time `json:"since"`
	// StatusDistribution counts the calls in the window that succeeded and failed.
	StatusDistribution statusDistribution `json:"status_distribution"`
	// LatencyTrend is the newest log entries' latencies, oldest first (for a chart).
	LatencyTrend []trendPoint `json:"latency_trend"`
	Services     []serviceRow `json:"services"`
	// Queue counts deliveries per state, every state present.
	Queue map[mih.DeliveryState]int `json:"queue"`
}

type statusDistribution struct {
	Success int `json:"success"`
	Failure int `json:"failure"`
}

type trendPoint struct {
	Time      time.Time `json:"time"`
	Service   string    `json:"service"`
	LatencyMS float64   `json:"latency_ms"`
	Success   bool      `json:"success"`
}

type serviceRow struct {
	Name         string          `json:"name"`
	Type         mih.ServiceType `json:"type"`
	Enabled      bool            `json:"enabled"`
	CircuitState string          `json:"circuit_state"`
	Requests     int             `json:"requests_24h"`
	Errors       int             `json:"errors_24h"`
	AvgLatencyMS float64         `json:"avg_latency_ms_24h"`
	LastUsed     *time.Time      `json:"last_used"`
	// Waiting counts pending, retrying and paused deliveries; Dead the service's DLQ.
	Waiting int `json:"waiting"`
	Dead    int `json:"dead"`
}

// get answers the status distribution, the latency trend, the per-service table and the queue
// depth per state.
func (h *statsHandler) get(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	since := h.now().UTC().Add(-statsWindow)
	services, err := h.store.FindServices(ctx)
	if err != nil {
		return err
	}
	stats, err := h.store.ServiceStats(ctx, since)
	if err != nil {
		return err
	}
	recent, _, err := h.store.FindLogs(ctx, mih.LogFilter{Limit: trendSize})
	if err != nil {
		return err
	}
	counts, err := h.store.CountDeliveries(ctx)
	if err != nil {
		return err
	}

	out := statsBody{
		Since:        since,
		LatencyTrend: make([]trendPoint, 0, len(recent)),
		Services:     make([]serviceRow, 0, len(services)),
		Queue:        map[mih.DeliveryState]int{},
	}
	byName := map[string]mih.ServiceStat{}
	for _, st := range stats {
		byName[st.Service] = st
		out.StatusDistribution.Success += st.Requests - st.Errors
		out.StatusDistribution.Failure += st.Errors
	}
	for _, e := range slices.Backward(recent) {
		out.LatencyTrend = append(out.LatencyTrend, trendPoint{Time: e.Time, Service: e.Service, LatencyMS: e.LatencyMS, Success: e.Success})
	}
	for _, st := range mih.DeliveryStates() {
		out.Queue[st] = 0
	}
	waiting, dead := map[string]int{}, map[string]int{}
	for _, c := range counts {
		out.Queue[c.State] += c.Count
		switch c.State {
		case mih.DeliveryPending, mih.DeliveryRetrying, mih.DeliveryPaused:
			waiting[c.Service] += c.Count
		case mih.DeliveryDead:
			dead[c.Service] += c.Count
		}
	}
	slices.SortFunc(services, func(a, b *mih.Service) int { return cmp.Compare(a.Name, b.Name) })
	for _, s := range services {
		st := byName[s.Name]
		out.Services = append(out.Services, serviceRow{
			Name:         s.Name,
			Type:         s.Type,
			Enabled:      s.Enabled,
			CircuitState: h.ops.CircuitState(s.Name),
			Requests:     st.Requests,
			Errors:       st.Errors,
			AvgLatencyMS: st.AvgLatencyMS,
			LastUsed:     st.LastUsed,
			Waiting:      waiting[s.Name],
			Dead:         dead[s.Name],
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
