package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

var deliveryTests = []test{
	{"CreateFind", testDeliveryCreateFind},
	{"ErrNotFound", testDeliveryNotFound},
	{"FindDeliveries", testFindDeliveries},
	{"Paginate", testDeliveryPaginate},
	{"Count", testCountDeliveries},
	{"Claim", testClaim},
	{"ClaimLeaseExpiry", testClaimLeaseExpiry},
	{"ClaimExclusive", testClaimExclusive},
	{"Complete", testComplete},
	{"CompleteLostLease", testCompleteLostLease},
	{"CompleteAndClaim", testCompleteAndClaim},
	{"CreateLeased", testCreateLeased},
	{"ExtendLeases", testExtendLeases},
	{"Release", testRelease},
	{"PauseResume", testPauseResume},
	{"Expire", testExpire},
	{"Replay", testReplay},
	{"SetPayload", testSetPayload},
	{"CompleteRendered", testCompleteRendered},
	{"Delete", testDeleteDeliveries},
	{"Prune", testPruneDeliveries},
}

func sameDelivery(t *testing.T, got, want *mih.Delivery) {
	t.Helper()
	if got.ID != want.ID || got.EventID != want.EventID || got.RuleID != want.RuleID || got.Service != want.Service ||
		got.State != want.State || got.Attempts != want.Attempts || got.Method != want.Method ||
		got.Endpoint != want.Endpoint || !maps.Equal(got.Headers, want.Headers) ||
		!bytes.Equal(got.Payload, want.Payload) || got.IdempotencyKey != want.IdempotencyKey ||
		got.LastStatus != want.LastStatus || got.LastError != want.LastError || got.DeadReason != want.DeadReason {
		t.Errorf("got delivery %+v\nwant %+v", got, want)
	}
	wantTime(t, "next_attempt_at", got.NextAttemptAt, want.NextAttemptAt)
	wantTime(t, "created_at", got.CreatedAt, want.CreatedAt)
	if !want.UpdatedAt.IsZero() {
		wantTime(t, "updated_at", got.UpdatedAt, want.UpdatedAt)
	}
	switch {
	case (got.DeliveredAt == nil) != (want.DeliveredAt == nil):
		t.Errorf("delivered_at %v, want %v", got.DeliveredAt, want.DeliveredAt)
	case got.DeliveredAt != nil:
		wantTime(t, "delivered_at", *got.DeliveredAt, *want.DeliveredAt)
	}
}

func create(t *testing.T, s mih.Store, ds ...*mih.Delivery) {
	t.Helper()
	ok(t, s.CreateDeliveries(context.Background(), ds))
}

func find(t *testing.T, s mih.Store, id int64) *mih.Delivery {
	t.Helper()
	return must[*mih.Delivery](t)(s.FindDeliveryByID(context.Background(), id))
}

func ids(ds []*mih.Delivery) []int64 {
	out := []int64{}
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func claim(t *testing.T, s mih.Store, owner string, limit int, now time.Time) []*mih.Delivery {
	t.Helper()
	p := mih.ClaimParams{Owner: owner, Limit: limit, Lease: time.Minute, Now: now}
	return must[[]*mih.Delivery](t)(s.ClaimDeliveries(context.Background(), p))
}

func withState(d *mih.Delivery, st mih.DeliveryState, attempts int) *mih.Delivery {
	d.State, d.Attempts = st, attempts
	if st == mih.DeliveryDead {
		d.DeadReason = mih.ReasonExhausted
	}
	return d
}

func testDeliveryCreateFind(t *testing.T, s mih.Store) {
	t0 := base()
	plain := newDelivery("crm", t0)
	bare := &mih.Delivery{Service: "crm", Method: "GET", IdempotencyKey: "k"}
	paused := withState(newDelivery("crm", t0.Add(time.Minute)), mih.DeliveryPaused, 2)
	paused.LastStatus, paused.LastError, paused.CreatedAt = 503, "http_error: unavailable", t0.Add(-time.Hour)
	done := withState(newDelivery("crm", t0), mih.DeliverySucceeded, 1)
	done.DeliveredAt = ptr(t0.Add(time.Second))
	before := time.Now().Add(-time.Second)
	create(t, s, plain, bare, paused, done)
	if plain.ID == 0 || bare.ID <= plain.ID || paused.ID <= bare.ID || done.ID <= paused.ID {
		t.Fatalf("ids %d %d %d %d: want ascending in the order given", plain.ID, bare.ID, paused.ID, done.ID)
	}
	if plain.State != mih.DeliveryPending || bare.NextAttemptAt.Before(before) || bare.CreatedAt.Before(before) {
		t.Errorf("defaults: state %q next %v created %v", plain.State, bare.NextAttemptAt, bare.CreatedAt)
	}
	for _, d := range []*mih.Delivery{plain, bare, paused, done} {
		sameDelivery(t, find(t, s, d.ID), d)
	}
	if got := find(t, s, bare.ID); got.Payload != nil || got.Headers != nil {
		t.Errorf("empty payload and headers read back as %q %v", got.Payload, got.Headers)
	}
	ok(t, s.CreateDeliveries(t.Context(), nil))
}

func testDeliveryNotFound(t *testing.T, s mih.Store) {
	ctx := t.Context()
	_, err := s.FindDeliveryByID(ctx, 99)
	wantCode(t, err, mih.CodeNotFound)
	if msg := mih.ErrorMessage(err); msg != "delivery 99 not found" {
		t.Errorf("message %q", msg)
	}
	_, err = s.FindAttempts(ctx, 99)
	wantCode(t, err, mih.CodeNotFound)
	wantCode(t, s.SetDeliveryPayload(ctx, 99, "POST", "/", []byte(`{}`)), mih.CodeNotFound)
	d := newDelivery("crm", base())
	create(t, s, d)
	if as := must[[]*mih.Attempt](t)(s.FindAttempts(ctx, d.ID)); as == nil || len(as) != 0 {
		t.Errorf("a delivery never tried: attempts %#v, want []", as)
	}
}

func testFindDeliveries(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	a := newDelivery("crm", t0)
	a.EventID, a.RuleID = "e1", 1
	b := withState(newDelivery("crm", t0), mih.DeliveryDead, 3)
	b.EventID, b.RuleID = "e1", 2
	c := withState(newDelivery("erp", t0), mih.DeliveryDead, 1)
	c.EventID, c.RuleID = "e2", 1
	create(t, s, a, b, c)
	cases := []struct {
		name string
		f    mih.DeliveryFilter
		want []*mih.Delivery
	}{
		{"all", mih.DeliveryFilter{}, []*mih.Delivery{c, b, a}},
		{"state", mih.DeliveryFilter{State: mih.DeliveryDead}, []*mih.Delivery{c, b}},
		{"service", mih.DeliveryFilter{Service: "crm"}, []*mih.Delivery{b, a}},
		{"rule", mih.DeliveryFilter{RuleID: 1}, []*mih.Delivery{c, a}},
		{"event", mih.DeliveryFilter{EventID: "e1"}, []*mih.Delivery{b, a}},
		{"ids", mih.DeliveryFilter{IDs: []int64{a.ID, c.ID, 12345}}, []*mih.Delivery{c, a}},
		{"no ids", mih.DeliveryFilter{IDs: []int64{}}, nil},
		{"combined", mih.DeliveryFilter{State: mih.DeliveryDead, Service: "crm", RuleID: 2, EventID: "e1"}, []*mih.Delivery{b}},
	}
	for _, tc := range cases {
		got, next, err := s.FindDeliveries(ctx, tc.f)
		ok(t, err)
		if !slices.Equal(ids(got), ids(tc.want)) || next != "" {
			t.Errorf("%s: got %v next %q, want %v", tc.name, ids(got), next, ids(tc.want))
		}
	}
	sameDelivery(t, must[[]*mih.Delivery](t)(firstPage(s.FindDeliveries(ctx, mih.DeliveryFilter{IDs: []int64{b.ID}})))[0], b)
	_, _, err := s.FindDeliveries(ctx, mih.DeliveryFilter{State: "bogus"})
	wantCode(t, err, mih.CodeInvalid)
	_, _, err = s.FindDeliveries(ctx, mih.DeliveryFilter{IDs: make([]int64, 1001)})
	wantCode(t, err, mih.CodeInvalid)
	_, _, err = s.FindDeliveries(ctx, mih.DeliveryFilter{Cursor: "x"})
	wantCode(t, err, mih.CodeInvalid)
}

func testDeliveryPaginate(t *testing.T, s mih.Store) {
	ctx := t.Context()
	var want []int64
	for range 3 {
		var ds []*mih.Delivery
		for range 8 {
			ds = append(ds, newDelivery("crm", base()))
		}
		create(t, s, ds...)
		want = append(want, ids(ds)...)
	}
	create(t, s, newDelivery("other", base()))
	slices.Reverse(want)
	var got []int64
	f := mih.DeliveryFilter{Service: "crm", Limit: 5}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, next, err := s.FindDeliveries(ctx, f)
		ok(t, err)
		got = append(got, ids(page)...)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages gave %v\nwant %v", got, want)
	}
}

func testCountDeliveries(t *testing.T, s mih.Store) {
	if got := must[[]mih.DeliveryCount](t)(s.CountDeliveries(t.Context())); len(got) != 0 {
		t.Errorf("empty store counts %v", got)
	}
	t0 := base()
	create(t, s, newDelivery("erp", t0), newDelivery("crm", t0), withState(newDelivery("crm", t0), mih.DeliveryDead, 1),
		newDelivery("crm", t0), withState(newDelivery("erp", t0), mih.DeliverySucceeded, 1))
	want := []mih.DeliveryCount{
		{Service: "crm", State: mih.DeliveryDead, Count: 1},
		{Service: "crm", State: mih.DeliveryPending, Count: 2},
		{Service: "erp", State: mih.DeliveryPending, Count: 1},
		{Service: "erp", State: mih.DeliverySucceeded, Count: 1},
	}
	if got := must[[]mih.DeliveryCount](t)(s.CountDeliveries(t.Context())); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func testClaim(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	d0 := newDelivery("crm", t0.Add(-3*time.Minute))
	d1 := withState(newDelivery("crm", t0.Add(-time.Minute)), mih.DeliveryRetrying, 1)
	d2 := withState(newDelivery("crm", t0.Add(-5*time.Minute)), mih.DeliveryPaused, 0)
	d3 := withState(newDelivery("crm", t0.Add(-5*time.Minute)), mih.DeliveryDead, 3)
	d4 := newDelivery("crm", t0.Add(time.Second)) // not due yet
	d5 := withState(newDelivery("crm", t0.Add(-5*time.Minute)), mih.DeliverySucceeded, 1)
	d6 := newDelivery("erp", t0.Add(-2*time.Minute))
	d7 := newDelivery("erp", t0) // due exactly now
	create(t, s, d0, d1, d2, d3, d4, d5, d6, d7)

	_, err := s.ClaimDeliveries(ctx, mih.ClaimParams{Limit: 1, Lease: time.Minute, Now: t0})
	wantCode(t, err, mih.CodeInvalid)
	if got := claim(t, s, "w1", 0, t0); len(got) != 0 {
		t.Errorf("limit 0 claimed %v", ids(got))
	}
	got := claim(t, s, "w1", 2, t0)
	if want := []int64{d0.ID, d6.ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("first claim %v, want %v (oldest due first)", ids(got), want)
	}
	sameDelivery(t, got[0], d0)
	got = claim(t, s, "w2", 10, t0)
	if want := []int64{d1.ID, d7.ID}; !slices.Equal(ids(got), want) {
		t.Fatalf("second claim %v, want %v", ids(got), want)
	}
	if got := claim(t, s, "w3", 10, t0); len(got) != 0 {
		t.Errorf("third claim %v, want none: the rest is leased, paused, finished or not due", ids(got))
	}
	if got := claim(t, s, "w3", 10, t0.Add(30*time.Second)); !slices.Equal(ids(got), []int64{d4.ID}) {
		t.Errorf("later claim %v, want %v", ids(got), []int64{d4.ID})
	}
	// Claiming changes neither state nor attempts.
	if d := find(t, s, d1.ID); d.State != mih.DeliveryRetrying || d.Attempts != 1 {
		t.Errorf("claimed delivery is %s with %d attempts", d.State, d.Attempts)
	}
}

func testClaimLeaseExpiry(t *testing.T, s mih.Store) {
	t0 := base()
	d := newDelivery("crm", t0)
	create(t, s, d)
	if got := claim(t, s, "w1", 10, t0); len(got) != 1 {
		t.Fatalf("claimed %d", len(got))
	}
	if got := claim(t, s, "w2", 10, t0.Add(59*time.Second)); len(got) != 0 {
		t.Errorf("claimed %v under a live lease", ids(got))
	}
	if got := claim(t, s, "w2", 10, t0.Add(61*time.Second)); !slices.Equal(ids(got), []int64{d.ID}) {
		t.Errorf("after the lease ran out: %v, want %d", ids(got), d.ID)
	}
}

// testClaimExclusive: workers claiming and completing at the same time never hold the same
// delivery, and between them get every one.
func testClaimExclusive(t *testing.T, s mih.Store) {
	const (
		n       = 400
		workers = 6
	)
	t0 := base()
	ds := make([]*mih.Delivery, n)
	for i := range ds {
		ds[i] = newDelivery("crm", t0.Add(time.Duration(i%7)*time.Millisecond))
	}
	create(t, s, ds...)
	var (
		mu      sync.Mutex
		owner   = map[int64]string{}
		applied int
		wg      sync.WaitGroup
	)
	for w := range workers {
		name := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			ctx := context.Background()
			for {
				got, err := s.ClaimDeliveries(ctx, mih.ClaimParams{Owner: name, Limit: 7, Lease: time.Hour, Now: t0.Add(time.Second)})
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				rs := make([]mih.DeliveryResult, len(got))
				mu.Lock()
				for i, d := range got {
					if prev, dup := owner[d.ID]; dup {
						t.Errorf("delivery %d claimed by %s and %s", d.ID, prev, name)
					}
					owner[d.ID] = name
					rs[i] = mih.DeliveryResult{ID: d.ID, State: mih.DeliverySucceeded, CountAttempt: true,
						Attempt: &mih.Attempt{Status: 200, Outcome: mih.OutcomeSuccess}, Log: newLog("crm", true, t0)}
				}
				mu.Unlock()
				k, err := s.CompleteDeliveries(ctx, name, rs)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				applied += k
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(owner) != n || applied != n {
		t.Errorf("%d claimed, %d completed, want %d", len(owner), applied, n)
	}
	if got := claim(t, s, "late", 100, t0.Add(2*time.Hour)); len(got) != 0 {
		t.Errorf("%d claimable after all completed", len(got))
	}
	want := []mih.DeliveryCount{{Service: "crm", State: mih.DeliverySucceeded, Count: n}}
	if got := must[[]mih.DeliveryCount](t)(s.CountDeliveries(t.Context())); !slices.Equal(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

func testComplete(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	ds := []*mih.Delivery{newDelivery("crm", t0), newDelivery("crm", t0), newDelivery("crm", t0), newDelivery("crm", t0)}
	create(t, s, ds...)
	claim(t, s, "w", 10, t0)
	now := t0.Add(time.Second)
	attempt := &mih.Attempt{
		StartedAt: t0.Add(500 * time.Millisecond), LatencyMS: 12.5, Status: 200, Outcome: mih.OutcomeSuccess,
		RequestURL: "https://api.example.com/v1/users", RequestHeaders: map[string]string{"Idempotency-Key": "k"},
		ResponseHeaders: map[string]string{"Content-Type": "application/json"}, ResponseBody: `{"ok":true}`,
	}
	retry := &mih.Attempt{StartedAt: t0, Status: 503, Outcome: mih.OutcomeRetry, ErrorCode: mih.ErrHTTP, Error: "unavailable"}
	log := newLog("crm", true, now)
	log.Source = "" // the store says where it came from
	rs := []mih.DeliveryResult{
		{ID: ds[0].ID, State: mih.DeliverySucceeded, CountAttempt: true, LastStatus: 200, Attempt: attempt,
			Log: log, Now: now},
		{ID: ds[1].ID, State: mih.DeliveryRetrying, NextAttemptAt: t0.Add(5 * time.Minute), CountAttempt: true,
			LastStatus: 503, LastError: "http_error: unavailable", Attempt: retry, Now: now},
		{ID: ds[2].ID, State: mih.DeliveryPaused, Now: now},
		{ID: ds[3].ID, State: mih.DeliveryDead, CountAttempt: true, LastStatus: 400, LastError: "bad request",
			DeadReason: mih.ReasonFailed, Payload: json.RawMessage(`{"late":true}`), Now: now},
	}
	if n := must[int](t)(s.CompleteDeliveries(ctx, "w", rs)); n != 4 {
		t.Errorf("applied %d, want 4", n)
	}
	want := make([]mih.Delivery, 4)
	for i, d := range ds {
		want[i] = *d
		want[i].UpdatedAt = now
	}
	want[0].State, want[0].Attempts, want[0].LastStatus, want[0].DeliveredAt = mih.DeliverySucceeded, 1, 200, &now
	want[1].State, want[1].Attempts, want[1].LastStatus, want[1].LastError = mih.DeliveryRetrying, 1, 503, rs[1].LastError
	want[1].NextAttemptAt = t0.Add(5 * time.Minute)
	want[2].State = mih.DeliveryPaused
	want[3].State, want[3].Attempts, want[3].LastStatus, want[3].LastError = mih.DeliveryDead, 1, 400, "bad request"
	want[3].DeadReason, want[3].Payload = mih.ReasonFailed, json.RawMessage(`{"late":true}`)
	for i := range ds {
		sameDelivery(t, find(t, s, ds[i].ID), &want[i])
	}

	as := must[[]*mih.Attempt](t)(s.FindAttempts(ctx, ds[0].ID))
	if len(as) != 1 {
		t.Fatalf("%d attempts, want 1", len(as))
	}
	got := as[0]
	wantTime(t, "started_at", got.StartedAt, attempt.StartedAt)
	if got.ID == 0 || got.DeliveryID != ds[0].ID || got.LatencyMS != 12.5 || got.Status != 200 ||
		got.Outcome != mih.OutcomeSuccess || got.RequestURL != attempt.RequestURL ||
		!maps.Equal(got.RequestHeaders, attempt.RequestHeaders) || !maps.Equal(got.ResponseHeaders, attempt.ResponseHeaders) ||
		got.ResponseBody != attempt.ResponseBody {
		t.Errorf("attempt %+v, want %+v", got, attempt)
	}
	if as := must[[]*mih.Attempt](t)(s.FindAttempts(ctx, ds[1].ID)); len(as) != 1 || as[0].ErrorCode != mih.ErrHTTP || as[0].Error != "unavailable" {
		t.Errorf("retry attempt %+v", as)
	}
	if as := must[[]*mih.Attempt](t)(s.FindAttempts(ctx, ds[2].ID)); len(as) != 0 {
		t.Errorf("paused without a try has attempts %v", as)
	}
	logs := must[[]*mih.LogEntry](t)(firstPage(s.FindLogs(ctx, mih.LogFilter{})))
	if len(logs) != 1 || logs[0].DeliveryID != ds[0].ID || logs[0].Source != "delivery" {
		t.Errorf("log entries %+v", logs)
	}
	// The leases are gone: the retry is claimable when due, by anyone.
	if got := claim(t, s, "other", 10, t0.Add(6*time.Minute)); !slices.Equal(ids(got), []int64{ds[1].ID}) {
		t.Errorf("claim after complete: %v, want %d", ids(got), ds[1].ID)
	}
	if n := must[int](t)(s.CompleteDeliveries(ctx, "w", nil)); n != 0 {
		t.Errorf("empty complete applied %d", n)
	}
}

// A delivery that CreateEvents stores with a lease (ingest handing it to its own worker) is held
// by the lease's owner exactly as a claimed one: others cannot claim it until the lease runs out,
// and the owner completes it without claiming it. A duplicate event's leased deliveries are not
// written; a lease without an owner or an end writes nothing.
func testCreateLeased(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	items := ingest("crm", []string{"a", "b", "c"}, 1)
	lease := &mih.Lease{Owner: "w", Until: t0.Add(time.Minute)}
	for _, it := range items[:2] {
		for _, d := range it.Deliveries {
			d.NextAttemptAt, d.Lease = t0, lease
		}
	}
	items[2].Deliveries[0].NextAttemptAt = t0
	res := must[mih.IngestResult](t)(s.CreateEvents(ctx, items))
	if res.Accepted != 3 || res.Deliveries != 3 {
		t.Fatalf("ingest: %+v", res)
	}
	a, b, c := items[0].Deliveries[0], items[1].Deliveries[0], items[2].Deliveries[0]
	got := find(t, s, a.ID)
	want := *a
	want.Lease = nil
	sameDelivery(t, got, &want)
	if got := claim(t, s, "x", 10, t0); !slices.Equal(ids(got), []int64{c.ID}) {
		t.Errorf("another worker claims %v, want only %d: the rest is leased to w", ids(got), c.ID)
	}
	now := t0.Add(time.Second)
	rs := []mih.DeliveryResult{{ID: a.ID, State: mih.DeliverySucceeded, CountAttempt: true, LastStatus: 200, Now: now,
		Attempt: &mih.Attempt{StartedAt: now, Status: 200, Outcome: mih.OutcomeSuccess}, Log: newLog("crm", true, now)}}
	if n := must[int](t)(s.CompleteDeliveries(ctx, "x", rs)); n != 0 {
		t.Errorf("a worker without the lease completed %d", n)
	}
	if n := must[int](t)(s.CompleteDeliveries(ctx, "w", rs)); n != 1 {
		t.Errorf("the owner of the lease completed %d, want 1", n)
	}
	if st := find(t, s, a.ID); st.State != mih.DeliverySucceeded || st.Attempts != 1 {
		t.Errorf("a: %s, %d attempts", st.State, st.Attempts)
	}
	// c's claim by x has run out by then too.
	if got := claim(t, s, "y", 10, t0.Add(61*time.Second)); !slices.Equal(ids(got), []int64{b.ID, c.ID}) {
		t.Errorf("after the leases ran out another worker claims %v, want %d and %d", ids(got), b.ID, c.ID)
	}

	again := ingest("crm", []string{"a", "d"}, 1)
	for _, it := range again {
		it.Deliveries[0].Lease = lease
	}
	res = must[mih.IngestResult](t)(s.CreateEvents(ctx, again))
	if res.Accepted != 1 || res.Duplicates != 1 || res.Deliveries != 1 {
		t.Errorf("ingest with a duplicate: %+v", res)
	}
	if again[0].Deliveries[0].ID != 0 || again[1].Deliveries[0].ID == 0 {
		t.Errorf("ids %d (duplicate event) and %d (new): want 0 and set", again[0].Deliveries[0].ID, again[1].Deliveries[0].ID)
	}

	bad := ingest("crm", []string{"e"}, 1)
	bad[0].Deliveries[0].Lease = &mih.Lease{Until: t0}
	_, err := s.CreateEvents(ctx, bad)
	wantCode(t, err, mih.CodeInvalid)
	if _, err := s.FindEventByID(ctx, "e"); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("event of a refused batch: %v, want not found", err)
	}
}

// CompleteAndClaim commits results and leases the next due deliveries in one transaction; the
// claim sees the results (a delivery set to retry at once is claimable again), a lost lease's
// result is skipped as CompleteDeliveries skips it, and a failure leaves neither done.
func testCompleteAndClaim(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	a, b, c, d := newDelivery("crm", t0), newDelivery("crm", t0), newDelivery("crm", t0.Add(time.Second)), newDelivery("crm", t0.Add(4*time.Second))
	create(t, s, a, b, c, d)
	claim(t, s, "w", 2, t0) // a and b
	now := t0.Add(3 * time.Second)
	rs := []mih.DeliveryResult{
		{ID: a.ID, State: mih.DeliverySucceeded, CountAttempt: true, LastStatus: 200, Now: now,
			Attempt: &mih.Attempt{StartedAt: now, Status: 200, Outcome: mih.OutcomeSuccess}, Log: newLog("crm", true, now)},
		{ID: b.ID, State: mih.DeliveryRetrying, NextAttemptAt: now, CountAttempt: true, LastStatus: 503, LastError: "unavailable", Now: now},
	}
	p := mih.ClaimParams{Owner: "w", Limit: 2, Lease: time.Minute, Now: now}
	if _, _, err := s.CompleteAndClaim(ctx, "w", rs, mih.ClaimParams{Owner: "other", Limit: 2, Lease: time.Minute, Now: now}); mih.ErrorCode(err) != mih.CodeInvalid {
		t.Errorf("results of one owner, claim for another: %v, want invalid", err)
	}
	if _, _, err := s.CompleteAndClaim(ctx, "w", rs, mih.ClaimParams{Owner: "w", Limit: 2}); mih.ErrorCode(err) != mih.CodeInvalid {
		t.Errorf("no lease: %v, want invalid", err)
	}
	if got := find(t, s, a.ID); got.State != mih.DeliveryPending {
		t.Fatalf("a refused call changed %d to %s", a.ID, got.State)
	}
	n, got, err := s.CompleteAndClaim(ctx, "w", rs, p)
	if err != nil || n != 2 {
		t.Fatalf("complete and claim: %d applied, %v", n, err)
	}
	if want := []int64{c.ID, b.ID}; !slices.Equal(ids(got), want) {
		t.Errorf("claimed %v, want %v (oldest due first, the retry due now among them)", ids(got), want)
	}
	if st := find(t, s, a.ID); st.State != mih.DeliverySucceeded || st.Attempts != 1 {
		t.Errorf("a: %s, %d attempts", st.State, st.Attempts)
	}
	if as := must[[]*mih.Attempt](t)(s.FindAttempts(ctx, a.ID)); len(as) != 1 {
		t.Errorf("a: %d attempts stored, want 1", len(as))
	}
	if other := claim(t, s, "x", 10, now); len(other) != 0 {
		t.Errorf("another worker claims %v, want none: the rest is leased to w or not due", ids(other))
	}
	if other := claim(t, s, "x", 10, now.Add(time.Second)); !slices.Equal(ids(other), []int64{d.ID}) {
		t.Errorf("another worker claims %v, want %d", ids(other), d.ID)
	}
	// A result for a lease w no longer holds is skipped; the claim still happens.
	n, got, err = s.CompleteAndClaim(ctx, "w", []mih.DeliveryResult{{ID: d.ID, State: mih.DeliverySucceeded, Now: now}}, p)
	if err != nil || n != 0 || len(got) != 0 {
		t.Errorf("lost lease: %d applied, claimed %v, %v: want 0, none (nothing due), nil", n, ids(got), err)
	}
	// Nothing to complete: a plain claim.
	later := p
	later.Now, later.Limit = now.Add(2*time.Minute), 10 // the leases have run out
	if _, got, err = s.CompleteAndClaim(ctx, "w", nil, later); err != nil || len(got) != 3 {
		t.Errorf("claim alone: %v, %v: want b, c and d again", ids(got), err)
	}
}

func testCompleteLostLease(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	d := newDelivery("crm", t0)
	create(t, s, d)
	claim(t, s, "slow", 1, t0)
	claim(t, s, "fast", 1, t0.Add(2*time.Minute)) // slow's lease ran out
	result := func(who string) mih.DeliveryResult {
		return mih.DeliveryResult{ID: d.ID, State: mih.DeliveryRetrying, NextAttemptAt: t0.Add(time.Hour), CountAttempt: true,
			LastError: who, Attempt: &mih.Attempt{Outcome: mih.OutcomeRetry, Error: who}, Log: newLog("crm", false, t0)}
	}
	if n := must[int](t)(s.CompleteDeliveries(ctx, "slow", []mih.DeliveryResult{result("slow")})); n != 0 {
		t.Errorf("a lost lease applied %d", n)
	}
	// Twice the same delivery in one call counts once; an unknown id not at all.
	rs := []mih.DeliveryResult{result("fast"), result("fast"), {ID: 98765, State: mih.DeliveryDead}}
	if n := must[int](t)(s.CompleteDeliveries(ctx, "fast", rs)); n != 1 {
		t.Errorf("the lease holder applied %d, want 1", n)
	}
	got := find(t, s, d.ID)
	if got.LastError != "fast" || got.Attempts != 1 {
		t.Errorf("delivery %+v: want fast's result with one attempt", got)
	}
	as := must[[]*mih.Attempt](t)(s.FindAttempts(ctx, d.ID))
	if len(as) != 1 || as[0].Error != "fast" {
		t.Errorf("attempts %+v: want fast's only", as)
	}
	if logs := must[[]*mih.LogEntry](t)(firstPage(s.FindLogs(ctx, mih.LogFilter{}))); len(logs) != 1 {
		t.Errorf("%d log entries, want 1", len(logs))
	}
	// After completion nobody holds it: a late completion by fast is skipped too.
	if n := must[int](t)(s.CompleteDeliveries(ctx, "fast", []mih.DeliveryResult{result("again")})); n != 0 {
		t.Errorf("a completed delivery took another result (%d)", n)
	}
}

func testExtendLeases(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	a, b := newDelivery("crm", t0), newDelivery("crm", t0)
	create(t, s, a, b)
	claim(t, s, "w1", 10, t0) // leased until t0+1m
	ok(t, s.ExtendLeases(ctx, "w1", []int64{a.ID}, t0.Add(10*time.Minute)))
	ok(t, s.ExtendLeases(ctx, "w2", []int64{b.ID}, t0.Add(10*time.Minute))) // not w2's: no effect
	ok(t, s.ExtendLeases(ctx, "w1", nil, t0.Add(10*time.Minute)))
	if got := claim(t, s, "w2", 10, t0.Add(5*time.Minute)); !slices.Equal(ids(got), []int64{b.ID}) {
		t.Errorf("claimed %v, want only %d", ids(got), b.ID)
	}
	// By then w2's lease on b has run out too.
	if got := claim(t, s, "w3", 10, t0.Add(11*time.Minute)); !slices.Equal(ids(got), []int64{a.ID, b.ID}) {
		t.Errorf("after the extension ran out: %v, want %d %d", ids(got), a.ID, b.ID)
	}
}

func testRelease(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	a, b := newDelivery("crm", t0), newDelivery("crm", t0)
	create(t, s, a, b)
	claim(t, s, "w1", 10, t0)
	ok(t, s.ReleaseDeliveries(ctx, "w1", []int64{a.ID}))
	ok(t, s.ReleaseDeliveries(ctx, "w2", []int64{b.ID})) // not w2's: no effect
	ok(t, s.ReleaseDeliveries(ctx, "w2", nil))
	if got := claim(t, s, "w2", 10, t0); !slices.Equal(ids(got), []int64{a.ID}) {
		t.Errorf("claimed %v, want only %d", ids(got), a.ID)
	}
	if d := find(t, s, a.ID); d.State != mih.DeliveryPending || d.Attempts != 0 {
		t.Errorf("released delivery is %s with %d attempts", d.State, d.Attempts)
	}
}

func testPauseResume(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	fresh := newDelivery("crm", t0.Add(-2*time.Minute))
	tried := withState(newDelivery("crm", t0.Add(time.Hour)), mih.DeliveryRetrying, 2)
	leased := newDelivery("crm", t0)
	dead := withState(newDelivery("crm", t0), mih.DeliveryDead, 4)
	done := withState(newDelivery("crm", t0), mih.DeliverySucceeded, 1)
	other := newDelivery("erp", t0)
	create(t, s, fresh, tried, leased, dead, done, other)
	claimOnly(t, s, leased.ID, "w1") // leased for an hour from now

	if n := must[int](t)(s.PauseDeliveries(ctx, "crm", t0)); n != 2 {
		t.Errorf("paused %d, want 2", n)
	}
	for _, d := range []*mih.Delivery{fresh, tried} {
		if got := find(t, s, d.ID); got.State != mih.DeliveryPaused || got.Attempts != d.Attempts {
			t.Errorf("delivery %d: %s with %d attempts, want paused with %d", d.ID, got.State, got.Attempts, d.Attempts)
		}
	}
	for _, d := range []*mih.Delivery{leased, dead, done, other} {
		if got := find(t, s, d.ID); got.State != d.State {
			t.Errorf("delivery %d: %s, want %s untouched", d.ID, got.State, d.State)
		}
	}
	if got := claim(t, s, "w2", 10, t0.Add(30*time.Minute)); !slices.Equal(ids(got), []int64{other.ID}) {
		t.Errorf("claimed %v while crm is paused, want only %d", ids(got), other.ID)
	}

	resume := t0.Add(10 * time.Minute)
	// One at a time (the circuit breaker's half-open probe), the oldest first.
	if n := must[int](t)(s.ResumeDeliveries(ctx, "crm", 1, resume)); n != 1 {
		t.Errorf("resumed %d with limit 1, want 1", n)
	}
	if got := find(t, s, fresh.ID); got.State != mih.DeliveryPending {
		t.Errorf("oldest delivery %d is %s after resuming one, want pending", fresh.ID, got.State)
	}
	if got := find(t, s, tried.ID); got.State != mih.DeliveryPaused {
		t.Errorf("newer delivery %d is %s after resuming one, want still paused", tried.ID, got.State)
	}
	if n := must[int](t)(s.ResumeDeliveries(ctx, "crm", 0, resume)); n != 1 {
		t.Errorf("resumed %d, want the other 1", n)
	}
	for d, want := range map[*mih.Delivery]mih.DeliveryState{fresh: mih.DeliveryPending, tried: mih.DeliveryRetrying} {
		got := find(t, s, d.ID)
		if got.State != want || got.Attempts != d.Attempts {
			t.Errorf("delivery %d: %s with %d attempts, want %s with %d", d.ID, got.State, got.Attempts, want, d.Attempts)
		}
		wantTime(t, "next_attempt_at after resume", got.NextAttemptAt, resume)
	}
	if n := must[int](t)(s.ResumeDeliveries(ctx, "crm", 0, resume)); n != 0 {
		t.Errorf("resumed %d again", n)
	}
	// Once its lease has run out, a claimed delivery is waiting like any other.
	if n := must[int](t)(s.PauseDeliveries(ctx, "crm", time.Now().Add(3*time.Hour))); n != 3 {
		t.Errorf("paused %d after the lease ran out, want 3", n)
	}
}

func testExpire(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	old := func(d *mih.Delivery) *mih.Delivery { d.CreatedAt = t0.Add(-100 * time.Hour); return d }
	waiting := []*mih.Delivery{
		old(newDelivery("crm", t0)),
		old(withState(newDelivery("crm", t0), mih.DeliveryRetrying, 1)),
		old(withState(newDelivery("crm", t0), mih.DeliveryPaused, 0)),
	}
	keep := []*mih.Delivery{
		old(withState(newDelivery("crm", t0), mih.DeliveryDead, 3)),
		old(withState(newDelivery("crm", t0), mih.DeliverySucceeded, 1)),
		newDelivery("crm", t0), // young
		old(newDelivery("erp", t0)),
	}
	leased := old(newDelivery("crm", t0))
	create(t, s, append(append(waiting, keep...), leased)...)
	claimOnly(t, s, leased.ID, "w1")
	if n := must[int](t)(s.ExpireDeliveries(ctx, "crm", t0.Add(-72*time.Hour), t0)); n != 3 {
		t.Errorf("expired %d, want 3", n)
	}
	for _, d := range waiting {
		if got := find(t, s, d.ID); got.State != mih.DeliveryDead || got.DeadReason != mih.ReasonExpired {
			t.Errorf("delivery %d: %s/%q, want dead/expired", d.ID, got.State, got.DeadReason)
		}
	}
	for _, d := range append(keep, leased) {
		if got := find(t, s, d.ID); got.State != d.State || got.DeadReason != d.DeadReason {
			t.Errorf("delivery %d: %s/%q, want %s/%q untouched", d.ID, got.State, got.DeadReason, d.State, d.DeadReason)
		}
	}
}

// kill takes a delivery through a claim and a final failed attempt into the DLQ.
func kill(t *testing.T, s mih.Store, d *mih.Delivery, now time.Time) {
	t.Helper()
	claimOnly(t, s, d.ID, "killer")
	r := mih.DeliveryResult{ID: d.ID, State: mih.DeliveryDead, CountAttempt: true, LastStatus: 500, LastError: "boom",
		DeadReason: mih.ReasonExhausted, Attempt: &mih.Attempt{Status: 500, Outcome: mih.OutcomeDead}, Now: now}
	if n := must[int](t)(s.CompleteDeliveries(context.Background(), "killer", []mih.DeliveryResult{r})); n != 1 {
		t.Fatalf("kill applied %d", n)
	}
}

func testReplay(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	a := withState(newDelivery("crm", t0), mih.DeliveryRetrying, 3)
	b := newDelivery("erp", t0)
	c := newDelivery("crm", t0)
	create(t, s, a, b, c)
	kill(t, s, a, t0)
	kill(t, s, b, t0)
	if n := must[int](t)(s.ReplayDeliveries(ctx, mih.DeliveryFilter{State: mih.DeliveryPending}, t0)); n != 0 {
		t.Errorf("a filter on pending replayed %d", n)
	}
	now := t0.Add(time.Hour)
	if n := must[int](t)(s.ReplayDeliveries(ctx, mih.DeliveryFilter{Service: "crm"}, now)); n != 1 {
		t.Errorf("replayed %d, want 1", n)
	}
	got := find(t, s, a.ID)
	if got.State != mih.DeliveryPending || got.Attempts != 0 || got.DeadReason != "" || got.IdempotencyKey != a.IdempotencyKey {
		t.Errorf("replayed delivery %+v: want pending, 0 attempts, no dead reason, same key", got)
	}
	wantTime(t, "next_attempt_at", got.NextAttemptAt, now)
	if as := must[[]*mih.Attempt](t)(s.FindAttempts(ctx, a.ID)); len(as) != 1 {
		t.Errorf("history has %d attempts, want 1", len(as))
	}
	if got := find(t, s, c.ID); got.State != mih.DeliveryPending || !got.NextAttemptAt.Equal(t0) {
		t.Errorf("a delivery that was not dead changed: %+v", got)
	}
	if n := must[int](t)(s.ReplayDeliveries(ctx, mih.DeliveryFilter{IDs: []int64{b.ID, c.ID}}, now)); n != 1 {
		t.Errorf("replay by ids: %d, want 1", n)
	}
	if n := must[int](t)(s.ReplayDeliveries(ctx, mih.DeliveryFilter{}, now)); n != 0 {
		t.Errorf("replayed %d with nothing dead", n)
	}
	// A fresh budget: claimable at once.
	if got := claim(t, s, "w", 10, now); len(got) != 3 {
		t.Errorf("claimed %v after replay, want all 3", ids(got))
	}
}

func testSetPayload(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	dead, waiting := newDelivery("crm", t0), newDelivery("crm", t0)
	create(t, s, dead, waiting)
	kill(t, s, dead, t0)
	ok(t, s.SetDeliveryPayload(ctx, dead.ID, "PUT", "/users/7", []byte(`{"re":"rendered"}`)))
	got := find(t, s, dead.ID)
	if got.Method != "PUT" || got.Endpoint != "/users/7" || string(got.Payload) != `{"re":"rendered"}` ||
		got.State != mih.DeliveryDead || got.IdempotencyKey != dead.IdempotencyKey {
		t.Errorf("after set payload: %+v", got)
	}
	wantCode(t, s.SetDeliveryPayload(ctx, waiting.ID, "PUT", "/", nil), mih.CodeConflict)
}

// A delivery rendered by the worker after enrichment: the result carries the request, which
// replaces the stored one; a result without it keeps what is stored.
func testCompleteRendered(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	late, plain := newDelivery("crm", t0), newDelivery("crm", t0)
	late.Payload, late.Endpoint, late.Method = nil, "", "POST"
	create(t, s, late, plain)
	if got := find(t, s, late.ID); len(got.Payload) != 0 {
		t.Fatalf("stored an empty payload as %q", got.Payload)
	}
	claim(t, s, "w", 10, t0)
	n := must[int](t)(s.CompleteDeliveries(ctx, "w", []mih.DeliveryResult{
		{ID: late.ID, State: mih.DeliveryRetrying, NextAttemptAt: t0.Add(time.Minute), CountAttempt: true, Now: t0,
			Payload: []byte(`{"email":"jdoe@example.edu"}`), Method: "PUT", Endpoint: "/users/jdoe",
			Headers: map[string]string{"ce-id": "ev1", "ce-type": "org.moodle.core.event.user_created"}},
		{ID: plain.ID, State: mih.DeliverySucceeded, CountAttempt: true, Now: t0},
	}))
	if n != 2 {
		t.Fatalf("applied %d results, want 2", n)
	}
	got := find(t, s, late.ID)
	if string(got.Payload) != `{"email":"jdoe@example.edu"}` || got.Method != "PUT" || got.Endpoint != "/users/jdoe" ||
		got.Headers["ce-id"] != "ev1" || len(got.Headers) != 2 {
		t.Errorf("rendered delivery: %s %s %s %v", got.Method, got.Endpoint, got.Payload, got.Headers)
	}
	got = find(t, s, plain.ID)
	if string(got.Payload) != string(plain.Payload) || got.Method != plain.Method || got.Endpoint != plain.Endpoint ||
		!maps.Equal(got.Headers, plain.Headers) {
		t.Errorf("plain delivery changed: %s %s %s, want %s %s %s", got.Method, got.Endpoint, got.Payload, plain.Method, plain.Endpoint, plain.Payload)
	}
}

func testDeleteDeliveries(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	dead1, dead2 := newDelivery("crm", t0), newDelivery("crm", t0)
	waiting, leased, other := newDelivery("crm", t0), newDelivery("crm", t0), withState(newDelivery("erp", t0), mih.DeliveryDead, 1)
	create(t, s, dead1, dead2, waiting, leased, other)
	kill(t, s, dead1, t0)
	kill(t, s, dead2, t0)
	claimOnly(t, s, leased.ID, "w")
	if n := must[int](t)(s.DeleteDeliveries(ctx, mih.DeliveryFilter{IDs: []int64{}})); n != 0 {
		t.Errorf("an empty id list deleted %d", n)
	}
	if n := must[int](t)(s.DeleteDeliveries(ctx, mih.DeliveryFilter{Service: "crm", State: mih.DeliveryDead})); n != 2 {
		t.Errorf("deleted %d dead, want 2", n)
	}
	for _, d := range []*mih.Delivery{dead1, dead2} {
		_, err := s.FindDeliveryByID(ctx, d.ID)
		wantCode(t, err, mih.CodeNotFound)
		_, err = s.FindAttempts(ctx, d.ID)
		wantCode(t, err, mih.CodeNotFound)
	}
	if n := must[int](t)(s.DeleteDeliveries(ctx, mih.DeliveryFilter{Service: "crm"})); n != 1 {
		t.Errorf("deleted %d, want 1: the leased one stays", n)
	}
	find(t, s, leased.ID)
	find(t, s, other.ID)
}

func testPruneDeliveries(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	succeeded := func(at time.Time) *mih.Delivery {
		d := withState(newDelivery("crm", t0), mih.DeliverySucceeded, 1)
		d.DeliveredAt = &at
		return d
	}
	var ds []*mih.Delivery
	for i := range 6 {
		at := t0
		if i%3 == 0 {
			at = t0.Add(-48 * time.Hour)
		}
		ds = append(ds, succeeded(at))
	}
	dead := withState(newDelivery("crm", t0), mih.DeliveryDead, 3)
	dead.CreatedAt = t0.Add(-1000 * time.Hour)
	waiting := newDelivery("crm", t0)
	create(t, s, append(ds, dead, waiting)...)
	if n := must[int](t)(s.PruneDeliveries(ctx, t0.Add(-24*time.Hour), 0)); n != 2 {
		t.Errorf("pruned %d by age, want 2", n)
	}
	if n := must[int](t)(s.PruneDeliveries(ctx, time.Time{}, 2)); n != 2 {
		t.Errorf("pruned %d by count, want 2", n)
	}
	if n := must[int](t)(s.PruneDeliveries(ctx, time.Time{}, 0)); n != 0 {
		t.Errorf("pruned %d with no limits", n)
	}
	left := must[[]*mih.Delivery](t)(firstPage(s.FindDeliveries(ctx, mih.DeliveryFilter{})))
	if want := []int64{waiting.ID, dead.ID, ds[5].ID, ds[4].ID}; !slices.Equal(ids(left), want) {
		t.Errorf("left %v, want %v", ids(left), want)
	}
	if n := must[int](t)(s.PruneDeliveries(ctx, time.Time{}, 1)); n != 1 {
		t.Errorf("pruned %d, want 1", n)
	}
}
