package main

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mihhttp "github.com/mihhub/mih/http"
)

type fakeSchemaStore struct {
	down     bool
	cur, lat int64
}

func (f *fakeSchemaStore) ConfigVersion(context.Context) (int64, error) {
	if f.down {
		return 0, errors.New("connection refused")
	}
	return 1, nil
}

func (f *fakeSchemaStore) SchemaVersion(context.Context) (int64, int64, error) {
	return f.cur, f.lat, nil
}

// Readiness fails on a store that does not answer, a schema behind or ahead of this build, a
// loop that stopped, and during shutdown.
func TestReadiness_Checks(t *testing.T) {
	st := &fakeSchemaStore{cur: 4, lat: 4}
	var stopping atomic.Bool
	r := newReadiness(st, nil, stopping.Load)
	release := make(chan struct{})
	done := make(chan struct{})
	loop := r.track("delivery_worker", func(ctx context.Context) error { <-release; return errors.New("boom") })
	failing := func() []string {
		var out []string
		for _, c := range r.checks(context.Background()) {
			if !c.OK {
				out = append(out, c.Name+": "+c.Detail)
			}
		}
		return out
	}
	if got := failing(); len(got) != 1 || !strings.Contains(got[0], "not started") {
		t.Errorf("before the loop starts: %v", got)
	}
	started := make(chan struct{})
	go func() {
		defer close(done)
		close(started)
		loop(context.Background())
	}()
	<-started
	deadline := time.Now().Add(5 * time.Second)
	for len(failing()) != 0 { // the loop marks itself running as it starts
		if time.Now().After(deadline) {
			t.Fatalf("the loop never reported running: %v", failing())
		}
		time.Sleep(time.Millisecond)
	}
	st.cur = 3
	if got := failing(); len(got) != 1 || !strings.Contains(got[0], "schema version 3, this build needs 4") {
		t.Errorf("schema behind: %v", got)
	}
	st.cur = 5
	if got := failing(); len(got) != 1 || !strings.Contains(got[0], "newer") {
		t.Errorf("schema ahead: %v", got)
	}
	st.cur, st.down = 4, true
	if got := failing(); len(got) != 1 || !strings.HasPrefix(got[0], "store:") || strings.Contains(got[0], "refused") {
		t.Errorf("store down: %v (the cause stays in the log, not the public answer)", got)
	}
	st.down = false
	close(release)
	<-done
	if got := failing(); len(got) != 1 || !strings.Contains(got[0], "stopped with an error") || strings.Contains(got[0], "boom") {
		t.Errorf("loop stopped: %v", got)
	}
	stopping.Store(true)
	if got := failing(); len(got) != 2 || !strings.HasPrefix(got[0], "shutdown") {
		t.Errorf("shutting down: %v", got)
	}
	var _ []mihhttp.ReadinessCheck = r.checks(context.Background())
}
