package breaker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/breaker"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
)

// downReceiver is a service that answers 503 until up, then 200, in the bubble's time. It is a
// transport rather than a server because a test of a 10-minute outage runs in testing/synctest,
// whose clock cannot wait on sockets; TestOutage_Real runs the short outage with real servers.
type downReceiver struct {
	up time.Time

	mu        sync.Mutex
	delivered map[string]time.Time // idempotency key → first success
	calls     int
}

func (r *downReceiver) Send(_ context.Context, _ *mih.Service, req *mih.Request) (*mih.Response, error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if now.Before(r.up) {
		return &mih.Response{Status: 503}, &mih.SendError{Code: mih.ErrHTTP, Status: 503, Retryable: true, Message: "503 Service Unavailable"}
	}
	if _, ok := r.delivered[req.IdempotencyKey]; !ok {
		r.delivered[req.IdempotencyKey] = now
	}
	return &mih.Response{Status: 200}, nil
}

// outageRun is what one simulated outage measured.
type outageRun struct {
	outage    time.Duration
	waiting   int           // deliveries created before the service came back and not yet delivered then
	recovery  time.Duration // from the service's return to the first of those delivered
	drained   time.Duration // from the service's return to the last of them delivered
	dead      int
	calls     int // calls the service got during the outage
	succeeded int
}

// simulateOutage runs the delivery path of `mih serve` (worker, breaker, gateway, SQLite store,
// default service settings, default worker and breaker timings) in a synctest bubble: one
// delivery every 10 s from t=0, the service down from t=5 s for outage, then 60 s more.
func simulateOutage(t *testing.T, outage time.Duration) outageRun {
	var run outageRun
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		box, err := secret.NewBox(make([]byte, secret.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mih.db"), box, sqlite.WithSynchronous("NORMAL"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		svc := mih.NewService() // the defaults are what is tested
		svc.Name, svc.BaseURL = "crm", "http://crm.invalid"
		if err := st.CreateService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		down, up := start.Add(5*time.Second), start.Add(5*time.Second+outage)
		// The service is up for the first 5 s: it has a success on record, as in production.
		rc := &downReceiver{up: start, delivered: map[string]time.Time{}}
		wake := delivery.NewWakeup()
		b := breaker.New(st, breaker.Options{Owner: "p1", Ledger: ops.NewLedger(st, wake, nil)})
		gw := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: rc}, gateway.Options{Guard: b})
		w := delivery.New(st, st, gw, delivery.Config{Owner: "p1", Wakeup: wake, Health: b})
		var wg sync.WaitGroup
		wg.Go(func() { b.Run(ctx) })
		wg.Go(func() { w.Run(ctx) })

		created := map[string]time.Time{}
		end := up.Add(60 * time.Second)
		for i := 0; time.Now().Before(end); i++ {
			if time.Now().After(down) {
				rc.mu.Lock()
				rc.up = up
				rc.mu.Unlock()
			}
			d := &mih.Delivery{Service: "crm", Method: "POST", Endpoint: "/users", Payload: json.RawMessage(`{}`),
				IdempotencyKey: fmt.Sprintf("ev%d:1", i)}
			if err := st.CreateDeliveries(ctx, []*mih.Delivery{d}); err != nil {
				t.Fatal(err)
			}
			created[d.IdempotencyKey] = time.Now()
			w.Notify()
			time.Sleep(10 * time.Second)
		}
		cancel()
		wg.Wait()

		rc.mu.Lock()
		defer rc.mu.Unlock()
		run.outage = outage
		var lat []time.Duration
		for key, at := range created {
			got, ok := rc.delivered[key]
			if at.Before(up) && (!ok || !got.Before(up)) {
				run.waiting++
				if ok {
					lat = append(lat, got.Sub(up))
				}
			}
		}
		slices.Sort(lat)
		if len(lat) > 0 {
			run.recovery, run.drained = lat[0], lat[len(lat)-1]
		}
		cs, err := st.CountDeliveries(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			switch c.State {
			case mih.DeliveryDead:
				run.dead += c.Count
			case mih.DeliverySucceeded:
				run.succeeded += c.Count
			}
		}
		run.calls = rc.calls
		if len(lat) != run.waiting {
			t.Errorf("%d of %d waiting deliveries were not delivered within 60 s of recovery", run.waiting-len(lat), run.waiting)
		}
	})
	return run
}

// Outages of 10 s, 2 min and 10 min with default settings and one delivery every 10 s: nothing
// goes dead, and every delivery waiting when the service comes back reaches it within 10 s.
// The times are the bubble's, so the bound is exact rather than a flaky wall-clock race; go
// test -v -run TestOutage_Simulated prints the figures.
func TestOutage_Simulated(t *testing.T) {
	for _, outage := range []time.Duration{10 * time.Second, 2 * time.Minute, 10 * time.Minute} {
		t.Run(outage.String(), func(t *testing.T) {
			r := simulateOutage(t, outage)
			t.Logf("outage %s: %d deliveries waiting at recovery, first delivered after %s, last after %s; %d calls in all, %d dead",
				r.outage, r.waiting, r.recovery.Round(time.Millisecond), r.drained.Round(time.Millisecond), r.calls, r.dead)
			if r.dead != 0 {
				t.Errorf("%d dead deliveries", r.dead)
			}
			if r.waiting == 0 {
				t.Fatal("no delivery waited for the service")
			}
			if r.drained > 10*time.Second {
				t.Errorf("the last waiting delivery arrived %s after the service came back, want within 10 s", r.drained)
			}
		})
	}
}
