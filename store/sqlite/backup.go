package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
)

// Backup writes a consistent copy of the database at path to dest with VACUUM INTO, while other
// connections (a running hub) keep reading and writing: the copy is the database as of one
// transaction, taken on a connection of its own that never blocks the hub's writer for long.
// dest must not exist; it is written under a temporary name beside it and renamed when complete,
// so a failed backup leaves nothing that looks like one.
func Backup(ctx context.Context, path, dest string) error {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup: no database at %s", path)
		}
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("backup: %s exists; give a new file name", dest)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	q := url.Values{}
	q["_pragma"] = []string{"busy_timeout(10000)"}
	conn, err := sqlite.NewConnector((&url.URL{Scheme: "file", OmitHost: true, Path: abs, RawQuery: q.Encode()}).String())
	if err != nil {
		return fmt.Errorf("backup: open %s: %w", path, err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	tmp := fmt.Sprintf("%s.tmp-%d", dest, os.Getpid())
	// The copy holds token hashes and sealed secrets: it is created empty for the owner only
	// (VACUUM INTO writes into an empty file), not with the process umask.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: vacuum into %s: %w", tmp, err)
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
