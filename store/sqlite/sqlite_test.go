package sqlite_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/store/storetest"
)

func open(tb testing.TB) mih.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "mih.db"), storetest.NewBox(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mih.Store { return open(t) })
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) mih.Store { return open(b) })
}

// TestSecretsSealed reads the database files raw: no secret of a service may appear in them.
func TestSecretsSealed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "mih.db") // Open creates the directory
	s, err := sqlite.Open(t.Context(), path, storetest.NewBox(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []*mih.Service{storetest.NewService("crm"), storetest.NewAMQPService("broker")} {
		if err := s.CreateService(t.Context(), svc); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.FindServiceByName(t.Context(), "broker")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains([]byte(got.BaseURL), []byte(storetest.SecretPassword)) {
		t.Fatalf("the AMQP URL lost its password: %q", got.BaseURL)
	}
	// Look while the store is open (WAL not yet checkpointed) and after Close.
	check := func(when string) {
		files, _ := filepath.Glob(path + "*")
		if len(files) == 0 {
			t.Fatal("no database files")
		}
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600: the files hold token hashes", filepath.Base(f), fi.Mode())
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{storetest.SecretToken, storetest.SecretPassword, storetest.SecretSigning, storetest.SecretHeader} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s: %s holds %q in clear", when, filepath.Base(f), secret)
				}
			}
		}
	}
	check("open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed")
}

// TestReopen: the data outlives the store, and opening migrates only once.
func TestReopen(t *testing.T) {
	// Characters that mean something in a URI must still name a plain file.
	path := filepath.Join(t.TempDir(), "a dir?#%", "mih.db")
	box := storetest.NewBox(t)
	for i := range 2 {
		s, err := sqlite.Open(t.Context(), path, box)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if err := s.CreateService(t.Context(), storetest.NewService("crm")); err != nil {
				t.Fatal(err)
			}
		} else if _, err := s.FindServiceByName(t.Context(), "crm"); err != nil {
			t.Errorf("after reopening: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not at the path given: %v", err)
	}
}

// The durability setting takes FULL or NORMAL, in any case, and nothing else.
func TestSynchronous(t *testing.T) {
	for _, mode := range []string{"full", "NORMAL"} {
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mih.db"), storetest.NewBox(t), sqlite.WithSynchronous(mode))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		st.Close()
	}
	if _, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "mih.db"), storetest.NewBox(t), sqlite.WithSynchronous("off")); err == nil {
		t.Error("synchronous off: opened, want an error")
	}
}
