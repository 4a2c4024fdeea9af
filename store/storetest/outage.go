package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

var outageTests = []test{
	{"CircuitLastSuccess", testCircuitLastSuccess},
	{"FirstAttemptAt", testFirstAttemptAt},
	{"ProbeRotates", testProbeRotates},
	{"SitesVersion", testSitesVersion},
}

// SitesVersion changes with every create, update and delete of a site, and only then.
func testSitesVersion(t *testing.T, s mih.Store) {
	sv, versioned := s.(interface {
		SitesVersion(ctx context.Context) (string, error)
	})
	if !versioned {
		t.Skip("the store has no sites version")
	}
	ctx := t.Context()
	seen := map[string]bool{}
	step := func(what string, change func()) {
		t.Helper()
		change()
		v := must[string](t)(sv.SitesVersion(ctx))
		if seen[v] {
			t.Errorf("after %s: version %q seen before", what, v)
		}
		seen[v] = true
		if again := must[string](t)(sv.SitesVersion(ctx)); again != v {
			t.Errorf("after %s: version moved from %q to %q without a change", what, v, again)
		}
	}
	step("nothing", func() {})
	a, b := NewSite("a"), NewSite("b")
	step("create", func() { ok(t, s.CreateSite(ctx, a)) })
	step("create another", func() { ok(t, s.CreateSite(ctx, b)) })
	step("update", func() {
		time.Sleep(2 * time.Millisecond) // updated_at is in microseconds
		a.Tail = false
		ok(t, s.UpdateSite(ctx, a))
	})
	step("delete", func() { ok(t, s.DeleteSite(ctx, "b")) })
}

// The last success of a service is kept with its circuit and survives the changes of state.
func testCircuitLastSuccess(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	c := &mih.Circuit{Service: "crm", State: mih.CircuitClosed, LastSuccessAt: t0}
	if !must[bool](t)(s.SwapCircuit(ctx, c)) {
		t.Fatal("insert lost")
	}
	wantTime(t, "last_success_at", must[*mih.Circuit](t)(s.FindCircuit(ctx, "crm")).LastSuccessAt, t0)
	c.State, c.OpenedAt, c.LastSuccessAt = mih.CircuitOpen, t0.Add(time.Minute), t0.Add(2*time.Second)
	if !must[bool](t)(s.SwapCircuit(ctx, c)) {
		t.Fatal("update lost")
	}
	cs := must[[]*mih.Circuit](t)(s.FindCircuits(ctx))
	if len(cs) != 1 {
		t.Fatalf("%d circuits", len(cs))
	}
	wantTime(t, "last_success_at", cs[0].LastSuccessAt, t0.Add(2*time.Second))
}

// FirstAttemptAt finds the start of a delivery's current attempts: paused attempts (failed
// probes) do not count, and a replay starts the count again.
func testFirstAttemptAt(t *testing.T, s mih.Store) {
	fa, ok := s.(interface {
		FirstAttemptAt(ctx context.Context, id int64, n int) (time.Time, error)
	})
	if !ok {
		t.Skip("the store does not tell first attempts")
	}
	ctx := t.Context()
	t0 := base()
	d := newDelivery("crm", t0)
	create(t, s, d)
	round := func(i int, outcome string, count bool) {
		t.Helper()
		at := t0.Add(time.Duration(i) * time.Minute)
		claim(t, s, "w", 1, at)
		st := mih.DeliveryRetrying
		if outcome == mih.OutcomePaused {
			st = mih.DeliveryPaused
		}
		r := mih.DeliveryResult{ID: d.ID, State: st, NextAttemptAt: at, CountAttempt: count, Now: at,
			Attempt: &mih.Attempt{StartedAt: at, Outcome: outcome, Status: 503}}
		if n := must[int](t)(s.CompleteDeliveries(ctx, "w", []mih.DeliveryResult{r})); n != 1 {
			t.Fatalf("round %d not applied", i)
		}
		if st == mih.DeliveryPaused {
			must[int](t)(s.ResumeDeliveries(ctx, "crm", 0, at))
		}
	}
	round(1, mih.OutcomeRetry, true)
	round(2, mih.OutcomePaused, false) // a failed probe
	round(3, mih.OutcomeRetry, true)
	got := must[time.Time](t)(fa.FirstAttemptAt(ctx, d.ID, 2))
	wantTime(t, "first of 2 attempts", got, t0.Add(time.Minute))
	got = must[time.Time](t)(fa.FirstAttemptAt(ctx, d.ID, 1))
	wantTime(t, "first of 1 attempt", got, t0.Add(3*time.Minute))
	if got := must[time.Time](t)(fa.FirstAttemptAt(ctx, d.ID, 5)); !got.IsZero() {
		t.Errorf("first of 5 recorded attempts: %v, want zero (fewer recorded)", got)
	}
	if got := must[time.Time](t)(fa.FirstAttemptAt(ctx, d.ID, 0)); !got.IsZero() {
		t.Errorf("first of no attempts: %v, want zero", got)
	}
}

// The probe the breaker resumes (limit 1) is the paused delivery whose last try is oldest, so a
// failed probe, paused again with its next attempt set to then, goes behind the others.
func testProbeRotates(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	a, b := newDelivery("crm", t0), newDelivery("crm", t0)
	create(t, s, a, b)
	must[int](t)(s.PauseDeliveries(ctx, "crm", t0))
	if n := must[int](t)(s.ResumeDeliveries(ctx, "crm", 1, t0.Add(time.Second))); n != 1 {
		t.Fatalf("resumed %d, want 1", n)
	}
	got := claim(t, s, "w", 10, t0.Add(time.Second))
	if len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("first probe %v, want delivery %d", ids(got), a.ID)
	}
	at := t0.Add(2 * time.Second)
	r := mih.DeliveryResult{ID: a.ID, State: mih.DeliveryPaused, NextAttemptAt: at, Now: at,
		Attempt: &mih.Attempt{StartedAt: at, Outcome: mih.OutcomePaused, Status: 500}}
	if n := must[int](t)(s.CompleteDeliveries(ctx, "w", []mih.DeliveryResult{r})); n != 1 {
		t.Fatal("failed probe not applied")
	}
	must[int](t)(s.ResumeDeliveries(ctx, "crm", 1, t0.Add(3*time.Second)))
	got = claim(t, s, "w", 10, t0.Add(3*time.Second))
	if len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("second probe %v, want the other delivery %d", ids(got), b.ID)
	}
}
