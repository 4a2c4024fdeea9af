// Package web is the administrator's web UI, served by `mih serve` at / beside the JSON API.
//
// It is server-rendered: html/template pages embedded in the binary, parsed once at start-up and
// rendered into a buffer, so that a failing page never sends half an answer. Every form works
// without JavaScript; static/app.js only refreshes the dashboard and running sync runs, and hides
// the form fields that do not apply to the chosen service or auth type. Charts are SVG drawn here.
//
// One route table (routes.go) lists every page; each page has a file of its own with one handler
// method on the small Handler. Every change goes through package ops, as the API's do: deleting a
// service needs a confirmation that says what goes with it, only dead deliveries are replayed, a
// replay keeps the idempotency key. The UI reads the store directly.
//
// Sign-in and sessions are described in session.go and login.go: a stateless, HMAC-signed cookie,
// so that several `mih serve` processes sharing one database accept each other's sessions.
package web

import (
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
	"github.com/mihhub/mih/ops"
)

// Config wires a Handler. Ops and SecretKey are required.
type Config struct {
	// Ops makes every change the UI asks for, with its side effects (cache invalidation,
	// wake-ups, circuit resets), and the connection tests; the UI reads from its store.
	Ops    *ops.Ops
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
	ops      *ops.Ops
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
	if cfg.Ops == nil {
		return nil, errors.New("web: Ops is required")
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
		ops:      cfg.Ops,
		store:    cfg.Ops.Store(),
		log:      cfg.Logger,
		now:      cfg.Now,
		sessions: &sessions{key: key, store: cfg.Ops.Store(), ttl: cfg.SessionTTL, now: cfg.Now, secure: cfg.SecureCookies},
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
