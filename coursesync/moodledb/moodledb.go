// Package moodledb opens a Moodle site's database for reading, from the site's db URL, on
// PostgreSQL (pgx) or MySQL/MariaDB (go-sql-driver/mysql). It is apart from package coursesync so
// that what only plans or queues sync runs (the API, the web UI) does not link the drivers;
// the processes that run syncs hand its connections to coursesync.NewMoodleDB.
package moodledb

import (
	"database/sql"
	"time"

	"github.com/mihhub/mih/moodle/sitedb"
)

// Conn is an open pool on a site's database.
type Conn struct {
	DB       *sql.DB
	Postgres bool   // PostgreSQL's placeholders ($1), else MySQL's (?)
	Password string // the URL's password, for callers to scrub from errors
}

// Open opens a site's database URL as package sitedb reads it (the log store tailer reads the
// same URL the same way): postgres://… or mysql://user:pass@host:port/db?params, a password
// never sent in clear to another machine, errors that never quote it. A read-only user is
// enough.
func Open(raw string) (*Conn, error) {
	d, err := sitedb.Parse(raw, "mih-coursesync")
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(d.Connector)
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	return &Conn{DB: db, Postgres: d.Kind == sitedb.Postgres, Password: d.Password}, nil
}
