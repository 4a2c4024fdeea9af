package delivery_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
)

// counterMock is a function-field mock of delivery.DeliveryCounter.
type counterMock struct {
	CountDeliveriesFn func(ctx context.Context) ([]mih.DeliveryCount, error)
}

var _ delivery.DeliveryCounter = (*counterMock)(nil)

func (m *counterMock) CountDeliveries(ctx context.Context) ([]mih.DeliveryCount, error) {
	return m.CountDeliveriesFn(ctx)
}

// gathered indexes a registry's samples by name and label values in label-name order
// ("mih_delivery_attempts_total{outcome,service}").
func gathered(t *testing.T, reg *prometheus.Registry) map[string]*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + "{"
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetValue()
			}
			out[key+"}"] = m
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	st := openSQLite(t)
	var counts atomic.Int32
	counter := &counterMock{CountDeliveriesFn: func(ctx context.Context) ([]mih.DeliveryCount, error) {
		counts.Add(1)
		return st.CountDeliveries(ctx)
	}}
	reg := prometheus.NewRegistry()
	metrics, err := delivery.NewMetrics(reg, counter)
	if err != nil {
		t.Fatal(err)
	}

	e := newEnv(t, st)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	e.service("hooks", rc.URL, nil)
	e.service("idle", rc.URL, func(s *mih.Service) { s.Enabled = false })
	id := e.deliveries("hooks", 1)[0]
	e.deliveries("idle", 2)
	stop := start(t, e.worker("w1", func(c *delivery.Config) { c.Metrics = metrics }))
	e.waitState(id, mih.DeliverySucceeded)
	stop()

	got := gathered(t, reg)
	checks := []struct {
		key  string
		want float64
		get  func(*dto.Metric) float64
	}{
		{"mih_delivery_attempts_total{retry,hooks}", 1, counterValue},
		{"mih_delivery_attempts_total{success,hooks}", 1, counterValue},
		{"mih_delivery_latency_seconds{hooks}", 1, func(m *dto.Metric) float64 { return float64(m.GetHistogram().GetSampleCount()) }},
		{"mih_delivery_inflight{}", 0, gaugeValue},
		{"mih_deliveries{hooks,succeeded}", 1, gaugeValue},
		{"mih_deliveries{hooks,pending}", 0, gaugeValue},
		{"mih_deliveries{idle,paused}", 2, gaugeValue},
		{"mih_delivery_queue_depth{}", 2, gaugeValue},
	}
	for _, c := range checks {
		m, ok := got[c.key]
		if !ok {
			t.Errorf("%s: missing", c.key)
			continue
		}
		if v := c.get(m); v != c.want {
			t.Errorf("%s: got %v, want %v", c.key, v, c.want)
		}
	}
	gathered(t, reg)
	if n := counts.Load(); n != 1 {
		t.Errorf("CountDeliveries: called %d times for two scrapes in a row, want 1 (cached)", n)
	}

	if _, err := delivery.NewMetrics(reg, nil); err == nil {
		t.Error("registering twice: got no error")
	}
}

func counterValue(m *dto.Metric) float64 { return m.GetCounter().GetValue() }
func gaugeValue(m *dto.Metric) float64   { return m.GetGauge().GetValue() }
