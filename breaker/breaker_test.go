package breaker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/breaker"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
)

var _ gateway.Guard = (*breaker.Breaker)(nil)

// clock is a settable time shared by the breakers of one test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openStore(t testing.TB) mih.Store {
	box, err := secret.NewBox(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mih.db"), box, sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newService(t testing.TB, st mih.Store, name string) *mih.Service {
	s := mih.NewService()
	s.Name, s.BaseURL = name, "http://127.0.0.1:1"
	s.Circuit = mih.CircuitConfig{FailureThreshold: 5, WindowS: 60, CooldownS: 30}
	if err := st.CreateService(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	err500 = &mih.SendError{Code: mih.ErrHTTP, Status: 500, Retryable: true, Message: "500"}
	err404 = &mih.SendError{Code: mih.ErrHTTP, Status: 404, Message: "404"}
)

// call asks b to let one call go and records outcome; it returns Allow's error.
func call(t *testing.T, b *breaker.Breaker, svc *mih.Service, outcome error) error {
	t.Helper()
	rec, err := allow(t.Context(), b, svc)
	if err != nil {
		return err
	}
	rec(outcome)
	return nil
}

// allow asks for a call: the record function of an allowed call or probe, or the refusal.
func allow(ctx context.Context, b *breaker.Breaker, svc *mih.Service) (func(error), error) {
	d := b.Allow(ctx, svc)
	if d.Verdict == gateway.Refused {
		if d.Refusal == nil {
			panic("a refusal without a reason")
		}
		return nil, d.Refusal
	}
	return d.Record, nil
}

func newBreaker(st mih.Store, c *clock, owner string) *breaker.Breaker {
	return breaker.New(st, breaker.Options{Owner: owner, Now: c.Now, Ledger: ops.NewLedger(st, nil, c.Now)})
}

func TestBreaker_OpensAfterThreshold(t *testing.T) {
	st := openStore(t)
	svc := newService(t, st, "crm")
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	b := newBreaker(st, c, "p1")

	for i := range 4 {
		if err := call(t, b, svc, err500); err != nil {
			t.Fatalf("call %d refused: %v", i+1, err)
		}
		c.Add(time.Second)
	}
	if got := b.State("crm"); got != mih.CircuitClosed {
		t.Fatalf("after 4 failures: %s, want closed", got)
	}
	if err := call(t, b, svc, err500); err != nil {
		t.Fatal(err)
	}
	if got := b.State("crm"); got != mih.CircuitOpen {
		t.Fatalf("after 5 failures: %s, want open", got)
	}
	err := call(t, b, svc, nil)
	if mih.ErrorCode(err) != mih.CodeCircuitOpen {
		t.Fatalf("sixth call: got %v, want circuit_open", err)
	}
	re, ok := errors.AsType[*breaker.RefusedError](err)
	// The first probe goes after MinProbeInterval, not after cooldown_s: most outages are short.
	if !ok || !re.RetryAt.Equal(c.Now().Add(breaker.MinProbeInterval)) || re.RetryAfter() != breaker.MinProbeInterval {
		t.Errorf("refusal %#v: want RetryAt %s from now", err, breaker.MinProbeInterval)
	}
	stored, err := st.FindCircuit(t.Context(), "crm")
	if err != nil || stored.State != mih.CircuitOpen {
		t.Fatalf("stored circuit %+v, %v: want open", stored, err)
	}
}

func TestBreaker_Counting(t *testing.T) {
	tests := []struct {
		name     string
		outcomes []error
		gap      time.Duration
		want     string
	}{
		{"five 500s", []error{err500, err500, err500, err500, err500}, time.Second, mih.CircuitOpen},
		{"404s never open", []error{err404, err404, err404, err404, err404, err404, err404}, 0, mih.CircuitClosed},
		{"a 404 breaks the streak", []error{err500, err500, err500, err404, err500, err500}, 0, mih.CircuitClosed},
		{"a success breaks the streak", []error{err500, err500, err500, err500, nil, err500, err500, err500, err500}, 0, mih.CircuitClosed},
		{"failures further apart than the window", []error{err500, err500, err500, err500, err500}, 16 * time.Second, mih.CircuitClosed},
		{"timeouts and network errors count", []error{
			&mih.SendError{Code: mih.ErrTimeout, Retryable: true}, &mih.SendError{Code: mih.ErrNetwork, Retryable: true},
			&mih.SendError{Code: mih.ErrHTTP, Status: 429, Retryable: true}, &mih.SendError{Code: mih.ErrAMQPNack, Retryable: true},
			&mih.SendError{Code: mih.ErrSOAPFault, Retryable: true}}, 0, mih.CircuitOpen},
		{"nothing sent counts for nothing", []error{err500, err500, err500, err500, context.Canceled,
			&mih.SendError{Code: mih.ErrRequest}, &mih.SendError{Code: mih.ErrPayload}}, 0, mih.CircuitClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			svc := newService(t, st, "crm")
			svc.Circuit.WindowS = 60
			c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
			b := newBreaker(st, c, "p1")
			for i, o := range tc.outcomes {
				if err := call(t, b, svc, o); err != nil {
					t.Fatalf("call %d refused: %v", i+1, err)
				}
				c.Add(tc.gap)
			}
			if got := b.State("crm"); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// open drives svc's circuit open through b.
func open(t *testing.T, b *breaker.Breaker, svc *mih.Service) {
	t.Helper()
	for range svc.Circuit.FailureThreshold {
		if err := call(t, b, svc, err500); err != nil {
			t.Fatal(err)
		}
	}
	if b.State(svc.Name) != mih.CircuitOpen {
		t.Fatalf("circuit of %s is %s, want open", svc.Name, b.State(svc.Name))
	}
}

func TestBreaker_SingleProbe(t *testing.T) {
	st := openStore(t)
	svc := newService(t, st, "crm")
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	// Two processes on one store.
	p1, p2 := newBreaker(st, c, "p1"), newBreaker(st, c, "p2")
	open(t, p1, svc)
	if err := p2.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := p2.State("crm"); got != mih.CircuitOpen {
		t.Fatalf("the other process sees %s, want open", got)
	}

	c.Add(breaker.MinProbeInterval / 2)
	if err := call(t, p2, svc, nil); mih.ErrorCode(err) != mih.CodeCircuitOpen {
		t.Fatalf("before the first probe interval: %v, want refused", err)
	}
	c.Add(breaker.MinProbeInterval)

	// Twenty calls at once across both processes: exactly one is the probe.
	var (
		wg      sync.WaitGroup
		allowed atomic.Int32
		mu      sync.Mutex
		records []func(error)
	)
	for i := range 20 {
		b := p1
		if i%2 == 1 {
			b = p2
		}
		wg.Go(func() {
			rec, err := allow(context.Background(), b, svc)
			if err == nil {
				allowed.Add(1)
				mu.Lock()
				records = append(records, rec)
				mu.Unlock()
			} else if mih.ErrorCode(err) != mih.CodeCircuitOpen {
				t.Errorf("refusal: %v, want circuit_open", err)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 1 {
		t.Fatalf("%d calls went through after the cooldown, want exactly 1 probe", allowed.Load())
	}
	stored, _ := st.FindCircuit(t.Context(), "crm")
	if stored.State != mih.CircuitHalfOpen {
		t.Fatalf("stored %s during the probe, want halfopen", stored.State)
	}

	// The probe fails: open again, for another cooldown. The caller keeps the upstream error
	// as it is; the probe verdict tells it the call was the probe.
	records[0](err500)
	for _, b := range []*breaker.Breaker{p1, p2} {
		if err := b.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := b.State("crm"); got != mih.CircuitOpen {
			t.Errorf("after the failed probe: %s, want open", got)
		}
	}
	if err := call(t, p1, svc, nil); mih.ErrorCode(err) != mih.CodeCircuitOpen {
		t.Fatalf("right after a failed probe: %v, want refused for a new cooldown", err)
	}

	// Next cooldown: the probe succeeds and closes the circuit for everyone.
	c.Add(31 * time.Second)
	if err := call(t, p2, svc, nil); err != nil {
		t.Fatalf("second probe refused: %v", err)
	}
	if got := p2.State("crm"); got != mih.CircuitClosed {
		t.Fatalf("after a good probe: %s, want closed", got)
	}
	if err := p1.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := call(t, p1, svc, nil); err != nil {
		t.Fatalf("the other process after closing: %v", err)
	}
}

func TestBreaker_ProbeHandedBack(t *testing.T) {
	st := openStore(t)
	svc := newService(t, st, "crm")
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	p1, p2 := newBreaker(st, c, "p1"), newBreaker(st, c, "p2")
	open(t, p1, svc)
	c.Add(31 * time.Second)

	// A probe whose caller gave up teaches nothing: the next call may probe at once.
	if d := p1.Allow(t.Context(), svc); d.Verdict != gateway.Probe {
		t.Fatalf("after the cooldown: verdict %s, want probe", d.Verdict)
	} else {
		d.Record(context.Canceled)
	}
	rec, err := allow(t.Context(), p1, svc)
	if err != nil {
		t.Fatalf("after a canceled probe: %v, want another probe at once", err)
	}

	// That probe's process dies without recording: the claim lapses after timeout + grace and
	// the other process takes over.
	_ = rec
	if err := p2.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := call(t, p2, svc, nil); mih.ErrorCode(err) != mih.CodeCircuitOpen {
		t.Fatalf("while the probe is out: %v, want refused", err)
	}
	c.Add(svc.Timeout() + 11*time.Second)
	if err := call(t, p2, svc, nil); err != nil {
		t.Fatalf("after the probe's claim lapsed: %v, want a new probe", err)
	}
	if got := p2.State("crm"); got != mih.CircuitClosed {
		t.Errorf("got %s, want closed", got)
	}
}

func TestBreaker_ResetAcrossProcesses(t *testing.T) {
	st := openStore(t)
	crm, erp := newService(t, st, "crm"), newService(t, st, "erp")
	newService(t, st, "lrs")
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	p1, p2 := newBreaker(st, c, "p1"), newBreaker(st, c, "p2")
	open(t, p1, crm)
	open(t, p1, erp)
	if err := p2.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}

	if err := p2.Reset(t.Context(), "crm"); err != nil {
		t.Fatal(err)
	}
	if err := call(t, p2, crm, nil); err != nil {
		t.Errorf("after reset, same process: %v", err)
	}
	if err := p1.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := call(t, p1, crm, nil); err != nil {
		t.Errorf("after reset, other process: %v", err)
	}
	if err := p2.Reset(t.Context(), "lrs"); err != nil {
		t.Errorf("resetting a circuit never stored: %v", err)
	}

	open(t, p1, crm)
	n, err := p2.ResetAll(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("ResetAll: %d, %v; want 2 circuits closed", n, err)
	}
	if err := p1.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"crm", "erp", "lrs"} {
		if got := p1.State(s); got != mih.CircuitClosed {
			t.Errorf("%s after ResetAll: %s", s, got)
		}
	}
}

func TestBreaker_PausesAndResumesDeliveries(t *testing.T) {
	st := openStore(t)
	svc := newService(t, st, "crm")
	other := newService(t, st, "erp")
	c := &clock{t: time.Now().UTC()}
	var notified atomic.Int32
	b := breaker.New(st, breaker.Options{Now: c.Now, Ledger: ops.NewLedger(st, wakeFunc(func() { notified.Add(1) }), c.Now)})

	ids := make([]int64, 0, 20)
	for i := range 20 {
		ds := []*mih.Delivery{{Service: "crm", Method: "POST", Payload: json.RawMessage(`{}`), IdempotencyKey: fmt.Sprintf("k%d", i)}}
		if err := st.CreateDeliveries(t.Context(), ds); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ds[0].ID)
	}
	if err := st.CreateDeliveries(t.Context(), []*mih.Delivery{{Service: other.Name, Method: "POST", Payload: json.RawMessage(`{}`), IdempotencyKey: "o"}}); err != nil {
		t.Fatal(err)
	}
	open(t, b, svc)
	counts := func() map[mih.DeliveryState]int {
		m := map[mih.DeliveryState]int{}
		cs, err := st.CountDeliveries(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.Service == "crm" {
				m[c.State] += c.Count
			}
		}
		return m
	}
	if got := counts(); got[mih.DeliveryPaused] != 20 {
		t.Fatalf("after opening: %v, want all 20 paused", got)
	}

	// Before the cooldown nothing is resumed; after it exactly one, the oldest, to be the probe;
	// and not another one on the next sync while that one waits for a worker.
	if err := b.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := counts(); got[mih.DeliveryPaused] != 20 {
		t.Fatalf("sync during cooldown: %v, want 20 paused", got)
	}
	c.Add(31 * time.Second)
	for range 2 {
		if err := b.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if got := counts(); got[mih.DeliveryPaused] != 19 || got[mih.DeliveryPending] != 1 {
		t.Fatalf("sync after cooldown: %v, want 19 paused and 1 pending", got)
	}
	d, err := st.FindDeliveryByID(t.Context(), ids[0])
	if err != nil || d.State != mih.DeliveryPending {
		t.Fatalf("oldest delivery: %+v, %v; want it pending as the probe", d, err)
	}
	if notified.Load() == 0 {
		t.Error("workers not woken for the probe")
	}

	// The probe succeeds: every paused delivery resumes at once.
	if err := call(t, b, svc, nil); err != nil {
		t.Fatal(err)
	}
	if got := counts(); got[mih.DeliveryPaused] != 0 || got[mih.DeliveryPending] != 20 {
		t.Fatalf("after closing: %v, want 20 pending", got)
	}
}

func TestBreaker_StoreDownRefuses(t *testing.T) {
	st := openStore(t)
	svc := newService(t, st, "crm")
	c := &clock{t: time.Now().UTC()}
	b := newBreaker(st, c, "p1")
	open(t, b, svc)
	c.Add(31 * time.Second)
	st.Close()
	// Without the store nobody can know who probes: the call is refused, its delivery keeps its
	// attempts.
	if err := call(t, b, svc, nil); mih.ErrorCode(err) != mih.CodeCircuitOpen {
		t.Fatalf("got %v, want circuit_open", err)
	}
}

func TestBreaker_Metrics(t *testing.T) {
	st := openStore(t)
	svc := newService(t, st, "crm")
	c := &clock{t: time.Now().UTC()}
	b := newBreaker(st, c, "p1")
	open(t, b, svc)
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"mih_circuit_state,service=crm,state=closed":        0,
		"mih_circuit_state,service=crm,state=halfopen":      0,
		"mih_circuit_state,service=crm,state=open":          1,
		"mih_circuit_transitions_total,service=crm,to=open": 1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// A process whose view still says open pauses what its workers claim until it rereads the
// circuit; when that reread shows another process closed it, the deliveries it paused meanwhile
// (and those whose pause is committed just after) must resume then, not wait for maintenance.
func TestBreaker_ClosedElsewhereResumesStalePauses(t *testing.T) {
	st := openStore(t)
	svc := newService(t, st, "crm")
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	p1, p2 := newBreaker(st, c, "p1"), newBreaker(st, c, "p2")
	open(t, p1, svc)
	if err := p2.Reset(t.Context(), "crm"); err != nil {
		t.Fatal(err)
	}
	paused := func(key string) int64 {
		ds := []*mih.Delivery{{Service: "crm", Method: "POST", Payload: json.RawMessage(`{}`), IdempotencyKey: key}}
		if err := st.CreateDeliveries(t.Context(), ds); err != nil {
			t.Fatal(err)
		}
		// What p1's worker does with a call its stale view refuses.
		if _, err := st.PauseDeliveries(t.Context(), "crm", c.Now()); err != nil {
			t.Fatal(err)
		}
		return ds[0].ID
	}
	state := func(id int64) mih.DeliveryState {
		d, err := st.FindDeliveryByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return d.State
	}
	first := paused("a")
	if err := p1.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := state(first); got != mih.DeliveryPending {
		t.Fatalf("paused while the view was stale, after the sync that saw the reset: %s, want pending", got)
	}
	late := paused("b") // committed just after that sync
	if err := p1.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := state(late); got != mih.DeliveryPending {
		t.Fatalf("paused just after the sync that saw the reset, after the next: %s, want pending", got)
	}
}

// wakeFunc is a waker of one function.
type wakeFunc func()

func (f wakeFunc) Notify() { f() }

// Probes start a second apart and slow down with the outage, never beyond cooldown_s.
func TestProbeInterval(t *testing.T) {
	svc := mih.NewService() // cooldown_s 30
	for _, tc := range []struct{ open, want time.Duration }{
		{0, time.Second},
		{90 * time.Second, time.Second},
		{2 * time.Minute, 1200 * time.Millisecond},
		{10 * time.Minute, 6 * time.Second},
		{50 * time.Minute, 30 * time.Second},
		{24 * time.Hour, 30 * time.Second},
	} {
		if got := breaker.ProbeInterval(svc, tc.open); got != tc.want {
			t.Errorf("open %s: %s, want %s", tc.open, got, tc.want)
		}
	}
	svc.Circuit.CooldownS = 0.2
	if got := breaker.ProbeInterval(svc, time.Hour); got != 200*time.Millisecond {
		t.Errorf("cooldown 0.2 s: %s, want 200ms", got)
	}
}

// A failed probe reopens the circuit with the outage's start kept, so that the next probe's wait
// grows with the outage.
func TestBreaker_FailedProbeKeepsTheOutageStart(t *testing.T) {
	st := openStore(t)
	svc := newService(t, st, "crm")
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	b := newBreaker(st, c, "p1")
	open(t, b, svc)
	opened := b.Circuit("crm").OpenedAt
	c.Add(10 * time.Minute)
	if err := call(t, b, svc, err500); err != nil {
		t.Fatalf("the probe was refused: %v", err)
	}
	got := b.Circuit("crm")
	if got.State != mih.CircuitOpen || !got.OpenedAt.Equal(opened) {
		t.Fatalf("after a failed probe: %s opened at %v, want open since %v", got.State, got.OpenedAt, opened)
	}
	if want := c.Now().Add(6 * time.Second); !got.RetryAt.Equal(want) {
		t.Errorf("next probe at %v, want %v (1 %% of 10 minutes)", got.RetryAt, want)
	}
}

// The last success is shared through the store: a process that saw none itself learns it at its
// next sync, and it is written at most every SuccessEvery.
func TestBreaker_LastSuccessShared(t *testing.T) {
	st := openStore(t)
	svc := newService(t, st, "crm")
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	p1, p2 := newBreaker(st, c, "p1"), newBreaker(st, c, "p2")
	if !p2.LastSuccess("crm").IsZero() {
		t.Fatal("a last success before any call")
	}
	first := c.Now()
	if err := call(t, p1, svc, nil); err != nil {
		t.Fatal(err)
	}
	if err := p2.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := p2.LastSuccess("crm"); !got.Equal(first) {
		t.Errorf("the other process sees %v, want %v", got, first)
	}
	stored, err := st.FindCircuit(t.Context(), "crm")
	if err != nil {
		t.Fatal(err)
	}
	version := stored.Version
	c.Add(time.Second)
	if err := call(t, p1, svc, nil); err != nil {
		t.Fatal(err)
	}
	if got := p1.LastSuccess("crm"); !got.Equal(c.Now()) {
		t.Errorf("the process itself sees %v, want its own success at %v", got, c.Now())
	}
	stored, _ = st.FindCircuit(t.Context(), "crm")
	if stored.Version != version {
		t.Errorf("a success %s after the last one was written (version %d → %d): want no write within %s",
			time.Second, version, stored.Version, breaker.SuccessEvery)
	}
	c.Add(breaker.SuccessEvery)
	if err := call(t, p1, svc, nil); err != nil {
		t.Fatal(err)
	}
	stored, _ = st.FindCircuit(t.Context(), "crm")
	if !stored.LastSuccessAt.Equal(c.Now()) {
		t.Errorf("stored last success %v, want %v", stored.LastSuccessAt, c.Now())
	}
}

// Trip opens a closed circuit at once and pauses the waiting deliveries; on an open one it does
// nothing.
func TestBreaker_Trip(t *testing.T) {
	st := openStore(t)
	svc := newService(t, st, "crm")
	c := &clock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	b := newBreaker(st, c, "p1")
	b.Trip(t.Context(), svc)
	got := b.Circuit("crm")
	if got.State != mih.CircuitOpen || !got.RetryAt.Equal(c.Now().Add(breaker.MinProbeInterval)) {
		t.Fatalf("after Trip: %+v, want open with a probe in %s", got, breaker.MinProbeInterval)
	}
	c.Add(time.Minute)
	b.Trip(t.Context(), svc)
	if again := b.Circuit("crm"); again.Version != got.Version {
		t.Errorf("Trip on an open circuit wrote it again")
	}
}
