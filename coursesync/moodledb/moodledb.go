// Package moodledb opens a Moodle site's database for reading, from the site's db URL, on
// PostgreSQL (pgx) or MySQL/MariaDB (go-sql-driver/mysql). It is apart from package coursesync so
// that what only plans or queues sync runs (the API, the web UI) does not link the drivers;
// the processes that run syncs hand its connections to coursesync.NewMoodleDB.
package moodledb

import (
	"database/sql"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mihhub/mih"
)

const (
	connectTimeout  = 10 * time.Second
	applicationName = "mih-coursesync"
)

// Conn is an open pool on a site's database.
type Conn struct {
	DB       *sql.DB
	Postgres bool   // PostgreSQL's placeholders ($1), else MySQL's (?)
	Password string // the URL's password, for callers to scrub from errors
}

// Open opens a site's database URL — postgres://… (any parameter pgx takes, like sslmode or
// search_path) or mysql://user:pass@host:port/db?params (go-sql-driver/mysql's parameters). A
// read-only user is enough. Errors never quote the URL's password.
func Open(raw string) (*Conn, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return nil, mih.Errorf(mih.CodeInvalid, "db: want a postgres://… or mysql://… URL")
	}
	pass, _ := u.User.Password()
	c := &Conn{Password: pass}
	switch strings.ToLower(u.Scheme) {
	case "postgres", "postgresql":
		cfg, err := pgx.ParseConfig(raw)
		if err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "db: not a valid PostgreSQL URL")
		}
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = connectTimeout
		}
		if _, ok := cfg.RuntimeParams["application_name"]; !ok {
			cfg.RuntimeParams["application_name"] = applicationName
		}
		c.Postgres = true
		c.DB = sql.OpenDB(stdlib.GetConnector(*cfg))
	case "mysql", "mariadb":
		q := u.Query()
		socket := q.Get("socket")
		q.Del("socket")
		cfg, err := mysql.ParseDSN("/?" + q.Encode())
		if err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "db: %s", scrub(err.Error(), pass))
		}
		cfg.User = u.User.Username()
		cfg.Passwd = pass
		cfg.DBName = strings.TrimPrefix(u.Path, "/")
		switch {
		case cfg.DBName == "":
			return nil, mih.Errorf(mih.CodeInvalid, "db: the MySQL URL names no database")
		case socket != "":
			cfg.Net, cfg.Addr = "unix", socket
		default:
			port := u.Port()
			if port == "" {
				port = "3306"
			}
			cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(u.Hostname(), port)
		}
		if cfg.Timeout == 0 {
			cfg.Timeout = connectTimeout
		}
		cfg.InterpolateParams = true
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "db: %s", scrub(err.Error(), pass))
		}
		c.DB = sql.OpenDB(conn)
	default:
		return nil, mih.Errorf(mih.CodeInvalid, "db: scheme %q: want postgres or mysql", u.Scheme)
	}
	c.DB.SetMaxOpenConns(4)
	c.DB.SetConnMaxIdleTime(time.Minute)
	return c, nil
}

func scrub(s, password string) string {
	if len(password) < 4 {
		return s
	}
	for _, p := range []string{password, url.QueryEscape(password), url.PathEscape(password)} {
		s = strings.ReplaceAll(s, p, "xxxxx")
	}
	return s
}
