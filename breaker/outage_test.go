package breaker_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/breaker"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/store/postgres"
	"github.com/mihhub/mih/store/storetest"
	"github.com/mihhub/mih/transport/rest"
)

var pgSchemas atomic.Int64

// stores are the hub's own stores the outage tests run on: SQLite always, PostgreSQL when
// MIH_TEST_POSTGRES_URL is set.
func stores(t *testing.T, f func(t *testing.T, st mih.Store)) {
	t.Run("sqlite", func(t *testing.T) { f(t, openStore(t)) })
	t.Run("postgres", func(t *testing.T) {
		url := os.Getenv("MIH_TEST_POSTGRES_URL")
		if url == "" {
			t.Skip("MIH_TEST_POSTGRES_URL is not set")
		}
		schema := fmt.Sprintf("breakertest_%d_%d", os.Getpid(), pgSchemas.Add(1))
		st, err := postgres.Open(t.Context(), url, storetest.NewBox(t), postgres.WithSchema(schema))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st.Close()
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Error(err)
				return
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
				t.Error(err)
			}
		})
		f(t, st)
	})
}

// A delivery that runs out of attempts while the service answers nobody is paused with the
// circuit, not dead, even when its failures are too few or too far apart to open the circuit:
// one delivery, a failure threshold it can never reach. When the service is back, it is
// delivered.
func TestOutage_TrickleIsPausedNotDead(t *testing.T) {
	stores(t, func(t *testing.T, st mih.Store) {
		h := newHubOn(t, st, 4, func(s *mih.Service) {
			s.MaxRetries = 2
			s.Circuit = mih.CircuitConfig{FailureThreshold: 100, WindowS: 60, CooldownS: 0.2}
		})
		h.status.Store(http.StatusServiceUnavailable)
		ids := h.deliveries(1)
		waitFor(t, 10*time.Second, "the delivery to be paused and the circuit open", func() bool {
			return h.counts()[mih.DeliveryPaused] == 1 && h.b.State("crm") != mih.CircuitClosed
		})
		time.Sleep(300 * time.Millisecond) // probes fail and put it back
		if c := h.counts(); c[mih.DeliveryDead] != 0 {
			t.Fatalf("dead during the outage: %v", c)
		}
		d, err := h.st.FindDeliveryByID(t.Context(), ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if d.Attempts != 2 {
			t.Errorf("%d attempts counted, want 2 (the third given back)", d.Attempts)
		}
		h.status.Store(http.StatusOK)
		waitFor(t, 10*time.Second, "the delivery to succeed", func() bool { return h.counts()[mih.DeliverySucceeded] == 1 })
		if got := h.b.State("crm"); got != mih.CircuitClosed {
			t.Errorf("circuit %s after recovery, want closed", got)
		}
	})
}

// max_retries still ends a delivery the service rejects with 500 while it accepts the others:
// the service answered after that delivery's first attempt, so the failures are the delivery's.
func TestOutage_PoisonAloneStillDies(t *testing.T) {
	stores(t, func(t *testing.T, st mih.Store) {
		h := newHubOn(t, st, 4, func(s *mih.Service) {
			s.MaxRetries, s.InitialBackoffS, s.MaxBackoffS = 3, 0.1, 0.1
			s.Circuit = mih.CircuitConfig{FailureThreshold: 100, WindowS: 60, CooldownS: 0.2}
		})
		h.status.Store(http.StatusOK)
		poison := h.deliveries(1)[0]
		h.poison.Store(poison)
		// Others keep succeeding while the poison retries.
		for range 5 {
			h.deliveries(1)
			time.Sleep(80 * time.Millisecond)
		}
		waitFor(t, 10*time.Second, "the poison delivery to die and the others to succeed", func() bool {
			c := h.counts()
			return c[mih.DeliveryDead] == 1 && c[mih.DeliverySucceeded] == 5
		})
		d, err := h.st.FindDeliveryByID(t.Context(), poison)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != mih.DeliveryDead || d.DeadReason != mih.ReasonExhausted || d.Attempts != 4 {
			t.Errorf("poison delivery %s (%s) after %d attempts, want dead exhausted after 4", d.State, d.DeadReason, d.Attempts)
		}
		if got := h.counts()[mih.DeliverySucceeded]; got != 5 {
			t.Errorf("%d succeeded, want 5", got)
		}
		if got := h.b.State("crm"); got != mih.CircuitClosed {
			t.Errorf("circuit %s, want closed: the service was up", got)
		}
	})
}

// A 10-second outage with real servers and the defaults of `mih serve` (service settings,
// worker poll, breaker sync): one delivery a second, a loopback receiver that answers 503 for
// 10 s. Nothing goes dead and every waiting delivery arrives within 10 s of the return (about 1
// to 2 s is typical; the bound is the contract, with room for a loaded machine). The simulated
// 2- and 10-minute outages are in TestOutage_Simulated.
func TestOutage_Real10s(t *testing.T) {
	if testing.Short() {
		t.Skip("a 25 s test")
	}
	stores(t, func(t *testing.T, st mih.Store) {
		var (
			up      atomic.Int64 // unix nanos when the receiver answers again
			mu      sync.Mutex
			arrived = map[string]time.Time{}
		)
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if time.Now().UnixNano() < up.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			mu.Lock()
			if _, ok := arrived[r.Header.Get("Idempotency-Key")]; !ok {
				arrived[r.Header.Get("Idempotency-Key")] = time.Now()
			}
			mu.Unlock()
		}))
		t.Cleanup(rc.Close)
		svc := mih.NewService()
		svc.Name, svc.BaseURL = "crm", rc.URL
		if err := st.CreateService(t.Context(), svc); err != nil {
			t.Fatal(err)
		}
		wake := delivery.NewWakeup()
		b := breaker.New(st, breaker.Options{Ledger: ops.NewLedger(st, wake, nil)})
		tr := rest.New(rest.Options{})
		t.Cleanup(func() { tr.Close() })
		gw := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{Guard: b})
		w := delivery.New(st, st, gw, delivery.Config{Owner: "w1", Wakeup: wake, Health: b})
		run(t, b)
		run(t, w)

		h := &hub{t: t, st: st, svc: svc, keys: map[int64]string{}}
		h.deliveries(1) // a success on record, as in production
		time.Sleep(500 * time.Millisecond)
		back := time.Now().Add(10 * time.Second)
		up.Store(back.UnixNano())
		var waiting []int64
		for time.Now().Before(back) {
			waiting = append(waiting, h.deliveries(1)...)
			time.Sleep(time.Second)
		}
		waitFor(t, 20*time.Second, "every waiting delivery", func() bool {
			return h.counts()[mih.DeliverySucceeded] == 1+len(waiting)
		})
		var last time.Duration
		mu.Lock()
		for _, id := range waiting {
			last = max(last, arrived[h.keys[id]].Sub(back))
		}
		mu.Unlock()
		t.Logf("outage 10s: %d deliveries waiting, the last arrived %s after the receiver came back", len(waiting), last.Round(time.Millisecond))
		if c := h.counts(); c[mih.DeliveryDead] != 0 {
			t.Errorf("dead deliveries: %v", c)
		}
		if last > 10*time.Second {
			t.Errorf("the last waiting delivery arrived %s after recovery, want within 10 s", last)
		}
	})
}
