package delivery_test

// The Ingester's side of the hand-off is tested here, with the real SQLite store, rather than in
// package event: linking SQLite into event's test binary made its fuzzing thirteen times slower
// (the fuzzer instruments every package of the binary), and the CI's short fuzz run timed out.

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/store"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/store/storetest"
)

// handoff records what ingest reserves and gives, granting up to free slots.
type handoff struct {
	mu       sync.Mutex
	refuse   bool // Give takes nothing (the leases ran out during the commit)
	free     int
	asked    []int
	given    [][]*mih.Delivery
	returned int // reserved slots given back unused
}

func (h *handoff) Reserve(n int, now time.Time) (*mih.Lease, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.asked = append(h.asked, n)
	got := min(n, h.free)
	h.free -= got
	if got == 0 {
		return nil, 0
	}
	return &mih.Lease{Owner: "w1", Until: now.Add(time.Minute)}, got
}

func (h *handoff) Give(ds []*mih.Delivery, reserved int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.refuse {
		ds = nil
	}
	h.given = append(h.given, ds)
	h.returned += reserved - len(ds)
	h.free += reserved - len(ds)
	return len(ds)
}

type waker struct{ n int }

func (w *waker) Notify() { w.n++ }

// failing makes CreateEvents fail once.
type failing struct {
	*store.Store
	fail bool
}

func (f *failing) CreateEvents(ctx context.Context, items []mih.IngestItem) (mih.IngestResult, error) {
	if f.fail {
		f.fail = false
		return mih.IngestResult{}, errors.New("disk full")
	}
	return f.Store.CreateEvents(ctx, items)
}

func ev(id, name string) *mih.Event {
	return &mih.Event{ID: id, EventName: name, Component: "core", Action: "created", Target: "user", CRUD: "c",
		UserID: 2, Other: []byte(`{}`), TimeCreated: 1767225600}
}

// The Ingester hands the worker the deliveries it stores while the worker has room, stored leased to
// it; the rest are left for the worker to claim, and only then is it woken. A duplicate event's
// deliveries and a failed transaction hand nothing over, and give the slots back.
func TestIngester_Handoff(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mih.db"), storetest.NewBox(t), sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateService(ctx, storetest.NewService("crm")); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*mih.Rule{
		{Name: "a", Event: `\core\event\x`, Service: "crm", Method: "POST", Endpoint: "/a", Template: `{"id": "{{id}}"}`, Active: true},
		{Name: "b", Event: `\core\event\x`, Service: "crm", Method: "POST", Endpoint: "/b", Template: `{"id": "{{id}}"}`, Active: true},
	} {
		if err := st.CreateRule(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	h := &handoff{free: 3}
	wake := &waker{}
	fs := &failing{Store: st}
	rules := rule.NewSet(st, nil, time.Hour)
	if err := rules.Load(ctx); err != nil {
		t.Fatal(err)
	}
	in := event.NewIngester(event.Config{Store: fs, Rules: rules, Wake: wake, Handoff: h})

	// Two events, four deliveries, three slots: three handed over, one left to claim.
	res, err := in.Ingest(ctx, "http", "", []*mih.Event{ev("e1", `\core\event\x`), ev("e2", `\core\event\x`)})
	if err != nil || res.Deliveries != 4 {
		t.Fatalf("ingest: %+v, %v", res, err)
	}
	if !slices.Equal(h.asked, []int{4}) || len(h.given) != 1 || len(h.given[0]) != 3 {
		t.Fatalf("asked %v, given %d batches (%v)", h.asked, len(h.given), h.given)
	}
	if wake.n != 1 {
		t.Errorf("woken %d times, want 1: one delivery was left to claim", wake.n)
	}
	for _, d := range h.given[0] {
		if d.ID == 0 || d.Lease == nil || d.Lease.Owner != "w1" {
			t.Errorf("handed over %+v: want stored and leased to w1", d)
		}
	}
	got, err := st.ClaimDeliveries(ctx, mih.ClaimParams{Owner: "other", Limit: 10, Lease: time.Minute})
	if err != nil || len(got) != 1 || got[0].EventID != "e2" || got[0].Endpoint != "/b" {
		t.Fatalf("another worker claims %v, %v: want the one delivery not handed over (e2, /b)", got, err)
	}

	// The worker took everything: nothing to claim, nobody woken. The duplicate's slots come back.
	h.free, wake.n = 10, 0
	if _, err := in.Ingest(ctx, "http", "", []*mih.Event{ev("e1", `\core\event\x`), ev("e3", `\core\event\x`)}); err != nil {
		t.Fatal(err)
	}
	if last := h.given[len(h.given)-1]; len(last) != 2 || last[0].EventID != "e3" || last[1].EventID != "e3" {
		t.Errorf("handed over %v, want e3's two deliveries", last)
	}
	if wake.n != 0 || h.returned != 2 || h.free != 8 {
		t.Errorf("woken %d, %d slots returned, %d free: want 0, 2 (the duplicate's), 8", wake.n, h.returned, h.free)
	}

	// What the worker did not take after the commit, it is woken to claim.
	h.refuse, wake.n = true, 0
	if _, err := in.Ingest(ctx, "http", "", []*mih.Event{ev("e4", `\core\event\x`)}); err != nil {
		t.Fatal(err)
	}
	if wake.n != 1 || h.free != 8 {
		t.Errorf("nothing taken: woken %d, %d free: want 1, 8", wake.n, h.free)
	}
	h.refuse = false

	// A failed transaction gives every slot back and wakes nobody.
	fs.fail, wake.n = true, 0
	if _, err := in.Ingest(ctx, "http", "", []*mih.Event{ev("e5", `\core\event\x`)}); err == nil {
		t.Fatal("ingest on a failing store succeeded")
	}
	if h.free != 8 || wake.n != 0 || len(h.given[len(h.given)-1]) != 0 {
		t.Errorf("after a failed ingest: %d free, woken %d, last given %v: want 8, 0, none", h.free, wake.n, h.given[len(h.given)-1])
	}
}
