package sqlite

import (
	"path/filepath"
	"testing"
)

// Every connection runs the shared pragmas: a statement journal that spilled to a temporary file
// would cost the hub an open, writes and an unlink for most of its batches.
func TestDSN_Pragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "odd name %41.db")
	db, err := openDB(t.Context(), dsn(path, "synchronous(FULL)"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(2)
	for _, p := range []struct {
		pragma string
		want   int
	}{{"temp_store", 2}, {"foreign_keys", 1}, {"busy_timeout", 10000}, {"synchronous", 2}} {
		var got int
		if err := db.QueryRowContext(t.Context(), "PRAGMA "+p.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %d, want %d", p.pragma, got, p.want)
		}
	}
	var file string
	if err := db.QueryRowContext(t.Context(), "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		t.Fatal(err)
	}
	if file != path {
		t.Errorf("database file %q, want %q", file, path)
	}
}
