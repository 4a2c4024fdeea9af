package tailer_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih/tailer"
)

// server is a database server the test may stop and start.
type server struct {
	kind string
	url  string
	stop func(tb testing.TB)
	run  func(tb testing.TB)
}

// privatePostgres starts a PostgreSQL server of the test's own with scripts/postgres.sh, so that
// stopping it disturbs no other package's tests. Restarts keep its port (pg_ctl with -p).
func privatePostgres(t *testing.T) *server {
	t.Helper()
	backends[0].url(t) // skips without PostgreSQL
	dir, err := os.MkdirTemp("", "mih-logstore-pg-")
	if err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs("../scripts/postgres.sh")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, script, "start", dir).Output()
	if err != nil {
		t.Fatalf("scripts/postgres.sh start: %v", err)
	}
	raw := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		_ = exec.Command(script, "stop", dir).Run()
		_ = os.RemoveAll(dir)
	})
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Fatal("no pg_ctl under /usr/lib/postgresql")
	}
	slices.Sort(bins)
	pgctl := bins[len(bins)-1]
	u := mustParse(t, raw)
	// As root the server runs as the postgres user (scripts/postgres.sh does the same).
	as := func(args ...string) *exec.Cmd {
		if os.Geteuid() == 0 {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", pgctl}, args...)...)
		}
		return exec.Command(pgctl, args...)
	}
	data := filepath.Join(dir, "data")
	return &server{
		kind: tailer.Postgres, url: raw,
		stop: func(tb testing.TB) {
			if out, err := as("-D", data, "-m", "fast", "-w", "stop").CombinedOutput(); err != nil {
				tb.Fatalf("pg_ctl stop: %v: %s", err, out)
			}
		},
		run: func(tb testing.TB) {
			if out, err := as("-D", data, "-l", filepath.Join(dir, "log"), "-w", "-o", "-p "+u.Port(), "start").CombinedOutput(); err != nil {
				tb.Fatalf("pg_ctl start: %v: %s", err, out)
			}
		},
	}
}

// sharedMariaDB is the MariaDB of MIH_TEST_MYSQL_URL, which only this package uses: the test
// stops and starts it with scripts/mariadb.sh, which keeps its port.
func sharedMariaDB(t *testing.T) *server {
	t.Helper()
	raw := backends[1].url(t)
	dir := os.Getenv("MIH_TEST_MYSQL_DIR")
	if dir == "" {
		t.Skip("MIH_TEST_MYSQL_DIR is not set: it names the folder of the server of MIH_TEST_MYSQL_URL, started by scripts/mariadb.sh, which this test restarts")
	}
	script, _ := filepath.Abs("../scripts/mariadb.sh")
	call := func(tb testing.TB, verb string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, script, verb, dir).CombinedOutput(); err != nil {
			tb.Fatalf("scripts/mariadb.sh %s: %v: %s", verb, err, out)
		}
	}
	s := &server{kind: tailer.MySQL, url: raw}
	s.stop = func(tb testing.TB) { call(tb, "stop") }
	s.run = func(tb testing.TB) {
		call(tb, "start")
		if u, _ := os.ReadFile(filepath.Join(dir, "url")); strings.TrimSpace(string(u)) != raw {
			tb.Fatalf("the server came back at %s, not %s", u, raw)
		}
	}
	// Whatever happens, leave the server running for the tests after this one.
	t.Cleanup(func() { call(t, "start") })
	return s
}

// TestTailer_DatabaseRestart keeps writing while the tailer's sessions are killed and the whole
// database server is stopped and started again: the tailer reports the failures, waits, resumes
// from its cursor, and every row of the table ends up as exactly one event.
func TestTailer_DatabaseRestart(t *testing.T) {
	for _, tc := range []struct {
		name string
		srv  func(t *testing.T) *server
	}{
		{"postgres", privatePostgres},
		{"mysql", sharedMariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.srv(t)
			m := newMoodleDBAt(t, srv.kind, srv.url, "mdl_")
			w := &moodleWriter{m: m}
			w.write(t, 3000)
			h := newHub(t)
			cfg := fastConfig("main", m.tail, "mdl_")
			cfg.BatchSize = 100
			r := start(t, cfg, h)
			waitFor(t, 30*time.Second, "the tailer under way", func() bool { return h.sink.accepted.Load() > 0 })

			// Sessions killed from the server side, mid-run.
			for range 3 {
				w.write(t, 200)
				m.killSessions(t)
				time.Sleep(150 * time.Millisecond)
			}

			// The server stopped while rows are still unread, down for a while, started again.
			w.write(t, 2000)
			srv.stop(t)
			waitFor(t, 30*time.Second, "the tailer to notice", func() bool { return r.t.Status().Failures >= 2 })
			time.Sleep(time.Second)
			srv.run(t)
			w.write(t, 1000)
			checkComplete(t, h, m, "main")

			st := r.t.Status()
			if st.LastError == "" || st.Failures != 0 {
				t.Errorf("status after recovery: failures %d, last error %q; want 0 and the outage's error", st.Failures, st.LastError)
			}
			if pass, _ := mustParse(t, m.tail).User.Password(); strings.Contains(st.LastError, pass) || strings.Contains(st.LastError, url.QueryEscape(pass)) {
				t.Errorf("last error shows the password: %s", st.LastError)
			}
			t.Logf("last error during the outage: %s", st.LastError)
		})
	}
}

// TestTailer_KilledSessions is the part of the restart test that needs no server of its own:
// sessions killed on the shared servers.
func TestTailer_KilledSessions(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		m := newMoodleDB(t, b, "mdl_")
		w := &moodleWriter{m: m}
		w.write(t, 2000)
		h := newHub(t)
		cfg := fastConfig("main", m.tail, "mdl_")
		cfg.BatchSize = 100
		start(t, cfg, h)
		for range 5 {
			waitFor(t, 30*time.Second, "progress", func() bool { return h.sink.accepted.Load() > 0 })
			m.killSessions(t)
			w.write(t, 300)
			time.Sleep(100 * time.Millisecond)
		}
		checkComplete(t, h, m, "main")
	})
}
