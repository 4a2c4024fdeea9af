package tailer_test

import (
	"context"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/tailer"
)

// Two processes supervise the same sites: exactly one tails a site at a time, the other takes it
// over when the first goes away, and turning tail off stops it.
func TestSupervisor(t *testing.T) {
	m := newMoodleDB(t, backends[0], "mdl_")
	h := newHub(t)
	ctx := context.Background()
	site := &mih.Site{Name: "main", URL: "https://moodle.example.edu", DB: m.tail, Tail: true, TailFrom: "beginning"}
	if err := h.store.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	tmpl := fastConfig("", "", "")
	super := func(owner string) (*tailer.Supervisor, func()) {
		s := tailer.NewSupervisor(h.store, h.sink, tailer.SupervisorConfig{
			Owner: owner, Check: 50 * time.Millisecond, Lease: 300 * time.Millisecond, Tailer: tmpl, Logger: testLogger(t)})
		c, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); s.Run(c) }()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		return s, stop
	}
	a, stopA := super("a")
	b, stopB := super("b")

	rows := make([]logRow, 50)
	for i := range rows {
		rows[i] = realistic(i)
	}
	m.mustInsert(t, rows...)
	waitFor(t, 10*time.Second, "50 events", func() bool { return len(h.eventIDs(t, "main")) == 50 })
	if (a.Local("main") == nil) == (b.Local("main") == nil) {
		t.Fatalf("tailing in a: %v, in b: %v; want exactly one", a.Local("main") != nil, b.Local("main") != nil)
	}
	// The process that tails goes away; the other takes the site over from the saved position.
	other := b
	if a.Local("main") != nil {
		stopA()
	} else {
		stopB()
		other = a
	}
	m.mustInsert(t, rows[:20]...)
	waitFor(t, 10*time.Second, "the other process to take over and 70 events", func() bool {
		return other.Local("main") != nil && len(h.eventIDs(t, "main")) == 70
	})
	if got := h.sink.duplicates.Load(); got > 50 {
		t.Errorf("%d duplicates after the handover: the saved position was not used", got)
	}

	site.Tail = false
	if err := h.store.UpdateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the tailer to stop", func() bool { return other.Local("main") == nil })
}
