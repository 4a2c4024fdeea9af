package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/tailer"
)

// runBenchCapture measures how fast a real Moodle's events reach a receiver: it creates users
// through the site's Web Services, one at a time with random pauses, while an in-process hub
// (the `mih serve` wiring, default settings) tails the site's log store and, with --http, also
// takes each event over its HTTP API as a plugin or an observer posting at commit would. The
// latency of each capture runs from the moment the Web Service call returned (Moodle has
// committed by then) to the moment the loopback receiver got the delivery. It then stays idle
// for --idle and reports the tailer's queries per second on Moodle's database and the hub's CPU.
// With --plugin-secret, the site is also registered with that plugin_secret and the bench waits
// for the batches the site's local_mih plugin posts at the end of each request: the plugin must
// be set up beforehand with hub_url http://{--hub-listen}, site {--site} and the same secret.
func runBenchCapture(ctx context.Context, args, environ []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("bench-capture", pflag.ContinueOnError)
	serveFlags(fs)
	moodleURL := fs.String("moodle-url", "", "the Moodle site's URL (required)")
	moodleToken := fs.String("moodle-token", "", "a Web Services token allowed core_user_create_users and core_user_delete_users (required)")
	moodleDB := fs.String("moodle-db", "", "the Moodle database URL the tailer reads: postgres://… or mysql://… (required; SELECT on the log table is enough)")
	prefix := fs.String("prefix", "mdl_", "Moodle's table prefix")
	events := fs.Int("events", 50, "users to create")
	pause := fs.Duration("pause", 500*time.Millisecond, "mean pause between users (uniform between half and one and a half times it)")
	withHTTP := fs.Bool("http", true, "also post each event to the hub's HTTP API and measure that path")
	idle := fs.Duration("idle", 60*time.Second, "then measure the idle cost for this long (0: skip)")
	outage := fs.Duration("outage", 0, "the receiver answers 503 for this long from the first user on: reports dead deliveries and how long after its return the waiting ones arrived")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	pluginSecret := fs.String("plugin-secret", "", "also measure the local_mih plugin: the whsec_… secret set in the plugin (local_mih/secret), registered as the site's plugin_secret")
	hubListen := fs.String("hub-listen", "127.0.0.1:0", "the in-process hub's address (fix the port for --plugin-secret: the plugin's hub_url is http://ADDR)")
	siteName := fs.String("site", "", "the site's name in the hub (the plugin's local_mih/site); default: a fresh name per run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *moodleURL == "" || *moodleToken == "" || *moodleDB == "" {
		return usageError{"--moodle-url, --moodle-token and --moodle-db are required"}
	}
	if *events < 1 || *pause < 0 {
		return usageError{"--events must be positive and --pause not negative"}
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

	ws, err := moodle.New(*moodleURL, *moodleToken, moodle.Options{UserAgent: "mih-bench/" + Version})
	if err != nil {
		return fmt.Errorf("moodle: %w", err)
	}
	defer ws.Close()

	run := "capture-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	name := run
	if *siteName != "" {
		name = *siteName
	}
	withPlugin := *pluginSecret != ""
	rec := &captureReceiver{got: map[string]time.Time{}}
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
	svc.Name, svc.BaseURL = run, "http://"+rln.Addr().String()
	rule := &mih.Rule{Name: run, Event: `\core\event\user_created`, Service: run, Method: "POST", Active: true,
		Enrich: []string{}, Endpoint: "/in", Template: `{"id": "{{id}}", "user": {{relateduserid}}}`}
	site := &mih.Site{Name: name, URL: *moodleURL, DB: *moodleDB, Prefix: *prefix, Tail: true, TailFrom: mih.TailFromLatest,
		PluginSecret: *pluginSecret}
	if err := site.Validate(); err != nil {
		return usageError{err.Error()}
	}
	token := secret.NewToken()
	for _, step := range []func() error{
		func() error { return st.CreateService(ctx, svc) },
		func() error { return st.CreateRule(ctx, rule) },
		func() error { return st.CreateSite(ctx, site) },
		func() error { return st.CreateToken(ctx, &mih.Token{Name: run, Hash: secret.HashToken(token)}) },
	} {
		if err := step(); err != nil {
			return fmt.Errorf("set the hub up: %w", err)
		}
	}
	ln, err := net.Listen("tcp", *hubListen)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	hubURL := "http://" + ln.Addr().String() + "/"
	hubCtx, stopHub := context.WithCancel(ctx)
	hubDone := make(chan error, 1)
	go func() { hubDone <- serve(hubCtx, cfg, st, ln, logger) }()
	defer func() {
		stopHub()
		<-hubDone
		cleanup := context.WithoutCancel(ctx)
		st.DeleteSite(cleanup, name)
		st.DeleteService(cleanup, run)
	}()

	// The tailer starts within a second of the site's creation.
	var status *tailer.Status
	for status == nil || !status.Running || status.LastPoll.IsZero() {
		if ctx.Err() != nil {
			return fmt.Errorf("the tailer did not start: %+v", status)
		}
		time.Sleep(100 * time.Millisecond)
		status, _ = tailer.StoredStatus(ctx, st, name, time.Now())
	}
	fmt.Fprintf(stdout, "tailing %s (%s); creating %d users, %s apart on average\n", *moodleURL, status.DB, *events, *pause)
	if withPlugin {
		fmt.Fprintf(stdout, "waiting for local_mih's batches at %s as site %s\n", strings.TrimSuffix(hubURL, "/"), name)
	}
	back := time.Now().Add(*outage)
	if *outage > 0 {
		rec.downUntil(back)
		fmt.Fprintf(stdout, "the receiver answers 503 for %s\n", *outage)
	}

	type sent struct {
		user            int64
		began, at, http time.Time
	}
	var (
		users []sent
		wsLat []time.Duration
	)
	defer func() {
		ids := make([]int64, len(users))
		for i, u := range users {
			ids[i] = u.user
		}
		if len(ids) > 0 {
			if err := ws.Call(context.WithoutCancel(ctx), "core_user_delete_users", map[string]any{"userids": ids}, nil); err != nil {
				fmt.Fprintf(stdout, "could not delete the %d bench users: %v\n", len(ids), err)
			}
		}
	}()
	for i := range *events {
		time.Sleep(time.Duration(float64(*pause) * (0.5 + rand.Float64())))
		uname := fmt.Sprintf("%s-%d", run, i)
		var created []struct {
			ID int64 `json:"id"`
		}
		began := time.Now()
		err := ws.Call(ctx, "core_user_create_users", map[string]any{"users": []map[string]any{{
			"username": strings.ReplaceAll(uname, "-", "_"), "firstname": "Bench", "lastname": strconv.Itoa(i),
			"email": uname + "@bench.invalid", "createpassword": 0, "auth": "manual", "password": "Bench-" + run + "-1aA!",
		}}}, &created)
		at := time.Now()
		if err != nil {
			return fmt.Errorf("create user %d: %w", i, err)
		}
		if len(created) != 1 {
			return fmt.Errorf("create user %d: Moodle returned %d users", i, len(created))
		}
		wsLat = append(wsLat, at.Sub(began))
		s := sent{user: created[0].ID, began: began, at: at}
		if *withHTTP {
			s.http = time.Now()
			ev := map[string]any{"eventname": `\core\event\user_created`, "component": "core", "action": "created",
				"target": "user", "objecttable": "user", "objectid": s.user, "crud": "c", "edulevel": 0,
				"contextid": 1, "contextlevel": 30, "contextinstanceid": s.user, "userid": 2, "relateduserid": s.user,
				"courseid": 0, "other": nil, "timecreated": at.Unix()}
			if err := postJSON(ctx, hubURL+"api/v1/events", token, ev); err != nil {
				return fmt.Errorf("post event %d: %w", i, err)
			}
		}
		users = append(users, s)
	}

	if *outage > 0 {
		captures := []string{tailer.Source}
		if *withHTTP {
			captures = append(captures, "http")
		}
		if withPlugin {
			captures = append(captures, pluginSource)
		}
		return reportOutage(ctx, stdout, st, rec, back, captures, userTimes(users, func(s sent) (int64, time.Time) { return s.user, s.at }))
	}
	deadline := time.Now().Add(30 * time.Second)
	var tail, viaHTTP, viaPlugin, pluginCall []time.Duration
	for {
		tail, viaHTTP, viaPlugin, pluginCall = tail[:0], viaHTTP[:0], viaPlugin[:0], pluginCall[:0]
		for _, u := range users {
			if t, ok := rec.at("logstore", u.user); ok {
				tail = append(tail, t.Sub(u.at))
			}
			if t, ok := rec.at("http", u.user); ok && *withHTTP {
				viaHTTP = append(viaHTTP, t.Sub(u.http))
			}
			if t, ok := rec.at(pluginSource, u.user); ok && withPlugin {
				viaPlugin = append(viaPlugin, t.Sub(u.at))
				pluginCall = append(pluginCall, t.Sub(u.began))
			}
		}
		want := len(users)
		if len(tail) == want && (!*withHTTP || len(viaHTTP) == want) && (!withPlugin || len(viaPlugin) == want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	report := func(what string, d []time.Duration) {
		slices.Sort(d)
		fmt.Fprintf(stdout, "%-40s %3d/%d  p50 %8s  p95 %8s  max %8s\n", what, len(d), len(users),
			pct(d, 0.5).Round(100*time.Microsecond), pct(d, 0.95).Round(100*time.Microsecond), pct(d, 1).Round(100*time.Microsecond))
	}
	report("Web Service call (user creation)", wsLat)
	report("tailer: commit → receiver", tail)
	if *withHTTP {
		report("HTTP API: post → receiver", viaHTTP)
	}
	if withPlugin {
		// The plugin sends from a shutdown function, once the answer is written: the client
		// can read the answer after the delivery arrived, so the first figure can be below
		// zero. Moodle commits between the call's start and its answer: the second figure
		// bounds commit → receiver from above.
		report("local_mih plugin: WS return → receiver", viaPlugin)
		report("local_mih plugin: WS call → receiver", pluginCall)
	}
	if len(tail) < len(users) {
		return fmt.Errorf("only %d of %d tailed events arrived within 30 s", len(tail), len(users))
	}
	if len(viaPlugin) < len(users) && withPlugin {
		return fmt.Errorf("only %d of %d events from local_mih arrived within 30 s: check its hub_url, site and secret, and Moodle's curlsecurityblockedhosts and curlsecurityallowedport", len(viaPlugin), len(users))
	}

	if *idle <= 0 {
		return nil
	}
	// Idle: the tailer's own statement count (saved with its status), and this process's CPU,
	// which is the hub's alone now that the load has stopped.
	time.Sleep(2 * time.Second) // let the last deliveries and polls settle
	s0, err := tailer.StoredStatus(ctx, st, name, time.Now())
	if err != nil || s0 == nil {
		return fmt.Errorf("read the tailer status: %v", err)
	}
	c0, err := processCPU(os.Getpid())
	if err != nil {
		return err
	}
	t0 := time.Now()
	time.Sleep(*idle)
	c1, err := processCPU(os.Getpid())
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	s1, err := tailer.StoredStatus(ctx, st, name, time.Now())
	if err != nil || s1 == nil {
		return fmt.Errorf("read the tailer status: %v", err)
	}
	qps := float64(s1.Queries-s0.Queries) / s1.SavedAt.Sub(s0.SavedAt).Seconds()
	fmt.Fprintf(stdout, "idle for %s: %.1f queries/s on Moodle's database from the tailer; hub CPU %.2f %% of one core (%s)\n",
		elapsed.Round(time.Second), qps, 100*(c1-c0).Seconds()/elapsed.Seconds(), (c1 - c0).Round(10*time.Millisecond))
	return nil
}

// userTimes lists each user's id and creation time.
func userTimes[T any](ss []T, f func(T) (int64, time.Time)) map[int64]time.Time {
	m := make(map[int64]time.Time, len(ss))
	for _, s := range ss {
		id, at := f(s)
		m[id] = at
	}
	return m
}

// reportOutage waits for every user's events (both captures) to arrive after the receiver is
// back, and reports how long after its return the last of those created during the outage
// arrived, and how many deliveries went dead.
func reportOutage(ctx context.Context, stdout io.Writer, st mih.Store, rec *captureReceiver, back time.Time, captures []string, users map[int64]time.Time) error {
	deadline := time.Now().Add(60 * time.Second)
	if back.After(time.Now()) {
		deadline = back.Add(60 * time.Second)
	}
	var (
		last    time.Duration
		waiting int
		missing int
	)
	for {
		last, waiting, missing = 0, 0, 0
		for user, at := range users {
			for _, via := range captures {
				got, ok := rec.at(via, user)
				if !ok {
					missing++
					continue
				}
				if at.Before(back) {
					waiting++
					last = max(last, got.Sub(back))
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	counts, err := st.CountDeliveries(ctx)
	if err != nil {
		return err
	}
	dead := 0
	for _, c := range counts {
		if c.State == mih.DeliveryDead {
			dead += c.Count
		}
	}
	fmt.Fprintf(stdout, "outage: %d deliveries waited for the receiver; the last arrived %s after it came back; %d never arrived; %d dead\n",
		waiting, last.Round(time.Millisecond), missing, dead)
	if missing > 0 || dead > 0 {
		return fmt.Errorf("%d deliveries missing and %d dead after the outage", missing, dead)
	}
	return nil
}

// postJSON posts body to url with the API token and expects a 2xx.
func postJSON(ctx context.Context, url, token string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// pluginSource prefixes the ids of the events local_mih sends.
const pluginSource = "local_mih"

// captureReceiver records when the delivery of each user's event arrived, by capture: the
// tailer's events have ids logstore:…, the plugin's local_mih:…, the others came over HTTP.
type captureReceiver struct {
	mu   sync.Mutex
	got  map[string]time.Time
	down time.Time // answers 503 until then
}

func (r *captureReceiver) downUntil(t time.Time) {
	r.mu.Lock()
	r.down = t
	r.mu.Unlock()
}

func (r *captureReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	r.mu.Lock()
	down := now.Before(r.down)
	r.mu.Unlock()
	if down {
		http.Error(w, "down for the bench", http.StatusServiceUnavailable)
		return
	}
	var p struct {
		ID   string
		User int64
	}
	if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	via := "http"
	if src, _, ok := strings.Cut(p.ID, ":"); ok && (src == tailer.Source || src == pluginSource) {
		via = src
	}
	key := via + ":" + strconv.FormatInt(p.User, 10)
	r.mu.Lock()
	if _, ok := r.got[key]; !ok {
		r.got[key] = now
	}
	r.mu.Unlock()
}

func (r *captureReceiver) at(via string, user int64) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.got[via+":"+strconv.FormatInt(user, 10)]
	return t, ok
}
