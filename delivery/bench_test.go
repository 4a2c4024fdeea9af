package delivery_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
)

// BenchmarkWorker delivers b.N deliveries to a loopback receiver with one worker at the default
// settings (64 in flight, claims of 100) and reports deliveries per second, from the first claim
// to the last committed result. Run it with, e.g.:
//
//	go test -run '^$' -bench Worker -benchtime 20000x ./delivery/
func BenchmarkWorker(b *testing.B) {
	stores := []backend{
		{"sqlite-full", func(tb testing.TB) ledger { return openSQLiteSync(tb, "FULL") }},
		{"sqlite-normal", func(tb testing.TB) ledger { return openSQLiteSync(tb, "NORMAL") }},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			st := s.open(b)
			e := newEnv(b, st)
			var got atomic.Int64
			rc := newReceiver(b, func(int, http.ResponseWriter, *http.Request) { got.Add(1) })
			e.service("hooks", rc.URL, nil)
			for left := b.N; left > 0; left -= 1000 {
				e.deliveries("hooks", min(left, 1000))
			}
			// Count the worker's store calls: store round trips per delivery is the number to
			// watch (docs/architecture.md: Convoy made ~32 statements per event).
			var calls, claimed atomic.Int64
			counted := mockOf(st)
			counted.ClaimDeliveriesFn = func(ctx context.Context, p mih.ClaimParams) ([]*mih.Delivery, error) {
				calls.Add(1)
				ds, err := st.ClaimDeliveries(ctx, p)
				claimed.Add(int64(len(ds)))
				return ds, err
			}
			counted.CompleteDeliveriesFn = func(ctx context.Context, owner string, rs []mih.DeliveryResult) (int, error) {
				calls.Add(1)
				return st.CompleteDeliveries(ctx, owner, rs)
			}
			counted.ExtendLeasesFn = func(ctx context.Context, owner string, ids []int64, until time.Time) error {
				calls.Add(1)
				return st.ExtendLeases(ctx, owner, ids, until)
			}
			w := e.workerOn(counted, "bench", func(c *delivery.Config) {
				c.Concurrency, c.BatchSize, c.PollInterval = 0, 0, 0 // the defaults
			})

			b.ResetTimer()
			began := time.Now()
			stop := start(b, w)
			// Watch the receiver, not the store, so that the benchmark adds no queries; the
			// graceful stop then commits what is left before it returns.
			waitFor(b, 10*time.Minute, "every delivery to arrive", func() bool { return got.Load() >= int64(b.N) })
			if err := stop(); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(began)
			b.StopTimer()
			if n := succeeded(b, st); n != b.N {
				b.Fatalf("got %d succeeded deliveries, want %d", n, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(calls.Load())/float64(b.N), "calls/delivery")
		})
	}
}

func succeeded(tb testing.TB, st ledger) int {
	counts, err := st.CountDeliveries(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, c := range counts {
		if c.State == mih.DeliverySucceeded {
			n += c.Count
		}
	}
	return n
}

func openSQLiteSync(tb testing.TB, sync string) ledger {
	box, err := secret.NewBox(make([]byte, secret.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "mih.db"), box, sqlite.WithSynchronous(sync))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}
