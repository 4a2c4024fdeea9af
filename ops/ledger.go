package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/rule"
)

// LedgerStore is the part of the store the Ledger changes deliveries through.
type LedgerStore interface {
	PauseDeliveries(ctx context.Context, service string, now time.Time) (int, error)
	ResumeDeliveries(ctx context.Context, service string, limit int, now time.Time) (int, error)
	ExpireDeliveries(ctx context.Context, service string, createdBefore, now time.Time) (int, error)
	ReplayDeliveries(ctx context.Context, f mih.DeliveryFilter, now time.Time) (int, error)
	DeleteDeliveries(ctx context.Context, f mih.DeliveryFilter) (int, error)
	rule.RerenderStore
}

// Ledger applies the delivery transitions that are not a worker's outcome (mih.Pause, Resume,
// Expire, Replay) and deletions, and wakes the delivery workers whenever deliveries became due.
// The circuit breaker and the maintainer change deliveries only through it. It is built before
// them and before the workers: the wake-up it signals waits until a worker runs.
type Ledger struct {
	store LedgerStore
	wake  Waker
	now   func() time.Time
}

// NewLedger returns a Ledger over store that wakes wake (nil: nobody; the workers find the work
// when they poll) and reads the time from now (nil: time.Now).
func NewLedger(store LedgerStore, wake Waker, now func() time.Time) *Ledger {
	if now == nil {
		now = time.Now
	}
	return &Ledger{store: store, wake: wake, now: now}
}

func (l *Ledger) notify(n int) {
	if n > 0 && l.wake != nil {
		l.wake.Notify()
	}
}

// PauseDeliveries pauses the service's waiting deliveries that no worker holds (mih.Pause): its
// circuit opened or it was disabled.
func (l *Ledger) PauseDeliveries(ctx context.Context, service string, now time.Time) (int, error) {
	return l.store.PauseDeliveries(ctx, service, now)
}

// ResumeDeliveries resumes up to limit (0: all) of the service's paused deliveries, oldest first
// (mih.Resume), and wakes the workers when it resumed any.
func (l *Ledger) ResumeDeliveries(ctx context.Context, service string, limit int, now time.Time) (int, error) {
	n, err := l.store.ResumeDeliveries(ctx, service, limit, now)
	l.notify(n)
	return n, err
}

// ExpireDeliveries moves the service's waiting deliveries created before the cut-off to the DLQ
// (mih.Expire).
func (l *Ledger) ExpireDeliveries(ctx context.Context, service string, createdBefore, now time.Time) (int, error) {
	return l.store.ExpireDeliveries(ctx, service, createdBefore, now)
}

// Replay sends the dead deliveries f selects again, due now (mih.Replay), and wakes the workers.
func (l *Ledger) Replay(ctx context.Context, f mih.DeliveryFilter) (int, error) {
	n, err := l.store.ReplayDeliveries(ctx, f, l.now().UTC())
	if err != nil {
		return 0, fmt.Errorf("replay deliveries: %w", err)
	}
	l.notify(n)
	return n, nil
}

// ReplayOne replays one dead delivery, re-rendered first with its rule as it is now when
// rerender is set (rule.Rerender). It returns CodeConflict when the delivery is not dead.
func (l *Ledger) ReplayOne(ctx context.Context, d *mih.Delivery, rerender bool) error {
	if d.State != mih.DeliveryDead {
		return mih.Errorf(mih.CodeConflict, "delivery %d is %s; only dead deliveries can be replayed", d.ID, d.State)
	}
	if rerender {
		if err := rule.Rerender(ctx, l.store, d); err != nil {
			return err
		}
	}
	n, err := l.Replay(ctx, mih.DeliveryFilter{IDs: []int64{d.ID}, State: mih.DeliveryDead})
	if err != nil {
		return err
	}
	if n == 0 {
		return mih.Errorf(mih.CodeConflict, "delivery %d is no longer dead; it was replayed or deleted meanwhile", d.ID)
	}
	return nil
}

// Delete deletes what f selects, except deliveries a worker holds, with their attempts.
func (l *Ledger) Delete(ctx context.Context, f mih.DeliveryFilter) (int, error) {
	return l.store.DeleteDeliveries(ctx, f)
}

// Notify wakes the delivery workers: deliveries were written outside the ledger's transitions
// (an inbound message's calls).
func (l *Ledger) Notify() { l.notify(1) }
