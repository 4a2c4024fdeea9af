package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const e2eToken = "e2e-admin-token-0123456789abcdefghij"

// buildBinary compiles mih once per test run into a temporary folder.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mih")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// hubProcess is `mih serve` running as a child process.
type hubProcess struct {
	cmd  *exec.Cmd
	url  string
	logs *bytes.Buffer
	done chan struct{} // closed when the process has exited; err is its exit status
	err  error
}

func startHub(t *testing.T, bin string, args ...string) *hubProcess {
	t.Helper()
	return startHubEnv(t, bin, nil, args...)
}

// startHubEnv starts `mih serve` with extra environment variables.
func startHubEnv(t *testing.T, bin string, env []string, args ...string) *hubProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(append(os.Environ(), "MIH_ADMIN_TOKEN="+e2eToken), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	cmd.Stderr = &syncWriter{w: logs}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hubProcess{cmd: cmd, logs: logs, done: make(chan struct{})}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "admin:"); ok {
				urlc <- strings.TrimSpace(rest)
			}
		}
	}()
	go func() { h.err = cmd.Wait(); close(h.done) }()
	select {
	case h.url = <-urlc:
	case <-h.done:
		t.Fatalf("mih serve exited before listening: %v\n%s", h.err, logs)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("mih serve did not print its URL\n%s", logs)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-h.done
	})
	return h
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func apiCall(t *testing.T, method, url string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// receiver counts deliveries by the event id in their payload.
type receiver struct {
	mu   sync.Mutex
	seen map[string]int
	srv  *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{seen: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var p struct{ ID string }
		if err := json.NewDecoder(req.Body).Decode(&p); err != nil || p.ID == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.seen[p.ID]++
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) missing(ids []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range ids {
		if r.seen[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

func configureHub(t *testing.T, h *hubProcess, target string) {
	t.Helper()
	if code, body := apiCall(t, "POST", h.url+"api/v1/services", map[string]any{
		"name": "receiver", "type": "rest", "base_url": target, "initial_backoff_s": 0.2, "max_retries": 10,
	}); code != 201 {
		t.Fatalf("create service: %d %s", code, body)
	}
	if code, body := apiCall(t, "POST", h.url+"api/v1/rules", map[string]any{
		"name": "all", "event": "*", "service": "receiver", "endpoint": "/in", "template": `{"id": "{{id}}"}`,
	}); code != 201 {
		t.Fatalf("create rule: %d %s", code, body)
	}
}

func testEvents(prefix string, n int) []map[string]any {
	evs := make([]map[string]any, n)
	for i := range evs {
		evs[i] = map[string]any{
			"id": fmt.Sprintf("%s-%d", prefix, i), "eventname": `\core\event\user_created`, "component": "core",
			"action": "created", "target": "user", "objecttable": "user", "objectid": i, "crud": "c",
			"contextid": 1, "contextlevel": 10, "userid": 2, "relateduserid": i, "other": nil,
			"timecreated": 1767000000 + i,
		}
	}
	return evs
}

// loadUntil posts batches of events until stop is closed or the bounds are reached, and returns
// the ids of every event the hub acknowledged with 202.
func loadUntil(url string, stop <-chan struct{}, maxBatches int) []string {
	var accepted []string
	client := &http.Client{Timeout: 10 * time.Second}
	for b := 0; b < maxBatches; b++ {
		select {
		case <-stop:
			return accepted
		default:
		}
		evs := testEvents(fmt.Sprintf("b%d", b), 50)
		body, _ := json.Marshal(evs)
		req, _ := http.NewRequest("POST", url+"api/v1/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := client.Do(req)
		if err != nil {
			continue // the hub was killed mid-request: not acknowledged, so not owed
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			for _, e := range evs {
				accepted = append(accepted, e["id"].(string))
			}
		}
	}
	return accepted
}

func waitDelivered(t *testing.T, r *receiver, ids []string, within time.Duration, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		missing := r.missing(ids)
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted events never delivered (first: %v)\nhub log tail:\n%s",
				len(missing), len(ids), missing[:min(5, len(missing))], tail(logs.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestServe_KillMidLoad kills mih with SIGKILL while events pour in, restarts it, and checks that
// every event it acknowledged is delivered.
func TestServe_KillMidLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	args := []string{"--data", data, "--lease", "2s", "--poll-interval", "100ms", "--log-level", "warn"}
	if url := os.Getenv("MIH_TEST_POSTGRES_URL"); url != "" && os.Getenv("MIH_TEST_E2E_POSTGRES") != "" {
		args = append(args, "--database", url)
	}
	r := newReceiver(t)
	h := startHub(t, bin, args...)
	configureHub(t, h, r.srv.URL)

	stop := make(chan struct{})
	acc := make(chan []string, 1)
	go func() { acc <- loadUntil(h.url, stop, 400) }()
	time.Sleep(1500 * time.Millisecond)
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.done
	close(stop)
	accepted := <-acc
	if len(accepted) == 0 {
		t.Fatalf("no batch was accepted before the kill\n%s", h.logs)
	}
	t.Logf("%d events accepted before SIGKILL, %d delivered by then", len(accepted), len(accepted)-len(r.missing(accepted)))

	h2 := startHub(t, bin, args...)
	waitDelivered(t, r, accepted, 60*time.Second, h2.logs)
}

// TestServe_GracefulShutdown stops mih with SIGTERM under load: it must exit 0, and after a restart
// every acknowledged event is delivered.
func TestServe_GracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	args := []string{"--data", t.TempDir(), "--lease", "30s", "--poll-interval", "100ms", "--log-level", "warn"}
	r := newReceiver(t)
	h := startHub(t, bin, args...)
	configureHub(t, h, r.srv.URL)

	stop := make(chan struct{})
	acc := make(chan []string, 1)
	go func() { acc <- loadUntil(h.url, stop, 200) }()
	time.Sleep(time.Second)
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
		if h.err != nil {
			t.Fatalf("mih serve exited with %v after SIGTERM\n%s", h.err, h.logs)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("mih serve did not stop within 40 s of SIGTERM")
	}
	close(stop)
	accepted := <-acc
	// The lease is 30 s: if shutdown had left a delivery claimed, it would not come back within
	// the wait below, so this also checks that shutdown released what it did not finish.
	h2 := startHub(t, bin, args...)
	waitDelivered(t, r, accepted, 20*time.Second, h2.logs)
}

// `mih bench --floor` measures Go's HTTP client alone, from a child process of the binary, and
// prints its CPU per request.
func TestBench_Floor(t *testing.T) {
	bin := buildBinary(t)
	out, err := exec.Command(bin, "bench", "--floor", "--events", "400", "--worker-concurrency", "4").CombinedOutput()
	if err != nil {
		t.Fatalf("bench --floor: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^floor +[0-9]+\.[0-9] µs of client CPU per request, [0-9]+ requests/s \(process [0-9]+\)$`).Match(out) {
		t.Errorf("bench --floor printed:\n%s", out)
	}
}
