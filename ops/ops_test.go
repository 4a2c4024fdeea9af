package ops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/store/storetest"
)

// counter counts wake-ups and invalidations.
type counter struct{ n atomic.Int32 }

func (c *counter) Notify()           { c.n.Add(1) }
func (c *counter) Invalidate()       { c.n.Add(1) }
func (c *counter) Forget(string)     { c.n.Add(1) }
func (c *counter) load() int         { return int(c.n.Load()) }
func (c *counter) changed(b int) int { return c.load() - b }

type fixture struct {
	st                           mih.Store
	o                            *ops.Ops
	workers, maint, rules, sites *counter
}

func newFixture(t *testing.T, mut ...func(*ops.Config)) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mih.db"), storetest.NewBox(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, workers: &counter{}, maint: &counter{}, rules: &counter{}, sites: &counter{}}
	cfg := ops.Config{Store: st, Ledger: ops.NewLedger(st, f.workers, nil), Rules: f.rules, Sites: f.sites, Maintainer: f.maint}
	for _, m := range mut {
		m(&cfg)
	}
	f.o = ops.New(cfg)
	return f
}

func (f *fixture) service(t *testing.T, name string) *mih.Service {
	t.Helper()
	s := mih.NewService()
	s.Name, s.BaseURL = name, "http://127.0.0.1:1"
	if err := f.o.CreateService(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Every configuration write invalidates what caches it; enabling or disabling a service wakes
// the maintainer, and only that.
func TestOps_ConfigSideEffects(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	r0 := f.rules.load()
	s := f.service(t, "crm")
	if f.rules.changed(r0) != 1 {
		t.Errorf("create service: rules invalidated %d times, want once", f.rules.changed(r0))
	}
	m0 := f.maint.load()
	s.TimeoutS = 3
	if err := f.o.UpdateService(ctx, s); err != nil {
		t.Fatal(err)
	}
	if f.maint.changed(m0) != 0 {
		t.Errorf("an update that keeps the service enabled woke the maintainer")
	}
	if changed, err := f.o.SetServiceEnabled(ctx, "crm", false); err != nil || !changed {
		t.Fatalf("disable: %v %v", changed, err)
	}
	if f.maint.changed(m0) != 1 {
		t.Errorf("disable: maintainer woken %d times, want once", f.maint.changed(m0))
	}

	r0 = f.rules.load()
	ru := mih.NewRule()
	ru.Event, ru.Service, ru.Template = "*", "crm", `{"id": {{eventname}}}`
	if err := f.o.CreateRule(ctx, ru); err != nil {
		t.Fatal(err)
	}
	bad := mih.NewRule()
	bad.Event, bad.Service = "*", "nope"
	if err := f.o.CreateRule(ctx, bad); mih.ErrorCode(err) != mih.CodeInvalid {
		t.Errorf("rule of an unknown service: %v, want invalid", err)
	}
	if _, err := f.o.SetRuleActive(ctx, ru.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := f.o.DeleteRule(ctx, ru.ID); err != nil {
		t.Fatal(err)
	}
	if f.rules.changed(r0) != 3 {
		t.Errorf("rule writes invalidated the rules %d times, want 3", f.rules.changed(r0))
	}

	s0 := f.sites.load()
	site := &mih.Site{Name: "main", URL: "https://moodle.example.edu"}
	if err := f.o.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	if err := f.o.DeleteSite(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	if f.sites.changed(s0) != 2 {
		t.Errorf("site writes: lookups forgotten %d times, want 2", f.sites.changed(s0))
	}
}

// A replay and an enqueue wake the workers; a replay of nothing does not.
func TestOps_ReplayWakesWorkers(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.service(t, "crm")
	d := &mih.Delivery{Service: "crm", Method: "POST", Payload: json.RawMessage(`{}`), IdempotencyKey: "k1",
		State: mih.DeliveryDead, DeadReason: mih.ReasonExhausted}
	if err := f.st.CreateDeliveries(ctx, []*mih.Delivery{d}); err != nil {
		t.Fatal(err)
	}
	w0 := f.workers.load()
	if n, err := f.o.Replay(ctx, mih.DeliveryFilter{Service: "other"}); err != nil || n != 0 {
		t.Fatalf("replay of nothing: %d %v", n, err)
	}
	if f.workers.changed(w0) != 0 {
		t.Errorf("a replay of nothing woke the workers")
	}
	got, err := f.o.ReplayDelivery(ctx, d.ID, false)
	if err != nil || got.State != mih.DeliveryPending {
		t.Fatalf("replay: %+v %v", got, err)
	}
	if f.workers.changed(w0) != 1 {
		t.Errorf("replay: workers woken %d times, want once", f.workers.changed(w0))
	}
	if _, err := f.o.ReplayDelivery(ctx, d.ID, false); mih.ErrorCode(err) != mih.CodeConflict {
		t.Errorf("replay of a pending delivery: %v, want conflict", err)
	}
	if err := f.o.Enqueue(ctx, &mih.Delivery{Service: "crm", Method: "POST", IdempotencyKey: "k2"}); err != nil {
		t.Fatal(err)
	}
	if f.workers.changed(w0) != 2 {
		t.Errorf("enqueue did not wake the workers")
	}
}

// The ledger wakes the workers when it resumed deliveries (a circuit closing, a probe), not when
// it paused them or found nothing to resume.
func TestLedger_ResumeWakes(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.service(t, "crm")
	for i := range 3 {
		if err := f.st.CreateDeliveries(ctx, []*mih.Delivery{{Service: "crm", Method: "POST", IdempotencyKey: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	l := f.o.Ledger()
	now := time.Now()
	w0 := f.workers.load()
	if n, err := l.PauseDeliveries(ctx, "crm", now); err != nil || n != 3 {
		t.Fatalf("pause: %d %v", n, err)
	}
	if n, err := l.ResumeDeliveries(ctx, "crm", 1, now); err != nil || n != 1 {
		t.Fatalf("resume one: %d %v", n, err)
	}
	if f.workers.changed(w0) != 1 {
		t.Errorf("pause and resume woke the workers %d times, want once (the resume)", f.workers.changed(w0))
	}
	if n, _ := l.ResumeDeliveries(ctx, "other", 0, now); n != 0 || f.workers.changed(w0) != 1 {
		t.Errorf("resuming nothing woke the workers")
	}
}

// checker is a transport that offers its own connection check.
type checker struct{ called int }

func (c *checker) Send(context.Context, *mih.Service, *mih.Request) (*mih.Response, error) {
	panic("a connection test must not send")
}

func (c *checker) Check(context.Context, *mih.Service) mih.CheckResult {
	c.called++
	return mih.CheckResult{Level: mih.CheckOK, Summary: "looked, sent nothing"}
}

// A transport's own check is found by interface and preferred to a call; without a gateway a
// service whose transport has none cannot be tested.
func TestOps_TestService(t *testing.T) {
	c := &checker{}
	f := newFixture(t, func(cfg *ops.Config) {
		cfg.Transports = map[mih.ServiceType]mih.Transport{mih.ServiceAMQP: c}
	})
	ctx := t.Context()
	s := mih.NewService()
	s.Name, s.Type, s.BaseURL = "bus", mih.ServiceAMQP, "amqp://127.0.0.1:1/?exchange=x"
	if err := f.o.CreateService(ctx, s); err != nil {
		t.Fatal(err)
	}
	f.service(t, "crm")
	if _, res, err := f.o.TestService(ctx, "bus"); err != nil || res.Level != mih.CheckOK || c.called != 1 {
		t.Errorf("amqp: %+v %v (check called %d times)", res, err, c.called)
	}
	if _, res, err := f.o.TestService(ctx, "crm"); err != nil || res.Level != mih.CheckBad {
		t.Errorf("rest without a gateway: %+v %v, want bad", res, err)
	}
	if _, _, err := f.o.TestService(ctx, "nope"); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("unknown service: %v", err)
	}
}
