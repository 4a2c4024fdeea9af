package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

var logTests = []test{
	{"CreateFind", testLogCreateFind},
	{"FindLogs", testFindLogs},
	{"Paginate", testLogPaginate},
	{"Prune", testPruneLogs},
	{"ServiceStats", testServiceStats},
}

func newLog(service string, success bool, at time.Time) *mih.LogEntry {
	e := &mih.LogEntry{Time: at, Service: service, Endpoint: "/users", Method: "POST", Status: 200, LatencyMS: 10,
		Attempts: 1, Success: success, Source: "gateway"}
	if !success {
		e.Status, e.Error = 503, "http_error: unavailable"
	}
	return e
}

func testLogCreateFind(t *testing.T, s mih.Store) {
	ctx := t.Context()
	at := time.Date(2025, 3, 4, 5, 6, 7, 891000, time.FixedZone("X", 3*3600))
	e := &mih.LogEntry{Time: at, Service: "crm", Endpoint: "/users/7", Method: "PUT", Status: 502, LatencyMS: 33.25,
		Attempts: 3, Success: false, Error: "http_error: bad gateway", DeliveryID: 42, Source: "delivery"}
	noTime := newLog("crm", true, time.Time{})
	before := time.Now().Add(-time.Second)
	ok(t, s.CreateLogs(ctx, []*mih.LogEntry{e, noTime}))
	ok(t, s.CreateLogs(ctx, nil))
	logs := must[[]*mih.LogEntry](t)(firstPage(s.FindLogs(ctx, mih.LogFilter{})))
	if len(logs) != 2 {
		t.Fatalf("%d entries, want 2", len(logs))
	}
	got := logs[1]
	wantTime(t, "time", got.Time, at)
	want := *e
	want.ID, want.Time = got.ID, got.Time
	if *got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if logs[0].ID <= got.ID || logs[0].Time.Before(before) {
		t.Errorf("second entry %+v: want a later id and time now", logs[0])
	}
	wantUTC(t, "default time", logs[0].Time)
}

func testFindLogs(t *testing.T, s mih.Store) {
	ctx := t.Context()
	now := time.Now()
	entries := []*mih.LogEntry{
		newLog("crm", true, now.Add(-48*time.Hour)),
		newLog("crm", false, now),
		newLog("erp", true, now),
		newLog("crm", true, now),
	}
	ok(t, s.CreateLogs(ctx, entries))
	id := func(i int) int64 { return entries[i].ID }
	all := must[[]*mih.LogEntry](t)(firstPage(s.FindLogs(ctx, mih.LogFilter{})))
	for i, e := range all {
		entries[len(all)-1-i].ID = e.ID
	}
	cases := []struct {
		name string
		f    mih.LogFilter
		want []int64
	}{
		{"service", mih.LogFilter{Service: "crm"}, []int64{id(3), id(1), id(0)}},
		{"success", mih.LogFilter{Success: ptr(true)}, []int64{id(3), id(2), id(0)}},
		{"failure", mih.LogFilter{Success: ptr(false)}, []int64{id(1)}},
		{"since", mih.LogFilter{Since: now.Add(-time.Hour)}, []int64{id(3), id(2), id(1)}},
		{"combined", mih.LogFilter{Service: "crm", Success: ptr(true), Since: now.Add(-time.Hour)}, []int64{id(3)}},
	}
	for _, tc := range cases {
		page, next, err := s.FindLogs(ctx, tc.f)
		ok(t, err)
		var got []int64
		for _, e := range page {
			got = append(got, e.ID)
		}
		if !slices.Equal(got, tc.want) || next != "" {
			t.Errorf("%s: got %v next %q, want %v", tc.name, got, next, tc.want)
		}
	}
	_, _, err := s.FindLogs(ctx, mih.LogFilter{Cursor: "-3"})
	wantCode(t, err, mih.CodeInvalid)
}

func testLogPaginate(t *testing.T, s mih.Store) {
	ctx := t.Context()
	for range 3 {
		var batch []*mih.LogEntry
		for range 7 {
			batch = append(batch, newLog("crm", true, time.Now()))
		}
		ok(t, s.CreateLogs(ctx, batch))
	}
	var got []int64
	f := mih.LogFilter{Limit: 4}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, next, err := s.FindLogs(ctx, f)
		ok(t, err)
		for _, e := range page {
			got = append(got, e.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	newestFirst := slices.IsSortedFunc(got, func(a, b int64) int { return cmp.Compare(b, a) })
	if len(got) != 21 || !newestFirst || len(slices.Compact(slices.Clone(got))) != 21 {
		t.Errorf("pages gave %v: want 21 distinct ids, newest first", got)
	}
}

func testPruneLogs(t *testing.T, s mih.Store) {
	ctx := t.Context()
	now := time.Now()
	var entries []*mih.LogEntry
	for i := range 10 {
		at := now
		if i < 4 {
			at = now.Add(-48 * time.Hour)
		}
		entries = append(entries, newLog("crm", true, at))
	}
	ok(t, s.CreateLogs(ctx, entries))
	var newest []int64
	for _, e := range must[[]*mih.LogEntry](t)(firstPage(s.FindLogs(ctx, mih.LogFilter{Limit: 3}))) {
		newest = append(newest, e.ID)
	}
	if n := must[int](t)(s.PruneLogs(ctx, now.Add(-24*time.Hour), 0)); n != 4 {
		t.Errorf("pruned %d by age, want 4", n)
	}
	if n := must[int](t)(s.PruneLogs(ctx, time.Time{}, 3)); n != 3 {
		t.Errorf("pruned %d by count, want 3", n)
	}
	if n := must[int](t)(s.PruneLogs(ctx, time.Time{}, 3)); n != 0 {
		t.Errorf("pruned %d again", n)
	}
	var left []int64
	for _, e := range must[[]*mih.LogEntry](t)(firstPage(s.FindLogs(ctx, mih.LogFilter{}))) {
		left = append(left, e.ID)
	}
	if !slices.Equal(left, newest) {
		t.Errorf("left %v, want the newest %v", left, newest)
	}
	if n := must[int](t)(s.PruneLogs(ctx, time.Time{}, 100)); n != 0 {
		t.Errorf("keeping more than there are pruned %d", n)
	}
}

func testServiceStats(t *testing.T, s mih.Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	entries := []*mih.LogEntry{
		newLog("crm", true, now.Add(-10*time.Minute)),
		newLog("crm", false, now.Add(-time.Minute)),
		newLog("crm", true, now.Add(-5*time.Minute)),
		newLog("erp", false, now.Add(-48*time.Hour)),
		newLog("amqp", true, now.Add(-30*time.Minute)),
	}
	entries[0].LatencyMS, entries[1].LatencyMS, entries[2].LatencyMS = 10, 20, 60
	ok(t, s.CreateLogs(ctx, entries))
	got := must[[]mih.ServiceStat](t)(s.ServiceStats(ctx, now.Add(-time.Hour)))
	if len(got) != 2 {
		t.Fatalf("stats %+v, want amqp and crm", got)
	}
	a, c := got[0], got[1]
	if a.Service != "amqp" || a.Requests != 1 || a.Errors != 0 || a.AvgLatencyMS != 10 || a.LastUsed == nil {
		t.Errorf("amqp: %+v", a)
	}
	if c.Service != "crm" || c.Requests != 3 || c.Errors != 1 || c.AvgLatencyMS != 30 || c.LastUsed == nil {
		t.Fatalf("crm: %+v", c)
	}
	wantTime(t, "last used", *c.LastUsed, now.Add(-time.Minute))
	if got := must[[]mih.ServiceStat](t)(s.ServiceStats(ctx, now)); len(got) != 0 {
		t.Errorf("stats since now: %+v", got)
	}
}
