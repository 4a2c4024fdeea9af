package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
)

// maintenanceMock is a function-field mock of delivery.MaintenanceStore.
type maintenanceMock struct {
	FindServicesFn     func(ctx context.Context) ([]*mih.Service, error)
	PauseDeliveriesFn  func(ctx context.Context, service string, now time.Time) (int, error)
	ResumeDeliveriesFn func(ctx context.Context, service string, now time.Time) (int, error)
	ExpireDeliveriesFn func(ctx context.Context, service string, createdBefore, now time.Time) (int, error)
	PruneDeliveriesFn  func(ctx context.Context, before time.Time, keep int) (int, error)
	PruneLogsFn        func(ctx context.Context, before time.Time, keep int) (int, error)
	PruneEventsFn      func(ctx context.Context, before time.Time) (int, error)
}

func (m *maintenanceMock) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	return m.PruneEventsFn(ctx, before)
}

var _ delivery.MaintenanceStore = (*maintenanceMock)(nil)

func (m *maintenanceMock) FindServices(ctx context.Context) ([]*mih.Service, error) {
	return m.FindServicesFn(ctx)
}

func (m *maintenanceMock) PauseDeliveries(ctx context.Context, service string, now time.Time) (int, error) {
	return m.PauseDeliveriesFn(ctx, service, now)
}

func (m *maintenanceMock) ResumeDeliveries(ctx context.Context, service string, limit int, now time.Time) (int, error) {
	return m.ResumeDeliveriesFn(ctx, service, now)
}

func (m *maintenanceMock) ExpireDeliveries(ctx context.Context, service string, createdBefore, now time.Time) (int, error) {
	return m.ExpireDeliveriesFn(ctx, service, createdBefore, now)
}

func (m *maintenanceMock) PruneDeliveries(ctx context.Context, before time.Time, keep int) (int, error) {
	return m.PruneDeliveriesFn(ctx, before, keep)
}

func (m *maintenanceMock) PruneLogs(ctx context.Context, before time.Time, keep int) (int, error) {
	return m.PruneLogsFn(ctx, before, keep)
}

// recordingMaintenance records every call as a line of text.
func recordingMaintenance(svcs []*mih.Service) (*maintenanceMock, func() []string) {
	var (
		mu    sync.Mutex
		calls []string
	)
	rec := func(format string, args ...any) {
		mu.Lock()
		calls = append(calls, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	ts := func(t time.Time) string { return t.Format(time.DateTime) }
	m := &maintenanceMock{
		FindServicesFn: func(context.Context) ([]*mih.Service, error) { return svcs, nil },
		PauseDeliveriesFn: func(_ context.Context, s string, now time.Time) (int, error) {
			rec("pause %s", s)
			return 1, nil
		},
		ResumeDeliveriesFn: func(_ context.Context, s string, now time.Time) (int, error) {
			rec("resume %s", s)
			return 1, nil
		},
		ExpireDeliveriesFn: func(_ context.Context, s string, before, now time.Time) (int, error) {
			rec("expire %s before %s", s, ts(before))
			return 0, nil
		},
		PruneDeliveriesFn: func(_ context.Context, before time.Time, keep int) (int, error) {
			rec("prune deliveries before %s keep %d", ts(before), keep)
			return 0, nil
		},
		PruneLogsFn: func(_ context.Context, before time.Time, keep int) (int, error) {
			rec("prune logs before %s keep %d", ts(before), keep)
			return 0, nil
		},
		PruneEventsFn: func(_ context.Context, before time.Time) (int, error) {
			rec("prune events before %s", ts(before))
			return 0, nil
		},
	}
	return m, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(calls)
	}
}

func TestMaintainer_RunOnce(t *testing.T) {
	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	svc := func(name string, enabled bool, circuit string, maxAgeH float64) *mih.Service {
		s := mih.NewService()
		s.Name, s.Enabled, s.CircuitState, s.MaxAgeH = name, enabled, circuit, maxAgeH
		return s
	}
	m, calls := recordingMaintenance([]*mih.Service{
		svc("a", true, "", 72),
		svc("b", false, "", 1),
		svc("c", true, mih.CircuitOpen, 2),
	})
	var resumed int
	mt := delivery.NewMaintainer(m, delivery.MaintainerConfig{
		Now:        func() time.Time { return now },
		LogMaxRows: 500,
		Resumed:    func() { resumed++ },
	})
	if err := mt.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"resume a",
		"expire a before 2026-05-07 12:00:00",
		"pause b",
		"expire b before 2026-05-10 11:00:00",
		// c: its circuit is open, so resuming is the breaker's business.
		"expire c before 2026-05-10 10:00:00",
		"prune logs before 2026-05-03 12:00:00 keep 500",
		"prune deliveries before 2026-05-03 12:00:00 keep 100000",
		"prune events before 2026-04-10 12:00:00",
	}
	if got := calls(); !slices.Equal(got, want) {
		t.Errorf("got calls\n%q\nwant\n%q", got, want)
	}
	if resumed != 1 {
		t.Errorf("Resumed: called %d times, want once", resumed)
	}
}

// A failing step does not stop the others, and every error comes back.
func TestMaintainer_RunOnce_Errors(t *testing.T) {
	m, calls := recordingMaintenance([]*mih.Service{mih.NewService()})
	m.ResumeDeliveriesFn = func(context.Context, string, time.Time) (int, error) {
		return 0, errors.New("database is locked")
	}
	m.PruneLogsFn = func(context.Context, time.Time, int) (int, error) { return 0, errors.New("disk full") }
	err := delivery.NewMaintainer(m, delivery.MaintainerConfig{}).RunOnce(context.Background())
	if err == nil || !containsAll(err.Error(), "database is locked", "disk full") {
		t.Errorf("got %v, want both failures reported", err)
	}
	if got := calls(); len(got) != 3 { // expire, prune deliveries and prune events still ran
		t.Errorf("got calls %q, want expire, prune deliveries and prune events", got)
	}
}

// Expiry and pruning on a real ledger: an old waiting delivery goes dead as expired, old
// succeeded deliveries go, dead ones stay.
func TestMaintainer_ExpireAndPrune(t *testing.T) {
	forEachStore(t, func(t *testing.T, st ledger) {
		e := newEnv(t, st)
		rc := newReceiver(t, nil)
		e.service("hooks", rc.URL, func(s *mih.Service) { s.MaxAgeH = 1 })
		ids := e.deliveries("hooks", 3)
		stop := start(t, e.worker("w1", nil))
		for _, id := range ids {
			e.waitState(id, mih.DeliverySucceeded)
		}
		stop()
		waiting := e.deliveries("hooks", 1)[0]

		// Two hours on, the waiting delivery is past max_age_h and the succeeded ones past a
		// one-hour retention.
		later := time.Now().Add(2 * time.Hour)
		mt := delivery.NewMaintainer(st, delivery.MaintainerConfig{
			Now:             func() time.Time { return later },
			SucceededMaxAge: time.Hour,
			LogMaxAge:       time.Hour,
		})
		if err := mt.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := e.delivery(waiting); d.State != mih.DeliveryDead || d.DeadReason != mih.ReasonExpired {
			t.Errorf("waiting delivery: got %s (%s), want dead (expired)", d.State, d.DeadReason)
		}
		for _, id := range ids {
			if _, err := st.FindDeliveryByID(context.Background(), id); mih.ErrorCode(err) != mih.CodeNotFound {
				t.Errorf("succeeded delivery %d: got %v, want it pruned", id, err)
			}
		}
		if logs, _, err := st.FindLogs(context.Background(), mih.LogFilter{}); err != nil || len(logs) != 0 {
			t.Errorf("request log: got %d entries (%v), want it pruned", len(logs), err)
		}
	})
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// The maintainer's beat, in a synctest bubble: a round at start, one per Interval, one at once on
// Notify, and none after its context ends. The bubble's clock makes the count exact.
func TestMaintainer_Run_Beat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rounds atomic.Int32
		m, _ := recordingMaintenance([]*mih.Service{})
		m.FindServicesFn = func(context.Context) ([]*mih.Service, error) {
			rounds.Add(1)
			return nil, nil
		}
		mt := delivery.NewMaintainer(m, delivery.MaintainerConfig{Interval: 30 * time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- mt.Run(ctx) }()
		synctest.Wait()
		if n := rounds.Load(); n != 1 {
			t.Fatalf("at start: %d rounds, want 1", n)
		}
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if n := rounds.Load(); n != 1 {
			t.Fatalf("before the interval: %d rounds, want 1", n)
		}
		mt.Notify()
		synctest.Wait()
		if n := rounds.Load(); n != 2 {
			t.Fatalf("after Notify: %d rounds, want 2", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := rounds.Load(); n != 3 {
			t.Fatalf("after the interval: %d rounds, want 3", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		if n := rounds.Load(); n != 3 {
			t.Errorf("after the end: %d rounds, want 3", n)
		}
	})
}
