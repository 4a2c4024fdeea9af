package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/transport/rest"
)

// The domain's interfaces and the gateway satisfy what the package declares.
var (
	_ delivery.Store            = mih.Store(nil)
	_ delivery.MaintenanceStore = mih.Store(nil)
	_ delivery.ServiceSource    = mih.Store(nil)
	_ delivery.DeliveryCounter  = mih.Store(nil)
	_ delivery.Caller           = (*gateway.Gateway)(nil)
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// backend opens a fresh ledger for one test.
type backend struct {
	name string
	open func(t testing.TB) ledger
}

// backends lists the stores the worker tests run on: the real SQLite store, and the in-memory
// ledger that the unit tests use for injecting failures.
var backends = []backend{
	{"sqlite", openSQLite},
}

// forEachStore runs f on every backend.
func forEachStore(t *testing.T, f func(t *testing.T, st ledger)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.open(t)) })
	}
}

// hit is one request a receiver got.
type hit struct {
	at   time.Time
	key  string
	body string
}

// receiver is a loopback HTTP server whose answers a test scripts.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

func newReceiver(t testing.TB, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{time.Now(), r.Header.Get("Idempotency-Key"), string(b)})
		n := len(rc.hits)
		rc.mu.Unlock()
		if answer != nil {
			answer(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

// env is a ledger, a gateway over the real REST transport, and helpers.
type env struct {
	t  testing.TB
	st ledger
	gw *gateway.Gateway
}

func newEnv(t testing.TB, st ledger) *env {
	tr := rest.New(rest.Options{})
	t.Cleanup(func() { tr.Close() })
	return &env{t: t, st: st, gw: gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{})}
}

// service creates a REST service at base with sub-second backoffs.
func (e *env) service(name, base string, mut func(*mih.Service)) *mih.Service {
	s := mih.NewService()
	s.Name, s.BaseURL = name, base
	s.TimeoutS, s.InitialBackoffS, s.MaxBackoffS = 2, 0.05, 1
	s.Auth = mih.Auth{Type: mih.AuthBearer, Token: "top-secret-token"}
	if mut != nil {
		mut(s)
	}
	if err := s.Validate(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateService(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// deliveries creates n deliveries to svc and returns their ids.
func (e *env) deliveries(svc string, n int) []int64 {
	ds := make([]*mih.Delivery, n)
	for i := range ds {
		ds[i] = &mih.Delivery{
			Service:        svc,
			Method:         "POST",
			Endpoint:       "/hook",
			Headers:        map[string]string{"X-Event": "user_created"},
			Payload:        json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
			IdempotencyKey: fmt.Sprintf("ev%d:1", i),
		}
	}
	if err := e.st.CreateDeliveries(context.Background(), ds); err != nil {
		e.t.Fatal(err)
	}
	ids := make([]int64, n)
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func (e *env) delivery(id int64) *mih.Delivery {
	d, err := e.st.FindDeliveryByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) attempts(id int64) []*mih.Attempt {
	as, err := e.st.FindAttempts(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return as
}

// worker builds a worker with test-sized timings; mut adjusts the config.
func (e *env) worker(owner string, mut func(*delivery.Config)) *delivery.Worker {
	return e.workerOn(e.st, owner, mut)
}

func (e *env) workerOn(st delivery.Store, owner string, mut func(*delivery.Config)) *delivery.Worker {
	cfg := delivery.Config{
		Owner:           owner,
		Concurrency:     8,
		PollInterval:    50 * time.Millisecond,
		ServiceTTL:      10 * time.Millisecond,
		ShutdownTimeout: 2 * time.Second,
		Logger:          testLogger(),
		Rand:            func() float64 { return .5 },
	}
	if mut != nil {
		mut(&cfg)
	}
	return delivery.New(st, e.st, e.gw, cfg)
}

func testLogger() *slog.Logger {
	if testing.Verbose() && os.Getenv("MIH_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// start runs w until the returned stop is called; stop returns Run's error and fails the test
// when Run does not return in time.
func start(t testing.TB, w interface{ Run(context.Context) error }) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10 s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFor polls cond every 10 ms for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) waitState(id int64, want mih.DeliveryState) *mih.Delivery {
	var d *mih.Delivery
	waitFor(e.t, 5*time.Second, fmt.Sprintf("delivery %d to be %s", id, want), func() bool {
		d = e.delivery(id)
		return d.State == want
	})
	return d
}

func TestWorker_RetriesThenSucceeds(t *testing.T) {
	forEachStore(t, func(t *testing.T, st ledger) {
		e := newEnv(t, st)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n <= 2 {
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, "try later")
			}
		})
		e.service("hooks", rc.URL, nil)
		id := e.deliveries("hooks", 1)[0]
		// PollInterval is long: the retries must come from the worker's own retry timer.
		stop := start(t, e.worker("w1", func(c *delivery.Config) { c.PollInterval = time.Hour }))
		d := e.waitState(id, mih.DeliverySucceeded)
		if err := stop(); err != nil {
			t.Fatal(err)
		}

		hits := rc.got()
		if len(hits) != 3 || d.Attempts != 3 {
			t.Fatalf("got %d requests, %d attempts, want exactly 3", len(hits), d.Attempts)
		}
		gap1, gap2 := hits[1].at.Sub(hits[0].at), hits[2].at.Sub(hits[1].at)
		// Backoff 50 ms then 100 ms (jitter fixed at 0).
		if gap1 < 50*time.Millisecond || gap2 < 100*time.Millisecond || gap2 <= gap1 {
			t.Errorf("gaps: got %v then %v, want ≥ 50 ms then ≥ 100 ms, growing", gap1, gap2)
		}
		as := e.attempts(id)
		wantOutcomes := []string{mih.OutcomeRetry, mih.OutcomeRetry, mih.OutcomeSuccess}
		if len(as) != 3 {
			t.Fatalf("got %d attempt records, want 3", len(as))
		}
		for i, a := range as {
			if a.Outcome != wantOutcomes[i] || a.RequestURL != rc.URL+"/hook" || a.RequestHeaders["Authorization"] != mih.Masked {
				t.Errorf("attempt %d: got outcome %s url %s auth %q, want %s to %s/hook with the token masked", i+1, a.Outcome, a.RequestURL, a.RequestHeaders["Authorization"], wantOutcomes[i], rc.URL)
			}
		}
		if as[0].Status != 500 || as[0].ResponseBody != "try later" || as[2].Status != 200 {
			t.Errorf("attempts: got statuses %d, %d, body %q", as[0].Status, as[2].Status, as[0].ResponseBody)
		}
		if hits[0].key != "ev0:1" || hits[0].body != `{"n":0}` {
			t.Errorf("request: got key %q body %q", hits[0].key, hits[0].body)
		}
		logs, _, err := st.FindLogs(context.Background(), mih.LogFilter{Service: "hooks"})
		if err != nil {
			t.Fatal(err)
		}
		if len(logs) != 3 || logs[0].Attempts != 3 || !logs[0].Success || logs[0].Source != "delivery" || logs[0].DeliveryID != id {
			t.Errorf("request log: got %d entries, newest %+v", len(logs), logs[0])
		}
	})
}

func TestWorker_FinalFailureGoesDead(t *testing.T) {
	forEachStore(t, func(t *testing.T, st ledger) {
		e := newEnv(t, st)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"email is required"}`)
		})
		e.service("hooks", rc.URL, nil)
		id := e.deliveries("hooks", 1)[0]
		stop := start(t, e.worker("w1", nil))
		d := e.waitState(id, mih.DeliveryDead)
		stop()
		as := e.attempts(id)
		if d.DeadReason != mih.ReasonFailed || d.Attempts != 1 || len(rc.got()) != 1 || len(as) != 1 {
			t.Fatalf("got reason %q after %d attempts (%d requests), want failed after 1", d.DeadReason, d.Attempts, len(rc.got()))
		}
		if as[0].Status != 400 || as[0].ResponseBody != `{"error":"email is required"}` || as[0].ErrorCode != mih.ErrHTTP {
			t.Errorf("attempt: got status %d code %q body %q, want the 400 and its body kept", as[0].Status, as[0].ErrorCode, as[0].ResponseBody)
		}
		if d.LastStatus != 400 {
			t.Errorf("last status: got %d, want 400", d.LastStatus)
		}
	})
}

func TestWorker_RetryAfter(t *testing.T) {
	forEachStore(t, func(t *testing.T, st ledger) {
		e := newEnv(t, st)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
			}
		})
		e.service("hooks", rc.URL, func(s *mih.Service) { s.MaxBackoffS = 5 })
		id := e.deliveries("hooks", 1)[0]
		stop := start(t, e.worker("w1", nil))
		e.waitState(id, mih.DeliverySucceeded)
		stop()
		hits := rc.got()
		if len(hits) != 2 {
			t.Fatalf("got %d requests, want 2", len(hits))
		}
		if gap := hits[1].at.Sub(hits[0].at); gap < time.Second {
			t.Errorf("gap: got %v, want at least the 1 s Retry-After (backoff alone is 50 ms)", gap)
		}
	})
}

func TestWorker_DisabledServicePausesAndResumes(t *testing.T) {
	forEachStore(t, func(t *testing.T, st ledger) {
		e := newEnv(t, st)
		rc := newReceiver(t, nil)
		svc := e.service("hooks", rc.URL, func(s *mih.Service) { s.Enabled = false })
		ids := e.deliveries("hooks", 3)
		w := e.worker("w1", nil)
		m := delivery.NewMaintainer(st, delivery.MaintainerConfig{Interval: time.Hour, Resumed: w.Notify, Logger: testLogger()})
		stopW := start(t, w)
		stopM := start(t, m)
		for _, id := range ids {
			if d := e.waitState(id, mih.DeliveryPaused); d.Attempts != 0 {
				t.Errorf("delivery %d: got %d attempts, want 0 while paused", id, d.Attempts)
			}
		}
		if n := len(rc.got()); n != 0 {
			t.Fatalf("receiver got %d requests from a disabled service, want 0", n)
		}

		svc.Enabled = true
		if err := st.UpdateService(context.Background(), svc); err != nil {
			t.Fatal(err)
		}
		m.Notify() // as the service API does after an update
		for _, id := range ids {
			if d := e.waitState(id, mih.DeliverySucceeded); d.Attempts != 1 {
				t.Errorf("delivery %d: got %d attempts, want 1 (pausing uses none)", id, d.Attempts)
			}
		}
		stopM()
		stopW()
		if n := len(rc.got()); n != 3 {
			t.Errorf("receiver got %d requests, want 3", n)
		}
	})
}

func TestWorker_ServiceDeleted(t *testing.T) {
	forEachStore(t, func(t *testing.T, st ledger) {
		e := newEnv(t, st)
		id := e.deliveries("gone", 1)[0]
		stop := start(t, e.worker("w1", nil))
		d := e.waitState(id, mih.DeliveryDead)
		stop()
		if d.DeadReason != mih.ReasonServiceDeleted || d.Attempts != 0 {
			t.Errorf("got reason %q after %d attempts, want service_deleted after 0", d.DeadReason, d.Attempts)
		}
	})
}

func TestWorker_GracefulShutdown(t *testing.T) {
	t.Run("FinishesInFlight", func(t *testing.T) {
		forEachStore(t, func(t *testing.T, st ledger) {
			e := newEnv(t, st)
			release := make(chan struct{})
			rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
				select {
				case <-release:
				case <-time.After(5 * time.Second):
				}
			})
			e.service("hooks", rc.URL, nil)
			ids := e.deliveries("hooks", 3)
			stop := start(t, e.worker("w1", nil))
			waitFor(t, 5*time.Second, "3 sends in flight", func() bool { return len(rc.got()) == 3 })
			stopped := make(chan error, 1)
			go func() { stopped <- stop() }()
			time.Sleep(50 * time.Millisecond) // shutdown has begun and waits for the sends
			close(release)
			if err := <-stopped; err != nil {
				t.Fatal(err)
			}
			// Everything finished within ShutdownTimeout was committed before Run returned.
			for _, id := range ids {
				if d := e.delivery(id); d.State != mih.DeliverySucceeded || d.Attempts != 1 {
					t.Errorf("delivery %d: got %s after %d attempts, want succeeded after 1", id, d.State, d.Attempts)
				}
			}
		})
	})
	t.Run("ReleasesUnfinished", func(t *testing.T) {
		forEachStore(t, func(t *testing.T, st ledger) {
			e := newEnv(t, st)
			var slow atomic.Bool
			slow.Store(true)
			rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if slow.Load() {
					select {
					case <-r.Context().Done():
					case <-time.After(5 * time.Second):
					}
				}
			})
			e.service("hooks", rc.URL, func(s *mih.Service) { s.TimeoutS = 10 })
			ids := e.deliveries("hooks", 3)
			stop := start(t, e.worker("w1", func(c *delivery.Config) { c.ShutdownTimeout = 100 * time.Millisecond }))
			waitFor(t, 5*time.Second, "3 sends in flight", func() bool { return len(rc.got()) == 3 })
			began := time.Now()
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("shutdown took %v, want about the 100 ms ShutdownTimeout", took)
			}
			for _, id := range ids {
				d := e.delivery(id)
				if d.State != mih.DeliveryPending || d.Attempts != 0 || len(e.attempts(id)) != 0 {
					t.Errorf("delivery %d: got %s after %d attempts, want pending with no attempt", id, d.State, d.Attempts)
				}
			}
			// Released, not left leased: another worker takes them at once, and nothing is lost.
			slow.Store(false)
			stop2 := start(t, e.worker("w2", nil))
			for _, id := range ids {
				if d := e.waitState(id, mih.DeliverySucceeded); d.Attempts != 1 {
					t.Errorf("delivery %d: got %d attempts, want 1", id, d.Attempts)
				}
			}
			stop2()
		})
	})
}

func TestWorker_TwoWorkersDeliverOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, st ledger) {
		e := newEnv(t, st)
		var mu sync.Mutex
		seen := map[string]int{}
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[r.Header.Get("Idempotency-Key")]++
			mu.Unlock()
		})
		e.service("hooks", rc.URL, nil)
		const n = 300
		ids := e.deliveries("hooks", n)
		cfg := func(c *delivery.Config) { c.Concurrency, c.BatchSize = 16, 10 }
		stop1 := start(t, e.worker("w1", cfg))
		stop2 := start(t, e.worker("w2", cfg))
		waitFor(t, 20*time.Second, "every delivery to succeed", func() bool { return len(rc.got()) >= n && e.delivery(ids[n-1]).State == mih.DeliverySucceeded })
		stop1()
		stop2()
		for _, id := range ids {
			if d := e.delivery(id); d.State != mih.DeliverySucceeded || d.Attempts != 1 {
				t.Errorf("delivery %d: got %s after %d attempts, want succeeded after 1", id, d.State, d.Attempts)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != n {
			t.Errorf("receiver saw %d distinct keys, want %d", len(seen), n)
		}
		for k, c := range seen {
			if c != 1 {
				t.Errorf("key %s delivered %d times, want once", k, c)
			}
		}
	})
}

// A send slower than the lease stays leased by the heartbeat, so a second worker does not take
// the delivery over.
func TestWorker_HeartbeatKeepsLease(t *testing.T) {
	forEachStore(t, func(t *testing.T, st ledger) {
		e := newEnv(t, st)
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			time.Sleep(600 * time.Millisecond)
		})
		e.service("hooks", rc.URL, nil)
		id := e.deliveries("hooks", 1)[0]
		cfg := func(c *delivery.Config) { c.Lease = 150 * time.Millisecond }
		stop1 := start(t, e.worker("w1", cfg))
		waitFor(t, 5*time.Second, "the send to start", func() bool { return len(rc.got()) == 1 })
		stop2 := start(t, e.worker("w2", cfg))
		d := e.waitState(id, mih.DeliverySucceeded)
		stop1()
		stop2()
		if n := len(rc.got()); n != 1 || d.Attempts != 1 {
			t.Errorf("got %d requests, %d attempts, want 1: the lease must survive a slow send", n, d.Attempts)
		}
	})
}

// Results that cannot be committed are kept and committed later; nothing is sent twice.
func TestWorker_CommitFailureRetried(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st)
	rc := newReceiver(t, nil)
	e.service("hooks", rc.URL, nil)
	ids := e.deliveries("hooks", 5)
	mock := mockOf(st)
	var fails atomic.Int32
	mock.CompleteDeliveriesFn = func(ctx context.Context, owner string, rs []mih.DeliveryResult) (int, error) {
		if fails.Add(1) <= 3 {
			return 0, mih.Errorf(mih.CodeUnavailable, "database is locked")
		}
		return st.CompleteDeliveries(ctx, owner, rs)
	}
	stop := start(t, e.workerOn(mock, "w1", nil))
	for _, id := range ids {
		e.waitState(id, mih.DeliverySucceeded)
	}
	stop()
	if n := len(rc.got()); n != 5 {
		t.Errorf("receiver got %d requests, want 5", n)
	}
}

// Notify wakes an idle worker at once instead of waiting for the poll.
func TestWorker_Notify(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st)
	rc := newReceiver(t, nil)
	e.service("hooks", rc.URL, nil)
	mock, claims := countingClaims(st)
	w := e.workerOn(mock, "w1", func(c *delivery.Config) { c.PollInterval = time.Hour })
	stop := start(t, w)
	waitFor(t, 5*time.Second, "the first claim", func() bool { return claims.Load() >= 1 })
	id := e.deliveries("hooks", 1)[0]
	began := time.Now()
	w.Notify()
	e.waitState(id, mih.DeliverySucceeded)
	stop()
	if took := time.Since(began); took > time.Second {
		t.Errorf("delivered %v after Notify, want at once", took)
	}
}

func TestWorker_RunTwice(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	w := e.worker("w1", nil)
	stop := start(t, w)
	time.Sleep(20 * time.Millisecond)
	if err := w.Run(context.Background()); mih.ErrorCode(err) != mih.CodeConflict {
		t.Errorf("second Run: got %v, want conflict", err)
	}
	stop()
	if err := e.worker("", nil).Run(context.Background()); mih.ErrorCode(err) != mih.CodeInvalid {
		t.Errorf("no owner: got %v, want invalid", err)
	}
}
