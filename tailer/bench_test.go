package tailer_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/store/storetest"
	"github.com/mihhub/mih/tailer"
)

// benchRows is how many log rows one benchmark iteration tails.
const benchRows = 100000

// BenchmarkTailer tails 100,000 realistic log rows (one in ten with a PHP-serialized other, long
// forum posts, guest and anonymous rows) from a Moodle database and reports rows per second:
//
//   - discard: read and decode only, into a sink that keeps nothing (the position is still saved
//     in a real SQLite store after each batch, as in production);
//   - ingest: read, decode, match four rules (an exact name, a filter, a glob, a catch-all with a
//     filter), render their payloads and commit events with their deliveries to a SQLite store
//     with synchronous=FULL, as mih serve does.
//
// Each iteration starts a new site from the beginning of the table. Run it with, e.g.:
//
//	MIH_TEST_POSTGRES_URL=… MIH_TEST_MYSQL_URL=… go test -run '^$' -bench Tailer -benchtime 3x ./tailer/
func BenchmarkTailer(b *testing.B) {
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) {
			m := newMoodleDB(b, bk, "mdl_")
			rows := make([]logRow, 0, 1000)
			for i := range benchRows {
				rows = append(rows, realistic(i))
				if len(rows) == cap(rows) {
					m.mustInsert(b, rows...)
					rows = rows[:0]
				}
			}
			b.Run("discard", func(b *testing.B) {
				st := openBenchStore(b)
				sink := &discardSink{}
				benchTail(b, m, st, sink, &sink.n)
			})
			b.Run("ingest", func(b *testing.B) {
				st := openBenchStore(b)
				addBenchRules(b, st)
				in := event.NewIngester(event.Config{Store: st, Rules: rule.NewSet(st, slog.New(slog.DiscardHandler), time.Second)})
				sink := &countingSink{next: in}
				benchTail(b, m, st, sink, &sink.accepted)
				if n := sink.duplicates.Load(); n != 0 {
					b.Fatalf("%d duplicates", n)
				}
			})
		})
	}
}

var benchSite atomic.Int64

func benchTail(b *testing.B, m *moodleDB, st mih.Store, sink tailer.Sink, count *atomic.Int64) {
	var elapsed time.Duration
	for b.Loop() {
		site := "bench" + strconv.FormatInt(benchSite.Add(1), 10)
		count.Store(0)
		tl, err := tailer.New(tailer.Config{Site: site, DSN: m.tail, Start: tailer.StartBeginning}, st, sink)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		began := time.Now()
		go func() { done <- tl.Run(ctx) }()
		deadline := time.Now().Add(10 * time.Minute)
		for count.Load() < benchRows {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d rows after 10 minutes; status %+v", count.Load(), benchRows, tl.Status())
			}
			time.Sleep(2 * time.Millisecond)
		}
		elapsed += time.Since(began)
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if n := count.Load(); n != benchRows {
			b.Fatalf("got %d events, want %d", n, benchRows)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(0, "ns/op")
}

// discardSink keeps nothing and counts the events.
type discardSink struct{ n atomic.Int64 }

func (d *discardSink) Ingest(_ context.Context, _, _ string, events []*mih.Event) (mih.IngestResult, error) {
	d.n.Add(int64(len(events)))
	return mih.IngestResult{Accepted: len(events)}, nil
}

func openBenchStore(b *testing.B) mih.Store {
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "mih.db"), storetest.NewBox(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

func addBenchRules(b *testing.B, st mih.Store) {
	ctx := b.Context()
	if err := st.CreateService(ctx, storetest.NewService("crm")); err != nil {
		b.Fatal(err)
	}
	for _, r := range []*mih.Rule{
		{Name: "enrolments", Event: `\core\event\user_enrolment_created`, Endpoint: "/enrolments",
			Template: `{"user": {{relateduserid}}, "course": {{courseid}}, "enrol": "{{other.enrol}}"}`},
		{Name: "grades", Event: `\core\event\user_graded`, Filter: `courseid < 100`, Endpoint: "/grades",
			Template: `{"user": {{relateduserid}}, "grade": {{other.finalgrade}}, "item": {{other.itemid}}}`},
		{Name: "forum", Event: `\mod_forum\event\*`, Endpoint: "/forum"},
		{Name: "creations", Event: `*`, Filter: `crud == "c" && anonymous == 0`, Endpoint: "/audit",
			Template: `{"event": "{{eventname}}", "id": "{{id}}", "site": "{{site}}", "at": {{timecreated}}}`},
	} {
		r.Service, r.Method, r.Active, r.Enrich = "crm", "POST", true, []string{}
		if _, err := rule.Compile(r); err != nil {
			b.Fatal(err)
		}
		if err := st.CreateRule(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
