package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

var circuitTests = []test{
	{"ErrNotFound", testCircuitNotFound},
	{"SwapInsertUpdate", testCircuitSwap},
	{"SwapExclusive", testCircuitSwapExclusive},
	{"FindCircuits", testFindCircuits},
	{"DeletedWithService", testCircuitDeletedWithService},
}

func testCircuitNotFound(t *testing.T, s mih.Store) {
	_, err := s.FindCircuit(t.Context(), "nope")
	wantCode(t, err, mih.CodeNotFound)
}

func testCircuitSwap(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	c := &mih.Circuit{Service: "crm", State: mih.CircuitClosed, Failures: 2, FailingSince: t0}
	if !must[bool](t)(s.SwapCircuit(ctx, c)) {
		t.Fatal("first insert lost")
	}
	if c.Version != 1 {
		t.Errorf("version after insert %d, want 1", c.Version)
	}
	// A second writer that also believed there was no row loses, and writes nothing.
	other := &mih.Circuit{Service: "crm", State: mih.CircuitOpen}
	if must[bool](t)(s.SwapCircuit(ctx, other)) {
		t.Error("a second insert won")
	}

	open := *c
	open.State, open.Failures, open.FailingSince = mih.CircuitOpen, 0, time.Time{}
	open.OpenedAt, open.RetryAt = t0.Add(time.Second), t0.Add(31*time.Second)
	if !must[bool](t)(s.SwapCircuit(ctx, &open)) {
		t.Fatal("update at the current version lost")
	}
	if must[bool](t)(s.SwapCircuit(ctx, c)) { // c still holds version 1
		t.Error("an update at a stale version won")
	}

	got := must[*mih.Circuit](t)(s.FindCircuit(ctx, "crm"))
	if got.State != mih.CircuitOpen || got.Failures != 0 || got.Version != 2 || !got.FailingSince.IsZero() {
		t.Errorf("got %+v, want open, 0 failures, version 2, no failing_since", got)
	}
	wantTime(t, "opened_at", got.OpenedAt, open.OpenedAt)
	wantTime(t, "retry_at", got.RetryAt, open.RetryAt)
	wantUTC(t, "updated_at", got.UpdatedAt)

	probe := *got
	probe.State, probe.ProbeID, probe.ProbeUntil = mih.CircuitHalfOpen, "p-1", t0.Add(time.Minute)
	if !must[bool](t)(s.SwapCircuit(ctx, &probe)) {
		t.Fatal("taking the probe lost")
	}
	got = must[*mih.Circuit](t)(s.FindCircuit(ctx, "crm"))
	if got.State != mih.CircuitHalfOpen || got.ProbeID != "p-1" {
		t.Errorf("got %s probe %q, want halfopen p-1", got.State, got.ProbeID)
	}
	wantTime(t, "probe_until", got.ProbeUntil, probe.ProbeUntil)

	_, err := s.SwapCircuit(ctx, &mih.Circuit{State: mih.CircuitOpen})
	wantCode(t, err, mih.CodeInvalid)
}

// Many processes racing to change the same version: exactly one wins. This is what makes "exactly
// one half-open probe" hold across processes.
func testCircuitSwapExclusive(t *testing.T, s mih.Store) {
	ctx := t.Context()
	c := &mih.Circuit{Service: "crm", State: mih.CircuitOpen}
	ok(t, func() error { _, err := s.SwapCircuit(ctx, c); return err }())
	const racers = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range racers {
		wg.Go(func() {
			mine := *c
			mine.State, mine.ProbeID = mih.CircuitHalfOpen, string(rune('a'+i))
			won, err := s.SwapCircuit(ctx, &mine)
			if err != nil {
				t.Error(err)
				return
			}
			if won {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of %d racers won the same version, want exactly 1", wins, racers)
	}
}

func testFindCircuits(t *testing.T, s mih.Store) {
	ctx := t.Context()
	if cs := must[[]*mih.Circuit](t)(s.FindCircuits(ctx)); len(cs) != 0 {
		t.Errorf("empty store has %d circuits", len(cs))
	}
	for _, name := range []string{"erp", "crm", "lrs"} {
		ok(t, func() error {
			_, err := s.SwapCircuit(ctx, &mih.Circuit{Service: name, State: mih.CircuitClosed})
			return err
		}())
	}
	cs := must[[]*mih.Circuit](t)(s.FindCircuits(ctx))
	var names []string
	for _, c := range cs {
		names = append(names, c.Service)
	}
	if len(names) != 3 || names[0] != "crm" || names[1] != "erp" || names[2] != "lrs" {
		t.Errorf("got %v, want [crm erp lrs]", names)
	}
}

func testCircuitDeletedWithService(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateService(ctx, NewService("crm")))
	ok(t, func() error {
		_, err := s.SwapCircuit(ctx, &mih.Circuit{Service: "crm", State: mih.CircuitOpen})
		return err
	}())
	ok(t, func() error { _, err := s.DeleteService(ctx, "crm"); return err }())
	_, err := s.FindCircuit(ctx, "crm")
	wantCode(t, err, mih.CodeNotFound)
}
