package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
)

// runBench measures the whole pipeline in one process: HTTP ingest → rules → template → ledger →
// workers → a loopback HTTP receiver. It prints events/s, event-to-delivery latency and peak RSS.
func runBench(ctx context.Context, args, environ []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	serveFlags(fs)
	events := fs.Int("events", 20000, "events to send")
	batch := fs.Int("batch", 100, "events per ingest request")
	senders := fs.Int("senders", 4, "concurrent ingest clients")
	rate := fs.Float64("rate", 0, "events per second offered (0: as fast as the hub takes them)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *events < 1 || *batch < 1 || *senders < 1 {
		return usageError{"--events, --batch and --senders must be positive"}
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

	name := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	rec := newBenchReceiver(name, *events)
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rsrv := &http.Server{Handler: rec}
	go rsrv.Serve(rln)
	defer rsrv.Close()

	logger := newLogger(&Config{LogLevel: "warn", LogFormat: "text"}, os.Stderr)
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := mih.NewService()
	svc.Name, svc.BaseURL = name, "http://"+rln.Addr().String()
	if err := st.CreateService(ctx, svc); err != nil {
		return fmt.Errorf("create service: %w", err)
	}
	// A shared PostgreSQL database keeps nothing of the run but its events and the token.
	defer st.DeleteService(context.WithoutCancel(ctx), name)
	evName := `\local_bench\event\` + strings.ReplaceAll(name, "-", "_")
	if err := st.CreateRule(ctx, &mih.Rule{Name: name, Event: evName, Service: name, Method: "POST",
		Endpoint: "/in", Template: `{"id": "{{id}}", "user": {{relateduserid}}, "at": {{timecreated}}}`, Active: true, Enrich: []string{}}); err != nil {
		return fmt.Errorf("create rule: %w", err)
	}
	token := secret.NewToken()
	if err := st.CreateToken(ctx, &mih.Token{Name: name, Hash: secret.HashToken(token)}); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hubCtx, stopHub := context.WithCancel(ctx)
	hubDone := make(chan error, 1)
	go func() { hubDone <- serve(hubCtx, cfg, st, ln, logger) }()
	defer func() { stopHub(); <-hubDone }()
	url := "http://" + ln.Addr().String() + "/api/v1/events"

	fmt.Fprintf(stdout, "mih bench: %d events, batches of %d, %d senders, rate %s, store %s\n",
		*events, *batch, *senders, rateText(*rate), storeName(cfg))
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
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
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
	if err, _ := sendErr.Load().(error); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	select {
	case <-rec.done:
	case <-ctx.Done():
		return fmt.Errorf("bench: only %d of %d events delivered before the timeout", rec.count.Load(), *events)
	}
	total := time.Since(start)
	lat := rec.latencies()
	fmt.Fprintf(stdout, "ingested   %d events in %s (%.0f events/s)\n", *events, ingested.Round(time.Millisecond), float64(*events)/ingested.Seconds())
	fmt.Fprintf(stdout, "delivered  %d events in %s (%.0f events/s end to end)\n", *events, total.Round(time.Millisecond), float64(*events)/total.Seconds())
	fmt.Fprintf(stdout, "latency    p50 %s  p99 %s  max %s (event sent → delivery received)\n",
		pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1))
	fmt.Fprintf(stdout, "duplicates %d\n", rec.dups.Load())
	fmt.Fprintf(stdout, "peak RSS   %s (hub, load generator and receiver in one process)\n", peakRSS())
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
}

func newBenchReceiver(run string, n int) *benchReceiver {
	return &benchReceiver{prefix: run + "-", sent: make([]atomic.Int64, n), lat: make([]atomic.Int64, n), done: make(chan struct{})}
}

func (r *benchReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
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

// peakRSS reads the process's high-water mark of resident memory (Linux).
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
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
