// Package sqlite opens the hub's embedded store: one SQLite file, through the pure-Go driver
// modernc.org/sqlite, serving the shared store.Store.
//
// How it differs from PostgreSQL:
//
//   - One writer. SQLite serialises writers on the whole file, so every write goes through one
//     connection whose transactions begin IMMEDIATE: they take the write lock up front, so a
//     read-then-write transaction never fails half-way with SQLITE_BUSY, and writers queue in Go
//     rather than spinning in busy_timeout. Reads use a separate pool and, with WAL, never wait for
//     the writer. The store therefore serves one process: do not point two `mih serve` at one file.
//   - No SKIP LOCKED. A claim is a single UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …; the
//     single writer makes it exclusive without row locks. Its SELECT names the due index
//     (INDEXED BY), which the planner would otherwise pass over for the state index.
//   - No LISTEN/NOTIFY. Workers poll for due deliveries.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a commit is on disk (fsync of
// the WAL) before CreateEvents returns, and an ingest answered 202 survives a power cut. Batching
// makes this cheap: a commit covers a whole ingest batch, claim or completion batch. Measured on a
// 2-core machine at 100 events per call (storetest.Bench), both ingest about 50k events/s, and
// ingest plus claim plus completion runs at 18k events/s with FULL against 21k with NORMAL. With
// synchronous=NORMAL (WithSynchronous) commits survive a crash of the process but the last ones
// can be lost with the machine's power; the database stays consistent either way.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/store"
)

//go:embed migration/*.sql
var migrations embed.FS

// dialect describes SQLite to the shared store.
func dialect() store.Dialect {
	return store.Dialect{
		MaxParams: 32766, // SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32
		// Without statistics the planner would rather read every pending delivery through the
		// state index and sort them, which grows with the backlog; the due index is already in
		// claim order and lets the LIMIT stop the scan.
		ClaimFrom: "deliveries INDEXED BY deliveries_due",
		Violation: violation,
	}
}

func violation(err error) store.Constraint {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return store.NoConstraint
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return store.UniqueConstraint
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return store.ForeignKeyConstraint
	}
	return store.NoConstraint
}

type config struct {
	now         func() time.Time
	synchronous string
	readConns   int
}

// Option tunes Open.
type Option func(*config)

// WithNow sets the clock that stamps created_at and updated_at (tests).
func WithNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithSynchronous sets PRAGMA synchronous: "FULL" (the default) or "NORMAL" (see the package
// comment for what it trades).
func WithSynchronous(mode string) Option { return func(c *config) { c.synchronous = mode } }

// WithReadConns sets how many connections serve reads (default: the number of CPUs, at least 2).
func WithReadConns(n int) Option { return func(c *config) { c.readConns = n } }

// Open opens (creating it if needed) the database file at path, brings its schema up to date and
// returns the store. Close it when done.
func Open(ctx context.Context, path string, box mih.SecretBox, opts ...Option) (*store.Store, error) {
	c := config{synchronous: "FULL", readConns: max(2, runtime.GOMAXPROCS(0))}
	for _, o := range opts {
		o(&c)
	}
	c.synchronous = strings.ToUpper(c.synchronous)
	switch c.synchronous {
	case "FULL", "NORMAL":
	default:
		return nil, fmt.Errorf("open sqlite: synchronous %q: want FULL or NORMAL", c.synchronous)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// Create the file ourselves so that it, and the -wal and -shm files SQLite derives from it,
	// are for the owner only: they hold token hashes and sealed secrets.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	_ = f.Close()
	write, err := openDB(ctx, dsn(abs, "journal_mode(WAL)", "synchronous("+c.synchronous+")"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and the pool is the queue.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)
	var read *sql.DB
	fail := func(err error) (*store.Store, error) {
		_ = write.Close()
		if read != nil {
			_ = read.Close()
		}
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sub, err := fs.Sub(migrations, "migration")
	if err != nil {
		return fail(err)
	}
	if err := store.Migrate(ctx, write, goose.DialectSQLite3, sub); err != nil {
		return fail(err)
	}
	// query_only guards against a write slipping onto a reader, which would contend for the lock.
	if read, err = openDB(ctx, dsn(abs, "query_only(1)")); err != nil {
		return fail(err)
	}
	read.SetMaxOpenConns(c.readConns)
	read.SetMaxIdleConns(c.readConns)
	s, err := store.New(store.Config{Dialect: dialect(), DB: write, ReadDB: read, Box: box, Now: c.now,
		Migrations: sub, MigrationDialect: goose.DialectSQLite3})
	if err != nil {
		return fail(err)
	}
	return s, nil
}

// dsn names the database file at the absolute path abs, with the pragmas every connection runs
// and then pragmas. A file: URI lets any path through (SQLite decodes its %-escapes); the
// underscore parameters are the driver's and apply to every connection of the pool.
//
// temp_store(MEMORY) keeps statement journals in memory: a multi-row INSERT or UPDATE inside a
// transaction writes one to undo itself alone should it fail half-way, and past 64 KiB SQLite
// spills it to a temporary file — opened, written and deleted for most of the hub's batches,
// which was 40 % of its write calls (docs/benchmarks.md). The journals are bounded by a batch.
func dsn(abs string, pragmas ...string) string {
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q["_pragma"] = append([]string{"busy_timeout(10000)", "foreign_keys(1)", "temp_store(MEMORY)"}, pragmas...)
	return (&url.URL{Scheme: "file", OmitHost: true, Path: abs, RawQuery: q.Encode()}).String()
}

func openDB(ctx context.Context, dsn string) (*sql.DB, error) {
	conn, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}
