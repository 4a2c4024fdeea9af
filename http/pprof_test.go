package http

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"
)

func TestProfiles(t *testing.T) {
	h := newTestHub(t)
	h.doWith("GET", "/debug/pprof/heap", nil, nil).wantError(http.StatusUnauthorized, "unauthorized")

	// Profiles are gzipped protocol buffers; go tool pprof reads them as they are.
	for _, path := range []string{"/debug/pprof/heap", "/debug/pprof/profile?seconds=1"} {
		r := h.do("GET", path, nil).want(http.StatusOK)
		zr, err := gzip.NewReader(bytes.NewReader(r.Body))
		if err != nil {
			t.Fatalf("%s: not a gzipped profile: %v", path, err)
		}
		if b, err := io.ReadAll(zr); err != nil || len(b) == 0 {
			t.Fatalf("%s: %d bytes, %v", path, len(b), err)
		}
	}
	h.do("GET", "/debug/pprof/nosuch", nil).wantError(http.StatusNotFound, "not_found")
}
