package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
)

// runBench measures the whole pipeline: HTTP ingest → rules → template → ledger → workers → a
// loopback HTTP receiver. It prints events/s, event-to-delivery latency, peak RSS and the CPU time
// spent per delivered event. By default the hub runs in this process beside the load generator and
// the receiver; with --hub-process it runs as a `mih serve` child process, so that its CPU time and
// memory are its own and not mixed with the load's.
func runBench(ctx context.Context, args, environ []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	serveFlags(fs)
	events := fs.Int("events", 20000, "events to send")
	batch := fs.Int("batch", 100, "events per ingest request")
	senders := fs.Int("senders", 4, "concurrent ingest clients")
	rate := fs.Float64("rate", 0, "events per second offered (0: as fast as the hub takes them)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	hubProcess := fs.Bool("hub-process", false, "run the hub as a child `mih serve` process and report its own CPU time and peak RSS")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the hub, taken through its /debug/pprof API from the start of the load, to this file")
	profileFor := fs.Duration("profile-for", 10*time.Second, "length of the --cpuprofile profile")
	backlog := fs.Bool("backlog", false, "hold deliveries at the receiver until every event is ingested, so that the whole run waits in the ledger at once (peak RSS with a full backlog)")
	replicas := fs.Int("replicas", 1, "with --hub-process and a PostgreSQL --database: run this many `mih serve` processes on the one database, ingest spread over them")
	floor := fs.Bool("floor", false, "measure no hub: the CPU that Go's HTTP client alone spends per request, sending --events requests like the hub's deliveries from a child process over --worker-concurrency connections to the same receiver")
	floorClient := fs.String("floor-client", "", "the child of --floor: send to this URL and print the CPU spent")
	_ = fs.MarkHidden("floor-client")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *floorClient != "" {
		return benchFloorClient(ctx, *floorClient, *events, *batch, stdout)
	}
	if *events < 1 || *batch < 1 || *senders < 1 || *replicas < 1 {
		return usageError{"--events, --batch, --senders and --replicas must be positive"}
	}
	if *replicas > 1 && (!*hubProcess || !fs.Changed("database")) {
		return usageError{"--replicas needs --hub-process and a shared PostgreSQL --database"}
	}
	if !fs.Changed("data") {
		dir, err := os.MkdirTemp("", "mih-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		fs.Set("data", dir)
	}
	cfg, err := loadConfig(fs, environ)
	if err != nil {
		return usageError{err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *floor {
		return benchFloor(ctx, *events, cfg.WorkerConcurrency, stdout)
	}

	name := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	evName := `\local_bench\event\` + strings.ReplaceAll(name, "-", "_")
	rec := newBenchReceiver(name, *events)
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rsrv := &http.Server{Handler: rec}
	go rsrv.Serve(rln)
	defer rsrv.Close()
	svc := mih.NewService()
	svc.Name, svc.BaseURL = name, "http://"+rln.Addr().String()
	if *backlog {
		// The sends held at the receiver must not time out and come back as retries.
		rec.hold = make(chan struct{})
		svc.TimeoutS = min(3600, max(5, timeout.Seconds()))
	}
	rule := &mih.Rule{Name: name, Event: evName, Service: name, Method: "POST", Active: true, Enrich: []string{},
		Endpoint: "/in", Template: `{"id": "{{id}}", "user": {{relateduserid}}, "at": {{timecreated}}}`}

	var hubs []*benchHub
	defer func() {
		for _, h := range slices.Backward(hubs) {
			h.stop()
		}
	}()
	if *hubProcess {
		// The first hub sets the service and the rule up; the others start after it, so that
		// they read both at start-up.
		// The hub only takes MIH_ADMIN_TOKEN on a database's first start: a token of the run's
		// own lets it run again on a PostgreSQL database that earlier runs used.
		token := secret.NewToken()
		if err := createBenchToken(ctx, cfg, name, token); err != nil {
			return err
		}
		for i := range *replicas {
			h, err := startBenchHubProcess(ctx, cfg, svc, rule, token, i == 0)
			if err != nil {
				return err
			}
			hubs = append(hubs, h)
		}
	} else {
		h, err := startBenchHubInProcess(ctx, cfg, svc, rule)
		if err != nil {
			return err
		}
		hubs = append(hubs, h)
	}
	hub := hubs[0]
	where := "in this process, with the load generator and the receiver"
	if *hubProcess {
		where = fmt.Sprintf("process %d", hub.pid)
		if len(hubs) > 1 {
			where = fmt.Sprintf("%d processes", len(hubs))
		}
	}

	fmt.Fprintf(stdout, "mih bench: %d events, batches of %d, %d senders, rate %s, store %s, hub %s\n",
		*events, *batch, *senders, rateText(*rate), storeName(cfg), where)
	profiled := make(chan error, 1)
	if *cpuProfile != "" {
		go func() { profiled <- benchProfile(ctx, hub, *profileFor, *cpuProfile) }()
	} else {
		profiled <- nil
	}
	cpu0 := make([]time.Duration, len(hubs))
	var cpuErr error
	for i, h := range hubs {
		var err error
		cpu0[i], err = processCPU(h.pid)
		cpuErr = errors.Join(cpuErr, err)
	}
	start := time.Now()
	var next atomic.Int64
	var sendErr atomic.Value
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *senders}}
	interval := time.Duration(0)
	if *rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(*batch) / *rate)
	}
	for range *senders {
		wg.Go(func() {
			for ctx.Err() == nil {
				b := int(next.Add(1) - 1)
				first := b * *batch
				if first >= *events {
					return
				}
				if interval > 0 {
					// Offered load: batch b leaves at start + b·interval, whatever the hub does.
					if d := time.Until(start.Add(time.Duration(b) * interval)); d > 0 {
						time.Sleep(d)
					}
				}
				n := min(*batch, *events-first)
				body := benchBatch(name, evName, first, n)
				sent := time.Now()
				for i := range n {
					rec.sent[first+i].Store(sent.UnixNano())
				}
				to := hubs[b%len(hubs)]
				req, _ := http.NewRequestWithContext(ctx, "POST", to.url+"api/v1/events", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+hub.token)
				resp, err := client.Do(req)
				if err != nil {
					sendErr.Store(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					sendErr.Store(fmt.Errorf("ingest answered %s", resp.Status))
					return
				}
			}
		})
	}
	wg.Wait()
	ingested := time.Since(start)
	if rec.hold != nil {
		close(rec.hold)
	}
	if err, _ := sendErr.Load().(error); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	select {
	case <-rec.done:
	case <-ctx.Done():
		return fmt.Errorf("bench: only %d of %d events delivered before the timeout", rec.count.Load(), *events)
	}
	total := time.Since(start)
	cpu1 := make([]time.Duration, len(hubs))
	for i, h := range hubs {
		var err error
		cpu1[i], err = processCPU(h.pid)
		cpuErr = errors.Join(cpuErr, err)
	}
	lat := rec.latencies()
	fmt.Fprintf(stdout, "ingested   %d events in %s (%.0f events/s)\n", *events, ingested.Round(time.Millisecond), float64(*events)/ingested.Seconds())
	fmt.Fprintf(stdout, "delivered  %d events in %s (%.0f events/s end to end)\n", *events, total.Round(time.Millisecond), float64(*events)/total.Seconds())
	fmt.Fprintf(stdout, "latency    p50 %s  p99 %s  max %s (event sent → delivery received)\n",
		pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1))
	fmt.Fprintf(stdout, "duplicates %d\n", rec.dups.Load())
	if cpuErr != nil {
		fmt.Fprintf(stdout, "hub CPU    unknown (%v)\n", cpuErr)
	} else {
		var used time.Duration
		for i := range hubs {
			used += cpu1[i] - cpu0[i]
		}
		fmt.Fprintf(stdout, "hub CPU    %s in all, %.1f µs per delivered event, %.2f cores busy (%s)\n",
			used.Round(time.Millisecond), float64(used.Microseconds())/float64(*events), used.Seconds()/total.Seconds(), where)
		if len(hubs) > 1 {
			for i, h := range hubs {
				u := cpu1[i] - cpu0[i]
				fmt.Fprintf(stdout, "  process %d: %s, %.1f µs per event delivered in all, %.2f cores busy, peak RSS %s\n",
					h.pid, u.Round(time.Millisecond), float64(u.Microseconds())/float64(*events), u.Seconds()/total.Seconds(), peakRSS(h.pid))
			}
		}
	}
	fmt.Fprintf(stdout, "peak RSS   %s (hub %s)\n", peakRSS(hub.pid), where)
	if err := <-profiled; err != nil {
		return fmt.Errorf("bench: CPU profile: %w", err)
	}
	if *cpuProfile != "" {
		fmt.Fprintf(stdout, "profile    %s (%s; go tool pprof -top %s)\n", *cpuProfile, *profileFor, *cpuProfile)
	}
	return nil
}

// benchProfile writes a CPU profile of the hub over d, taken through its API.
func benchProfile(ctx context.Context, hub *benchHub, d time.Duration, file string) error {
	secs := max(1, int(d.Round(time.Second).Seconds()))
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%sdebug/pprof/profile?seconds=%d", hub.url, secs), nil)
	req.Header.Set("Authorization", "Bearer "+hub.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the hub answered %s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// benchHub is the hub under test: where to reach it, the token to use, the process whose CPU
// time is read, and how to stop it.
type benchHub struct {
	url   string
	token string
	pid   int
	stop  func()
}

// startBenchHubInProcess runs serve in a goroutine of this process on cfg's store.
func startBenchHubInProcess(ctx context.Context, cfg *Config, svc *mih.Service, rule *mih.Rule) (*benchHub, error) {
	logger := newLogger(&Config{LogLevel: "warn", LogFormat: "text"}, os.Stderr)
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*benchHub, error) { st.Close(); return nil, err }
	if err := st.CreateService(ctx, svc); err != nil {
		return fail(fmt.Errorf("create service: %w", err))
	}
	if err := st.CreateRule(ctx, rule); err != nil {
		return fail(fmt.Errorf("create rule: %w", err))
	}
	token := secret.NewToken()
	if err := st.CreateToken(ctx, &mih.Token{Name: svc.Name, Hash: secret.HashToken(token)}); err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	hubCtx, stopHub := context.WithCancel(ctx)
	hubDone := make(chan error, 1)
	go func() { hubDone <- serve(hubCtx, cfg, st, ln, logger) }()
	return &benchHub{url: "http://" + ln.Addr().String() + "/", token: token, pid: os.Getpid(), stop: func() {
		stopHub()
		<-hubDone
		// A shared PostgreSQL database keeps nothing of the run but its events and the token.
		st.DeleteService(context.WithoutCancel(ctx), svc.Name)
		st.Close()
	}}, nil
}

// startBenchHubProcess starts this binary as `mih serve` on cfg's data folder or database and,
// when setup is set, sets the service and the rule up through its API (and deletes the service
// when it stops).
func startBenchHubProcess(ctx context.Context, cfg *Config, svc *mih.Service, rule *mih.Rule, token string, setup bool) (*benchHub, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the mih binary: %w", err)
	}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data", cfg.Data, "--log-level", "warn"}
	if cfg.Database != "" {
		args = append(args, "--database", cfg.Database)
	}
	cmd := exec.Command(exe, args...)
	// The run's token is in the store already; a first start gets an admin token of its own
	// rather than printing a new one.
	cmd.Env = append(os.Environ(), "MIH_ADMIN_TOKEN="+secret.NewToken())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mih serve: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "admin:"); ok {
				urlc <- strings.TrimSpace(rest)
			}
		}
	}()
	hub := &benchHub{token: token, pid: cmd.Process.Pid, stop: stop}
	select {
	case hub.url = <-urlc:
	case <-done:
		return nil, fmt.Errorf("mih serve exited before it listened")
	case <-time.After(30 * time.Second):
		stop()
		return nil, fmt.Errorf("mih serve did not print its URL within 30 s")
	}
	if !setup {
		return hub, nil
	}
	for _, r := range []struct {
		path string
		body any
	}{{"api/v1/services", svc}, {"api/v1/rules", rule}} {
		if err := benchPost(ctx, hub, r.path, r.body); err != nil {
			stop()
			return nil, err
		}
	}
	hub.stop = func() {
		req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "DELETE", hub.url+"api/v1/services/"+svc.Name, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		stop()
	}
	return hub, nil
}

// createBenchToken stores an API token named name in cfg's store, for hubs run as processes.
func createBenchToken(ctx context.Context, cfg *Config, name, token string) error {
	st, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CreateToken(ctx, &mih.Token{Name: name, Hash: secret.HashToken(token)}); err != nil {
		return fmt.Errorf("create the run's API token: %w", err)
	}
	return nil
}

func benchPost(ctx context.Context, hub *benchHub, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, "POST", hub.url+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+hub.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("POST %s: %s %s", path, resp.Status, msg)
	}
	return nil
}

func rateText(r float64) string {
	if r <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.0f/s", r)
}

func benchBatch(run, name string, first, n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		k := first + i
		fmt.Fprintf(&b, `{"id":"%s-%d","eventname":%q,"component":"local_bench","action":"created","target":"thing","crud":"c","contextid":1,"contextlevel":10,"userid":2,"relateduserid":%d,"other":{"n":%d},"timecreated":%d}`,
			run, k, name, k, k, 1767000000+k)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// benchReceiver stands in for an external service: it records when each event arrives.
type benchReceiver struct {
	prefix string
	sent   []atomic.Int64 // send time per event index, Unix ns
	lat    []atomic.Int64 // latency per event index, ns; 0 until delivered
	count  atomic.Int64
	dups   atomic.Int64
	done   chan struct{}
	once   sync.Once
	hold   chan struct{} // when set, requests wait until it is closed
}

func newBenchReceiver(run string, n int) *benchReceiver {
	return &benchReceiver{prefix: run + "-", sent: make([]atomic.Int64, n), lat: make([]atomic.Int64, n), done: make(chan struct{})}
}

func (r *benchReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.hold != nil {
		<-r.hold
	}
	now := time.Now().UnixNano()
	var p struct{ ID string }
	if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	i, err := strconv.Atoi(strings.TrimPrefix(p.ID, r.prefix))
	if err != nil || i < 0 || i >= len(r.lat) {
		http.Error(w, "unknown id", http.StatusBadRequest)
		return
	}
	if !r.lat[i].CompareAndSwap(0, max(1, now-r.sent[i].Load())) {
		r.dups.Add(1)
		return
	}
	if r.count.Add(1) == int64(len(r.lat)) {
		r.once.Do(func() { close(r.done) })
	}
}

func (r *benchReceiver) latencies() []time.Duration {
	out := make([]time.Duration, 0, len(r.lat))
	for i := range r.lat {
		out = append(out, time.Duration(r.lat[i].Load()))
	}
	slices.Sort(out)
	return out
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := min(len(sorted)-1, int(p*float64(len(sorted))))
	return sorted[i].Round(10 * time.Microsecond)
}

// peakRSS reads a process's high-water mark of resident memory (Linux).
func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// processCPU is the user plus system CPU time a process has used so far (Linux), from
// /proc/PID/stat in clock ticks of 1/100 s: fine enough over a run of seconds.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	// The command name, field 2, may hold spaces: fields are counted after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("read CPU time: unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("read CPU time: unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// floorBody is what a delivery of the bench's rule carries.
var floorBody = []byte(`{"id": "bench-floor-00000", "user": 7, "at": 1767225600}`)

// benchFloor measures the part of a delivery no hub code can save: Go's HTTP client sending it
// to the receiver. A child process (benchFloorClient) makes the requests the hub's worker makes —
// a POST of the bench payload with the headers the REST transport sets, over conns keep-alive
// connections — so that its CPU time is the client's alone, and reports it.
func benchFloor(ctx context.Context, events, conns int, stdout io.Writer) error {
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rsrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})}
	go rsrv.Serve(rln)
	defer rsrv.Close()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the mih binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "bench", "--floor-client", "http://"+rln.Addr().String()+"/in",
		"--events", strconv.Itoa(events), "--batch", strconv.Itoa(conns))
	cmd.Stdout, cmd.Stderr = stdout, os.Stderr
	fmt.Fprintf(stdout, "mih bench --floor: %d requests of %d bytes over %d connections, from a child process\n", events, len(floorBody), conns)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bench floor: %w", err)
	}
	return nil
}

// benchFloorClient is benchFloor's child: it sends n requests over conns connections and
// prints its own CPU time per request (from /proc, as for the hub).
func benchFloorClient(ctx context.Context, url string, n, conns int, stdout io.Writer) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
	send := func() error {
		req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(floorBody))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "bench-floor-00000:1")
		req.Header.Set("User-Agent", "mih")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}
	// Warm the connections up, so that their set-up is not counted.
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() { _ = send() })
	}
	wg.Wait()
	var next atomic.Int64
	var sendErr atomic.Value
	cpu0, err := processCPU(os.Getpid())
	if err != nil {
		return err
	}
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if err := send(); err != nil {
					sendErr.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err, _ := sendErr.Load().(error); err != nil {
		return err
	}
	cpu1, err := processCPU(os.Getpid())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "floor      %.1f µs of client CPU per request, %.0f requests/s (process %d)\n",
		float64((cpu1-cpu0).Nanoseconds())/1e3/float64(n), float64(n)/took.Seconds(), os.Getpid())
	return nil
}
