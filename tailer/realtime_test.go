package tailer_test

import (
	"context"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/tailer"
)

// now is a log row stamped with the current time, as Moodle writes it.
func nowRow(i int) logRow {
	r := realistic(i)
	r.TimeCreated = time.Now().Unix()
	return r
}

// "latest" means when the site was saved: a row logged after the save is read even though the
// tailer starts later; rows logged well before the save are not.
func TestTailer_LatestIsTheSaveTime(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		m := newMoodleDB(t, b, "mdl_")
		h := newHub(t)
		old := realistic(1)
		old.TimeCreated = time.Now().Add(-time.Hour).Unix()
		m.mustInsert(t, old, old, old)
		saved := time.Now()
		time.Sleep(time.Second) // the event comes a second after the save, before the tailer starts
		after := m.mustInsert(t, nowRow(2))

		cfg := fastConfig("latest", m.tail, "mdl_")
		cfg.Start, cfg.StartAt = tailer.StartLatest, saved
		r := start(t, cfg, h)
		waitFor(t, 30*time.Second, "the row logged after the save", func() bool { return h.sink.accepted.Load() == 1 })
		if got := h.eventIDs(t, "latest"); len(got) != 1 || !got[tailer.EventID("latest", after[0])] {
			t.Errorf("events %v, want only row %d", got, after[0])
		}
		// And it goes on from there.
		next := m.mustInsert(t, nowRow(3))
		waitFor(t, 30*time.Second, "the next row", func() bool { return h.eventIDs(t, "latest")[tailer.EventID("latest", next[0])] })
		r.stop()
	})
}

// A site saved while the supervisors wait is started within about a second (Watch) in the
// process that takes its lease, even though the full round (Check) is an hour away; a row logged
// a second after the save is delivered; the status is visible from the other process too; and
// turning tail off stops the tailer as quickly.
func TestSupervisor_SiteChangesWithinASecond(t *testing.T) {
	for _, store := range []struct {
		name string
		open func(testing.TB) *hub
	}{{"sqlite", newHub}, {"postgres", newHubPG}} {
		t.Run("hub on "+store.name, func(t *testing.T) { siteChanges(t, store.open) })
	}
}

func siteChanges(t *testing.T, newHub func(testing.TB) *hub) {
	forEach(t, func(t *testing.T, b backend) {
		m := newMoodleDB(t, b, "mdl_")
		h := newHub(t)
		ctx := context.Background()
		tmpl := fastConfig("", "", "")
		sups := map[string]*tailer.Supervisor{}
		for _, owner := range []string{"a", "b"} {
			s := tailer.NewSupervisor(h.store, h.sink, tailer.SupervisorConfig{
				Owner: owner, Check: time.Hour, Tailer: tmpl, Logger: testLogger(t)})
			c, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); s.Run(c) }()
			t.Cleanup(func() { cancel(); <-done })
			sups[owner] = s
		}
		time.Sleep(100 * time.Millisecond) // both past their first round

		site := &mih.Site{Name: "main", URL: "https://moodle.example.edu", DB: m.tail, Tail: true, TailFrom: mih.TailFromLatest}
		if err := h.store.CreateSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		saved := time.Now()
		time.Sleep(time.Second)
		row := m.mustInsert(t, nowRow(1))
		waitFor(t, 10*time.Second, "the row logged a second after the save", func() bool {
			return h.eventIDs(t, "main")[tailer.EventID("main", row[0])]
		})
		t.Logf("%s: delivered to the store %s after the site was saved", b.name, time.Since(saved).Round(time.Millisecond))

		runner, other := "a", "b"
		if sups["a"].Local("main") == nil {
			runner, other = "b", "a"
		}
		if sups[runner].Local("main") == nil || sups[other].Local("main") != nil {
			t.Fatalf("want exactly one process tailing")
		}
		waitFor(t, 10*time.Second, "the status saved for the other process", func() bool {
			st := sups[other].Status("main")
			return st != nil && st.Running && st.Process == runner && st.Events >= 1
		})

		site.Tail = false
		if err := h.store.UpdateSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		off := time.Now()
		waitFor(t, 10*time.Second, "the tailer to stop", func() bool { return sups[runner].Local("main") == nil })
		t.Logf("%s: stopped %s after tail was turned off", b.name, time.Since(off).Round(time.Millisecond))
		waitFor(t, 10*time.Second, "the other process to see the tailer stopped", func() bool {
			st := sups[other].Status("main")
			return st != nil && !st.Running
		})
	})
}
