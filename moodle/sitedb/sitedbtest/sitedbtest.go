// Package sitedbtest makes throwaway databases shaped like a Moodle site's, for the tests of
// what reads one (the log store tailer, the course sync's plan): a new database on a PostgreSQL
// or MariaDB server the test script started, the admin's handle on it to create Moodle's tables
// and write rows as Moodle does, and a user that may only SELECT what it is granted — the
// account an administrator gives the hub. Both are dropped when the test ends.
package sitedbtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/mihhub/mih/moodle/sitedb"
)

// DB is a database made for one test.
type DB struct {
	Kind  string  // sitedb.Postgres or sitedb.MySQL
	Name  string  // the database's name
	Admin *sql.DB // full rights on the database
	// Reader is the name of the SELECT-only user, and ReaderURL its URL of the database.
	Reader, ReaderURL string
	grantee           string // Reader as GRANT names it
}

var seq atomic.Int64

// New creates a database named prefix_PID_N on the server at adminURL (postgres:// or
// mysql://, with rights to create databases and users) and a reader without any grant yet.
func New(tb testing.TB, kind, adminURL, prefix string) *DB {
	tb.Helper()
	n := seq.Add(1)
	name := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), n)
	d := &DB{Kind: kind, Name: name, Reader: name + "_ro", grantee: name + "_ro"}
	pass := fmt.Sprintf("ro-Secret-%d!", n)
	server := Open(tb, kind, adminURL)
	defer server.Close()
	if kind == sitedb.Postgres {
		Exec(tb, server, `CREATE DATABASE `+name)
		Exec(tb, server, `CREATE ROLE `+d.Reader+` LOGIN PASSWORD '`+pass+`'`)
	} else {
		d.grantee = "'" + d.Reader + "'@'127.0.0.1'"
		Exec(tb, server, `CREATE DATABASE `+name+` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`)
		Exec(tb, server, `CREATE USER `+d.grantee+` IDENTIFIED BY '`+pass+`'`)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	d.Admin = Open(tb, kind, u.String())
	u.User = url.UserPassword(d.Reader, pass)
	d.ReaderURL = u.String()
	tb.Cleanup(func() {
		d.Admin.Close()
		db := Open(tb, kind, adminURL)
		defer db.Close()
		if kind == sitedb.Postgres {
			Exec(tb, db, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
			Exec(tb, db, `DROP ROLE IF EXISTS `+d.Reader)
		} else {
			Exec(tb, db, `DROP DATABASE IF EXISTS `+name)
			Exec(tb, db, `DROP USER IF EXISTS `+d.grantee)
		}
	})
	return d
}

// GrantSelect lets the reader SELECT from tables, or from every table there is when none is
// named.
func (d *DB) GrantSelect(tb testing.TB, tables ...string) {
	tb.Helper()
	switch {
	case len(tables) == 0 && d.Kind == sitedb.Postgres:
		Exec(tb, d.Admin, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO `+d.grantee)
	case len(tables) == 0:
		Exec(tb, d.Admin, `GRANT SELECT ON `+d.Name+`.* TO `+d.grantee)
	}
	for _, t := range tables {
		if d.Kind != sitedb.Postgres {
			t = d.Name + "." + t
		}
		Exec(tb, d.Admin, `GRANT SELECT ON `+t+` TO `+d.grantee)
	}
}

// Open opens a database/sql handle on a postgres:// or mysql:// URL, for the test's own use
// (several statements per Exec allowed on MySQL).
func Open(tb testing.TB, kind, raw string) *sql.DB {
	tb.Helper()
	var db *sql.DB
	var err error
	if kind == sitedb.Postgres {
		db, err = sql.Open("pgx", raw)
	} else {
		var u *url.URL
		if u, err = url.Parse(raw); err == nil {
			cfg := mysql.NewConfig()
			cfg.User = u.User.Username()
			cfg.Passwd, _ = u.User.Password()
			cfg.Net, cfg.Addr, cfg.DBName = "tcp", u.Host, strings.TrimPrefix(u.Path, "/")
			cfg.MultiStatements = true
			var c driver.Connector
			if c, err = mysql.NewConnector(cfg); err == nil {
				db = sql.OpenDB(c)
			}
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(20)
	return db
}

// Exec runs q, failing the test on an error, which names the statement's first line.
func Exec(tb testing.TB, db *sql.DB, q string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, q, args...); err != nil {
		tb.Fatalf("%s: %v", strings.SplitN(q, "\n", 2)[0], err)
	}
}
