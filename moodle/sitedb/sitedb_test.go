package sitedb

import (
	"net/url"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/mihhub/mih"
)

func TestParseDatabase(t *testing.T) {
	tests := []struct {
		name, dsn  string
		kind       string
		source     string
		redacted   string
		errContain string
	}{
		{"postgres", "postgres://moodle:pw@db.example.edu:5433/moodle?sslmode=require", Postgres,
			"postgres://db.example.edu:5433/moodle", "postgres://moodle:xxxxx@db.example.edu:5433/moodle?sslmode=require", ""},
		{"postgres loopback in clear", "postgres://moodle:pw@127.0.0.1:5433/moodle?sslmode=disable", Postgres,
			"postgres://127.0.0.1:5433/moodle", "", ""},
		{"postgres prefer keeps TLS only", "postgres://moodle:pw@db.example.edu/moodle", Postgres, "postgres://db.example.edu:5432/moodle", "", ""},
		{"postgres password in clear", "postgres://moodle:Secret-123@db.example.edu/moodle?sslmode=disable", "", "", "", "travel in clear"},
		{"mysql password in clear", "mysql://moodle:Secret-123@db.example.edu/moodle", "", "", "", "travel in clear"},
		{"mysql preferred TLS falls back to clear", "mysql://moodle:Secret-123@db.example.edu/moodle?tls=preferred", "", "", "", "travel in clear"},
		{"mysql loopback in clear", "mysql://moodle:pw@localhost/moodle", MySQL, "mysql://localhost:3306/moodle", "", ""},
		{"postgresql and a schema", "postgresql://moodle@db/moodle?search_path=lms", Postgres,
			"postgres://db:5432/moodle?search_path=lms", "postgresql://moodle@db/moodle?search_path=lms", ""},
		{"mysql", "mysql://moodle:p%40ss@db.example.edu:3307/moodle?tls=skip-verify", MySQL,
			"mysql://db.example.edu:3307/moodle", "mysql://moodle:xxxxx@db.example.edu:3307/moodle?tls=skip-verify", ""},
		{"mariadb default port", "mariadb://moodle:pw@db/moodle?tls=true", MySQL, "mysql://db:3306/moodle", "", ""},
		{"mysql socket", "mysql://moodle:pw@localhost/moodle?socket=/run/mysqld/mysqld.sock", MySQL,
			"mysql:///run/mysqld/mysqld.sock/moodle", "", ""},
		{"mysql without database", "mysql://moodle:pw@db:3306/", "", "", "", "names no database"},
		{"mysql bad parameter", "mysql://moodle:pw@db/moodle?readTimeout=soon", "", "", "", "db:"},
		{"unknown scheme", "oracle://u:pw@db/moodle", "", "", "", "want postgres or mysql"},
		{"not a URL", "host=db user=moodle", "", "", "", "want a postgres"},
		{"bad port keeps the password out", "postgres://u:Secret-123@db:notaport/moodle", "", "", "", "db:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Parse(tc.dsn, "mih-test")
			if tc.errContain != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContain) || mih.ErrorCode(err) != mih.CodeInvalid {
					t.Fatalf("got %v, want an invalid error containing %q", err, tc.errContain)
				}
				if strings.Contains(err.Error(), "Secret-123") {
					t.Fatalf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if db.Kind != tc.kind || db.Source != tc.source {
				t.Errorf("got %s %s, want %s %s", db.Kind, db.Source, tc.kind, tc.source)
			}
			if tc.redacted != "" && db.Redacted != tc.redacted {
				t.Errorf("redacted %s, want %s", db.Redacted, tc.redacted)
			}
		})
	}
}

func TestMySQLConfig(t *testing.T) {
	// Characters that mean something in the driver's own DSN syntax, in the user and password.
	u, err := url.Parse("mysql://mo%3Ao:p%40ss%3Aw%2Frd@db:3307/moodle?timeout=3s")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := mysqlConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	want := mysql.NewConfig()
	if cfg.User != "mo:o" || cfg.Passwd != "p@ss:w/rd" || cfg.Addr != "db:3307" || cfg.DBName != "moodle" ||
		cfg.Net != "tcp" || cfg.Timeout.String() != "3s" || !cfg.InterpolateParams || cfg.Collation != want.Collation {
		t.Errorf("got %+v", cfg)
	}
}
