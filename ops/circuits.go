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

// Replay replays the dead deliveries f selects (mih.Replay) and wakes the workers.
func (o *Ops) Replay(ctx context.Context, f mih.DeliveryFilter) (int, error) {
	return o.ledger.Replay(ctx, f)
}

// ReplayDelivery replays one dead delivery, re-rendered first when rerender is set.
func (o *Ops) ReplayDelivery(ctx context.Context, id int64, rerender bool) (*mih.Delivery, error) {
	d, err := o.store.FindDeliveryByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := o.ledger.ReplayOne(ctx, d, rerender); err != nil {
		return nil, err
	}
	return o.store.FindDeliveryByID(ctx, id)
}

// DeleteDeliveries deletes what f selects, except deliveries being sent right now.
func (o *Ops) DeleteDeliveries(ctx context.Context, f mih.DeliveryFilter) (int, error) {
	return o.ledger.Delete(ctx, f)
}

// DeleteDelivery deletes one delivery; one being sent right now is CodeConflict.
func (o *Ops) DeleteDelivery(ctx context.Context, id int64) error {
	if _, err := o.store.FindDeliveryByID(ctx, id); err != nil {
		return err
	}
	n, err := o.ledger.Delete(ctx, mih.DeliveryFilter{IDs: []int64{id}})
	if err != nil {
		return err
	}
	if n == 0 {
		return mih.Errorf(mih.CodeConflict, "delivery %d is being sent right now; try again when the attempt has ended", id)
	}
	return nil
}

// Enqueue stores deliveries without an event (asynchronous gateway calls) and wakes the workers.
func (o *Ops) Enqueue(ctx context.Context, ds ...*mih.Delivery) error {
	if err := o.store.CreateDeliveries(ctx, ds); err != nil {
		return err
	}
	o.ledger.notify(len(ds))
	return nil
}
