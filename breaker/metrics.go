package breaker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mihhub/mih"
)

// Collector exposes the circuits to Prometheus:
//
//	mih_circuit_state{service,state}          gauge: 1 for the state this process sees, 0 for the others
//	mih_circuit_transitions_total{service,to}  counter: changes of state made by this process
//
// Services whose circuit was never stored are closed and not listed.
func (b *Breaker) Collector() prometheus.Collector { return collector{b} }

type collector struct{ b *Breaker }

var (
	stateDesc = prometheus.NewDesc("mih_circuit_state",
		"Circuit breaker state per service as this process sees it (1 for the current state).", []string{"service", "state"}, nil)
	transitionsDesc = prometheus.NewDesc("mih_circuit_transitions_total",
		"Circuit state changes this process made, by service and new state.", []string{"service", "to"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stateDesc
	ch <- transitionsDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, circ := range c.b.Circuits() {
		for _, s := range []string{mih.CircuitClosed, mih.CircuitOpen, mih.CircuitHalfOpen} {
			v := 0.0
			if circ.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, v, circ.Service, s)
		}
	}
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	for k, n := range c.b.transitions {
		ch <- prometheus.MustNewConstMetric(transitionsDesc, prometheus.CounterValue, float64(n), k.service, k.to)
	}
}
