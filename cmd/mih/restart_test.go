package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle/moodletest"
)

// flakyReceiver is a service the hub delivers to, whose behaviour the test switches: it answers
// 500 while down is set, 400 while reject is set, holds requests while hang is set (until the
// caller gives up or hang is cleared), waits delay before answering, and counts the deliveries it
// accepted by event id.
type flakyReceiver struct {
	down, reject, hang atomic.Bool
	delay              atomic.Int64 // nanoseconds
	inflight           atomic.Int32

	mu   sync.Mutex
	seen map[string]int
	srv  *httptest.Server
}

func newFlakyReceiver(t *testing.T) *flakyReceiver {
	r := &flakyReceiver{seen: map[string]int{}}
	r.down.Store(true)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.inflight.Add(1)
		defer r.inflight.Add(-1)
		for r.hang.Load() {
			select {
			case <-req.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		if d := time.Duration(r.delay.Load()); d > 0 {
			select {
			case <-req.Context().Done():
				return
			case <-time.After(d):
			}
		}
		switch {
		case r.down.Load():
			http.Error(w, "down", http.StatusInternalServerError)
			return
		case r.reject.Load():
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		var p struct{ ID string }
		json.NewDecoder(req.Body).Decode(&p)
		r.mu.Lock()
		r.seen[p.ID]++
		r.mu.Unlock()
	}))
	t.Cleanup(func() {
		r.hang.Store(false)
		r.srv.Close()
	})
	return r
}

func (r *flakyReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// times reports how often the event id was delivered.
func (r *flakyReceiver) times(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

// deliveryCount reads how many deliveries the hub holds in state.
func deliveryCount(t *testing.T, h *hubProcess, state string) int {
	t.Helper()
	code, body := apiCall(t, "GET", h.url+"api/v1/deliveries?limit=1000&status="+state, nil)
	if code != http.StatusOK {
		t.Fatalf("list deliveries: %d %s", code, body)
	}
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	return len(page.Items)
}

// eventually polls cond every 100 ms until it holds, and fails the test after within.
func eventually(t *testing.T, h *hubProcess, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v\nhub log tail:\n%s", what, within, tail(h.logs.String(), 3000))
		}
		select {
		case <-h.done:
			t.Fatalf("%s: the hub exited: %v\n%s", what, h.err, tail(h.logs.String(), 3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// restartScene is one hub, its data and the receiver it delivers to, across a restart.
type restartScene struct {
	bin  string
	args []string
	hub  *hubProcess
	recv *flakyReceiver

	// The course sync state: the Moodle site and the run that was going on.
	ws  *moodletest.Server
	run int64
	// The tailer state: the Moodle database and the transaction holding the gap's row.
	moodleDB *sql.DB
	gapTx    *sql.Tx
}

func (s *restartScene) call(t *testing.T, method, path string, body any, want int) []byte {
	t.Helper()
	code, b := apiCall(t, method, s.hub.url+"api/v1/"+path, body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
	}
	return b
}

// service registers the receiver as a REST service, with overrides, and a rule sending every
// event to it.
func (s *restartScene) service(t *testing.T, overrides map[string]any) map[string]any {
	t.Helper()
	svc := map[string]any{"name": "receiver", "type": "rest", "base_url": s.recv.srv.URL,
		"initial_backoff_s": 0.1, "max_backoff_s": 1, "max_retries": 50}
	for k, v := range overrides {
		svc[k] = v
	}
	s.call(t, "POST", "services", svc, http.StatusCreated)
	s.call(t, "POST", "rules", map[string]any{"name": "all", "event": "*", "service": "receiver",
		"endpoint": "/in", "template": `{"id": "{{id}}"}`}, http.StatusCreated)
	return svc
}

// alive fails the test when the hub has exited.
func (s *restartScene) alive(t *testing.T) {
	t.Helper()
	select {
	case <-s.hub.done:
		t.Fatalf("the hub exited: %v\n%s", s.hub.err, tail(s.hub.logs.String(), 3000))
	default:
	}
}

// delivered waits until every one of ids reached the receiver.
func (s *restartScene) delivered(t *testing.T, ids []string, within time.Duration) {
	t.Helper()
	eventually(t, s.hub, within, fmt.Sprintf("%d events delivered", len(ids)), func() bool {
		for _, id := range ids {
			if s.recv.times(id) == 0 {
				return false
			}
		}
		return true
	})
}

// restartState is a state the hub is stopped in. prepare brings a running hub into it;
// stopped, when set, runs while no hub runs; converge checks, on the restarted hub, that
// everything ends where it should.
type restartState struct {
	name string
	// moodleDB says the state needs a PostgreSQL server for a Moodle database.
	moodleDB bool
	prepare  func(t *testing.T, s *restartScene)
	stopped  func(t *testing.T, s *restartScene)
	converge func(t *testing.T, s *restartScene)
}

// TestServe_Restart stops the hub, with SIGTERM and with SIGKILL, in each state that outlives a
// process — a circuit open with deliveries paused, a half-open probe in flight, a disabled
// service, dead deliveries waiting, a replay going on, a course sync run going on, a log store
// tailer awaiting gaps — and starts it again on the same data. Each time it must come up, stay
// up, and converge: everything delivered once the receiver is back, nothing dead that should
// not be, the interrupted sync run recorded as such and the next one working, the rows of the
// tailer's gaps delivered once.
//
// A restart with an open circuit past its cooldown once crashed every start: the breaker's first
// sync resumed a probe before the workers existed.
//
// The hub runs on SQLite, or on PostgreSQL with MIH_TEST_E2E_POSTGRES set (and
// MIH_TEST_POSTGRES_URL); the tailer's state needs MIH_TEST_POSTGRES_URL for the Moodle database
// and is skipped without it.
func TestServe_Restart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, st := range restartStates() {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
			t.Run(st.name+"/"+sig.String(), func(t *testing.T) {
				t.Parallel()
				if st.moodleDB && os.Getenv("MIH_TEST_POSTGRES_URL") == "" {
					t.Skip("MIH_TEST_POSTGRES_URL is not set (scripts/test.sh starts PostgreSQL and sets it)")
				}
				s := &restartScene{bin: bin, recv: newFlakyReceiver(t), args: []string{
					"--data", t.TempDir(), "--poll-interval", "100ms", "--lease", "2s",
					"--shutdown-timeout", "1s", "--circuit-sync", "200ms", "--maintain-every", "500ms",
					"--worker-concurrency", "4", "--log-level", "warn"}}
				if os.Getenv("MIH_TEST_E2E_POSTGRES") != "" {
					s.args = append(s.args, "--database", freshDatabase(t))
				}
				s.hub = startHub(t, bin, s.args...)
				st.prepare(t, s)

				if err := s.hub.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				select {
				case <-s.hub.done:
				case <-time.After(30 * time.Second):
					t.Fatalf("the hub did not stop within 30 s of %v", sig)
				}
				if sig == syscall.SIGTERM && s.hub.err != nil {
					t.Fatalf("exit after SIGTERM: %v\n%s", s.hub.err, tail(s.hub.logs.String(), 3000))
				}
				if st.stopped != nil {
					st.stopped(t, s)
				}

				s.hub = startHub(t, bin, s.args...)
				// A start that fails on what the last process left fails within a few
				// rounds of the breaker, the maintainer and the scheduler.
				time.Sleep(1500 * time.Millisecond)
				s.alive(t)
				st.converge(t, s)
				s.alive(t)
				if dead := deliveryCount(t, s.hub, "dead"); dead != 0 {
					t.Fatalf("%d deliveries dead at the end", dead)
				}
			})
		}
	}
}

func restartStates() []restartState {
	const n = 20
	ids := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%d", prefix, i)
		}
		return out
	}
	return []restartState{{
		// Stopped with the circuit open and the deliveries paused, and started again past the
		// cooldown: the first sync of the breaker resumes a probe at once.
		name: "open_circuit",
		prepare: func(t *testing.T, s *restartScene) {
			s.service(t, map[string]any{"circuit": map[string]any{"failure_threshold": 2, "window_s": 60, "cooldown_s": 2}})
			s.call(t, "POST", "events", testEvents("r", n), http.StatusAccepted)
			waitCircuit(t, s.hub, "receiver", "open", 20*time.Second)
			eventually(t, s.hub, 20*time.Second, "deliveries paused", func() bool { return deliveryCount(t, s.hub, "paused") >= n-2 })
		},
		stopped: func(t *testing.T, s *restartScene) {
			time.Sleep(2500 * time.Millisecond) // past the cooldown
		},
		converge: func(t *testing.T, s *restartScene) {
			// Probe rounds fail while the receiver is still down; the hub survives them.
			time.Sleep(2 * time.Second)
			s.alive(t)
			if got := deliveryCount(t, s.hub, "dead"); got != 0 {
				t.Fatalf("%d deliveries dead during the outage", got)
			}
			s.recv.down.Store(false)
			s.delivered(t, ids("r", n), 30*time.Second)
		},
	}, {
		// Stopped while the half-open probe waits for the receiver's answer. After SIGTERM the
		// probe is given back at shutdown; after SIGKILL its claim lapses after the service's
		// timeout plus the breaker's grace, and the delivery's lease after --lease.
		name: "halfopen_probe",
		prepare: func(t *testing.T, s *restartScene) {
			s.service(t, map[string]any{"timeout_s": 3, "circuit": map[string]any{"failure_threshold": 2, "window_s": 60, "cooldown_s": 1}})
			s.call(t, "POST", "events", testEvents("p", n), http.StatusAccepted)
			waitCircuit(t, s.hub, "receiver", "open", 20*time.Second)
			s.recv.hang.Store(true)
			s.recv.down.Store(false)
			eventually(t, s.hub, 20*time.Second, "the probe in flight", func() bool {
				return s.recv.inflight.Load() > 0 && circuitState(t, s.hub, "receiver") == mih.CircuitHalfOpen
			})
		},
		stopped: func(t *testing.T, s *restartScene) { s.recv.hang.Store(false) },
		converge: func(t *testing.T, s *restartScene) {
			s.delivered(t, ids("p", n), 40*time.Second)
			if got := deliveryCount(t, s.hub, "dead"); got != 0 {
				t.Fatalf("%d deliveries dead", got)
			}
		},
	}, {
		// Stopped with a disabled service's deliveries paused: they stay paused across the
		// restart, and go out once the service is enabled.
		name: "disabled_service",
		prepare: func(t *testing.T, s *restartScene) {
			s.recv.down.Store(false)
			s.service(t, map[string]any{"enabled": false})
			s.call(t, "POST", "events", testEvents("d", n), http.StatusAccepted)
			eventually(t, s.hub, 20*time.Second, "deliveries paused", func() bool { return deliveryCount(t, s.hub, "paused") == n })
		},
		converge: func(t *testing.T, s *restartScene) {
			if got, paused := s.recv.count(), deliveryCount(t, s.hub, "paused"); got != 0 || paused != n {
				t.Fatalf("after the restart: %d delivered, %d paused; want 0 and %d", got, paused, n)
			}
			svc := map[string]any{"type": "rest", "base_url": s.recv.srv.URL, "enabled": true}
			s.call(t, "PUT", "services/receiver", svc, http.StatusOK)
			s.delivered(t, ids("d", n), 20*time.Second)
		},
	}, {
		// Stopped with dead deliveries: they stay dead (not lost, not sent), and a replay after
		// the restart delivers them.
		name: "dead_deliveries",
		prepare: func(t *testing.T, s *restartScene) {
			s.recv.down.Store(false)
			s.recv.reject.Store(true)
			s.service(t, nil)
			s.call(t, "POST", "events", testEvents("x", n), http.StatusAccepted)
			eventually(t, s.hub, 20*time.Second, "deliveries dead", func() bool { return deliveryCount(t, s.hub, "dead") == n })
		},
		converge: func(t *testing.T, s *restartScene) {
			if got, dead := s.recv.count(), deliveryCount(t, s.hub, "dead"); got != 0 || dead != n {
				t.Fatalf("after the restart: %d delivered, %d dead; want 0 and %d", got, dead, n)
			}
			s.recv.reject.Store(false)
			var res struct{ Replayed int }
			json.Unmarshal(s.call(t, "POST", "deliveries/replay", map[string]any{}, http.StatusOK), &res)
			if res.Replayed != n {
				t.Fatalf("replayed %d, want %d", res.Replayed, n)
			}
			s.delivered(t, ids("x", n), 20*time.Second)
			if got := deliveryCount(t, s.hub, "dead"); got != 0 {
				t.Fatalf("%d deliveries still dead", got)
			}
		},
	}, {
		// Stopped while a bulk replay of many dead deliveries goes out (four at a time, slowly):
		// the rest go out after the restart, none stays dead.
		name: "replay",
		prepare: func(t *testing.T, s *restartScene) {
			const many = 300
			s.recv.down.Store(false)
			s.recv.reject.Store(true)
			s.service(t, nil)
			s.call(t, "POST", "events", testEvents("y", many), http.StatusAccepted)
			eventually(t, s.hub, 30*time.Second, "deliveries dead", func() bool { return deliveryCount(t, s.hub, "dead") == many })
			s.recv.reject.Store(false)
			s.recv.delay.Store(int64(30 * time.Millisecond))
			s.call(t, "POST", "deliveries/replay", map[string]any{"status": "dead", "service": "receiver"}, http.StatusOK)
			eventually(t, s.hub, 20*time.Second, "replay under way", func() bool { return s.recv.count() >= 20 })
		},
		stopped: func(t *testing.T, s *restartScene) {
			if got := s.recv.count(); got >= 300 {
				t.Fatalf("the replay was over (%d delivered) before the hub stopped", got)
			}
			s.recv.delay.Store(0)
		},
		converge: func(t *testing.T, s *restartScene) {
			s.delivered(t, ids("y", 300), 30*time.Second)
			if got := deliveryCount(t, s.hub, "dead"); got != 0 {
				t.Fatalf("%d deliveries dead after the replay", got)
			}
		},
	}, {
		// Stopped while a course sync run enrols (Moodle is slow to answer): the run is recorded
		// as failed, interrupted, and the next run completes the work. After SIGKILL the job's
		// lease of the dead process has to run out first (a minute).
		name:     "sync_run",
		prepare:  prepareSyncRun,
		stopped:  func(t *testing.T, s *restartScene) { s.ws.SetLatency("enrol_manual_enrol_users", 0) },
		converge: convergeSyncRun,
	}, {
		// Stopped while the log store tailer awaits a row whose transaction has not committed
		// (a gap below its cursor): the row commits while no hub runs, and is delivered once after
		// the restart; the rows around it are not delivered again. After SIGKILL the site's
		// tailer lease of the dead process has to run out first (30 s).
		name:     "tailer_gap",
		moodleDB: true,
		prepare:  prepareTailerGap,
		stopped: func(t *testing.T, s *restartScene) {
			if err := s.gapTx.Commit(); err != nil {
				t.Fatal(err)
			}
		},
		converge: convergeTailerGap,
	}}
}

// webcourseSource is a course list in the format of the local_webcourse plugin's documentation.
const webcourseSource = `{"courses": [
{"shortname": "c1", "name": "Geography", "participants": [{"username": "u1"}, {"username": "u2"}, {"username": "u3", "roleid": "teacher"}]},
{"shortname": "c2", "name": "Physics", "participants": [{"username": "u1"}, {"username": "u2"}, {"username": "u4", "roleid": "teacher"}]}
]}`

func prepareSyncRun(t *testing.T, s *restartScene) {
	s.ws = moodletest.NewServer(t, moodletest.Options{})
	for _, u := range []string{"u1", "u2", "u3", "u4"} {
		s.ws.AddUser(moodletest.User{Username: u, FirstName: "F", LastName: u, Email: u + "@example.edu"})
	}
	// Enrolling waits (until the hub gives up): the run stops in its enrol phase.
	s.ws.SetLatency("enrol_manual_enrol_users", time.Minute)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, webcourseSource)
	}))
	t.Cleanup(src.Close)
	s.call(t, "POST", "sites", map[string]any{"name": "main", "url": s.ws.URL, "token": s.ws.Token}, http.StatusCreated)
	s.call(t, "POST", "services", map[string]any{"name": "academic", "type": "rest", "base_url": src.URL, "max_retries": 0}, http.StatusCreated)
	s.call(t, "POST", "sync", map[string]any{"name": "webcourse", "site": "main", "source_service": "academic",
		"source_path": "/courses", "removal": "suspend"}, http.StatusCreated)
	var run mih.SyncRun
	json.Unmarshal(s.call(t, "POST", "sync/webcourse/apply", nil, http.StatusAccepted), &run)
	s.run = run.ID
	eventually(t, s.hub, 20*time.Second, "the run enrolling", func() bool {
		r := syncRun(t, s, s.run)
		return r.Status == mih.SyncRunning && r.Progress.Phase == mih.PhaseEnrol
	})
}

func syncRun(t *testing.T, s *restartScene, id int64) mih.SyncRun {
	t.Helper()
	var run mih.SyncRun
	if err := json.Unmarshal(s.call(t, "GET", fmt.Sprintf("sync/runs/%d", id), nil, http.StatusOK), &run); err != nil {
		t.Fatal(err)
	}
	return run
}

func convergeSyncRun(t *testing.T, s *restartScene) {
	var next mih.SyncRun
	json.Unmarshal(s.call(t, "POST", "sync/webcourse/apply", nil, http.StatusAccepted), &next)
	// After SIGKILL the dead process's lease on the job lasts up to a minute.
	eventually(t, s.hub, 90*time.Second, "the next run over", func() bool { return syncRun(t, s, next.ID).Status.Done() })
	if r := syncRun(t, s, next.ID); r.Status != mih.SyncSucceeded {
		t.Fatalf("the run after the restart: %s %s", r.Status, r.Error)
	}
	if r := syncRun(t, s, s.run); r.Status != mih.SyncFailed || !strings.Contains(r.Error, "interrupted") {
		t.Fatalf("the interrupted run: %s %q, want failed, interrupted", r.Status, r.Error)
	}
	enrolled := 0
	for _, c := range []string{"c1", "c2"} {
		course, ok := s.ws.CourseByShortName(c)
		if !ok {
			t.Fatalf("course %s not created", c)
		}
		enrolled += len(s.ws.Enrolments(course.ID))
	}
	if len(s.ws.Courses()) != 2 || enrolled != 6 {
		t.Fatalf("%d courses, %d enrolments; want 2 and 6", len(s.ws.Courses()), enrolled)
	}
}

// moodleLogTable is Moodle's log store table on PostgreSQL, as Moodle creates it.
const moodleLogTable = `CREATE TABLE mdl_logstore_standard_log (
    id BIGSERIAL PRIMARY KEY,
    eventname VARCHAR(255) NOT NULL DEFAULT '',
    component VARCHAR(100) NOT NULL DEFAULT '',
    action VARCHAR(100) NOT NULL DEFAULT '',
    target VARCHAR(100) NOT NULL DEFAULT '',
    objecttable VARCHAR(50),
    objectid BIGINT,
    crud VARCHAR(1) NOT NULL DEFAULT '',
    edulevel SMALLINT NOT NULL,
    contextid BIGINT NOT NULL,
    contextlevel BIGINT NOT NULL,
    contextinstanceid BIGINT NOT NULL,
    userid BIGINT NOT NULL,
    courseid BIGINT,
    relateduserid BIGINT,
    anonymous SMALLINT NOT NULL DEFAULT 0,
    other TEXT,
    timecreated BIGINT NOT NULL,
    origin VARCHAR(10),
    ip VARCHAR(45),
    realuserid BIGINT)`

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// logRow writes one user_created row as Moodle logs it.
func logRow(t *testing.T, db execer, userid int) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), `INSERT INTO mdl_logstore_standard_log
		(eventname, component, action, target, objecttable, objectid, crud, edulevel, contextid, contextlevel,
		 contextinstanceid, userid, relateduserid, other, timecreated, origin, ip)
		VALUES ('\core\event\user_created', 'core', 'created', 'user', 'user', $1, 'c', 0, 1, 10, 0, 2, $1, 'N;', $2, 'web', '127.0.0.1')`,
		userid, time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
}

func prepareTailerGap(t *testing.T, s *restartScene) {
	dbURL := freshDatabase(t)
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.moodleDB = db
	if _, err := db.Exec(moodleLogTable); err != nil {
		t.Fatal(err)
	}
	s.recv.down.Store(false)
	s.service(t, nil)
	s.call(t, "POST", "sites", map[string]any{"name": "main", "url": "https://moodle.example.edu", "db": dbURL,
		"tail": true, "tail_from": "beginning"}, http.StatusCreated)
	logRow(t, db, 1)
	s.delivered(t, []string{"logstore:main:1"}, 30*time.Second)
	// Row 2's transaction stays open while row 3 commits: the tailer reads 3 and awaits 2.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	s.gapTx = tx
	t.Cleanup(func() { tx.Rollback() })
	logRow(t, tx, 2)
	logRow(t, db, 3)
	s.delivered(t, []string{"logstore:main:3"}, 30*time.Second)
	eventually(t, s.hub, 20*time.Second, "the gap awaited", func() bool {
		var site struct {
			TailStatus struct{ Gaps int } `json:"tail_status"`
		}
		json.Unmarshal(s.call(t, "GET", "sites/main", nil, http.StatusOK), &site)
		return site.TailStatus.Gaps == 1
	})
	// Delivery is at least once: a success the receiver saw but the hub had not yet committed is
	// sent again after a SIGKILL. Rows 1 and 3 must be settled before the stop, so that a second
	// delivery of them can only mean the tailer read them again.
	eventually(t, s.hub, 20*time.Second, "rows 1 and 3 recorded as delivered", func() bool {
		var page struct{ Items []json.RawMessage }
		json.Unmarshal(s.call(t, "GET", "deliveries?status=succeeded&limit=10", nil, http.StatusOK), &page)
		return len(page.Items) == 2
	})
}

func convergeTailerGap(t *testing.T, s *restartScene) {
	// After SIGKILL the dead process's lease on the site's tailer lasts up to 30 s.
	s.delivered(t, []string{"logstore:main:2"}, 60*time.Second)
	logRow(t, s.moodleDB, 4)
	s.delivered(t, []string{"logstore:main:4"}, 20*time.Second)
	for i := 1; i <= 4; i++ {
		if got := s.recv.times(fmt.Sprintf("logstore:main:%d", i)); got != 1 {
			t.Errorf("row %d delivered %d times, want once", i, got)
		}
	}
}
