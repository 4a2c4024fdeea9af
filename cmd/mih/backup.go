package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
)

// errDataInUse is a data folder locked by a running hub (or a restore in progress).
var errDataInUse = errors.New("the data folder is in use: a mih serve (or another restore) is running on it; stop it first")

const keyWarning = `Warning: the backup does not hold the secret key. Service credentials, site tokens and plugin
secrets in it are sealed with the key in %s (or MIH_SECRET_KEY): keep a copy of
that key somewhere else than the backup; a hub restored without it cannot use those credentials.
`

// runBackup runs `mih backup FILE`: a consistent copy of the embedded SQLite database, taken
// while the hub runs.
func runBackup(ctx context.Context, c *cli, args []string) error {
	fs := pflag.NewFlagSet("backup", pflag.ContinueOnError)
	storeFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"usage: mih backup FILE"}
	}
	cfg, err := loadConfig(fs, c.environ)
	if err != nil {
		return usageError{err.Error()}
	}
	if cfg.Database != "" {
		return usageError{"mih backup copies the embedded SQLite database; back PostgreSQL up with pg_dump (docs/operations.md)"}
	}
	src := filepath.Join(cfg.Data, "mih.db")
	dest := fs.Arg(0)
	start := time.Now()
	if err := sqlite.Backup(ctx, src, dest); err != nil {
		return err
	}
	info, err := os.Stat(dest)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(c.stdout, "Backed up %s to %s (%d bytes in %s).\n", src, dest, info.Size(), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(c.stderr, keyWarning, filepath.Join(cfg.Data, "secret.key"))
	return nil
}

// runRestore runs `mih restore FILE`: the backup becomes the data folder's database. The folder
// must not be in use; a database already there is kept beside it under another name.
func runRestore(ctx context.Context, c *cli, args []string) error {
	fs := pflag.NewFlagSet("restore", pflag.ContinueOnError)
	storeFlags(fs)
	force := fs.Bool("force", false, "replace the data folder's database when it has one (it is kept as mih.db.replaced-TIME)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"usage: mih restore FILE [--force]"}
	}
	cfg, err := loadConfig(fs, c.environ)
	if err != nil {
		return usageError{err.Error()}
	}
	if cfg.Database != "" {
		return usageError{"mih restore restores the embedded SQLite database; restore PostgreSQL with pg_restore (docs/operations.md)"}
	}
	src := fs.Arg(0)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	unlock, err := lockData(cfg.Data, true)
	if err != nil {
		return err
	}
	defer unlock()
	db := filepath.Join(cfg.Data, "mih.db")
	_, statErr := os.Stat(db)
	exists := statErr == nil
	if exists && !*force {
		return usageError{fmt.Sprintf("%s exists: give --force to replace it (it is kept beside as mih.db.replaced-TIME)", db)}
	}

	// The backup is copied beside the database, then opened as the hub would open it: a file
	// that is not a mih database, or one from a newer mih, fails here and nothing is replaced.
	// An older one is migrated forward.
	tmp := fmt.Sprintf("%s.restore-%d", db, os.Getpid())
	defer removeDB(tmp)
	if err := copyFile(src, tmp); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	key, keyErr := existingKey(cfg)
	checkKey := key
	if checkKey == nil {
		checkKey = make([]byte, secret.KeySize)
		rand.Read(checkKey)
	}
	box, err := secret.NewBox(checkKey)
	if err != nil {
		return err
	}
	st, err := sqlite.Open(ctx, tmp, box)
	if err != nil {
		return fmt.Errorf("restore: %s is not a mih database this version can open: %w", src, err)
	}
	cur, latest, err := st.SchemaVersion(ctx)
	if err == nil && cur > latest {
		err = fmt.Errorf("it has schema version %d, newer than this mih's %d: restore it with the mih that made it", cur, latest)
	}
	var keyOK bool
	if err == nil && key != nil {
		// Reading the services unseals their credentials: it fails when the key differs.
		_, e := st.FindServices(ctx)
		keyOK = e == nil
	}
	if cerr := st.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore: %s: %w", src, err)
	}

	if exists {
		aside := fmt.Sprintf("%s.replaced-%s", db, time.Now().UTC().Format("20060102T150405Z"))
		// The -wal and -shm files belong to the database they sit beside: they move with it, or
		// SQLite would apply the old database's log to the restored one.
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Rename(db+suffix, aside+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("restore: keep the old database: %w", err)
			}
		}
		fmt.Fprintf(c.stdout, "The previous database is kept as %s.\n", aside)
	}
	if err := os.Rename(tmp, db); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(c.stdout, "Restored %s into %s (schema version %d).\n", src, db, max(cur, latest))
	switch {
	case key == nil && keyErr == nil:
		fmt.Fprintf(c.stderr, "Warning: no secret key in %s and no MIH_SECRET_KEY: put the key of the hub that made the backup there before starting, or its sealed credentials cannot be used.\n",
			filepath.Join(cfg.Data, "secret.key"))
	case keyErr != nil:
		fmt.Fprintf(c.stderr, "Warning: the secret key: %v\n", keyErr)
	case !keyOK:
		fmt.Fprintln(c.stderr, "Warning: the secret key of this data folder (or MIH_SECRET_KEY) does not open the backup's credentials: use the key of the hub that made the backup.")
	}
	return nil
}

// existingKey is the configured secret key, or nil when there is none yet. Unlike secretKey it
// never creates one: a fresh key could not open a restored database's credentials.
func existingKey(cfg *Config) ([]byte, error) {
	if cfg.SecretKey == "" {
		if _, err := os.Stat(filepath.Join(cfg.Data, "secret.key")); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	key, _, err := secretKey(cfg)
	return key, err
}

func copyFile(src, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// removeDB removes a database file and its -wal and -shm companions, when they exist.
func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}
