// Package postgres opens the hub's store on PostgreSQL, through pgx's database/sql adapter, serving
// the shared store.Store. Several `mih serve` processes may share one database: claims take
// rows FOR UPDATE SKIP LOCKED, so workers of every process pass each other by, and migrations run
// under a session advisory lock, so concurrent starts migrate once.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/crc64"
	"io/fs"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/store"
)

//go:embed migration/*.sql
var migrations embed.FS

// SQLSTATE codes the store reacts to.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

func dialect() store.Dialect {
	return store.Dialect{
		NumberedParams: true,
		MaxParams:      65535, // the protocol counts parameters in 16 bits
		SkipLocked:     true,
		ClaimFrom:      "deliveries",
		Violation:      violation,
	}
}

func violation(err error) store.Constraint {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return store.NoConstraint
	}
	switch e.Code {
	case uniqueViolation:
		return store.UniqueConstraint
	case foreignKeyViolation:
		return store.ForeignKeyConstraint
	}
	return store.NoConstraint
}

type config struct {
	now      func() time.Time
	schema   string
	maxConns int
}

// Option tunes Open.
type Option func(*config)

// WithNow sets the clock that stamps created_at and updated_at (tests).
func WithNow(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithSchema keeps the hub's tables, and goose's version table, in the named schema (created if
// missing) by setting search_path on every connection. Tests give each test a schema of its own.
func WithSchema(name string) Option { return func(c *config) { c.schema = name } }

// WithMaxConns bounds the connection pool (default 10: a handful of ingest requests, the claim
// and completion of each worker group, and reads).
func WithMaxConns(n int) Option { return func(c *config) { c.maxConns = n } }

var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to the database at url (a postgres:// URL or a key=value DSN), brings its schema
// up to date and returns the store. Close it when done.
func Open(ctx context.Context, url string, box mih.SecretBox, opts ...Option) (*store.Store, error) {
	c := config{maxConns: 10}
	for _, o := range opts {
		o(&c)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("open postgres: cannot parse the database URL")
	}
	if c.schema != "" {
		if !schemaRE.MatchString(c.schema) {
			return nil, fmt.Errorf("open postgres: schema %q: want a lowercase SQL identifier", c.schema)
		}
		cfg.RuntimeParams["search_path"] = c.schema
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(c.maxConns)
	db.SetMaxIdleConns(c.maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	fail := func(err error) (*store.Store, error) {
		_ = db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		return fail(err)
	}
	if c.schema != "" {
		// IF NOT EXISTS still races: a process starting alongside may create it first.
		_, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+c.schema)
		if err != nil && violation(err) != store.UniqueConstraint {
			return fail(err)
		}
	}
	// The advisory lock is per database: one id per schema lets schemas migrate side by side.
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(crc64.Checksum([]byte("mih:"+c.schema), crc64.MakeTable(crc64.ECMA))>>1)),
		lock.WithLockTimeout(1, 300))
	if err != nil {
		return fail(err)
	}
	sub, err := fs.Sub(migrations, "migration")
	if err != nil {
		return fail(err)
	}
	if err := store.Migrate(ctx, db, goose.DialectPostgres, sub, goose.WithSessionLocker(locker)); err != nil {
		return fail(err)
	}
	s, err := store.New(store.Config{Dialect: dialect(), DB: db, Box: box, Now: c.now,
		Migrations: sub, MigrationDialect: goose.DialectPostgres})
	if err != nil {
		return fail(err)
	}
	return s, nil
}
