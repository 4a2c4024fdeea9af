package web

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
)

// adminTokenName is the name of the API token created at first start; until an admin password is
// set, that token signs in.
const adminTokenName = "admin"

type loginData struct {
	PasswordSet bool
	Next        string
	Error       string
}

// loginPage shows the sign-in form; a signed-in visitor goes straight on.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) error {
	next := localPath(r.URL.Query().Get("next"))
	if s, err := h.sessions.read(r); err != nil {
		return err
	} else if s != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	stored, err := storedPassword(r.Context(), h.store)
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "login", "Sign in", "", loginData{PasswordSet: stored != "", Next: next})
}

// login checks the password (or, until one is set, the admin API token) and starts a session.
// Failed attempts are limited per client address (loginLimiter) and every password check costs
// a PBKDF2 hash, at most two at a time.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	next := localPath(r.PostFormValue("next"))
	client := clientKey(r)
	// The attempt counts as a failure before the password is checked, so that parallel guesses
	// cannot all pass the limit while the first ones are still being hashed; a success then
	// forgets it.
	if wait := h.limiter.attempt(client); wait > 0 {
		h.log.LogAttrs(ctx, slog.LevelWarn, "admin sign-in refused: too many failures", slog.String("client", client))
		return mih.Errorf(codeTooManyAttempts, "too many failed sign-ins from your address; try again in %s", roundUp(wait))
	}
	stored, err := storedPassword(ctx, h.store)
	if err != nil {
		return err
	}
	given := r.PostFormValue("secret")
	ok, by := false, byPassword
	if given != "" {
		// Checks run a few at a time; one that cannot start soon is refused rather than queued,
		// so that a flood of guesses from many addresses costs the hub a bounded amount of CPU
		// and the admin's own sign-in waits at most checkWait.
		wait := time.NewTimer(checkWait)
		select {
		case h.checks <- struct{}{}:
			wait.Stop()
		case <-wait.C:
			h.log.LogAttrs(ctx, slog.LevelWarn, "admin sign-in refused: too many at once", slog.String("client", client))
			return mih.Errorf(codeTooManyAttempts, "too many sign-ins at once; try again in a few seconds")
		case <-ctx.Done():
			wait.Stop()
			return mih.WrapError(mih.CodeUnavailable, ctx.Err(), "the sign-in was canceled")
		}
		if stored != "" {
			ok, err = checkPassword(stored, given)
		} else {
			by = byToken
			ok, err = h.checkAdminToken(r, given)
		}
		<-h.checks
		if err != nil {
			return err
		}
	}
	if !ok {
		h.log.LogAttrs(ctx, slog.LevelWarn, "admin sign-in failed", slog.String("client", client))
		what := "password"
		if stored == "" {
			what = "admin token"
		}
		return h.render(w, r, http.StatusUnauthorized, "login", "Sign in", "",
			loginData{PasswordSet: stored != "", Next: next, Error: "That " + what + " is not right."})
	}
	h.limiter.succeed(client)
	if err := h.sessions.issue(ctx, w, r, by); err != nil {
		return err
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "admin signed in", slog.String("client", client), slog.String("with", by))
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// checkAdminToken looks the token up by its hash, as the API does; only the admin token counts.
func (h *Handler) checkAdminToken(r *http.Request, given string) (bool, error) {
	tok, err := h.store.FindTokenByHash(r.Context(), secret.HashToken(strings.TrimSpace(given)))
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// A token named admin of a narrower scope (made after the first one was revoked) must not
	// open the UI, which can do everything.
	return tok.Name == adminTokenName && tok.Scope == mih.ScopeAdmin, nil
}

// logout ends the session in this browser.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	h.sessions.clear(w, r)
	h.sessions.setFlash(w, r, "ok", "Signed out.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// logoutEverywhere ends every session, in every browser and every process.
func (h *Handler) logoutEverywhere(w http.ResponseWriter, r *http.Request) error {
	if err := revokeSessions(r.Context(), h.store); err != nil {
		return err
	}
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "admin signed out every session", slog.String("client", clientKey(r)))
	h.sessions.clear(w, r)
	h.sessions.setFlash(w, r, "ok", "Every session is signed out.")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// localPath returns p when it is a path on this site, else "/": a sign-in link must not send
// the admin elsewhere afterwards.
func localPath(p string) string {
	// Browsers drop tabs and newlines from URLs and read a backslash as a slash, so "/\t/host"
	// and "/\\host" lead off the site: neither may appear anywhere.
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") ||
		strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\\' }) {
		return "/"
	}
	return p
}

// clientKey is who a failed sign-in is counted against: the peer address (a proxy's forwarding
// headers are not trusted), IPv6 addresses by their /64, since one client holds a whole /64.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func roundUp(d time.Duration) string {
	if d <= time.Minute {
		return fmt.Sprintf("%d seconds", int((d+time.Second-1)/time.Second))
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}

// Failed sign-ins: loginMaxFailures within loginWindow from one client block it until the
// oldest of them is loginWindow old. The count is per process: with several processes behind a
// balancer a client gets that many tries per process, still far too few to guess a password.
const (
	// checkWait is how long a sign-in waits for a free password check before it is refused.
	checkWait        = time.Second
	loginMaxFailures = 5
	loginWindow      = 15 * time.Minute
	loginMaxClients  = 1 << 16
)

type loginLimiter struct {
	now      func() time.Time
	mu       sync.Mutex
	failures map[string][]time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, failures: map[string][]time.Time{}}
}

// recent drops the client's failures older than the window; call with mu held.
func (l *loginLimiter) recent(client string, now time.Time) []time.Time {
	fs := l.failures[client]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) >= loginWindow {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(l.failures, client)
		return nil
	}
	l.failures[client] = fs
	return fs
}

// blocked reports how long the client must wait before trying again (0: it may try now).
func (l *loginLimiter) blocked(client string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	fs := l.recent(client, now)
	if len(fs) < loginMaxFailures {
		return 0
	}
	return fs[len(fs)-loginMaxFailures].Add(loginWindow).Sub(now)
}

// attempt records an attempt of the client as a failure, unless it is blocked: then it reports
// how long to wait and records nothing. A successful attempt calls succeed, which forgets it.
func (l *loginLimiter) attempt(client string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if fs := l.recent(client, now); len(fs) >= loginMaxFailures {
		return fs[len(fs)-loginMaxFailures].Add(loginWindow).Sub(now)
	}
	l.failLocked(client, now)
	return 0
}

func (l *loginLimiter) fail(client string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failLocked(client, now)
}

func (l *loginLimiter) failLocked(client string, now time.Time) {
	if len(l.failures) >= loginMaxClients {
		// Many addresses at once: forget the ones whose failures have aged out, and if that is
		// not enough, start over rather than grow without bound.
		for c := range l.failures {
			l.recent(c, now)
		}
		if len(l.failures) >= loginMaxClients {
			clear(l.failures)
		}
	}
	fs := append(l.recent(client, now), now)
	if len(fs) > loginMaxFailures {
		fs = fs[len(fs)-loginMaxFailures:]
	}
	l.failures[client] = fs
}

func (l *loginLimiter) succeed(client string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, client)
}
