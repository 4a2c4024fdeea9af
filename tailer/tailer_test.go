package tailer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle/sitedb/sitedbtest"
	"github.com/mihhub/mih/tailer"
)

func jsonValue(t testing.TB, raw []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, raw)
	}
	return v
}

// logBuffer collects a tailer's log for inspection.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTailer_Rows tails Moodle's rows as a real site logs them and checks every field of every
// event, the SELECT-only user, the two forms of other and the row whose other is corrupt.
func TestTailer_Rows(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		m := newMoodleDB(t, b, "mdl_")
		fx := fixtures()
		rows := make([]logRow, len(fx))
		for i, f := range fx {
			rows[i] = f.row
		}
		ids := m.mustInsert(t, rows...)

		// The tailer's user may read the log table and nothing else.
		ro := sitedbtest.Open(t, m.kind, m.tail)
		defer ro.Close()
		if _, err := m.insert(t.Context(), ro, rows[:1]); err == nil {
			t.Fatal("the tailer's user could insert into the log table; want SELECT only")
		}

		h := newHub(t)
		var logs logBuffer
		cfg := fastConfig("main", m.tail, "mdl_")
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		start(t, cfg, h)
		waitFor(t, 30*time.Second, "every row", func() bool { return h.sink.accepted.Load() == int64(len(fx)) })

		for i, f := range fx {
			t.Run(f.name, func(t *testing.T) {
				got, err := h.store.FindEventByID(t.Context(), tailer.EventID("main", ids[i]))
				if err != nil {
					t.Fatal(err)
				}
				r := f.row
				want := mih.Event{
					ID: "logstore:main:" + strconv.FormatInt(ids[i], 10), Site: "main",
					EventName: r.EventName, Component: r.Component, Action: r.Action, Target: r.Target,
					ObjectTable: r.ObjectTable, ObjectID: r.ObjectID, CRUD: r.CRUD, EduLevel: r.EduLevel,
					ContextID: r.ContextID, ContextLevel: r.ContextLevel, ContextInstanceID: r.ContextInstanceID,
					UserID: r.UserID, RelatedUserID: r.RelatedUserID, Anonymous: r.Anonymous,
					TimeCreated: r.TimeCreated, RealUserID: r.RealUserID,
				}
				// NULL in a plain-number field is Moodle's 0; NULL ip or origin is empty.
				if r.CourseID != nil {
					want.CourseID = *r.CourseID
				}
				if r.IP != nil {
					want.IP = *r.IP
				}
				if r.Origin != nil {
					want.Origin = *r.Origin
				}
				other := got.Other
				g := *got
				g.Other, g.ReceivedAt = nil, time.Time{}
				if !reflect.DeepEqual(g, want) {
					gj, _ := json.Marshal(g)
					wj, _ := json.Marshal(want)
					t.Errorf("got  %s\nwant %s", gj, wj)
				}
				if !reflect.DeepEqual(jsonValue(t, other), jsonValue(t, []byte(f.other))) {
					t.Errorf("other: got %.300s, want %.300s", other, f.other)
				}
				warned := strings.Contains(logs.String(), "id="+strconv.FormatInt(ids[i], 10)+" ")
				if f.bad != warned {
					t.Errorf("warning logged: %v, want %v", warned, f.bad)
				}
			})
		}
	})
}

// TestTailer_ConcurrentWriters is the main proof: 10,000 rows written by several writers at once,
// some in transactions held open and committed after higher ids, some rolled back, become exactly
// 10,000 events in a real store, across a stop and restart of the tailer in the middle — with a
// transaction still open across the restart.
func TestTailer_ConcurrentWriters(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		const total, writers = 10000, 4
		m := newMoodleDB(t, b, "mdl_")
		h := newHub(t)
		cfg := fastConfig("main", m.tail, "mdl_")
		cfg.GapTimeout = 2 * time.Minute
		first := start(t, cfg, h)

		var (
			mu        sync.Mutex
			committed = map[int64]bool{}
			left      atomic.Int64 // rows still to commit
			rolled    atomic.Int64
			held      atomic.Int64
		)
		left.Store(total)
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()

		// The holder opens a transaction before the writers start and commits it only after the
		// tailer was restarted: its ids are below everything else, and late by many seconds.
		holderIn, restarted := make(chan []int64, 1), make(chan struct{})
		holderDone := make(chan error, 1)
		go func() {
			left.Add(-20)
			tx, err := m.admin.BeginTx(ctx, nil)
			if err != nil {
				holderDone <- err
				return
			}
			rows := make([]logRow, 20)
			for i := range rows {
				rows[i] = realistic(i)
			}
			ids, err := m.insert(ctx, tx, rows)
			if err != nil {
				holderDone <- err
				return
			}
			holderIn <- ids
			select {
			case <-restarted:
			case <-ctx.Done():
			}
			time.Sleep(300 * time.Millisecond)
			if err := tx.Commit(); err != nil {
				holderDone <- err
				return
			}
			mu.Lock()
			for _, id := range ids {
				committed[id] = true
			}
			mu.Unlock()
			holderDone <- nil
		}()
		select {
		case <-holderIn:
		case err := <-holderDone:
			t.Fatal(err)
		}

		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(w), 7))
				for n := 0; ctx.Err() == nil; n++ {
					want := int64(1 + rnd.IntN(40))
					// Take rows from the budget before writing them; give them back on rollback.
					k := min(want, left.Load())
					if k <= 0 || !left.CompareAndSwap(left.Load(), left.Load()-k) {
						if left.Load() <= 0 {
							return
						}
						continue
					}
					rows := make([]logRow, k)
					for i := range rows {
						rows[i] = realistic(w*100000 + n*40 + i)
					}
					tx, err := m.admin.BeginTx(ctx, nil)
					if err != nil {
						errs <- err
						return
					}
					ids, err := m.insert(ctx, tx, rows)
					if err != nil {
						_ = tx.Rollback()
						errs <- err
						return
					}
					switch p := rnd.IntN(100); {
					case p < 3:
						_ = tx.Rollback()
						left.Add(k)
						rolled.Add(k)
						continue
					case p < 13:
						held.Add(1)
						time.Sleep(time.Duration(100+rnd.IntN(700)) * time.Millisecond)
					}
					if err := tx.Commit(); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for _, id := range ids {
						committed[id] = true
					}
					mu.Unlock()
				}
			})
		}

		// Stop the tailer half-way, with transactions open, and start a new one on the same state.
		waitFor(t, 2*time.Minute, "half the rows", func() bool { return h.sink.accepted.Load() >= total/2 })
		first.stop()
		st1 := first.t.Status()
		t.Logf("stopped at cursor %d with %d gaps awaited, %d late rows found so far", st1.Cursor, st1.Gaps, st1.LateEvents)
		second := start(t, cfg, h)
		close(restarted)

		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if err := <-holderDone; err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Minute, "every committed row", func() bool { return h.sink.accepted.Load() >= total })
		// Give a wrongly doubled or extra event time to show up before counting.
		time.Sleep(3 * cfg.PollInterval)

		got := h.eventIDs(t, "main")
		mu.Lock()
		defer mu.Unlock()
		if len(committed) != total {
			t.Fatalf("committed %d rows, want %d", len(committed), total)
		}
		if len(got) != total || h.sink.accepted.Load() != total {
			t.Errorf("got %d events in the store (%d accepted), want %d", len(got), h.sink.accepted.Load(), total)
		}
		for id := range committed {
			if !got[tailer.EventID("main", id)] {
				t.Errorf("row %d has no event", id)
			}
		}
		st2 := second.t.Status()
		late := st1.LateEvents + st2.LateEvents
		t.Logf("%d rows rolled back, %d transactions held open, %d late rows found, %d duplicates dropped by the store, %d gaps still awaited",
			rolled.Load(), held.Load(), late, h.sink.duplicates.Load(), st2.Gaps)
		if late < 20 {
			t.Errorf("found %d late rows, want at least the holder's 20", late)
		}
	})
}

// TestTailer_Start checks latest, beginning and an id as starting points, that a saved position
// wins over Start, and that tailers of several sites keep their own cursors in one store.
func TestTailer_Start(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		m := newMoodleDB(t, b, "mdl_")
		var before []logRow
		for i := range 10 {
			before = append(before, realistic(i))
		}
		old := m.mustInsert(t, before...)
		// A request still writing when the tailers first start: its row has a lower id than a
		// row committed before the start, and commits after it. Every site must get it.
		tx, err := m.admin.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		pending, err := m.insert(t.Context(), tx, []logRow{realistic(20)})
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, m.mustInsert(t, realistic(21))...)
		h := newHub(t)

		cfgs := map[string]tailer.Config{}
		for site, from := range map[string]string{"latest": tailer.StartLatest, "beginning": tailer.StartBeginning,
			"fromid": strconv.FormatInt(old[5], 10)} {
			cfg := fastConfig(site, m.tail, "mdl_")
			cfg.Start = from
			cfgs[site] = cfg
		}
		var tailers []*running
		for _, site := range []string{"latest", "beginning", "fromid"} {
			tailers = append(tailers, start(t, cfgs[site], h))
		}
		for _, r := range tailers {
			waitFor(t, 30*time.Second, "a first poll", func() bool { return !r.t.Status().LastPoll.IsZero() })
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		added := m.mustInsert(t, realistic(10), realistic(11), realistic(12))
		added = append(added, pending...)

		want := map[string][]int64{
			"latest":    added,
			"beginning": append(slices.Clone(old), added...),
			"fromid":    append(slices.Clone(old[5:]), added...),
		}
		wantTotal := int64(0)
		for _, ids := range want {
			wantTotal += int64(len(ids))
		}
		waitFor(t, 30*time.Second, "every site's rows", func() bool { return h.sink.accepted.Load() >= wantTotal })
		for site, ids := range want {
			got := h.eventIDs(t, site)
			if len(got) != len(ids) {
				t.Errorf("%s: got %d events, want %d", site, len(got), len(ids))
			}
			for _, id := range ids {
				if !got[tailer.EventID(site, id)] {
					t.Errorf("%s: row %d has no event", site, id)
				}
			}
		}
		// Each site has its own saved position.
		for site := range want {
			v, err := h.store.GetMeta(t.Context(), "logstore:"+site)
			if err != nil {
				t.Fatal(err)
			}
			var st struct{ Cursor int64 }
			if err := json.Unmarshal([]byte(v), &st); err != nil {
				t.Fatal(err)
			}
			if st.Cursor != added[2] {
				t.Errorf("%s: saved cursor %d, want %d", site, st.Cursor, added[2])
			}
			if strings.Contains(v, `"gaps"`) {
				t.Errorf("%s: gaps still awaited: %s", site, v)
			}
		}

		// Restarted with the same Start, a site goes on from its saved position.
		tailers[1].stop()
		calls := h.sink.calls.Load()
		cfg := cfgs["beginning"]
		r := start(t, cfg, h)
		waitFor(t, 30*time.Second, "a poll", func() bool { return !r.t.Status().LastPoll.IsZero() })
		if st := r.t.Status(); st.Cursor != added[2] || st.Events != 0 {
			t.Errorf("after restart: cursor %d, %d events; want %d and 0", st.Cursor, st.Events, added[2])
		}
		if n := h.sink.calls.Load(); n != calls {
			t.Errorf("the restarted tailer handed %d batches to the sink, want 0", n-calls)
		}

		// With another Start (the site's tail_from changed) it moves there: from id 6, the rows
		// come again, and the store drops them as duplicates.
		r.stop()
		cfg.Start = strconv.FormatInt(old[5], 10)
		dups := h.sink.duplicates.Load()
		r = start(t, cfg, h)
		waitFor(t, 30*time.Second, "the rows again from the new start", func() bool {
			return h.sink.duplicates.Load()-dups == int64(len(old)-5+len(added))
		})

		// After ResetPosition the site starts again from Start, too.
		r.stop()
		if err := tailer.ResetPosition(t.Context(), h.store, "beginning"); err != nil {
			t.Fatal(err)
		}
		cfg.Start = "1"
		dups = h.sink.duplicates.Load()
		r = start(t, cfg, h)
		waitFor(t, 30*time.Second, "the rows again", func() bool { return h.sink.duplicates.Load()-dups == int64(len(old)+len(added)) })
		if st := r.t.Status(); st.Cursor != added[2] {
			t.Errorf("after reset: cursor %d, want %d", st.Cursor, added[2])
		}
	})
}

// TestTailer_TwoSites runs two tailers in one process on two Moodle databases with the same row
// ids and different prefixes: their events and cursors stay apart.
func TestTailer_TwoSites(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		a := newMoodleDB(t, b, "mdl_")
		c := newMoodleDB(t, b, "m2_")
		h := newHub(t)
		idsA := a.mustInsert(t, realistic(1), realistic(2), realistic(3))
		idsC := c.mustInsert(t, realistic(4), realistic(5))
		ra := start(t, fastConfig("alpha", a.tail, "mdl_"), h)
		rc := start(t, fastConfig("beta", c.tail, "m2_"), h)
		waitFor(t, 30*time.Second, "both sites", func() bool { return h.sink.accepted.Load() == 5 })
		if idsA[0] != idsC[0] {
			t.Fatalf("the two tables start at ids %d and %d; the test wants the same ids", idsA[0], idsC[0])
		}
		ev, err := h.store.FindEventByID(t.Context(), tailer.EventID("alpha", idsA[0]))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Site != "alpha" || ev.EventName != realistic(1).EventName {
			t.Errorf("alpha's row %d: site %q, event %s", idsA[0], ev.Site, ev.EventName)
		}
		ev, err = h.store.FindEventByID(t.Context(), tailer.EventID("beta", idsC[0]))
		if err != nil {
			t.Fatal(err)
		}
		if ev.Site != "beta" || ev.EventName != realistic(4).EventName {
			t.Errorf("beta's row %d: site %q, event %s", idsC[0], ev.Site, ev.EventName)
		}
		a.mustInsert(t, realistic(6))
		waitFor(t, 30*time.Second, "alpha's new row", func() bool { return h.sink.accepted.Load() == 6 })
		waitFor(t, 30*time.Second, "status", func() bool { return ra.t.Status().Cursor == idsA[2]+1 })
		if got := rc.t.Status().Cursor; got != idsC[1] {
			t.Errorf("beta's cursor %d, want %d", got, idsC[1])
		}
	})
}

// TestTailer_SecretsStayOut makes the tailer fail with a password in its URL: neither its log nor
// its status carries the password.
func TestTailer_SecretsStayOut(t *testing.T) {
	const pass = "Sup3r-Secret-pw"
	cases := map[string]string{
		"postgres refused": "postgres://moodle:" + pass + "@127.0.0.1:1/moodle?sslmode=disable",
		"mysql refused":    "mysql://moodle:" + pass + "@127.0.0.1:1/moodle",
	}
	if u := mustParse(t, backends[1].url(t)); u.Host != "" {
		// A real server refusing the password, when there is one.
		cases["mysql wrong password"] = "mysql://mihtest:" + pass + "@" + u.Host + "/mysql"
	}
	for name, dsn := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHub(t)
			var logs logBuffer
			cfg := fastConfig("main", dsn, "mdl_")
			cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			r := start(t, cfg, h)
			waitFor(t, 30*time.Second, "two failures", func() bool { return r.t.Status().Failures >= 2 })
			r.stop()
			st := r.t.Status()
			if st.LastError == "" || strings.Contains(st.LastError, pass) {
				t.Errorf("last error %q: want an error without the password", st.LastError)
			}
			if strings.Contains(st.DB, pass) {
				t.Errorf("status db %q shows the password", st.DB)
			}
			if !strings.Contains(logs.String(), "failed; retrying") || strings.Contains(logs.String(), pass) {
				t.Errorf("log: want failures without the password:\n%s", logs.String())
			}
		})
	}
	if _, err := tailer.New(tailer.Config{Site: "x", DSN: "mysql://u:" + pass + "@host:notaport/db"}, nil, nil); err == nil || strings.Contains(err.Error(), pass) {
		t.Errorf("New with a bad URL: %v", err)
	}
}

// moodleWriter writes realistic rows in batches, as Moodle requests do.
type moodleWriter struct {
	m *moodleDB
	n int
}

func (w *moodleWriter) write(tb testing.TB, rows int) {
	tb.Helper()
	for rows > 0 {
		k := min(rows, 50)
		batch := make([]logRow, k)
		for i := range batch {
			batch[i] = realistic(w.n)
			w.n++
		}
		// Right after a server restart the handle's idle connections are dead: the insert fails
		// before it reaches the server, and is simply tried again.
		var err error
		for try := 0; try < 50; try++ {
			if _, err = w.m.insert(context.Background(), w.m.admin, batch); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			tb.Fatal(err)
		}
		rows -= k
	}
}

// tableIDs reads every id of the log table, the truth the store is compared with. Right after a
// server restart the handle's idle connections are dead; the read is tried again then.
func (m *moodleDB) tableIDs(tb testing.TB) []int64 {
	tb.Helper()
	var ids []int64
	read := func() error {
		ids = ids[:0]
		rows, err := m.admin.QueryContext(context.Background(), `SELECT id FROM `+m.prefix+`logstore_standard_log ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	}
	var err error
	for try := 0; try < 50; try++ {
		if err = read(); err == nil {
			return ids
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatal(err)
	return nil
}

// killSessions ends the tailer user's database sessions from the server side.
func (m *moodleDB) killSessions(tb testing.TB) int {
	tb.Helper()
	ctx := context.Background()
	if m.kind == tailer.Postgres {
		var n int
		err := m.admin.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1`, m.roUser).Scan(&n)
		if err != nil {
			tb.Fatal(err)
		}
		return n
	}
	rows, err := m.admin.QueryContext(ctx, `SELECT id FROM information_schema.processlist WHERE user = ?`, m.roUser)
	if err != nil {
		tb.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if _, err := m.admin.ExecContext(ctx, fmt.Sprintf("KILL %d", id)); err != nil {
			tb.Fatal(err)
		}
	}
	return len(ids)
}

// checkComplete waits until the store holds an event for every row of the table, and only those.
func checkComplete(t *testing.T, h *hub, m *moodleDB, site string) {
	t.Helper()
	ids := m.tableIDs(t)
	waitFor(t, 2*time.Minute, "every row of the table", func() bool { return h.sink.accepted.Load() >= int64(len(ids)) })
	got := h.eventIDs(t, site)
	if len(got) != len(ids) {
		t.Errorf("got %d events, want %d", len(got), len(ids))
	}
	for _, id := range ids {
		if !got[tailer.EventID(site, id)] {
			t.Errorf("row %d has no event", id)
		}
	}
}
