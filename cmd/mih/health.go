package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	mihhttp "github.com/mihhub/mih/http"
	"github.com/mihhub/mih/tailer"
)

// readiness answers GET /api/v1/ready for `mih serve`: the store answers and its schema is the
// one this build migrates to, every background loop of this process is running, and so is the
// tailer of every site whose lease this process holds. A hub that is shutting down is not ready,
// so that load balancers drain it first.
type readiness struct {
	store interface {
		ConfigVersion(ctx context.Context) (int64, error)
	}
	tailers *tailer.Supervisor
	stopped func() bool // the hub is shutting down

	mu    sync.Mutex
	loops map[string]string // name → "" while running, else why it is not
	order []string
}

// schemaVersioner is the store's schema check; the SQL store implements it.
type schemaVersioner interface {
	SchemaVersion(ctx context.Context) (current, latest int64, err error)
}

func newReadiness(store interface {
	ConfigVersion(ctx context.Context) (int64, error)
}, tailers *tailer.Supervisor, stopped func() bool) *readiness {
	return &readiness{store: store, tailers: tailers, stopped: stopped, loops: map[string]string{}}
}

// track returns run wrapped so that the readiness answer says whether it is running.
func (r *readiness) track(name string, run func(context.Context) error) func(context.Context) error {
	r.mu.Lock()
	r.loops[name] = "not started"
	r.order = append(r.order, name)
	r.mu.Unlock()
	return func(ctx context.Context) error {
		r.set(name, "")
		err := run(ctx)
		// The answer is public: the error itself goes to the log (serve logs it), not here.
		why := "stopped"
		if err != nil && ctx.Err() == nil {
			why = "stopped with an error (see the log)"
		}
		r.set(name, why)
		return err
	}
}

func (r *readiness) set(name, why string) {
	r.mu.Lock()
	r.loops[name] = why
	r.mu.Unlock()
}

// checks runs every check; the HTTP API serves them.
func (r *readiness) checks(ctx context.Context) []mihhttp.ReadinessCheck {
	var out []mihhttp.ReadinessCheck
	if r.stopped() {
		out = append(out, mihhttp.ReadinessCheck{Name: "shutdown", OK: false, Detail: "the hub is shutting down"})
	}
	if _, err := r.store.ConfigVersion(ctx); err != nil {
		// The error may hold a database host name but no credential: the store's errors never
		// carry the URL's password.
		out = append(out, mihhttp.ReadinessCheck{Name: "store", OK: false, Detail: "the store does not answer"})
	} else {
		out = append(out, mihhttp.ReadinessCheck{Name: "store", OK: true})
	}
	if sv, ok := r.store.(schemaVersioner); ok {
		c := mihhttp.ReadinessCheck{Name: "schema"}
		cur, latest, err := sv.SchemaVersion(ctx)
		switch {
		case err != nil:
			c.Detail = "cannot read the schema version"
		case cur < latest:
			c.Detail = fmt.Sprintf("schema version %d, this build needs %d", cur, latest)
		case cur > latest:
			c.Detail = fmt.Sprintf("schema version %d is newer than this build's %d: a newer mih migrated the database", cur, latest)
		default:
			c.OK, c.Detail = true, fmt.Sprintf("version %d", cur)
		}
		out = append(out, c)
	}
	r.mu.Lock()
	for _, name := range r.order {
		why := r.loops[name]
		out = append(out, mihhttp.ReadinessCheck{Name: name, OK: why == "", Detail: why})
	}
	r.mu.Unlock()
	if r.tailers != nil {
		for _, s := range r.tailers.Statuses() {
			c := mihhttp.ReadinessCheck{Name: "tailer:" + s.Site, OK: s.Running}
			switch {
			case !s.Running:
				c.Detail = "this process holds the site's lease but its tailer is not running"
			case s.Failures > 0:
				// A Moodle database that does not answer is reported, not a reason to take this
				// process out of service: another would fail the same way.
				c.Detail = fmt.Sprintf("running; %d failed polls in a row", s.Failures)
			default:
				c.Detail = fmt.Sprintf("running; lag %d", s.Lag)
			}
			out = append(out, c)
		}
	}
	return out
}

// runHealth runs `mih health`: a GET of the hub's liveness (or, with --ready, readiness)
// endpoint; exit 0 when it answers 200, 1 otherwise. Container and systemd health checks run it.
func runHealth(ctx context.Context, c *cli, args []string) error {
	fs := pflag.NewFlagSet("health", pflag.ContinueOnError)
	serveFlags(fs)
	url := fs.String("url", "", "the hub's base URL (default: http:// and --listen, with 127.0.0.1 for an all-interfaces address)")
	ready := fs.Bool("ready", false, "ask for readiness (/api/v1/ready) instead of liveness (/api/v1/health)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	quiet := fs.BoolP("quiet", "q", false, "print nothing; only the exit code tells")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"usage: mih health [--url URL] [--ready]"}
	}
	cfg, err := loadConfig(fs, c.environ)
	if err != nil {
		return usageError{err.Error()}
	}
	base := *url
	if base == "" {
		base = "http://" + localAddr(cfg.Listen)
	}
	path := "/api/v1/health"
	if *ready {
		path = "/api/v1/ready"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+path, nil)
	if err != nil {
		return usageError{fmt.Sprintf("--url %q: %v", base, err)}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if !*quiet {
		var pretty map[string]any
		if json.Unmarshal(body, &pretty) == nil {
			b, _ := json.MarshalIndent(pretty, "", "  ")
			body = b
		}
		fmt.Fprintf(c.stdout, "%s\n", body)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s", req.URL, resp.Status)
	}
	return nil
}

// localAddr turns a listen address into one to connect to: an all-interfaces host (":8080",
// "0.0.0.0:8080", "[::]:8080") becomes the loopback address.
func localAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
