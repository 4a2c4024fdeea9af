package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
)

// ingest stores one event with one delivery to svc per id, as event.Ingester does with a
// Handoff: leased to the worker as far as it has room, and handed over after the commit. It
// returns how many were handed over.
func (e *env) ingest(h *delivery.Handoff, svc string, ids ...string) int {
	e.t.Helper()
	items := make([]mih.IngestItem, len(ids))
	for i, id := range ids {
		items[i] = mih.IngestItem{
			Event: &mih.Event{ID: id, EventName: `\core\event\user_created`, Other: json.RawMessage(`{}`)},
			Deliveries: []*mih.Delivery{{Service: svc, RuleID: 1, Method: "POST", Endpoint: "/hook",
				Payload: json.RawMessage(fmt.Sprintf(`{"id":%q}`, id))}},
		}
	}
	lease, got := h.Reserve(len(ids), time.Now())
	for _, it := range items[:got] {
		it.Deliveries[0].Lease = lease
	}
	if _, err := e.st.CreateEvents(context.Background(), items); err != nil {
		h.Give(nil, got)
		e.t.Fatal(err)
	}
	var ds []*mih.Delivery
	for _, it := range items[:got] {
		ds = append(ds, it.Deliveries[0])
	}
	return h.Give(ds, got)
}

// leasedItem is an event with one delivery to svc, to be stored with lease.
func leasedItem(id, svc string, lease *mih.Lease) mih.IngestItem {
	return mih.IngestItem{Event: &mih.Event{ID: id, Other: json.RawMessage(`{}`)}, Deliveries: []*mih.Delivery{
		{Service: svc, RuleID: 1, Method: "POST", Endpoint: "/", Payload: json.RawMessage(`{}`), Lease: lease}}}
}

// waitOpen waits until the worker takes deliveries from ingest.
func waitOpen(t *testing.T, h *delivery.Handoff) {
	t.Helper()
	waitFor(t, 5*time.Second, "the worker to take deliveries from ingest", func() bool {
		_, n := h.Reserve(1, time.Now())
		h.Give(nil, n)
		return n == 1
	})
}

// Deliveries handed over by ingest are sent without a claim, and completed like claimed ones.
func TestHandoff_SendsWithoutClaim(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st)
	rc := newReceiver(t, nil)
	e.service("hooks", rc.URL, nil)
	mock, claims := countingClaims(st)
	h := delivery.NewHandoff()
	if _, n := h.Reserve(1, time.Now()); n != 0 {
		t.Fatalf("no worker yet, but %d slots reserved", n)
	}
	w := e.workerOn(mock, "w1", func(c *delivery.Config) { c.PollInterval, c.Handoff = time.Hour, h })
	stop := start(t, w)
	waitOpen(t, h)
	before := claims.Load()
	if n := e.ingest(h, "hooks", "e1", "e2", "e3"); n != 3 {
		t.Fatalf("handed over %d of 3 with 8 slots free", n)
	}
	waitFor(t, 5*time.Second, "three requests", func() bool { return len(rc.got()) == 3 })
	stop()
	if n := claims.Load(); n != before {
		t.Errorf("%d claims for deliveries handed over, want none", n-before)
	}
	ds, _, err := st.FindDeliveries(context.Background(), mih.DeliveryFilter{State: mih.DeliverySucceeded})
	if err != nil || len(ds) != 3 {
		t.Fatalf("%d succeeded, %v: want 3", len(ds), err)
	}
	for _, d := range ds {
		if as := e.attempts(d.ID); len(as) != 1 || as[0].Status != http.StatusOK {
			t.Errorf("delivery %d: attempts %+v, want one 200", d.ID, as)
		}
	}
}

// While due deliveries wait in the ledger, new ones are not handed over, even to free slots:
// they queue behind the older ones, and the worker claims them in order.
func TestHandoff_WaitsBehindBacklog(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st)
	release := make(chan struct{}, 10)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) { <-release })
	e.service("hooks", rc.URL, nil)
	backlog := e.deliveries("hooks", 10)
	h := delivery.NewHandoff()
	// Eight slots: the first claim takes eight of the ten. One done frees one slot, too few for
	// a claim (a busy worker claims once a quarter are free), so two wait with a slot free.
	stop := start(t, e.worker("w1", func(c *delivery.Config) { c.Concurrency, c.Handoff, c.PollInterval = 8, h, time.Hour }))
	waitFor(t, 5*time.Second, "eight sends in flight", func() bool { return len(rc.got()) == 8 })
	release <- struct{}{}
	waitFor(t, 5*time.Second, "one delivery done", func() bool {
		ds, _, err := st.FindDeliveries(context.Background(), mih.DeliveryFilter{State: mih.DeliverySucceeded})
		return err == nil && len(ds) == 1
	})
	if n := e.ingest(h, "hooks", "new"); n != 0 {
		t.Errorf("handed over %d while two older deliveries wait", n)
	}
	close(release)
	for _, id := range backlog {
		e.waitState(id, mih.DeliverySucceeded)
	}
	stop()
}

// Deliveries handed over after the worker stopped (ingest reserved while it ran) are sent by the
// next Run, not left until their lease runs out.
func TestHandoff_ReceivedByNextRun(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st)
	rc := newReceiver(t, nil)
	e.service("hooks", rc.URL, nil)
	h := delivery.NewHandoff()
	cfg := func(c *delivery.Config) { c.Lease, c.Handoff = time.Hour, h }
	stop := start(t, e.worker("w1", cfg))
	waitOpen(t, h)
	lease, got := h.Reserve(2, time.Now())
	if got != 2 {
		t.Fatalf("reserved %d", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, n := h.Reserve(1, time.Now()); n != 0 {
		t.Errorf("a stopped worker took %d", n)
	}
	items := []mih.IngestItem{leasedItem("a", "hooks", lease), leasedItem("b", "hooks", lease)}
	if _, err := st.CreateEvents(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	h.Give([]*mih.Delivery{items[0].Deliveries[0], items[1].Deliveries[0]}, got)
	stop = start(t, e.worker("w1", cfg))
	for _, it := range items {
		e.waitState(it.Deliveries[0].ID, mih.DeliverySucceeded)
	}
	stop()
}

// Slots reserved while one Run held the hand-off and given during the next are counted once: the
// worker never has more than Concurrency slots, whatever the runs in between.
func TestHandoff_SlotsAcrossRuns(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st)
	rc := newReceiver(t, nil)
	e.service("hooks", rc.URL, nil)
	h := delivery.NewHandoff()
	cfg := func(c *delivery.Config) { c.Concurrency, c.Lease, c.Handoff = 8, time.Hour, h }
	stop := start(t, e.worker("w1", cfg))
	waitOpen(t, h)
	lease, got := h.Reserve(2, time.Now())
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	stop = start(t, e.worker("w1", cfg))
	waitOpen(t, h)
	items := []mih.IngestItem{leasedItem("a", "hooks", lease), leasedItem("b", "hooks", lease)}
	if _, err := st.CreateEvents(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	if n := h.Give([]*mih.Delivery{items[0].Deliveries[0], items[1].Deliveries[0]}, got); n != 2 {
		t.Fatalf("took %d of 2", n)
	}
	for _, it := range items {
		e.waitState(it.Deliveries[0].ID, mih.DeliverySucceeded)
	}
	var free int
	waitFor(t, 5*time.Second, "every slot free", func() bool {
		_, free = h.Reserve(100, time.Now())
		h.Give(nil, free)
		return free >= 8
	})
	stop()
	if free != 8 {
		t.Errorf("%d slots free, want 8 (Concurrency)", free)
	}
}

// While the results it holds cannot be committed, the worker takes nothing more from ingest, as
// it claims nothing more.
func TestHandoff_ClosedWhileResultsWait(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st)
	rc := newReceiver(t, nil)
	e.service("hooks", rc.URL, nil)
	mock := mockOf(st)
	var failing atomic.Bool
	failing.Store(true)
	mock.CompleteDeliveriesFn = func(ctx context.Context, owner string, rs []mih.DeliveryResult) (int, error) {
		if failing.Load() {
			return 0, mih.Errorf(mih.CodeUnavailable, "database is locked")
		}
		return st.CompleteDeliveries(ctx, owner, rs)
	}
	h := delivery.NewHandoff()
	stop := start(t, e.workerOn(mock, "w1", func(c *delivery.Config) { c.FlushSize, c.Handoff, c.PollInterval = 2, h, time.Hour }))
	waitOpen(t, h)
	if n := e.ingest(h, "hooks", "a", "b"); n != 2 {
		t.Fatalf("handed over %d of 2", n)
	}
	waitFor(t, 5*time.Second, "two requests", func() bool { return len(rc.got()) == 2 })
	time.Sleep(50 * time.Millisecond) // the results reach the worker, whose commits fail
	if n := e.ingest(h, "hooks", "c"); n != 0 {
		t.Errorf("handed over %d while a full batch of results waits to be committed", n)
	}
	failing.Store(false)
	waitOpen(t, h)
	stop()
}

// A delivery whose lease ran mostly out while its transaction committed is not handed over (it
// could be claimed again once the lease ends, and sent twice): the worker claims it instead, and
// sends it once.
func TestHandoff_StaleLeaseClaimed(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st)
	rc := newReceiver(t, nil)
	e.service("hooks", rc.URL, nil)
	h := delivery.NewHandoff()
	w := e.worker("w1", func(c *delivery.Config) { c.PollInterval, c.Handoff, c.Lease = time.Hour, h, 2*time.Second })
	stop := start(t, w)
	waitOpen(t, h)
	// Reserved "an hour ago": the lease the rows get has run out by the time of the commit.
	lease, got := h.Reserve(1, time.Now().Add(-time.Hour))
	item := leasedItem("slow", "hooks", lease)
	if _, err := st.CreateEvents(context.Background(), []mih.IngestItem{item}); err != nil {
		t.Fatal(err)
	}
	if n := h.Give(item.Deliveries, got); n != 0 {
		t.Fatalf("took %d deliveries whose lease had run out", n)
	}
	w.Notify() // as ingest does for what it could not hand over
	e.waitState(item.Deliveries[0].ID, mih.DeliverySucceeded)
	waitOpen(t, h) // the slot came back
	stop()
	if n := len(rc.got()); n != 1 {
		t.Errorf("sent %d times, want once", n)
	}
}

// Claims and hand-overs share the worker's slots: never more sends at once than Concurrency,
// and every delivery is sent once.
func TestHandoff_SharesConcurrency(t *testing.T) {
	const conc = 3
	st := openSQLite(t)
	e := newEnv(t, st)
	var inflight, peak atomic.Int32
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		now := inflight.Add(1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		inflight.Add(-1)
	})
	e.service("hooks", rc.URL, nil)
	h := delivery.NewHandoff()
	e.deliveries("hooks", 15)
	w := e.worker("w1", func(c *delivery.Config) { c.Concurrency, c.Handoff, c.PollInterval = conc, h, 20*time.Millisecond })
	stop := start(t, w)
	var wg sync.WaitGroup
	var handed atomic.Int32
	wg.Go(func() {
		for i := range 40 {
			n := e.ingest(h, "hooks", fmt.Sprintf("e%d", i), fmt.Sprintf("f%d", i))
			if n < 2 {
				w.Notify()
			}
			handed.Add(int32(n))
			time.Sleep(5 * time.Millisecond)
		}
	})
	wg.Wait()
	waitFor(t, 10*time.Second, "95 requests", func() bool { return len(rc.got()) >= 95 })
	stop()
	if p := peak.Load(); p > conc {
		t.Errorf("%d sends at once, want at most %d", p, conc)
	}
	seen := map[string]int{}
	for _, h := range rc.got() {
		seen[h.key]++
	}
	if len(seen) != 95 {
		t.Errorf("%d distinct deliveries sent, want 95", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s sent %d times", k, n)
		}
	}
	// Once the backlog is sent, the worker keeps up (at most 2 new every 5 ms, 3 at once of
	// 5 ms each) and takes new deliveries from ingest.
	if n := handed.Load(); n == 0 {
		t.Error("nothing handed over")
	} else {
		t.Logf("%d of 80 handed over", n)
	}
}
