package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/store/postgres"
	"github.com/mihhub/mih/store/storetest"
)

// schemas numbers the schemas of this test process; the pid keeps concurrent runs apart.
var schemas atomic.Int64

// open returns a store in a fresh schema, dropped when the test ends. It skips without
// MIH_TEST_POSTGRES_URL (scripts/postgres.sh start DIR prints one).
func open(tb testing.TB) (mih.Store, string) {
	tb.Helper()
	url := serverURL(tb)
	schema := fmt.Sprintf("mihtest_%d_%d", os.Getpid(), schemas.Add(1))
	s, err := postgres.Open(tb.Context(), url, storetest.NewBox(tb), postgres.WithSchema(schema))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		s.Close()
		db := rawDB(tb)
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			tb.Error(err)
		}
	})
	return s, schema
}

// serverURL returns the test server's URL, or skips.
func serverURL(tb testing.TB) string {
	url := os.Getenv("MIH_TEST_POSTGRES_URL")
	if url == "" {
		tb.Skip("MIH_TEST_POSTGRES_URL is not set; start a server with: url=$(scripts/postgres.sh start /tmp/pgtest) && MIH_TEST_POSTGRES_URL=$url go test ./store/...")
	}
	return url
}

// rawDB connects to the test server directly, past the store.
func rawDB(tb testing.TB) *sql.DB {
	cfg, err := pgx.ParseConfig(os.Getenv("MIH_TEST_POSTGRES_URL"))
	if err != nil {
		tb.Fatal(err)
	}
	return stdlib.OpenDB(*cfg)
}

func TestStore(t *testing.T) {
	serverURL(t)
	storetest.Run(t, func(t *testing.T) mih.Store { s, _ := open(t); return s })
}

func BenchmarkStore(b *testing.B) {
	serverURL(b)
	storetest.Bench(b, func(b *testing.B) mih.Store { s, _ := open(b); return s })
}

// TestSecretsSealed reads the services table raw: no secret of a service may appear in it.
func TestSecretsSealed(t *testing.T) {
	s, schema := open(t)
	for _, svc := range []*mih.Service{storetest.NewService("crm"), storetest.NewAMQPService("broker")} {
		if err := s.CreateService(t.Context(), svc); err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t)
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT s::text, encode(secrets, 'escape') FROM `+schema+`.services s`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var row, blob string
		if err := rows.Scan(&row, &blob); err != nil {
			t.Fatal(err)
		}
		n++
		for _, secret := range []string{storetest.SecretToken, storetest.SecretPassword, storetest.SecretSigning, storetest.SecretHeader} {
			if strings.Contains(row, secret) || strings.Contains(blob, secret) {
				t.Errorf("a services row holds %q in clear: %s", secret, row)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d rows, want 2", n)
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := postgres.Open(t.Context(), "postgres://u:hunter2@[bad", storetest.NewBox(t))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("got %v: want an error without the password", err)
	}
}

// TestOpenConcurrent: processes starting together on a fresh schema migrate it once between them.
func TestOpenConcurrent(t *testing.T) {
	_, schema := open(t)
	url := serverURL(t)
	fresh := schema + "_x"
	t.Cleanup(func() {
		db := rawDB(t)
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), `DROP SCHEMA IF EXISTS `+fresh+` CASCADE`); err != nil {
			t.Error(err)
		}
	})
	box := storetest.NewBox(t)
	errs := make(chan error, 3)
	for range cap(errs) {
		go func() {
			s, err := postgres.Open(t.Context(), url, box, postgres.WithSchema(fresh), postgres.WithMaxConns(2))
			if err == nil {
				_, err = s.ConfigVersion(t.Context())
				s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if _, err := postgres.Open(t.Context(), url, storetest.NewBox(t), postgres.WithSchema("Bad-Name")); err == nil {
		t.Error("a schema name that needs quoting was accepted")
	}
}
