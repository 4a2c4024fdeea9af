package tailer_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/tailer"
)

// stampSink records when each event reached the sink, then passes it on to the hub's ingester.
type stampSink struct {
	next tailer.Sink
	mu   sync.Mutex
	at   map[string]time.Time
}

func (s *stampSink) Ingest(ctx context.Context, source, site string, events []*mih.Event) (mih.IngestResult, error) {
	res, err := s.next.Ingest(ctx, source, site, events)
	now := time.Now()
	s.mu.Lock()
	for _, e := range events {
		if _, ok := s.at[e.ID]; !ok {
			s.at[e.ID] = now
		}
	}
	s.mu.Unlock()
	return res, err
}

// BenchmarkTailerLatency commits log rows one at a time, with random pauses of 0 to 400 ms (a
// site where things happen now and then, so the tailer is found both polling fast and backed
// off), and reports how long each took from its commit to being stored by the hub's ingester
// (rules matched, event and deliveries committed to SQLite), with the default polling:
//
//	MIH_TEST_POSTGRES_URL=… MIH_TEST_MYSQL_URL=… go test -run '^$' -bench TailerLatency -benchtime 200x ./tailer/
//
// It also reports the statements the tailer ran per second while the rows came.
func BenchmarkTailerLatency(b *testing.B) {
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) {
			m := newMoodleDB(b, bk, "mdl_")
			h := newHub(b)
			sink := &stampSink{next: h.ingester, at: map[string]time.Time{}}
			tl, err := tailer.New(tailer.Config{Site: "lat", DSN: m.tail, Start: tailer.StartLatest}, h.store, sink)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tl.Run(ctx) }()
			defer func() { cancel(); <-done }()
			waitFor(b, 30*time.Second, "the first poll", func() bool { return !tl.Status().LastPoll.IsZero() })

			var lat []time.Duration
			q0, t0 := tl.Status().Queries, time.Now()
			for i := 0; b.Loop(); i++ {
				time.Sleep(time.Duration(rand.Int64N(int64(400 * time.Millisecond))))
				ids := m.mustInsert(b, nowRow(i))
				committed := time.Now()
				id := tailer.EventID("lat", ids[0])
				waitFor(b, 30*time.Second, "the row", func() bool {
					sink.mu.Lock()
					defer sink.mu.Unlock()
					_, ok := sink.at[id]
					return ok
				})
				sink.mu.Lock()
				lat = append(lat, sink.at[id].Sub(committed))
				sink.mu.Unlock()
			}
			qps := float64(tl.Status().Queries-q0) / time.Since(t0).Seconds()
			slices.Sort(lat)
			p := func(f float64) float64 {
				return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))]) / float64(time.Millisecond)
			}
			b.ReportMetric(p(0.5), "p50-ms")
			b.ReportMetric(p(0.95), "p95-ms")
			b.ReportMetric(p(1), "max-ms")
			b.ReportMetric(qps, "queries/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkTailerIdle leaves a tailer on a quiet log table for 20 s and reports the statements it
// ran on Moodle's database per second, counted by the tailer and, on PostgreSQL, cross-checked
// by the database itself (pg_stat_database.xact_commit of the test database, which nothing else
// uses):
//
//	MIH_TEST_POSTGRES_URL=… MIH_TEST_MYSQL_URL=… go test -run '^$' -bench TailerIdle -benchtime 1x ./tailer/
func BenchmarkTailerIdle(b *testing.B) {
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) {
			m := newMoodleDB(b, bk, "mdl_")
			m.mustInsert(b, nowRow(1))
			h := newHub(b)
			tl, err := tailer.New(tailer.Config{Site: "idle", DSN: m.tail, Start: tailer.StartLatest}, h.store, h.sink)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tl.Run(ctx) }()
			defer func() { cancel(); <-done }()
			waitFor(b, 30*time.Second, "the first poll", func() bool { return !tl.Status().LastPoll.IsZero() })
			time.Sleep(time.Second)
			xact := func() int64 {
				if bk.name != "postgres" {
					return 0
				}
				var n int64
				if err := m.admin.QueryRow(`SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n); err != nil {
					b.Fatal(err)
				}
				return n
			}
			for b.Loop() {
				q0, x0, t0 := tl.Status().Queries, xact(), time.Now()
				time.Sleep(20 * time.Second)
				q1, x1 := tl.Status().Queries, xact()
				s := time.Since(t0).Seconds()
				b.ReportMetric(float64(q1-q0)/s, "queries/s")
				if bk.name == "postgres" {
					// Minus the two reads of the counter itself.
					b.ReportMetric(float64(x1-x0-2)/s, "xact/s")
				}
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}
