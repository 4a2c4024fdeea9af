package ops

import (
	"context"

	"github.com/mihhub/mih"
)

// CircuitState reports a service's circuit: closed when the hub runs without a breaker.
func (o *Ops) CircuitState(service string) string {
	if o.cfg.Circuits == nil {
		return mih.CircuitClosed
	}
	return o.cfg.Circuits.State(service)
}

// ResetCircuit closes a service's circuit; the breaker resumes its paused deliveries through the
// Ledger, which wakes the workers.
func (o *Ops) ResetCircuit(ctx context.Context, service string) error {
	if _, err := o.store.FindServiceByName(ctx, service); err != nil {
		return err
	}
	if o.cfg.Circuits == nil {
		return nil
	}
	return o.cfg.Circuits.Reset(ctx, service)
}

// ResetCircuits closes every circuit that is not closed and reports how many it closed.
func (o *Ops) ResetCircuits(ctx context.Context) (int, error) {
	if o.cfg.Circuits == nil {
		return 0, nil
	}
	return o.cfg.Circuits.ResetAll(ctx)
}
