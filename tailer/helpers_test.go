package tailer_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
	"github.com/mihhub/mih/moodle/sitedb/sitedbtest"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/store/postgres"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/store/storetest"
	"github.com/mihhub/mih/tailer"
)

// The tests run against real servers, named by:
//
//	MIH_TEST_POSTGRES_URL  a PostgreSQL superuser URL (scripts/postgres.sh start DIR prints one)
//	MIH_TEST_MYSQL_URL     a MariaDB/MySQL URL of a user with every privilege (scripts/mariadb.sh
//	                       start DIR prints one)
//	MIH_TEST_MYSQL_DIR     the folder of that MariaDB, which the restart test stops and starts
//
// Each test makes its own database with Moodle's log table and a user that may only SELECT on it,
// and tails as that user.

// backend is one kind of Moodle database.
type backend struct {
	name string
	env  string
}

var backends = []backend{
	{tailer.Postgres, "MIH_TEST_POSTGRES_URL"},
	{tailer.MySQL, "MIH_TEST_MYSQL_URL"},
}

func (b backend) url(tb testing.TB) string {
	u := os.Getenv(b.env)
	if u == "" {
		switch b.name {
		case tailer.Postgres:
			tb.Skip("MIH_TEST_POSTGRES_URL is not set; start a server with: url=$(scripts/postgres.sh start /tmp/pgtest) && MIH_TEST_POSTGRES_URL=$url go test ./tailer/")
		default:
			tb.Skip("MIH_TEST_MYSQL_URL is not set; start a server with: url=$(scripts/mariadb.sh start /tmp/mdbtest) && MIH_TEST_MYSQL_URL=$url MIH_TEST_MYSQL_DIR=/tmp/mdbtest go test ./tailer/")
		}
	}
	return u
}

// forEach runs f for every backend as a subtest.
func forEach(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// moodleDB is a database holding a Moodle log table.
type moodleDB struct {
	kind   string
	admin  *sql.DB // full rights on the database, to write rows as Moodle does
	tail   string  // URL of a user that may only SELECT on the log table
	roUser string
	prefix string
	name   string
}

// Moodle's table as its XMLDB generators create it (admin/tool/log/store/standard/db/install.xml):
// int(10) is BIGINT, int(1) SMALLINT or TINYINT(1), char NOT NULL has DEFAULT ”, text is TEXT or
// LONGTEXT, the sequence a BIGSERIAL or AUTO_INCREMENT.
const pgTable = `CREATE TABLE %[1]slogstore_standard_log (
    id BIGSERIAL,
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
    realuserid BIGINT,
CONSTRAINT %[1]slogsstanlog_id_pk PRIMARY KEY (id));
CREATE INDEX %[1]slogsstanlog_tim_ix ON %[1]slogstore_standard_log (timecreated);
CREATE INDEX %[1]slogsstanlog_couanotim_ix ON %[1]slogstore_standard_log (courseid, anonymous, timecreated);
CREATE INDEX %[1]slogsstanlog_useconconcruedu_ix ON %[1]slogstore_standard_log (userid, contextlevel, contextinstanceid, crud, edulevel, timecreated);
CREATE INDEX %[1]slogsstanlog_con_ix ON %[1]slogstore_standard_log (contextid);`

const mysqlTable = `CREATE TABLE %[1]slogstore_standard_log (
  id BIGINT(10) NOT NULL AUTO_INCREMENT,
  eventname VARCHAR(255) NOT NULL DEFAULT '',
  component VARCHAR(100) NOT NULL DEFAULT '',
  action VARCHAR(100) NOT NULL DEFAULT '',
  target VARCHAR(100) NOT NULL DEFAULT '',
  objecttable VARCHAR(50) DEFAULT NULL,
  objectid BIGINT(10) DEFAULT NULL,
  crud VARCHAR(1) NOT NULL DEFAULT '',
  edulevel TINYINT(1) NOT NULL,
  contextid BIGINT(10) NOT NULL,
  contextlevel BIGINT(10) NOT NULL,
  contextinstanceid BIGINT(10) NOT NULL,
  userid BIGINT(10) NOT NULL,
  courseid BIGINT(10) DEFAULT NULL,
  relateduserid BIGINT(10) DEFAULT NULL,
  anonymous TINYINT(1) NOT NULL DEFAULT 0,
  other LONGTEXT COLLATE utf8mb4_unicode_ci,
  timecreated BIGINT(10) NOT NULL,
  origin VARCHAR(10) DEFAULT NULL,
  ip VARCHAR(45) DEFAULT NULL,
  realuserid BIGINT(10) DEFAULT NULL,
  PRIMARY KEY (id),
  KEY %[1]slogsstanlog_tim_ix (timecreated),
  KEY %[1]slogsstanlog_couanotim_ix (courseid, anonymous, timecreated),
  KEY %[1]slogsstanlog_useconconcruedu_ix (userid, contextlevel, contextinstanceid, crud, edulevel, timecreated),
  KEY %[1]slogsstanlog_con_ix (contextid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC COMMENT='Standard log table'`

// newMoodleDB creates a database with the log table under prefix and a SELECT-only user, both
// dropped when the test ends.
func newMoodleDB(tb testing.TB, b backend, prefix string) *moodleDB {
	tb.Helper()
	return newMoodleDBAt(tb, b.name, b.url(tb), prefix)
}

func newMoodleDBAt(tb testing.TB, kind, adminURL, prefix string) *moodleDB {
	tb.Helper()
	d := sitedbtest.New(tb, kind, adminURL, "mihls")
	table := pgTable
	if kind != tailer.Postgres {
		table = mysqlTable
	}
	sitedbtest.Exec(tb, d.Admin, fmt.Sprintf(table, prefix))
	d.GrantSelect(tb, prefix+"logstore_standard_log")
	return &moodleDB{kind: kind, admin: d.Admin, tail: d.ReaderURL, roUser: d.Reader, prefix: prefix, name: d.Name}
}

func mustParse(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// logRow is one row of logstore_standard_log as Moodle writes it; nil is SQL NULL.
type logRow struct {
	EventName, Component, Action, Target string
	ObjectTable                          *string
	ObjectID                             *int64
	CRUD                                 string
	EduLevel, ContextID, ContextLevel    int64
	ContextInstanceID, UserID            int64
	CourseID, RelatedUserID              *int64
	Anonymous                            int64
	Other                                *string
	TimeCreated                          int64
	Origin, IP                           *string
	RealUserID                           *int64
}

func sp(s string) *string { return &s }
func ip(n int64) *int64   { return &n }

func (r logRow) args() []any {
	return []any{r.EventName, r.Component, r.Action, r.Target, r.ObjectTable, r.ObjectID, r.CRUD,
		r.EduLevel, r.ContextID, r.ContextLevel, r.ContextInstanceID, r.UserID, r.CourseID,
		r.RelatedUserID, r.Anonymous, r.Other, r.TimeCreated, r.Origin, r.IP, r.RealUserID}
}

const insertCols = `eventname, component, action, target, objecttable, objectid, crud, edulevel, contextid,
	contextlevel, contextinstanceid, userid, courseid, relateduserid, anonymous, other, timecreated, origin, ip, realuserid`

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// insert writes rows in one multi-row INSERT, as Moodle's insert_records flushes its log buffer,
// and returns their ids.
func (m *moodleDB) insert(ctx context.Context, x execer, rows []logRow) ([]int64, error) {
	var q strings.Builder
	q.WriteString(`INSERT INTO ` + m.prefix + `logstore_standard_log (` + insertCols + `) VALUES `)
	args := make([]any, 0, len(rows)*20)
	for i, r := range rows {
		if i > 0 {
			q.WriteString(",")
		}
		q.WriteString("(")
		for j := range 20 {
			if j > 0 {
				q.WriteString(",")
			}
			if m.kind == tailer.Postgres {
				fmt.Fprintf(&q, "$%d", len(args)+j+1)
			} else {
				q.WriteString("?")
			}
		}
		q.WriteString(")")
		args = append(args, r.args()...)
	}
	// MariaDB 10.5 and PostgreSQL both return the ids they gave.
	q.WriteString(` RETURNING id`)
	res, err := x.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	ids := make([]int64, 0, len(rows))
	for res.Next() {
		var id int64
		if err := res.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, res.Err()
}

func (m *moodleDB) mustInsert(tb testing.TB, rows ...logRow) []int64 {
	tb.Helper()
	var all []int64
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), 1000)]
		rows = rows[len(chunk):]
		ids, err := m.insert(context.Background(), m.admin, chunk)
		if err != nil {
			tb.Fatal(err)
		}
		all = append(all, ids...)
	}
	return all
}

// hub is a real SQLite store with an ingester, as mih serve runs them.
type hub struct {
	store    mih.Store
	ingester *event.Ingester
	sink     *countingSink
}

func newHub(tb testing.TB) *hub {
	tb.Helper()
	st, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "mih.db"), storetest.NewBox(tb), sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return hubOn(st)
}

var hubSchemas atomic.Int64

// newHubPG is newHub on the hub's PostgreSQL store, in a schema of its own on the
// MIH_TEST_POSTGRES_URL server; it skips without one.
func newHubPG(tb testing.TB) *hub {
	tb.Helper()
	u := os.Getenv("MIH_TEST_POSTGRES_URL")
	if u == "" {
		tb.Skip("MIH_TEST_POSTGRES_URL is not set")
	}
	schema := fmt.Sprintf("mihhub_%d_%d", os.Getpid(), hubSchemas.Add(1))
	st, err := postgres.Open(tb.Context(), u, storetest.NewBox(tb), postgres.WithSchema(schema))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		st.Close()
		db, err := sql.Open("pgx", u)
		if err != nil {
			tb.Error(err)
			return
		}
		defer db.Close()
		if _, err := db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			tb.Error(err)
		}
	})
	return hubOn(st)
}

func hubOn(st mih.Store) *hub {
	in := event.NewIngester(event.Config{Store: st, Rules: rule.NewSet(st, slog.New(slog.DiscardHandler), time.Second)})
	return &hub{store: st, ingester: in, sink: &countingSink{next: in}}
}

// countingSink passes events on and counts what the store accepted and dropped.
type countingSink struct {
	next       tailer.Sink
	accepted   atomic.Int64
	duplicates atomic.Int64
	calls      atomic.Int64
}

func (c *countingSink) Ingest(ctx context.Context, source, site string, events []*mih.Event) (mih.IngestResult, error) {
	c.calls.Add(1)
	res, err := c.next.Ingest(ctx, source, site, events)
	if err == nil {
		c.accepted.Add(int64(res.Accepted))
		c.duplicates.Add(int64(res.Duplicates))
	}
	return res, err
}

// events returns the ids of every stored event of a site.
func (h *hub) eventIDs(tb testing.TB, site string) map[string]bool {
	tb.Helper()
	ids := map[string]bool{}
	cursor := ""
	for {
		recs, next, err := h.store.FindEvents(context.Background(), mih.EventFilter{Site: site, Limit: 1000, Cursor: cursor})
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range recs {
			if ids[r.ID] {
				tb.Fatalf("event %s listed twice", r.ID)
			}
			ids[r.ID] = true
		}
		if next == "" {
			return ids
		}
		cursor = next
	}
}

// running is a tailer running in a goroutine.
type running struct {
	t    *tailer.Tailer
	stop func()
}

// start runs a tailer until the returned stop is called (or the test ends).
func start(tb testing.TB, cfg tailer.Config, h *hub) *running {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(tb)
	}
	tl, err := tailer.New(cfg, h.store, h.sink)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("Run: %v", err)
				}
			case <-time.After(60 * time.Second):
				tb.Errorf("Run did not return within 60 s of its context ending")
			}
		})
	}
	tb.Cleanup(stop)
	return &running{t: tl, stop: stop}
}

// testLogger writes the tailer's log into the test's output only when it fails or runs -v.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// waitFor polls cond every 20 ms for at most limit.
func waitFor(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fastConfig is a tailer configuration for tests: quick polls and retries.
func fastConfig(site, dsn, prefix string) tailer.Config {
	return tailer.Config{
		Site: site, DSN: dsn, Prefix: prefix, Start: tailer.StartBeginning,
		PollInterval: 50 * time.Millisecond, BatchSize: 500, GapTimeout: time.Minute,
		RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, QueryTimeout: 10 * time.Second,
	}
}
