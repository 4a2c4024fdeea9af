// Package web is the administrator's web UI, served by `mih serve` at / beside the JSON API.
//
// It is server-rendered: html/template pages embedded in the binary, parsed once at start-up and
// rendered into a buffer, so that a failing page never sends half an answer. Every form works
// without JavaScript; static/app.js only refreshes the dashboard and running sync runs, and hides
// the form fields that do not apply to the chosen service or auth type. Charts are SVG drawn here.
//
// One route table (routes.go) lists every page; each page has a file of its own with one handler
// method on the small Handler. The operations are the API's, on the same store calls: deleting a
// service needs a confirmation that says what goes with it, only dead deliveries are replayed, a
// replay keeps the idempotency key.
//
// Sign-in and sessions are described in session.go and login.go: a stateless, HMAC-signed cookie,
// so that several `mih serve` processes sharing one database accept each other's sessions.
package web

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/tailer"
)

// RuleCache is the compiled rule set, invalidated after a rule or service changes;
// *rule.Set implements it.
type RuleCache interface {
	Invalidate()
}

// Circuits is the services' circuit breakers; *breaker.Breaker implements it.
type Circuits interface {
	// State reports a service's circuit: mih.CircuitClosed, CircuitOpen or CircuitHalfOpen.
	State(service string) string
	// Reset closes a service's circuit and resumes its paused deliveries.
	Reset(ctx context.Context, service string) error
	// ResetAll closes every circuit and reports how many it closed.
	ResetAll(ctx context.Context) (int, error)
}

// Gateway calls a service through the breaker; *gateway.Gateway implements it. The UI uses it
// for the "Test connection" button.
type Gateway interface {
	Do(ctx context.Context, svc *mih.Service, req *mih.Request) (*gateway.Result, error)
}

// Tailers reports the log store tailers this process runs; *tailer.Supervisor implements it.
// The sites pages show a site's tailer when this process runs it.
type Tailers interface {
	// Status returns the status of the site's tailer, or nil when this process does not run it.
	Status(site string) *tailer.Status
}

// Config wires a Handler. Store and SecretKey are required.
type Config struct {
	Store mih.Store
	// Rules is invalidated after every rule or service write (nil: nothing to invalidate).
	Rules RuleCache
	// Circuits reports and resets circuits (nil: every circuit reads closed, resets do nothing).
	Circuits Circuits
	// Gateway makes the "Test connection" call of REST and SOAP services (nil: the button
	// answers that testing is unavailable).
	Gateway Gateway
	// Tailers reports the log store tailers of this process (nil: the sites pages say that the
	// tail status is not known here).
	Tailers Tailers
	// Notify wakes the delivery workers after a replay or a circuit reset (nil: they find the
	// work when they poll).
	Notify func()
	Logger *slog.Logger
	Now    func() time.Time
	// SecretKey is the hub's secret key (secret.LoadOrCreateKey). The key that signs session
	// cookies and form tokens is derived from it, so every process sharing the store — and so
	// the same secret key — accepts the same sessions, and a copy of the database alone cannot
	// forge one.
	SecretKey []byte
	// SecureCookies marks the session cookie Secure even when the request did not come over TLS
	// here (TLS ends at a proxy in front of the hub). Requests that came over TLS always get it.
	SecureCookies bool
	// SessionTTL is how long a sign-in lasts (default 12 h).
	SessionTTL time.Duration
	// Files replaces the embedded templates/ and static/ (nil: the embedded ones), so that a
	// developer can edit them without rebuilding.
	Files fs.FS
	// Version is shown in the footer.
	Version string
}

// DefaultSessionTTL is how long a sign-in lasts when Config.SessionTTL is zero.
const DefaultSessionTTL = 12 * time.Hour

// maxFormBytes bounds a form body: a rule template is the largest field.
const maxFormBytes = 1 << 20

// Handler is the web UI. Build it with New; it is an http.Handler.
type Handler struct {
	cfg      Config
	store    mih.Store
	log      *slog.Logger
	now      func() time.Time
	pages    map[string]*template.Template
	static   *staticFiles
	sessions *sessions
	limiter  *loginLimiter
	// checks bounds the password hashes computed at once: each costs ~0.1 s of a core, so
	// a flood of login attempts must not take the machine.
	checks  chan struct{}
	handler http.Handler
}

// New parses every template and returns the UI. A template that does not parse fails here, at
// start-up, not on the first visit of its page.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("web: Store is required")
	}
	if len(cfg.SecretKey) < 16 {
		return nil, errors.New("web: SecretKey is required (at least 16 bytes)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rules == nil {
		cfg.Rules = noRules{}
	}
	if cfg.Circuits == nil {
		cfg.Circuits = closedCircuits{}
	}
	if cfg.Notify == nil {
		cfg.Notify = func() {}
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Files == nil {
		cfg.Files = embedded
	}
	key, err := hkdf.Key(sha256.New, cfg.SecretKey, nil, "mih web session v1", 32)
	if err != nil {
		return nil, fmt.Errorf("web: derive the session key: %w", err)
	}
	h := &Handler{
		cfg:      cfg,
		store:    cfg.Store,
		log:      cfg.Logger,
		now:      cfg.Now,
		sessions: &sessions{key: key, store: cfg.Store, ttl: cfg.SessionTTL, now: cfg.Now, secure: cfg.SecureCookies},
		limiter:  newLoginLimiter(cfg.Now),
		checks:   make(chan struct{}, 2),
	}
	if h.static, err = newStaticFiles(cfg.Files); err != nil {
		return nil, err
	}
	if h.pages, err = parsePages(cfg.Files, h.funcs()); err != nil {
		return nil, err
	}
	h.handler = h.routes()
	return h, nil
}

// ServeHTTP serves the UI.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

type noRules struct{}

func (noRules) Invalidate() {}

// closedCircuits stands in when the hub runs without a breaker: every circuit is closed.
type closedCircuits struct{}

func (closedCircuits) State(string) string                   { return mih.CircuitClosed }
func (closedCircuits) Reset(context.Context, string) error   { return nil }
func (closedCircuits) ResetAll(context.Context) (int, error) { return 0, nil }
