package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// startInProcess runs the hub in this process on a fresh SQLite data folder.
func startInProcess(t *testing.T) (url string, st mih.Store) {
	t.Helper()
	return startHubIn(t, t.TempDir())
}

// startHubIn runs the hub in this process on the data folder given, so that a test can also run
// CLI commands on the same store.
func startHubIn(t *testing.T, data string) (url string, st mih.Store) {
	t.Helper()
	cfg := &Config{Data: data, AdminToken: e2eToken, WorkerConcurrency: 8, WorkerBatch: 50,
		Lease: 5 * time.Second, PollInterval: 50 * time.Millisecond, ShutdownTimeout: 2 * time.Second,
		MaintainEvery: time.Minute, MaxBodyBytes: 1 << 20, LogMaxAge: time.Hour, LogMaxRows: 1000,
		SucceededMaxAge: time.Hour, SucceededMaxRows: 1000}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := openStore(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := firstStartToken(ctx, st, cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, st, ln, discardLogger()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	})
	return "http://" + ln.Addr().String() + "/", st
}

func waitState(t *testing.T, url string, id int64, want mih.DeliveryState) map[string]json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := apiCall(t, "GET", url+"api/v1/deliveries/"+itoa64(id), nil)
		var detail map[string]json.RawMessage
		json.Unmarshal(body, &detail)
		var d mih.Delivery
		json.Unmarshal(detail["delivery"], &d)
		if code == 200 && d.State == want {
			return detail
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %d: got %d %s, want state %s", id, code, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServe_DeadThenReplay: a 400 sends the delivery to the DLQ at once with the response body
// kept; after the receiver is fixed, a replay delivers it with the same idempotency key.
func TestServe_DeadThenReplay(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	var mu sync.Mutex
	var keys []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		if broken.Load() {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"field user_id is required"}`))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	url, _ := startInProcess(t)
	h := &hubProcess{url: url}
	configureHub(t, h, recv.URL)

	code, body := apiCall(t, "POST", url+"api/v1/events", testEvents("dlq", 1)[0])
	if code != 202 {
		t.Fatalf("ingest: %d %s", code, body)
	}
	code, body = apiCall(t, "GET", url+"api/v1/deliveries?status=dead", nil)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(string(body), `"dead"`) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		code, body = apiCall(t, "GET", url+"api/v1/deliveries?status=dead", nil)
	}
	var list struct{ Items []mih.Delivery }
	json.Unmarshal(body, &list)
	if code != 200 || len(list.Items) != 1 {
		t.Fatalf("dead deliveries: %d %s", code, body)
	}
	d := list.Items[0]
	if d.Attempts != 1 || d.LastStatus != 400 {
		t.Errorf("dead delivery: got attempts %d status %d, want 1 attempt with status 400 (no retries for a 400)", d.Attempts, d.LastStatus)
	}
	detail := waitState(t, url, d.ID, mih.DeliveryDead)
	if !strings.Contains(string(detail["attempts"]), "field user_id is required") {
		t.Errorf("attempts: got %s, want the response body kept", detail["attempts"])
	}

	broken.Store(false)
	if code, body := apiCall(t, "POST", url+"api/v1/deliveries/"+itoa64(d.ID)+"/replay", nil); code != 200 {
		t.Fatalf("replay: %d %s", code, body)
	}
	waitState(t, url, d.ID, mih.DeliverySucceeded)
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 || keys[0] != keys[1] || keys[0] != "dlq-0:1" {
		t.Errorf("idempotency keys: got %v, want the same key dlq-0:1 twice", keys)
	}
}

func itoa64(n int64) string { b, _ := json.Marshal(n); return string(b) }
