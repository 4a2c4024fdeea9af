package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// flakyReceiver answers 500 while down is set, and otherwise counts deliveries by event id.
type flakyReceiver struct {
	down atomic.Bool
	mu   sync.Mutex
	seen map[string]int
	srv  *httptest.Server
}

func newFlakyReceiver(t *testing.T) *flakyReceiver {
	r := &flakyReceiver{seen: map[string]int{}}
	r.down.Store(true)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var p struct{ ID string }
		json.NewDecoder(req.Body).Decode(&p)
		r.mu.Lock()
		r.seen[p.ID]++
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *flakyReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// deliveryCount reads how many deliveries the hub holds in state.
func deliveryCount(t *testing.T, h *hubProcess, state string) int {
	t.Helper()
	code, body := apiCall(t, "GET", h.url+"api/v1/deliveries?limit=1000&status="+state, nil)
	if code != http.StatusOK {
		t.Fatalf("list deliveries: %d %s", code, body)
	}
	var page struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	return len(page.Items)
}

// TestServe_RestartWithOpenCircuit stops the hub (SIGTERM, then SIGKILL) while a receiver outage
// holds its circuit open with deliveries paused, waits past the cooldown, and starts it again:
// the breaker's first sync then resumes a probe before the workers exist, which once crashed
// every start. The hub must come up, stay up, and deliver everything once the receiver is back.
func TestServe_RestartWithOpenCircuit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			args := []string{"--data", t.TempDir(), "--poll-interval", "100ms", "--log-level", "warn"}
			r := newFlakyReceiver(t)
			h := startHub(t, bin, args...)
			if code, body := apiCall(t, "POST", h.url+"api/v1/services", map[string]any{
				"name": "receiver", "type": "rest", "base_url": r.srv.URL, "initial_backoff_s": 0.1, "max_retries": 50,
				"circuit": map[string]any{"failure_threshold": 2, "window_s": 60, "cooldown_s": 2},
			}); code != http.StatusCreated {
				t.Fatalf("create service: %d %s", code, body)
			}
			if code, body := apiCall(t, "POST", h.url+"api/v1/rules", map[string]any{
				"name": "all", "event": "*", "service": "receiver", "endpoint": "/in", "template": `{"id": "{{id}}"}`,
			}); code != http.StatusCreated {
				t.Fatalf("create rule: %d %s", code, body)
			}
			const n = 20
			if code, body := apiCall(t, "POST", h.url+"api/v1/events", testEvents("r", n)); code != http.StatusAccepted {
				t.Fatalf("post events: %d %s", code, body)
			}
			waitCircuit(t, h, "receiver", "open", 20*time.Second)
			deadline := time.Now().Add(20 * time.Second)
			for deliveryCount(t, h, "paused") < n-2 {
				if time.Now().After(deadline) {
					t.Fatalf("deliveries not paused: %d paused\n%s", deliveryCount(t, h, "paused"), tail(h.logs.String(), 3000))
				}
				time.Sleep(100 * time.Millisecond)
			}

			h.cmd.Process.Signal(sig)
			<-h.done
			time.Sleep(2500 * time.Millisecond) // past the cooldown: the next start resumes a probe at once

			h2 := startHub(t, bin, args...)
			// Several probe rounds fail while the receiver is still down; the hub must survive them.
			time.Sleep(3 * time.Second)
			select {
			case <-h2.done:
				t.Fatalf("hub exited after restart: %v\n%s", h2.err, tail(h2.logs.String(), 3000))
			default:
			}
			if got := deliveryCount(t, h2, "dead"); got != 0 {
				t.Fatalf("%d deliveries dead during the outage", got)
			}
			r.down.Store(false)
			deadline = time.Now().Add(30 * time.Second)
			for r.count() < n {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d delivered after recovery\n%s", r.count(), n, tail(h2.logs.String(), 3000))
				}
				time.Sleep(100 * time.Millisecond)
			}
			select {
			case <-h2.done:
				t.Fatalf("hub exited: %v\n%s", h2.err, tail(h2.logs.String(), 3000))
			default:
			}
		})
	}
}
