package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A backup taken while events pour in restores to a hub that delivers every event acknowledged
// before the backup began. The receiver holds every delivery of the first hub unanswered, so
// nothing succeeds there: each acknowledged event must be in the backup, pending, for the
// restored hub to deliver it.
func TestBackupRestore_UnderLoad(t *testing.T) {
	var restored atomic.Bool
	var mu sync.Mutex
	delivered := map[string]bool{}
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ ID string }
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if !restored.Load() {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		delivered[p.ID] = true
		mu.Unlock()
	}))
	defer recv.Close()
	defer close(release)

	dataA, dataB := t.TempDir(), t.TempDir()
	ctxA, stopA := context.WithCancel(context.Background())
	urlA, doneA := startHubCtx(t, ctxA, dataA)
	configureHub(t, &hubProcess{url: urlA}, recv.URL)

	// Load: batches of 20 events, each acknowledgement stamped with the time it came back.
	type ack struct {
		ids []string
		at  time.Time
	}
	var acks []ack
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		client := &http.Client{Timeout: 10 * time.Second}
		for b := 0; b < 400; b++ {
			select {
			case <-stop:
				return
			default:
			}
			evs := testEvents(fmt.Sprintf("bk%d", b), 20)
			body, _ := json.Marshal(evs)
			req, _ := http.NewRequest("POST", urlA+"api/v1/events", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e2eToken)
			resp, err := client.Do(req)
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				a := ack{at: time.Now()}
				for _, e := range evs {
					a.ids = append(a.ids, e["id"].(string))
				}
				acks = append(acks, a)
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	backup := filepath.Join(t.TempDir(), "mih-backup.db")
	began := time.Now()
	code, out, errOut := runCLI(t, nil, "backup", backup, "--data", dataA)
	if code != 0 || !strings.Contains(out, "Backed up") || !strings.Contains(errOut, "secret key") {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	time.Sleep(200 * time.Millisecond) // the load goes on after the backup
	close(stop)
	<-loadDone
	stopA()
	<-doneA

	var owed []string
	after := 0
	for _, a := range acks {
		if a.at.Before(began) {
			owed = append(owed, a.ids...)
		} else {
			after += len(a.ids)
		}
	}
	if len(owed) < 100 || after == 0 {
		t.Fatalf("%d events acknowledged before the backup, %d after: the load did not overlap it", len(owed), after)
	}

	// A second backup to the same name is refused: nothing is overwritten.
	if code, _, errOut := runCLI(t, nil, "backup", backup, "--data", dataA); code == 0 || !strings.Contains(errOut, "exists") {
		t.Errorf("backup over an existing file: exit %d, %q", code, errOut)
	}
	// A restore into a folder a hub holds is refused.
	unlock, err := lockData(dataB, false)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, nil, "restore", backup, "--data", dataB); code == 0 || !strings.Contains(errOut, "in use") {
		t.Errorf("restore into a folder in use: exit %d, %q", code, errOut)
	}
	unlock()
	// Without the key: restored, with a warning.
	code, out, errOut = runCLI(t, nil, "restore", backup, "--data", dataB)
	if code != 0 || !strings.Contains(out, "Restored") || !strings.Contains(errOut, "no secret key") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	// Over an existing database only with --force, the old one kept aside; with the right key
	// there is no warning.
	key, err := os.ReadFile(filepath.Join(dataA, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dataB, "secret.key"), key, 0o600)
	if code, _, errOut := runCLI(t, nil, "restore", backup, "--data", dataB); code != exitUsage || !strings.Contains(errOut, "--force") {
		t.Errorf("restore over a database without --force: exit %d, %q", code, errOut)
	}
	code, out, errOut = runCLI(t, nil, "restore", backup, "--data", dataB, "--force")
	if code != 0 || !strings.Contains(out, "kept as") || errOut != "" {
		t.Fatalf("restore --force: exit %d\n%s%s", code, out, errOut)
	}
	// Not a database: refused, nothing replaced.
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte("not a database, only text that is long enough to have a header"), 0o600)
	if code, _, errOut := runCLI(t, nil, "restore", junk, "--data", dataB, "--force"); code == 0 || !strings.Contains(errOut, "not a mih database") {
		t.Errorf("restore of a file that is no database: exit %d, %q", code, errOut)
	}

	restored.Store(true)
	urlB, _ := startHubIn(t, dataB)
	_ = urlB
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		var missing []string
		for _, id := range owed {
			if !delivered[id] {
				missing = append(missing, id)
			}
		}
		mu.Unlock()
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events acknowledged before the backup were not delivered after the restore, e.g. %v", len(missing), len(owed), missing[:min(5, len(missing))])
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d events acknowledged before the backup, all delivered by the restored hub", len(owed))
}

// startHubCtx runs the hub in this process until ctx ends; done is closed when it has stopped.
func startHubCtx(t *testing.T, ctx context.Context, data string, tune ...func(*Config)) (url string, done <-chan struct{}) {
	t.Helper()
	cfg := &Config{Data: data, AdminToken: e2eToken, WorkerConcurrency: 8, WorkerBatch: 50,
		Lease: 5 * time.Second, PollInterval: 50 * time.Millisecond, ShutdownTimeout: time.Second,
		MaintainEvery: time.Minute, MaxBodyBytes: 1 << 20, LogMaxAge: time.Hour, LogMaxRows: 1000,
		SucceededMaxAge: time.Hour, SucceededMaxRows: 1000}
	for _, f := range tune {
		f(cfg)
	}
	st, err := openStore(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := firstStartToken(ctx, st, cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := netListen(t)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		if err := serve(ctx, cfg, st, ln, discardLogger()); err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	}()
	return "http://" + ln.Addr().String() + "/", ch
}

func netListen(t *testing.T) (net.Listener, error) {
	t.Helper()
	return net.Listen("tcp", "127.0.0.1:0")
}
