package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// freshDatabase creates an empty PostgreSQL database for one test on the server of
// MIH_TEST_POSTGRES_URL and returns its URL; the test skips when the variable is unset.
func freshDatabase(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("MIH_TEST_POSTGRES_URL")
	if admin == "" {
		t.Skip("MIH_TEST_POSTGRES_URL is not set (scripts/test.sh starts PostgreSQL and sets it)")
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := "mih_cluster_" + hex.EncodeToString(randomBytes(4))
	if _, err := db.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err == nil {
			db.Exec("DROP DATABASE " + name + " WITH (FORCE)")
			db.Close()
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// circuitState reads a service's circuit_state through a hub's API.
func circuitState(t *testing.T, h *hubProcess, service string) string {
	t.Helper()
	code, body := apiCall(t, "GET", h.url+"api/v1/services/"+service, nil)
	if code != http.StatusOK {
		t.Fatalf("get service: %d %s", code, body)
	}
	var s struct {
		CircuitState string `json:"circuit_state"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s.CircuitState
}

// waitCircuit polls h until the circuit of service is want, and returns how long that took.
func waitCircuit(t *testing.T, h *hubProcess, service, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for circuitState(t, h, service) != want {
		if time.Since(start) > within {
			t.Fatalf("circuit of %s still %s after %v on %s, want %s\n%s", service, circuitState(t, h, service), within, h.url, want, tail(h.logs.String(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// Two `mih serve` processes on one PostgreSQL database share their circuits: an opening caused by
// one is seen by the other, and a reset made on the other is seen by the first, within seconds.
func TestServe_TwoProcessesShareCircuits(t *testing.T) {
	dbURL := freshDatabase(t)
	bin := buildBinary(t)
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	var hits atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(recv.Close)

	env := []string{"MIH_SECRET_KEY=" + hex.EncodeToString(randomBytes(32))}
	a := startHubEnv(t, bin, env, "--database", dbURL, "--data", t.TempDir())
	b := startHubEnv(t, bin, env, "--database", dbURL, "--data", t.TempDir())

	if code, body := apiCall(t, "POST", a.url+"api/v1/services", map[string]any{
		"name": "crm", "type": "rest", "base_url": recv.URL, "initial_backoff_s": 0.05, "max_backoff_s": 0.2,
		"max_retries": 10, "circuit": map[string]any{"failure_threshold": 3, "window_s": 60, "cooldown_s": 600},
	}); code != http.StatusCreated {
		t.Fatalf("create service: %d %s", code, body)
	}
	if code, body := apiCall(t, "POST", a.url+"api/v1/rules", map[string]any{
		"name": "all", "event": "*", "service": "crm", "endpoint": "/in",
	}); code != http.StatusCreated {
		t.Fatalf("create rule: %d %s", code, body)
	}
	if code, body := apiCall(t, "POST", a.url+"api/v1/events", testEvents("c", 10)); code != http.StatusAccepted {
		t.Fatalf("post events: %d %s", code, body)
	}

	waitCircuit(t, a, "crm", "open", 15*time.Second)
	seen := waitCircuit(t, b, "crm", "open", 5*time.Second)
	t.Logf("the opening reached the other process within %v", seen)

	if code, body := apiCall(t, "POST", b.url+"api/v1/services/crm/circuit/reset", nil); code != http.StatusOK {
		t.Fatalf("reset: %d %s", code, body)
	}
	status.Store(http.StatusOK)
	seen = waitCircuit(t, a, "crm", "closed", 5*time.Second)
	t.Logf("the reset reached the other process within %v", seen)

	// Everything is delivered after the reset, none to the DLQ.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := apiCall(t, "GET", a.url+"api/v1/deliveries?status=succeeded&limit=1000", nil)
		var page struct{ Items []json.RawMessage }
		if code != http.StatusOK || json.Unmarshal(body, &page) != nil {
			t.Fatalf("list deliveries: %d %s", code, body)
		}
		if len(page.Items) == 10 {
			break
		}
		if time.Now().After(deadline) {
			_, all := apiCall(t, "GET", a.url+"api/v1/deliveries?limit=1000", nil)
			t.Fatalf("%d of 10 deliveries succeeded after the reset; all deliveries: %s\nhub a:\n%s\nhub b:\n%s",
				len(page.Items), all, tail(a.logs.String(), 3000), tail(b.logs.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, body := apiCall(t, "GET", b.url+"api/v1/deliveries?status=dead", nil)
	if code != http.StatusOK || string(body) == "" {
		t.Fatalf("list dead: %d %s", code, body)
	}
	var dead struct{ Items []json.RawMessage }
	json.Unmarshal(body, &dead)
	if len(dead.Items) != 0 {
		t.Errorf("%d deliveries in the DLQ, want none: %s", len(dead.Items), body)
	}
}
