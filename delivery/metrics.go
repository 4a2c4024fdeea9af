package delivery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mihhub/mih"
)

// DeliveryCounter counts deliveries by service and state; mih.DeliveryStore satisfies it.
type DeliveryCounter interface {
	CountDeliveries(ctx context.Context) ([]mih.DeliveryCount, error)
}

// countTTL is how long a CountDeliveries result serves scrapes: several Prometheus servers, or
// a dashboard polling /metrics, must not turn into a GROUP BY per request.
const countTTL = 2 * time.Second

// Metrics are the delivery ledger's Prometheus collectors:
//
//	mih_delivery_attempts_total{service,outcome}   counter: calls made (success, retry, dead)
//	mih_delivery_latency_seconds{service}          histogram: creation to success
//	mih_delivery_inflight                          gauge: sends under way in this process
//	mih_deliveries{service,state}                  gauge, read on scrape from the store
//	mih_delivery_queue_depth                       gauge: pending + retrying + paused
//
// The last two are shared by every process on one database; the others are per process. A nil
// *Metrics records nothing.
type Metrics struct {
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight prometheus.Gauge
}

// NewMetrics registers the metrics on reg. counts, when not nil, feeds the per-state gauges.
func NewMetrics(reg prometheus.Registerer, counts DeliveryCounter) (*Metrics, error) {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mih_delivery_attempts_total",
			Help: "Delivery attempts made, by service and outcome (success, retry, dead).",
		}, []string{"service", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mih_delivery_latency_seconds",
			Help: "Time from a delivery's creation to its successful attempt.",
			// 1 ms (a fast loopback receiver) to 1 h (a delivery that waited out an outage).
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"service"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mih_delivery_inflight",
			Help: "Delivery sends under way in this process.",
		}),
	}
	cs := []prometheus.Collector{m.attempts, m.latency, m.inflight}
	if counts != nil {
		cs = append(cs, newStateCollector(counts))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register delivery metrics: %w", err)
		}
	}
	return m, nil
}

// observe records one applied result.
func (m *Metrics) observe(service string, created time.Time, r *mih.DeliveryResult) {
	if m == nil || r.Attempt == nil {
		return
	}
	m.attempts.WithLabelValues(service, r.Attempt.Outcome).Inc()
	if r.State == mih.DeliverySucceeded && !created.IsZero() {
		m.latency.WithLabelValues(service).Observe(r.Now.Sub(created).Seconds())
	}
}

func (m *Metrics) addInflight(n int) {
	if m != nil {
		m.inflight.Add(float64(n))
	}
}

// stateCollector reads CountDeliveries on scrape, at most once per countTTL.
type stateCollector struct {
	counts DeliveryCounter
	byState,
	depth *prometheus.Desc

	mu   sync.Mutex
	at   time.Time
	last []mih.DeliveryCount
}

func newStateCollector(counts DeliveryCounter) *stateCollector {
	return &stateCollector{
		counts:  counts,
		byState: prometheus.NewDesc("mih_deliveries", "Deliveries in the ledger by service and state.", []string{"service", "state"}, nil),
		depth:   prometheus.NewDesc("mih_delivery_queue_depth", "Deliveries waiting: pending, retrying and paused.", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.byState
	ch <- c.depth
}

// Collect serves the cached counts. When the store cannot answer, the last good counts are served
// rather than failing the whole scrape.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) >= countTTL {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		counts, err := c.counts.CountDeliveries(ctx)
		cancel()
		c.at = time.Now()
		if err == nil {
			c.last = counts
		}
	}
	counts := c.last
	c.mu.Unlock()

	// Every state of every service seen, zeros included, so that a series drops to 0 rather than
	// vanishing when its last delivery moves on.
	type key struct {
		service string
		state   mih.DeliveryState
	}
	n := map[key]int{}
	services := map[string]bool{}
	depth := 0
	for _, dc := range counts {
		n[key{dc.Service, dc.State}] += dc.Count
		services[dc.Service] = true
		switch dc.State {
		case mih.DeliveryPending, mih.DeliveryRetrying, mih.DeliveryPaused:
			depth += dc.Count
		}
	}
	for s := range services {
		for _, st := range mih.DeliveryStates() {
			ch <- prometheus.MustNewConstMetric(c.byState, prometheus.GaugeValue, float64(n[key{s, st}]), s, string(st))
		}
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(depth))
}
