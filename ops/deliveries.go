package ops

import (
	"context"

	"github.com/mihhub/mih"
)

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

// RecordCalls writes the request-log entries of synchronous gateway calls.
func (o *Ops) RecordCalls(ctx context.Context, entries []*mih.LogEntry) error {
	return o.store.CreateLogs(ctx, entries)
}
