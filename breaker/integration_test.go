package breaker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/breaker"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/transport/rest"
)

// hub is the delivery path of `mih serve` on a real SQLite store: a worker calling through a
// gateway whose guard is the breaker, to a loopback receiver whose status the test sets.
type hub struct {
	t      *testing.T
	st     mih.Store
	b      *breaker.Breaker
	status atomic.Int32
	// poison, when set, is a delivery the receiver answers 500 whatever status says.
	poison atomic.Int64
	hits   atomic.Int32
	mu     sync.Mutex
	times  []time.Time
	keys   map[int64]string // delivery id → idempotency key, for poison
	svc    *mih.Service
}

func newHub(t *testing.T, concurrency int, mut func(*mih.Service)) *hub {
	return newHubOn(t, openStore(t), concurrency, mut)
}

// newHubOn is newHub on a given store.
func newHubOn(t *testing.T, st mih.Store, concurrency int, mut func(*mih.Service)) *hub {
	h := &hub{t: t, st: st, keys: map[int64]string{}}
	h.status.Store(http.StatusInternalServerError)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		h.mu.Lock()
		h.times = append(h.times, time.Now())
		h.mu.Unlock()
		h.mu.Lock()
		bad := h.keys[h.poison.Load()]
		h.mu.Unlock()
		if bad != "" && r.Header.Get("Idempotency-Key") == bad {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(int(h.status.Load()))
	}))
	t.Cleanup(rc.Close)

	svc := mih.NewService()
	svc.Name, svc.BaseURL = "crm", rc.URL
	svc.TimeoutS, svc.MaxRetries, svc.InitialBackoffS, svc.MaxBackoffS = 2, 10, 0.02, 0.05
	svc.Circuit = mih.CircuitConfig{FailureThreshold: 5, WindowS: 60, CooldownS: 60}
	if mut != nil {
		mut(svc)
	}
	if err := h.st.CreateService(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	h.svc = svc

	wake := delivery.NewWakeup()
	h.b = breaker.New(h.st, breaker.Options{SyncInterval: 50 * time.Millisecond, Ledger: ops.NewLedger(h.st, wake, nil)})
	tr := rest.New(rest.Options{})
	t.Cleanup(func() { tr.Close() })
	gw := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{Guard: h.b})
	w := delivery.New(h.st, h.st, gw, delivery.Config{
		Wakeup: wake, Owner: "w1", Concurrency: concurrency, PollInterval: 50 * time.Millisecond, ServiceTTL: 10 * time.Millisecond,
		ShutdownTimeout: 2 * time.Second, Rand: func() float64 { return .5 }, Health: h.b,
	})
	run(t, h.b)
	run(t, w)
	return h
}

func run(t *testing.T, r interface{ Run(context.Context) error }) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (h *hub) deliveries(n int) []int64 {
	ids := make([]int64, n)
	for i := range n {
		ds := []*mih.Delivery{{Service: h.svc.Name, Method: "POST", Endpoint: "/hook",
			Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), IdempotencyKey: fmt.Sprintf("ev%d:%d", time.Now().UnixNano(), i)}}
		if err := h.st.CreateDeliveries(context.Background(), ds); err != nil {
			h.t.Fatal(err)
		}
		ids[i] = ds[0].ID
		h.mu.Lock()
		h.keys[ds[0].ID] = ds[0].IdempotencyKey
		h.mu.Unlock()
	}
	return ids
}

func (h *hub) counts() map[mih.DeliveryState]int {
	m := map[mih.DeliveryState]int{}
	cs, err := h.st.CountDeliveries(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range cs {
		m[c.State] += c.Count
	}
	return m
}

func (h *hub) attempts() int {
	ds, _, err := h.st.FindDeliveries(context.Background(), mih.DeliveryFilter{Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, d := range ds {
		n += d.Attempts
	}
	return n
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Five consecutive 500s open the circuit, and the sixth delivery is paused without an attempt.
func TestDelivery_FiveFailuresOpen(t *testing.T) {
	h := newHub(t, 1, nil)
	ids := h.deliveries(6)
	waitFor(t, 10*time.Second, "the circuit to open and every delivery to be paused", func() bool {
		return h.b.State("crm") == mih.CircuitOpen && h.counts()[mih.DeliveryPaused] == 6
	})
	time.Sleep(200 * time.Millisecond) // nothing more may go out
	if got := h.hits.Load(); got != 5 {
		t.Errorf("receiver got %d calls, want exactly 5", got)
	}
	if got := h.attempts(); got != 5 {
		t.Errorf("%d attempts recorded, want 5", got)
	}
	last, err := h.st.FindDeliveryByID(context.Background(), ids[5])
	if err != nil {
		t.Fatal(err)
	}
	if last.State != mih.DeliveryPaused || last.Attempts != 0 {
		t.Errorf("sixth delivery: %s with %d attempts, want paused with 0", last.State, last.Attempts)
	}
}

// After the cooldown a single probe goes out even with 20 deliveries waiting; a failed probe
// reopens without using an attempt; a good one closes the circuit and everything is delivered.
func TestDelivery_SingleProbeThenRecovery(t *testing.T) {
	h := newHub(t, 8, func(s *mih.Service) { s.Circuit.CooldownS = 0.4 })
	h.deliveries(5)
	waitFor(t, 10*time.Second, "the circuit to open", func() bool { return h.b.State("crm") == mih.CircuitOpen })
	h.deliveries(20)
	waitFor(t, 10*time.Second, "25 paused deliveries", func() bool { return h.counts()[mih.DeliveryPaused] == 25 })
	opened := h.hits.Load()
	attempts := h.attempts()

	// Two cooldowns with the receiver still down: one probe each, nothing else.
	waitFor(t, 10*time.Second, "two failed probes", func() bool { return h.hits.Load() >= opened+2 })
	time.Sleep(150 * time.Millisecond)
	if got := h.hits.Load(); got != opened+2 {
		t.Fatalf("receiver got %d calls since opening, want 2 probes", got-opened)
	}
	h.mu.Lock()
	gap := h.times[len(h.times)-1].Sub(h.times[len(h.times)-2])
	h.mu.Unlock()
	if gap < 350*time.Millisecond {
		t.Errorf("probes %v apart, want at least the 400 ms cooldown", gap)
	}
	if got := h.attempts(); got != attempts {
		t.Errorf("failed probes used attempts: %d, want still %d", got, attempts)
	}
	if c := h.counts(); c[mih.DeliveryDead] != 0 {
		t.Errorf("dead deliveries during the outage: %v", c)
	}

	h.status.Store(http.StatusOK)
	waitFor(t, 10*time.Second, "every delivery to succeed", func() bool { return h.counts()[mih.DeliverySucceeded] == 25 })
	if got := h.b.State("crm"); got != mih.CircuitClosed {
		t.Errorf("circuit %s after recovery, want closed", got)
	}
}

// A 404 never opens the circuit: the receiver is up, the request is wrong.
func TestDelivery_404NeverOpens(t *testing.T) {
	h := newHub(t, 4, nil)
	h.status.Store(http.StatusNotFound)
	h.deliveries(12)
	waitFor(t, 10*time.Second, "12 dead deliveries", func() bool { return h.counts()[mih.DeliveryDead] == 12 })
	if got := h.b.State("crm"); got != mih.CircuitClosed {
		t.Errorf("circuit %s after 12 × 404, want closed", got)
	}
	if got := h.hits.Load(); got != 12 {
		t.Errorf("receiver got %d calls, want 12", got)
	}
}

// A reset closes the circuit at once and the paused deliveries go out without waiting for the
// cooldown.
func TestDelivery_Reset(t *testing.T) {
	h := newHub(t, 4, nil) // cooldown 60 s: only the reset can close it in time
	h.deliveries(10)
	waitFor(t, 10*time.Second, "10 paused deliveries", func() bool {
		return h.b.State("crm") == mih.CircuitOpen && h.counts()[mih.DeliveryPaused] == 10
	})
	h.status.Store(http.StatusOK)
	if err := h.b.Reset(context.Background(), "crm"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "every delivery to succeed", func() bool { return h.counts()[mih.DeliverySucceeded] == 10 })
}

// An outage longer than all the retry delays puts nothing in the DLQ: once the circuit opens the
// deliveries wait paused, and everything is delivered after recovery.
func TestDelivery_LongOutageNothingDead(t *testing.T) {
	h := newHub(t, 8, func(s *mih.Service) {
		s.MaxRetries, s.InitialBackoffS, s.MaxBackoffS = 2, 0.02, 0.05 // about 0.1 s of retries in all
		s.Circuit.CooldownS = 0.3
	})
	h.deliveries(30)
	time.Sleep(2 * time.Second) // 20 times the retry budget
	if c := h.counts(); c[mih.DeliveryDead] != 0 {
		t.Fatalf("dead deliveries during the outage: %v", c)
	}
	h.status.Store(http.StatusOK)
	waitFor(t, 10*time.Second, "every delivery to succeed", func() bool { return h.counts()[mih.DeliverySucceeded] == 30 })
	if c := h.counts(); c[mih.DeliveryDead] != 0 {
		t.Errorf("dead deliveries: %v", c)
	}
}
