package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

var transitionTests = []test{
	{"Guards", testTransitionGuards},
	{"OutcomeState", testTransitionOutcomeState},
	{"StaleWorkerAfterReplay", testTransitionStaleWorker},
}

// testTransitionGuards applies every transition to a delivery in every state and checks that it
// moves exactly the states the domain allows it to leave.
func testTransitionGuards(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	for _, tr := range mih.Transitions() {
		for _, from := range mih.DeliveryStates() {
			t.Run(tr.Name+"/"+string(from), func(t *testing.T) {
				svc := fmt.Sprintf("g-%s-%s", tr.Name, from)
				d := withState(newDelivery(svc, t0), from, 1)
				d.CreatedAt = t0
				create(t, s, d)
				owner := "w-" + svc
				claimed := false
				if tr.To != "" && tr.Name != mih.Replay.Name && tr.Name != mih.Expire.Name {
					// A worker's outcome: it can only be reported on a delivery it claimed.
					p := mih.ClaimParams{Owner: owner, Limit: 1000, Lease: time.Minute, Now: t0.Add(time.Second)}
					for _, c := range must[[]*mih.Delivery](t)(s.ClaimDeliveries(ctx, p)) {
						claimed = claimed || c.ID == d.ID
					}
				}
				now := t0.Add(2 * time.Second)
				var n int
				var err error
				switch tr.Name {
				case mih.Pause.Name:
					if claimed {
						n, err = s.CompleteDeliveries(ctx, owner, []mih.DeliveryResult{{ID: d.ID, State: mih.DeliveryPaused, NextAttemptAt: now, Now: now}})
					} else {
						n, err = s.PauseDeliveries(ctx, svc, now)
					}
				case mih.Resume.Name:
					n, err = s.ResumeDeliveries(ctx, svc, 0, now)
				case mih.Replay.Name:
					n, err = s.ReplayDeliveries(ctx, mih.DeliveryFilter{IDs: []int64{d.ID}}, now)
				case mih.Expire.Name:
					n, err = s.ExpireDeliveries(ctx, svc, now, now)
				default:
					n, err = s.CompleteDeliveries(ctx, owner, []mih.DeliveryResult{{ID: d.ID, State: tr.To, CountAttempt: true,
						NextAttemptAt: now.Add(time.Minute), DeadReason: mih.ReasonFailed, Now: now}})
				}
				ok(t, err)
				got := find(t, s, d.ID)
				want := tr.Allows(from)
				if (n == 1) != want || !want && got.State != from {
					t.Errorf("%s from %s: moved %d, now %s; want moved=%v", tr.Name, from, n, got.State, want)
				}
				if n == 1 && tr.To != "" && got.State != tr.To {
					t.Errorf("%s from %s: now %s, want %s", tr.Name, from, got.State, tr.To)
				}
			})
		}
	}
}

// testTransitionOutcomeState refuses a worker's result in a state no round can end in.
func testTransitionOutcomeState(t *testing.T, s mih.Store) {
	t0 := base()
	d := newDelivery("crm", t0)
	create(t, s, d)
	claim(t, s, "w", 1, t0)
	for _, st := range []mih.DeliveryState{mih.DeliveryPending, "bogus"} {
		_, err := s.CompleteDeliveries(context.Background(), "w", []mih.DeliveryResult{{ID: d.ID, State: st}})
		wantCode(t, err, mih.CodeInvalid)
	}
	if got := find(t, s, d.ID); got.State != mih.DeliveryPending || got.Attempts != 0 {
		t.Errorf("after refused results: %+v", got)
	}
}

// testTransitionStaleWorker: a worker whose lease ran out while the delivery expired, was
// replayed and was claimed again must not overwrite the replay's outcome with its own.
func testTransitionStaleWorker(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	d := newDelivery("crm", t0)
	d.CreatedAt = t0
	create(t, s, d)
	claim(t, s, "stale", 1, t0) // leased until t0+1m
	n := must[int](t)(s.ExpireDeliveries(ctx, "crm", t0.Add(time.Hour), t0.Add(2*time.Minute)))
	if n != 1 {
		t.Fatalf("expire moved %d, want 1 (the lease ran out)", n)
	}
	if n := must[int](t)(s.ReplayDeliveries(ctx, mih.DeliveryFilter{IDs: []int64{d.ID}}, t0.Add(3*time.Minute))); n != 1 {
		t.Fatalf("replay moved %d", n)
	}
	stale := mih.DeliveryResult{ID: d.ID, State: mih.DeliveryDead, CountAttempt: true, DeadReason: mih.ReasonFailed,
		LastError: "stale", Now: t0.Add(4 * time.Minute)}
	if n := must[int](t)(s.CompleteDeliveries(ctx, "stale", []mih.DeliveryResult{stale})); n != 0 {
		t.Errorf("the stale worker's result applied to the replayed delivery")
	}
	claim(t, s, "fresh", 1, t0.Add(5*time.Minute))
	if n := must[int](t)(s.CompleteDeliveries(ctx, "stale", []mih.DeliveryResult{stale})); n != 0 {
		t.Errorf("the stale worker's result applied while another worker holds the delivery")
	}
	ok := mih.DeliveryResult{ID: d.ID, State: mih.DeliverySucceeded, CountAttempt: true, Now: t0.Add(6 * time.Minute)}
	if n := must[int](t)(s.CompleteDeliveries(ctx, "fresh", []mih.DeliveryResult{ok})); n != 1 {
		t.Errorf("the lease holder's result applied %d", n)
	}
	if got := find(t, s, d.ID); got.State != mih.DeliverySucceeded || got.Attempts != 1 || got.LastError != "" {
		t.Errorf("delivery %+v: want succeeded after one attempt", got)
	}
}
