// Package sitedb reads a Moodle site's database URL — postgres://… or mysql://… — into a
// connector, for the log store tailer and the course sync's reads: one parser, so that both keep
// a password off the network in clear and out of every error the same way.
package sitedb

import (
	"database/sql/driver"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/redact"
)

// Database kinds.
const (
	Postgres = "postgres"
	MySQL    = "mysql" // MySQL and MariaDB
)

// connectTimeout bounds a connection attempt when the URL does not say.
const connectTimeout = 10 * time.Second

// DB is a parsed site database URL: how to connect, and how to name it without the password.
type DB struct {
	Kind      string // Postgres or MySQL
	Connector driver.Connector
	// Redacted is the URL with its password replaced, for logs and status.
	Redacted string
	// Password is scrubbed from every driver error before it is logged or shown (redact.Password).
	Password string
	// Source names the database (kind, address, database name), e.g. in the tailer's saved
	// cursor, so that a cursor is never applied to another database's log table.
	Source string
}

// Parse reads a site's db URL: postgres://… or postgresql://… (pgx, any parameter pgx
// takes, e.g. sslmode or search_path for a Moodle in another schema), or
// mysql://user:pass@host:port/db?params for MySQL and MariaDB (params are go-sql-driver/mysql's
// DSN parameters, e.g. tls=true; socket=/path connects over a Unix socket instead of TCP).
//
// application names the connections on PostgreSQL (application_name, unless the URL sets one).
// Errors never contain the URL: url.Parse and the drivers quote it, password included.
func Parse(raw, application string) (*DB, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return nil, mih.Errorf(mih.CodeInvalid, "db: want a postgres://… or mysql://… URL")
	}
	pass, _ := u.User.Password()
	db := &DB{Password: pass, Redacted: u.Redacted()}
	switch strings.ToLower(u.Scheme) {
	case "postgres", "postgresql":
		cfg, err := pgx.ParseConfig(raw)
		if err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "db: not a valid PostgreSQL URL: %s", redact.Password(errText(err), pass))
		}
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = connectTimeout
		}
		if err := pgNoCleartext(cfg, pass); err != nil {
			return nil, err
		}
		if _, ok := cfg.RuntimeParams["application_name"]; !ok {
			cfg.RuntimeParams["application_name"] = application
		}
		db.Kind = Postgres
		db.Connector = stdlib.GetConnector(*cfg)
		db.Source = "postgres://" + net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))) + "/" + cfg.Database
		if sp := cfg.RuntimeParams["search_path"]; sp != "" {
			db.Source += "?search_path=" + sp
		}
	case "mysql", "mariadb":
		cfg, err := mysqlConfig(u)
		if err != nil {
			return nil, err
		}
		if pass != "" && cfg.Net == "tcp" && !loopback(u.Hostname()) && (cfg.TLS == nil || cfg.AllowFallbackToPlaintext) {
			return nil, mih.Errorf(mih.CodeInvalid, "db: the password would travel in clear to %s: add tls=true (or tls=skip-verify) to the URL, or connect over loopback", u.Hostname())
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "db: %s", redact.Password(errText(err), pass))
		}
		db.Kind = MySQL
		db.Connector = conn
		db.Source = "mysql://" + cfg.Addr + "/" + cfg.DBName
	default:
		return nil, mih.Errorf(mih.CodeInvalid, "db: scheme %q: want postgres or mysql", u.Scheme)
	}
	return db, nil
}

// mysqlConfig translates mysql://user:pass@host:port/db?params into the driver's configuration.
// The parameters go through the driver's own DSN parser; user, password, address and database
// are set as fields, so that no character of theirs can be misread as DSN syntax.
func mysqlConfig(u *url.URL) (*mysql.Config, error) {
	q := u.Query()
	socket := q.Get("socket")
	q.Del("socket")
	_, interpolate := q["interpolateParams"]
	cfg, err := mysql.ParseDSN("/?" + q.Encode())
	if err != nil {
		pass, _ := u.User.Password()
		return nil, mih.Errorf(mih.CodeInvalid, "db: %s", redact.Password(errText(err), pass))
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" {
		return nil, mih.Errorf(mih.CodeInvalid, "db: the MySQL URL names no database (mysql://user:pass@host:port/moodle)")
	}
	switch {
	case socket != "":
		cfg.Net, cfg.Addr = "unix", socket
	case u.Hostname() == "":
		return nil, mih.Errorf(mih.CodeInvalid, "db: the MySQL URL names no host")
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
	// Our only parameters are integers; interpolating them saves the prepare and close round
	// trips of a server-side statement on every poll.
	if !interpolate {
		cfg.InterpolateParams = true
	}
	return cfg, nil
}

// errText is an error's text for a message; the caller scrubs the password from it. pgx's
// ParseConfigError quotes the connection string (redacted on a best-effort basis only), so its
// cause is preferred when it has one.
func errText(err error) string {
	if e, ok := err.(interface{ Unwrap() error }); ok && e.Unwrap() != nil {
		return e.Unwrap().Error()
	}
	return err.Error()
}

// loopback reports whether host is this machine: the only place a database password may travel
// without TLS.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// pgNoCleartext keeps a PostgreSQL password off the network in clear: to a host other than
// loopback or a Unix socket, connections go over TLS only. sslmode=prefer (pgx's default) and
// allow lose their plain-text fallbacks; sslmode=disable is refused.
func pgNoCleartext(cfg *pgx.ConnConfig, pass string) error {
	if pass == "" {
		return nil
	}
	local := func(host string) bool { return strings.HasPrefix(host, "/") || loopback(host) }
	if cfg.TLSConfig == nil && !local(cfg.Host) {
		return mih.Errorf(mih.CodeInvalid, "db: the password would travel in clear to %s: use sslmode=require (or verify-full), or connect over loopback", cfg.Host)
	}
	kept := cfg.Fallbacks[:0]
	for _, f := range cfg.Fallbacks {
		if f.TLSConfig != nil || local(f.Host) {
			kept = append(kept, f)
		}
	}
	cfg.Fallbacks = kept
	return nil
}
