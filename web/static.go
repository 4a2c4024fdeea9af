package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
)

// staticFiles serves static/ under /static/<hash>/<file>, where hash is the file's content hash:
// a URL never changes meaning, so browsers may cache it for a year, and a new build's files get
// new URLs.
type staticFiles struct {
	fsys   fs.FS
	hashes map[string]string // file name → content hash
}

func newStaticFiles(files fs.FS) (*staticFiles, error) {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	s := &staticFiles{fsys: sub, hashes: map[string]string{}}
	entries, err := fs.ReadDir(sub, ".")
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := fs.ReadFile(sub, e.Name())
		if err != nil {
			return nil, fmt.Errorf("web: static files: %w", err)
		}
		sum := sha256.Sum256(b)
		s.hashes[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return s, nil
}

// url is the address of a static file; a template naming a file that does not exist fails to
// render, which the page tests catch.
func (s *staticFiles) url(name string) (string, error) {
	h, ok := s.hashes[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + h + "/" + name, nil
}

func (s *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if h, ok := s.hashes[name]; !ok || h != r.PathValue("hash") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeFileFS(w, r, s.fsys, name)
}
