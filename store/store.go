// Package store implements mih.Store once, over database/sql, for every database the hub runs
// on. Packages store/sqlite and store/postgres open the connections, run their migrations and
// describe their database with a Dialect; everything else, the SQL included, is shared here.
//
// The SQL is written with ? placeholders and the subset both databases understand: INSERT … ON
// CONFLICT, UPDATE … FROM (VALUES …), RETURNING. Times are stored as Unix microseconds (UTC) in
// integer columns, so that comparisons, indexes and round trips behave the same everywhere.
// Secrets of services are sealed with a mih.SecretBox before they reach the database.
//
// The hot paths are batched so that statements per event stay far below one: CreateEvents writes a
// batch with multi-row INSERTs per table, ClaimDeliveries is one UPDATE … RETURNING, and
// CompleteDeliveries multi-row UPDATE … FROM (VALUES …) plus INSERTs for attempts and log entries.
// Their statements are prepared once per connection, multi-row ones in a few fixed sizes (see
// prepared.go): 100 rows are three statements (64 + 32 + 4) that are never parsed again.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/mihhub/mih"
)

// Constraint is the kind of integrity constraint a statement violated.
type Constraint int

// Constraint kinds the store reacts to; any other violation is an internal error.
const (
	NoConstraint Constraint = iota
	UniqueConstraint
	ForeignKeyConstraint
)

// Dialect describes what differs between the databases the store runs on.
type Dialect struct {
	// NumberedParams is set when the driver wants $1, $2, … instead of ? (PostgreSQL).
	NumberedParams bool
	// MaxParams bounds the bind parameters of one statement (SQLite allows 32766, the PostgreSQL
	// protocol 65535); the largest prepared multi-row statement must stay under it.
	MaxParams int
	// SkipLocked is set when the claim's inner SELECT can take row locks FOR UPDATE SKIP LOCKED, so
	// that concurrent claimers pass each other by. Without it (SQLite) claims rely on the database
	// running one writer at a time.
	SkipLocked bool
	// ClaimFrom is the table the claim's inner SELECT reads, with any index hint the database
	// needs to walk the due index (deliveries_due) in order rather than sort the whole backlog.
	ClaimFrom string
	// Violation reports which constraint err violated, from the driver's error code (SQLite's
	// extended result code, PostgreSQL's SQLSTATE), never from the message text.
	Violation func(err error) Constraint
}

// Config is what New needs.
type Config struct {
	Dialect Dialect
	// DB takes every write. With SQLite it is a single connection running IMMEDIATE transactions.
	DB *sql.DB
	// ReadDB serves reads that need not see the caller's own uncommitted work; nil means DB.
	ReadDB *sql.DB
	// Box seals service secrets at rest.
	Box mih.SecretBox
	// Now stamps created_at and updated_at; nil means time.Now.
	Now func() time.Time
	// Migrations and MigrationDialect are the schema migrations the database was brought up to
	// date with; SchemaVersion compares the database against them (nil: it reports an error).
	Migrations       fs.FS
	MigrationDialect goose.Dialect
}

// Store is the mih.Store over a SQL database.
type Store struct {
	db      *sql.DB
	read    *sql.DB
	dialect Dialect
	box     mih.SecretBox
	now     func() time.Time
	// migrations and migrationDialect: see Config.
	migrations       fs.FS
	migrationDialect goose.Dialect
	// queries caches the dialect's text of every statement, keyed by its ? text or a bulkKey, so
	// that rebinding and building multi-row statements happen once per shape.
	queries sync.Map
	// hotStmts holds the prepared statements of the hot paths once prepared (see hot); hotMu
	// makes preparing them happen once.
	hotStmts atomic.Pointer[hotStmts]
	hotMu    sync.Mutex
}

var _ mih.Store = (*Store)(nil)

// New returns a store over the given connections. The store owns them: Close closes them.
func New(c Config) (*Store, error) {
	d := c.Dialect
	if c.DB == nil || c.Box == nil || d.Violation == nil || d.MaxParams <= 0 || d.ClaimFrom == "" {
		return nil, errors.New("store: DB, Box, Dialect.Violation, Dialect.MaxParams and Dialect.ClaimFrom are required")
	}
	s := &Store{db: c.DB, read: c.ReadDB, dialect: c.Dialect, box: c.Box, now: c.Now,
		migrations: c.Migrations, migrationDialect: c.MigrationDialect}
	if s.read == nil {
		s.read = s.db
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Close closes the store's connections.
func (s *Store) Close() error {
	var err error
	if h := s.hotStmts.Load(); h != nil {
		err = h.close()
	}
	err = errors.Join(err, s.db.Close())
	if s.read != s.db {
		err = errors.Join(err, s.read.Close())
	}
	return err
}

// Ping checks that the database answers, for health checks.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx share, so that helpers run inside or outside a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	return q.ExecContext(ctx, s.sql(query), args...)
}

func (s *Store) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	return q.QueryContext(ctx, s.sql(query), args...)
}

func (s *Store) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, s.sql(query), args...)
}

// execCount runs a statement and reports how many rows it changed.
func (s *Store) execCount(ctx context.Context, q querier, query string, args ...any) (int, error) {
	res, err := s.exec(ctx, q, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// sql returns query in the dialect's placeholder style.
func (s *Store) sql(query string) string {
	if !s.dialect.NumberedParams {
		return query
	}
	if v, ok := s.queries.Load(query); ok {
		return v.(string)
	}
	q := numberParams(query)
	s.queries.Store(query, q)
	return q
}

// dyn returns a query built at run time (filters, IN lists) in the dialect's style, without caching
// it: such texts vary too much to keep.
func (s *Store) dyn(query string) string {
	if !s.dialect.NumberedParams {
		return query
	}
	return numberParams(query)
}

// numberParams turns each ? outside string literals into $1, $2, ….
func numberParams(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// bulkKey names the shape of a multi-row statement.
type bulkKey struct {
	head, row, tail string
	rows            int
}

// bulk returns head + rows copies of row joined by commas + tail, in the dialect's style.
func (s *Store) bulk(head, row, tail string, rows int) string {
	k := bulkKey{head, row, tail, rows}
	if v, ok := s.queries.Load(k); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(head) + rows*(len(row)+1) + len(tail))
	b.WriteString(head)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	q := b.String()
	if s.dialect.NumberedParams {
		q = numberParams(q)
	}
	s.queries.Store(k, q)
	return q
}

// inTx runs fn in a write transaction and commits when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// dbError translates the driver errors callers may act on: "no rows" becomes CodeNotFound and a
// unique violation CodeConflict, with what ("service \"x\"") in the message.
func (s *Store) dbError(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return mih.Errorf(mih.CodeNotFound, "%s not found", what)
	}
	if s.dialect.Violation(err) == UniqueConstraint {
		return mih.WrapError(mih.CodeConflict, err, "%s already exists", what)
	}
	return err
}

// placeholders returns "?,?,…" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// micros is how times are stored: Unix microseconds, which every database compares exactly.
func micros(t time.Time) int64 { return t.UnixMicro() }

// fromMicros reads a stored time back, always in UTC.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros stores a zero time as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// round is what a time reads back as once stored.
func round(t time.Time) time.Time { return fromMicros(micros(t)) }

// Listing limits (docs/api.md, Conventions).
const (
	defaultLimit = 100
	maxLimit     = 1000
)

func limit(n int) int {
	if n <= 0 {
		return defaultLimit
	}
	return min(n, maxLimit)
}

// parseCursor reads a cursor: the decimal id (or seq) of the last item of the previous page, or
// "" for the first page, which it reports as 0.
func parseCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil || n <= 0 {
		return 0, mih.Errorf(mih.CodeInvalid, "cursor %q: not a cursor this list returned", c)
	}
	return n, nil
}

// nextCursor returns the cursor after last when the page was full, "" at the end.
func nextCursor(more bool, last int64) string {
	if !more {
		return ""
	}
	return strconv.FormatInt(last, 10)
}

// where collects the conditions and arguments of a filtered query.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// scanAll reads every row with scan and closes rows; none is an empty slice, never nil, so that
// lists answer [] rather than null.
func scanAll[T any](rows *sql.Rows, scan func(row interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
