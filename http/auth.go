package http

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
)

// touchEvery is how often a token's last-used time is written at most: once a minute per token,
// not once per request.
const touchEvery = time.Minute

// authenticator checks bearer tokens against the token store. Tokens are looked up by their
// SHA-256 hash, so no comparison of secrets happens here.
type authenticator struct {
	store  mih.TokenStore
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	touched map[int64]time.Time
}

func newAuthenticator(store mih.TokenStore, now func() time.Time, logger *slog.Logger) *authenticator {
	return &authenticator{store: store, now: now, logger: logger, touched: map[int64]time.Time{}}
}

var errUnauthorized = mih.Errorf(mih.CodeUnauthorized, "missing or invalid API token: send Authorization: Bearer <token>")

// require lets only requests with a valid bearer token through to h.
func (a *authenticator) require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := a.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mih"`)
			writeError(w, r, a.logger, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(withToken(r.Context(), tok)))
	})
}

func (a *authenticator) authenticate(r *http.Request) (*mih.Token, error) {
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return nil, errUnauthorized
	}
	tok, err := a.store.FindTokenByHash(r.Context(), secret.HashToken(raw))
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return nil, errUnauthorized
	}
	if err != nil {
		return nil, err
	}
	a.touch(r, tok)
	return tok, nil
}

// touch records the token's use, at most once per touchEvery. A failure is logged, never fatal:
// the request is authenticated either way.
func (a *authenticator) touch(r *http.Request, tok *mih.Token) {
	now := a.now().UTC()
	a.mu.Lock()
	last, seen := a.touched[tok.ID]
	if !seen && tok.LastUsedAt != nil {
		last = *tok.LastUsedAt
	}
	due := now.Sub(last) >= touchEvery
	if due {
		a.touched[tok.ID] = now
	}
	a.mu.Unlock()
	if !due {
		return
	}
	if err := a.store.TouchToken(r.Context(), tok.ID, now); err != nil {
		a.logger.LogAttrs(r.Context(), slog.LevelWarn, "record token use",
			slog.String("request_id", RequestID(r.Context())),
			slog.Int64("token", tok.ID),
			slog.String("err", err.Error()))
	}
}
