// Package http serves the hub's JSON API under /api/v1 and its Prometheus metrics.
//
// One route table (routes.go) lists every route with its method, pattern and handler; each
// resource has a file of its own with a small handler struct that holds only what it needs. The
// one map from error codes to statuses is in error.go. Import it as mihhttp.
package http

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/inbound"
	"github.com/mihhub/mih/ops"
)

// DefaultMaxBodyBytes bounds request bodies when Config.MaxBodyBytes is zero: 10 MiB.
const DefaultMaxBodyBytes = 10 << 20

// Ingester accepts events; *event.Ingester implements it. Ingest returns only once the events
// and their deliveries are durably stored.
type Ingester interface {
	Ingest(ctx context.Context, source, site string, events []*mih.Event) (mih.IngestResult, error)
}

// Gateway calls a service with retries and the circuit breaker; *gateway.Gateway implements it.
// Do returns an error only when no call was made (see gateway.Gateway.Do).
type Gateway interface {
	Do(ctx context.Context, svc *mih.Service, req *mih.Request) (*gateway.Result, error)
}

// Config wires a Server. Store, Ops and Ingester are required; the rest is optional.
type Config struct {
	// Store is read from; every change goes through Ops, which invalidates caches and wakes the
	// workers as the change requires.
	Store    mih.Store
	Ops      *ops.Ops
	Ingester Ingester
	// Gatherer is served at GET /metrics (nil: an empty registry).
	Gatherer prometheus.Gatherer
	// PublicMetrics serves /metrics without a token, for scrapers that cannot send one.
	PublicMetrics bool
	// Gateway makes the synchronous calls of POST /api/v1/gateway/{service}; *gateway.Gateway
	// implements it. nil: synchronous calls answer 503 unavailable (asynchronous ones still work).
	Gateway Gateway
	// Inbound stores the messages of inbound endpoints (nil: one over Store, waking the workers
	// through Ops' ledger).
	Inbound *inbound.Receiver
	// Readiness runs the checks of GET /api/v1/ready; the hub is ready when all pass. nil:
	// ready whenever it answers.
	Readiness func(ctx context.Context) []ReadinessCheck
	Logger    *slog.Logger
	// MaxBodyBytes bounds every request body (0: DefaultMaxBodyBytes). Over it: 413 too_large.
	MaxBodyBytes int64
	Now          func() time.Time
	Version      string
}

// Server is the HTTP API. Build it with NewServer and serve Handler.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	routes  []route
	handler http.Handler
}

// NewServer returns a server for cfg, with defaults filled in.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	if cfg.Ops == nil {
		cfg.Ops = ops.New(ops.Config{Store: cfg.Store, Logger: cfg.Logger, Now: cfg.Now})
	}
	if cfg.Inbound == nil {
		cfg.Inbound = inbound.NewReceiver(cfg.Store, cfg.Ops.Ledger().Notify, cfg.Now)
	}
	s := &Server{cfg: cfg, logger: cfg.Logger}
	s.routes = s.routeTable()
	mux := http.NewServeMux()
	a := newAuthenticator(cfg.Store, cfg.Store, cfg.Now, cfg.Logger)
	for _, rt := range s.routes {
		h := rt.Handler
		if !rt.Public {
			h = a.scoped(h, rt)
		}
		switch {
		case rt.Public:
		case rt.Signed:
			h = a.requireOrSigned(h)
		case rt.MoodleToken:
			h = a.requireMoodle(h)
		default:
			h = a.require(h)
		}
		// The body limit comes first: verifying a signed batch reads the body.
		mux.Handle(rt.Method+" "+rt.Pattern, s.limitBody(h))
	}
	// Whatever no route matches answers a JSON 404 or 405.
	mux.Handle("/", &unmatched{mux: mux, logger: s.logger})
	s.handler = chain(mux,
		s.requestID,
		s.securityHeaders,
		s.accessLog,
		s.recoverPanic,
	)
	return s
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// apiFunc is an API handler: it writes its answer, or returns an error that is written as JSON.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// api adapts an apiFunc to an http.Handler that writes returned errors.
func (s *Server) api(fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			writeError(w, r, s.logger, err)
		}
	})
}

// limitBody bounds the request body; reading past the limit fails with *http.MaxBytesError.
func (s *Server) limitBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		h.ServeHTTP(w, r)
	})
}
