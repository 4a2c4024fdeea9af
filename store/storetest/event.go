package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

var eventTests = []test{
	{"CreateFind", testEventCreateFind},
	{"Duplicates", testEventDuplicates},
	{"ConcurrentDuplicates", testEventConcurrentDuplicates},
	{"Atomic", testEventAtomic},
	{"ErrInvalid", testEventInvalid},
	{"ErrNotFound", testEventNotFound},
	{"FindEvents", testFindEvents},
	{"Paginate", testEventPaginate},
	{"Limit", testEventLimit},
	{"Prune", testPruneEvents},
}

// Old events go once their deliveries are done; one with a waiting or dead delivery stays for
// a replay to render it again.
func testPruneEvents(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	old, recent := t0.Add(-48*time.Hour), t0
	items := ingest("crm", []string{"none", "done", "waiting", "dead", "recent"}, 1)
	items[0].Deliveries = nil
	items[1].Deliveries[0].State = mih.DeliverySucceeded
	items[3].Deliveries[0].State, items[3].Deliveries[0].DeadReason = mih.DeliveryDead, mih.ReasonFailed
	for i, it := range items {
		it.Event.ReceivedAt = old
		if i == 4 {
			it.Event.ReceivedAt = recent
		}
	}
	must[mih.IngestResult](t)(s.CreateEvents(ctx, items))
	if n := must[int](t)(s.PruneEvents(ctx, t0.Add(-time.Hour))); n != 2 {
		t.Errorf("pruned %d events, want 2", n)
	}
	for id, kept := range map[string]bool{"none": false, "done": false, "waiting": true, "dead": true, "recent": true} {
		_, err := s.FindEventByID(ctx, id)
		if kept && err != nil {
			t.Errorf("event %s: %v, want kept", id, err)
		}
		if !kept {
			wantCode(t, err, mih.CodeNotFound)
		}
	}
	if n := must[int](t)(s.PruneEvents(ctx, t0.Add(-time.Hour))); n != 0 {
		t.Errorf("pruned %d again", n)
	}
}

// ingest returns items for events ids, each with one delivery per rule id.
func ingest(service string, ids []string, rules ...int64) []mih.IngestItem {
	items := make([]mih.IngestItem, len(ids))
	for i, id := range ids {
		items[i].Event = newEvent(id, i)
		for _, r := range rules {
			d := newDelivery(service, time.Time{})
			d.RuleID = r
			d.IdempotencyKey = ""
			items[i].Deliveries = append(items[i].Deliveries, d)
		}
	}
	return items
}

func eventIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return ids
}

func sameEvent(t *testing.T, got, want *mih.Event) {
	t.Helper()
	g, w := *got, *want
	wantTime(t, "received_at", g.ReceivedAt, w.ReceivedAt)
	g.ReceivedAt, w.ReceivedAt = time.Time{}, time.Time{}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("got event %s\nwant %s", gb, wb)
	}
}

func testEventCreateFind(t *testing.T, s mih.Store) {
	ctx := t.Context()
	items := ingest("crm", []string{"logstore:1", "logstore:2"}, 7, 8)
	// Nullable fields stay null, odd JSON in other stays as sent.
	e := items[1].Event
	e.ObjectTable, e.ObjectID, e.RelatedUserID, e.RealUserID = nil, nil, nil, ptr(int64(9))
	e.Other = json.RawMessage(`{"a":[1,2.50,"x\"y"],"n":null}`)
	received := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("X", -7200))
	items[0].Event.ReceivedAt = received
	before := time.Now().Add(-time.Second)
	res := must[mih.IngestResult](t)(s.CreateEvents(ctx, items))
	if res != (mih.IngestResult{Accepted: 2, Duplicates: 0, Deliveries: 4}) {
		t.Errorf("result %+v", res)
	}
	wantTime(t, "given received_at", items[0].Event.ReceivedAt, received)
	if items[1].Event.ReceivedAt.Before(before) {
		t.Errorf("default received_at %v, want now", items[1].Event.ReceivedAt)
	}
	for _, it := range items {
		sameEvent(t, must[*mih.Event](t)(s.FindEventByID(ctx, it.Event.ID)), it.Event)
		for _, d := range it.Deliveries {
			if d.ID == 0 {
				t.Fatal("delivery without id")
			}
			got := must[*mih.Delivery](t)(s.FindDeliveryByID(ctx, d.ID))
			want := *d
			want.EventID, want.State = it.Event.ID, mih.DeliveryPending
			want.IdempotencyKey = mih.IdempotencyKey(it.Event.ID, d.RuleID)
			sameDelivery(t, got, &want)
			if got.NextAttemptAt.Before(before) || got.CreatedAt.Before(before) {
				t.Errorf("next_attempt_at %v created_at %v, want now", got.NextAttemptAt, got.CreatedAt)
			}
		}
	}
}

func testEventDuplicates(t *testing.T, s mih.Store) {
	ctx := t.Context()
	res := must[mih.IngestResult](t)(s.CreateEvents(ctx, ingest("crm", []string{"a", "b"}, 1)))
	if res != (mih.IngestResult{Accepted: 2, Deliveries: 2}) {
		t.Errorf("first: %+v", res)
	}
	// b and a again, c new, c twice in the same call.
	items := ingest("crm", []string{"b", "c", "a", "c"}, 1, 2)
	items[0].Event.EventName = "changed"
	res = must[mih.IngestResult](t)(s.CreateEvents(ctx, items))
	if res != (mih.IngestResult{Accepted: 1, Duplicates: 3, Deliveries: 2}) {
		t.Errorf("second: %+v", res)
	}
	if e := must[*mih.Event](t)(s.FindEventByID(ctx, "b")); e.EventName == "changed" {
		t.Error("a duplicate overwrote the stored event")
	}
	for id, want := range map[string]int{"a": 1, "b": 1, "c": 2} {
		ds := must[[]*mih.Delivery](t)(firstPage(s.FindDeliveries(ctx, mih.DeliveryFilter{EventID: id})))
		if len(ds) != want {
			t.Errorf("event %s: %d deliveries, want %d", id, len(ds), want)
		}
	}
	// The whole batch a duplicate.
	res = must[mih.IngestResult](t)(s.CreateEvents(ctx, ingest("crm", []string{"a", "b"}, 1)))
	if res != (mih.IngestResult{Duplicates: 2}) {
		t.Errorf("third: %+v", res)
	}
}

// testEventConcurrentDuplicates: batches sharing ids, in different orders, ingested at the same
// time, store each event once, without failing.
func testEventConcurrentDuplicates(t *testing.T, s mih.Store) {
	const n, workers = 300, 4
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
	)
	for w := range workers {
		ids := eventIDs("e", n)
		rand.New(rand.NewPCG(uint64(w), 0)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		wg.Go(func() {
			res, err := s.CreateEvents(context.Background(), ingest("crm", ids, 1))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			accepted += res.Accepted
			mu.Unlock()
		})
	}
	wg.Wait()
	if accepted != n {
		t.Errorf("accepted %d, want %d", accepted, n)
	}
	if c := must[[]mih.DeliveryCount](t)(s.CountDeliveries(t.Context())); len(c) != 1 || c[0].Count != n {
		t.Errorf("deliveries %v, want %d", c, n)
	}
}

// testEventAtomic: a batch that fails part-way leaves nothing behind, even when it is large enough
// to take several statements.
func testEventAtomic(t *testing.T, s mih.Store) {
	ctx := t.Context()
	items := ingest("crm", eventIDs("e", 5000), 1)
	items[len(items)-1].Deliveries[0].State = "bogus"
	if _, err := s.CreateEvents(ctx, items); err == nil {
		t.Fatal("a delivery in an unknown state was stored")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.CreateEvents(canceled, ingest("crm", []string{"x"}, 1)); err == nil {
		t.Fatal("CreateEvents with a canceled context succeeded")
	}
	if evs := must[[]*mih.EventRecord](t)(firstPage(s.FindEvents(ctx, mih.EventFilter{}))); len(evs) != 0 {
		t.Errorf("%d events stored by failed batches", len(evs))
	}
	if ds := must[[]*mih.Delivery](t)(firstPage(s.FindDeliveries(ctx, mih.DeliveryFilter{}))); len(ds) != 0 {
		t.Errorf("%d deliveries stored by failed batches", len(ds))
	}
	// The same events go in once the batch is right.
	items[len(items)-1].Deliveries[0].State = ""
	res := must[mih.IngestResult](t)(s.CreateEvents(ctx, items))
	if res.Accepted != 5000 || res.Deliveries != 5000 {
		t.Errorf("retry: %+v", res)
	}
}

func testEventInvalid(t *testing.T, s mih.Store) {
	ctx := t.Context()
	items := ingest("crm", []string{"a", ""}, 1)
	_, err := s.CreateEvents(ctx, items)
	wantCode(t, err, mih.CodeInvalid)
	_, err = s.CreateEvents(ctx, []mih.IngestItem{{}})
	wantCode(t, err, mih.CodeInvalid)
	_, _, err = s.FindEvents(ctx, mih.EventFilter{Cursor: "not-a-cursor"})
	wantCode(t, err, mih.CodeInvalid)
	if res := must[mih.IngestResult](t)(s.CreateEvents(ctx, nil)); res != (mih.IngestResult{}) {
		t.Errorf("empty ingest: %+v", res)
	}
}

func testEventNotFound(t *testing.T, s mih.Store) {
	_, err := s.FindEventByID(t.Context(), "nope")
	wantCode(t, err, mih.CodeNotFound)
}

func testFindEvents(t *testing.T, s mih.Store) {
	ctx := t.Context()
	old := ingest("crm", []string{"old"})
	old[0].Event.ReceivedAt = time.Now().Add(-48 * time.Hour)
	must[mih.IngestResult](t)(s.CreateEvents(ctx, old))
	items := ingest("crm", eventIDs("e", 6), 1, 2)
	items[2].Event.Site = "other"
	items[3].Event.EventName = `\core\event\user_updated`
	items[4].Deliveries = nil
	must[mih.IngestResult](t)(s.CreateEvents(ctx, items))

	cases := []struct {
		name string
		f    mih.EventFilter
		want []string
	}{
		{"all", mih.EventFilter{}, []string{"e5", "e4", "e3", "e2", "e1", "e0", "old"}},
		{"eventname", mih.EventFilter{EventName: `\core\event\user_updated`}, []string{"e3"}},
		{"site", mih.EventFilter{Site: "other"}, []string{"e2"}},
		{"userid", mih.EventFilter{UserID: ptr(int64(1))}, []string{"e1"}},
		{"courseid", mih.EventFilter{CourseID: ptr(int64(1))}, []string{"e3", "e0", "old"}},
		{"since", mih.EventFilter{Since: time.Now().Add(-time.Hour)}, []string{"e5", "e4", "e3", "e2", "e1", "e0"}},
		{"combined", mih.EventFilter{Site: "main", CourseID: ptr(int64(3))}, []string{"e5"}},
		{"none", mih.EventFilter{Site: "nope"}, nil},
	}
	for _, tc := range cases {
		recs, next, err := s.FindEvents(ctx, tc.f)
		ok(t, err)
		var got []string
		for _, r := range recs {
			got = append(got, r.ID)
			wantUTC(t, "received_at", r.ReceivedAt)
		}
		if !slices.Equal(got, tc.want) || next != "" {
			t.Errorf("%s: got %v next %q, want %v", tc.name, got, next, tc.want)
		}
	}

	recs, _, err := s.FindEvents(ctx, mih.EventFilter{})
	ok(t, err)
	byID := map[string]*mih.EventRecord{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	for _, it := range items {
		r := byID[it.Event.ID]
		if len(r.Deliveries) != len(it.Deliveries) {
			t.Errorf("%s: %d deliveries, want %d", r.ID, len(r.Deliveries), len(it.Deliveries))
			continue
		}
		for i, d := range it.Deliveries {
			want := mih.DeliveryBrief{ID: d.ID, RuleID: d.RuleID, Service: "crm", State: mih.DeliveryPending}
			if r.Deliveries[i] != want {
				t.Errorf("%s: delivery %d: %+v, want %+v", r.ID, i, r.Deliveries[i], want)
			}
		}
	}
	if r := byID["e4"]; r.Deliveries == nil {
		t.Error("an event without deliveries lists null, want []")
	}
}

func testEventPaginate(t *testing.T, s mih.Store) {
	ctx := t.Context()
	// Several calls, so that ids are not in one statement's order only.
	for i := range 3 {
		must[mih.IngestResult](t)(s.CreateEvents(ctx, ingest("crm", eventIDs(fmt.Sprintf("b%d-", i), 9), 1)))
	}
	var all []string
	f := mih.EventFilter{Limit: 4, Site: "main"}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		recs, next, err := s.FindEvents(ctx, f)
		ok(t, err)
		if len(recs) > 4 {
			t.Fatalf("page of %d, limit 4", len(recs))
		}
		for _, r := range recs {
			all = append(all, r.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	var want []string
	for i := 2; i >= 0; i-- {
		for j := 8; j >= 0; j-- {
			want = append(want, fmt.Sprintf("b%d-%d", i, j))
		}
	}
	if !slices.Equal(all, want) {
		t.Errorf("pages gave %v\nwant %v", all, want)
	}
}

func testEventLimit(t *testing.T, s mih.Store) {
	ctx := t.Context()
	must[mih.IngestResult](t)(s.CreateEvents(ctx, ingest("crm", eventIDs("e", 1001))))
	for _, tc := range []struct{ limit, want int }{{0, 100}, {-1, 100}, {7, 7}, {5000, 1000}} {
		recs, next, err := s.FindEvents(ctx, mih.EventFilter{Limit: tc.limit})
		ok(t, err)
		if len(recs) != tc.want || next == "" {
			t.Errorf("limit %d: %d events next %q, want %d and a cursor", tc.limit, len(recs), next, tc.want)
		}
	}
}
