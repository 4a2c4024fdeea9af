package secret

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// The key files of a data folder. KeyFile is the primary key. OldKeyFile is the previous key
// while a rotation re-seals the stored secrets: it opens what is not re-sealed yet, and is
// removed when nothing needs it. newKeyFile is where a rotation writes the new key before it
// renames it over KeyFile.
const (
	KeyFile    = "secret.key"
	OldKeyFile = "secret.key.old"
	newKeyFile = "secret.key.new"
)

// NewFileBox returns a Box over the key files of the data folder dir, creating KeyFile when
// there is none (created reports it). The box rereads the files when they change: before a seal
// (so that a running hub seals with the new key once a rotation has put it in place) and when
// a value is sealed with a key it does not have.
func NewFileBox(dir string) (box *Box, created bool, err error) {
	_, created, err = LoadOrCreateKey(filepath.Join(dir, KeyFile), "")
	if err != nil {
		return nil, false, err
	}
	b := &Box{dir: dir}
	if !b.refresh(true) {
		return nil, false, fmt.Errorf("read secret key files in %s", dir)
	}
	if b.primary == nil {
		return nil, false, errors.New("secret key: not loaded")
	}
	return b, created, nil
}

// PrimaryKey returns the primary key of the data folder dir's key files.
func PrimaryKey(dir string) ([]byte, error) {
	key, _, err := readKeyFiles(dir)
	return key, err
}

// refresh rereads the key files of a file box when they changed (or always, when force); it
// reports whether the keys may have changed. A box of fixed keys never changes.
func (b *Box) refresh(force bool) bool {
	if b.dir == "" {
		return false
	}
	st := stampOf(b.dir)
	b.mu.RLock()
	same := st == b.stamp && b.primary != nil
	b.mu.RUnlock()
	if same && !force {
		return false
	}
	key, older, err := readKeyFiles(b.dir)
	if err != nil {
		// Mid-rename, or a file being written: keep the keys in use; the next call tries again.
		return false
	}
	if err := b.set(key, older); err != nil {
		return false
	}
	b.mu.Lock()
	b.stamp = st
	b.mu.Unlock()
	return true
}

// stampOf describes the key files cheaply: their sizes and modification times.
func stampOf(dir string) string {
	s := ""
	for _, n := range []string{KeyFile, OldKeyFile} {
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil {
			s += n + ":" + strconv.FormatInt(fi.Size(), 10) + ":" + strconv.FormatInt(fi.ModTime().UnixNano(), 10) + ";"
		}
	}
	return s
}

func readKeyFiles(dir string) (key []byte, older [][]byte, err error) {
	b, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read secret key: %w", err)
	}
	if key, err = ParseKey(string(b)); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", KeyFile, err)
	}
	b, err = os.ReadFile(filepath.Join(dir, OldKeyFile))
	switch {
	case err == nil:
		old, err := ParseKey(string(b))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", OldKeyFile, err)
		}
		older = append(older, old)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("read the previous secret key: %w", err)
	}
	return key, older, nil
}

// BeginRotation puts a new primary key in place in the data folder dir, keeping the current one
// as OldKeyFile, so that every stored secret can be opened at each step: the old key is written
// (and synced) first, then the new key to a file of its own, which is renamed over KeyFile. A
// rotation found half done (OldKeyFile exists) is resumed as it is: resumed reports it.
func BeginRotation(dir string) (resumed bool, err error) {
	cur, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return false, fmt.Errorf("read secret key: %w", err)
	}
	curKey, err := ParseKey(string(cur))
	if err != nil {
		return false, fmt.Errorf("%s: %w", KeyFile, err)
	}
	if old, err := os.ReadFile(filepath.Join(dir, OldKeyFile)); err == nil {
		os.Remove(filepath.Join(dir, newKeyFile))
		if oldKey, err := ParseKey(string(old)); err != nil || string(oldKey) != string(curKey) {
			return true, nil
		}
		// Interrupted before the new key was put in place: start over.
	}
	if err := writeSynced(filepath.Join(dir, OldKeyFile), cur); err != nil {
		return false, err
	}
	k := make([]byte, KeySize)
	rand.Read(k)
	if err := writeSynced(filepath.Join(dir, newKeyFile), []byte(hex.EncodeToString(k)+"\n")); err != nil {
		return false, err
	}
	if err := os.Rename(filepath.Join(dir, newKeyFile), filepath.Join(dir, KeyFile)); err != nil {
		return false, fmt.Errorf("put the new secret key in place: %w", err)
	}
	return false, syncDir(dir)
}

// EndRotation removes the previous key once nothing is sealed with it any more.
func EndRotation(dir string) error {
	if err := os.Remove(filepath.Join(dir, OldKeyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the previous secret key: %w", err)
	}
	return syncDir(dir)
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync the data folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync the data folder: %w", err)
	}
	return nil
}
