package web

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/mihhub/mih"
)

// statsWindow is the period of the dashboard's per-service figures and status distribution, and
// trendSize how many of the newest calls the latency chart shows (as GET /api/v1/stats).
const (
	statsWindow = 24 * time.Hour
	trendSize   = 200
)

type dashboardData struct {
	Since    time.Time
	Updated  time.Time
	Status   statusChart
	Latency  latencyChart
	Services []serviceRow
	Queue    []queueDepth
	// NotClosed counts the circuits that are open or half-open.
	NotClosed int
}

// serviceRow is one service's line on the dashboard and in the services list.
type serviceRow struct {
	Name         string
	Type         mih.ServiceType
	Enabled      bool
	Circuit      string
	Requests     int
	Errors       int
	AvgLatencyMS float64
	LastUsed     *time.Time
	Waiting      int
	Dead         int
}

type queueDepth struct {
	State mih.DeliveryState
	Count int
	Href  string
}

// dashboard shows the charts, the services with their circuits and the queue depth.
func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) error {
	d, err := h.loadDashboard(r.Context())
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "dashboard", "Dashboard", "dashboard", d)
}

// dashboardLive is the dashboard's changing part alone, which app.js fetches every few seconds.
func (h *Handler) dashboardLive(w http.ResponseWriter, r *http.Request) error {
	d, err := h.loadDashboard(r.Context())
	if err != nil {
		return err
	}
	return h.renderFragment(w, r, "dashboard", "live", d)
}

// loadDashboard reads what GET /api/v1/stats answers, with the same store calls.
func (h *Handler) loadDashboard(ctx context.Context) (*dashboardData, error) {
	now := h.now().UTC()
	since := now.Add(-statsWindow)
	services, err := h.store.FindServices(ctx)
	if err != nil {
		return nil, err
	}
	stats, err := h.store.ServiceStats(ctx, since)
	if err != nil {
		return nil, err
	}
	recent, _, err := h.store.FindLogs(ctx, mih.LogFilter{Limit: trendSize})
	if err != nil {
		return nil, err
	}
	counts, err := h.store.CountDeliveries(ctx)
	if err != nil {
		return nil, err
	}
	d := &dashboardData{Since: since, Updated: now, Latency: newLatencyChart(recent)}
	ok, failed := 0, 0
	for _, st := range stats {
		ok += st.Requests - st.Errors
		failed += st.Errors
	}
	d.Status = newStatusChart(ok, failed)
	d.Services = h.serviceRows(services, stats, counts)
	for _, s := range d.Services {
		if s.Circuit != mih.CircuitClosed {
			d.NotClosed++
		}
	}
	byState := map[mih.DeliveryState]int{}
	for _, c := range counts {
		byState[c.State] += c.Count
	}
	for _, st := range mih.DeliveryStates() {
		d.Queue = append(d.Queue, queueDepth{State: st, Count: byState[st], Href: "/queue?state=" + url.QueryEscape(string(st))})
	}
	return d, nil
}

// serviceRows joins the services with their figures and circuits, by name.
func (h *Handler) serviceRows(services []*mih.Service, stats []mih.ServiceStat, counts []mih.DeliveryCount) []serviceRow {
	byName := map[string]mih.ServiceStat{}
	for _, st := range stats {
		byName[st.Service] = st
	}
	waiting, dead := map[string]int{}, map[string]int{}
	for _, c := range counts {
		switch c.State {
		case mih.DeliveryPending, mih.DeliveryRetrying, mih.DeliveryPaused:
			waiting[c.Service] += c.Count
		case mih.DeliveryDead:
			dead[c.Service] += c.Count
		}
	}
	slices.SortFunc(services, func(a, b *mih.Service) int { return cmp.Compare(a.Name, b.Name) })
	rows := make([]serviceRow, 0, len(services))
	for _, s := range services {
		st := byName[s.Name]
		rows = append(rows, serviceRow{
			Name: s.Name, Type: s.Type, Enabled: s.Enabled,
			Circuit:  h.ops.CircuitState(s.Name),
			Requests: st.Requests, Errors: st.Errors, AvgLatencyMS: st.AvgLatencyMS, LastUsed: st.LastUsed,
			Waiting: waiting[s.Name], Dead: dead[s.Name],
		})
	}
	return rows
}
