package http

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/webhook"
)

// touchEvery is how often a token's last-used time is written at most: once a minute per token,
// not once per request.
const touchEvery = time.Minute

// Headers of the Moodle-facing ingest routes.
const (
	// HeaderSite names the site a local_mih batch comes from (with the Standard Webhooks
	// headers), or the site of a backend_sync event.
	HeaderSite = "X-MIH-Site"
	// HeaderMoodleToken carries the API token of the backend_sync plugin.
	HeaderMoodleToken = "X-Moodle-Token"
)

// authenticator checks API tokens against the token store, and the signatures of local_mih
// batches against the sites' plugin secrets. Tokens are looked up by their SHA-256 hash, so no
// comparison of secrets happens here.
type authenticator struct {
	tokens mih.TokenStore
	sites  mih.SiteStore
	now    func() time.Time
	logger *slog.Logger
	// decoy verifies batches of unknown sites and of sites without a plugin secret, so that
	// they fail exactly like a bad signature, after the same work.
	decoy string

	mu      sync.Mutex
	touched map[int64]time.Time
}

func newAuthenticator(tokens mih.TokenStore, sites mih.SiteStore, now func() time.Time, logger *slog.Logger) *authenticator {
	k := make([]byte, 32)
	rand.Read(k)
	return &authenticator{
		tokens: tokens, sites: sites, now: now, logger: logger,
		decoy:   "whsec_" + base64.StdEncoding.EncodeToString(k),
		touched: map[int64]time.Time{},
	}
}

var (
	errUnauthorized       = mih.Errorf(mih.CodeUnauthorized, "missing or invalid API token: send Authorization: Bearer <token>")
	errMoodleUnauthorized = mih.Errorf(mih.CodeUnauthorized, "missing or invalid API token: send X-Moodle-Token: <token> or Authorization: Bearer <token>")
	errSignature          = mih.Errorf(mih.CodeUnauthorized, "signed batch refused: unknown site or no valid signature (check the plugin's site and secret against the hub's site and its plugin_secret)")
)

// require lets only requests with a valid bearer token through to h.
func (a *authenticator) require(h http.Handler) http.Handler {
	return a.guard(h, bearerToken, errUnauthorized)
}

// requireMoodle is require for the backend_sync routes: the token may also come in
// X-Moodle-Token, the header that plugin sends. Authorization wins when both are present.
func (a *authenticator) requireMoodle(h http.Handler) http.Handler {
	return a.guard(h, func(r *http.Request) string {
		if r.Header.Get("Authorization") != "" {
			return bearerToken(r)
		}
		return strings.TrimSpace(r.Header.Get(HeaderMoodleToken))
	}, errMoodleUnauthorized)
}

// guard lets a request through to h when token(r) is a valid API token; fail is the answer
// otherwise.
func (a *authenticator) guard(h http.Handler, token func(*http.Request) string, fail *mih.Error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := a.authenticate(r, token(r), fail)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mih"`)
			writeError(w, r, a.logger, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(withToken(r.Context(), tok)))
	})
}

// scoped lets a request through to h when the token that authenticated it (see guard) may call
// rt; a signed batch has no token, and its route admits it already.
func (a *authenticator) scoped(h http.Handler, rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := TokenFrom(r.Context()); tok != nil && !tok.Permits(r.Method, rt.Class) {
			writeError(w, r, a.logger, mih.Errorf(mih.CodeForbidden, "token %q has scope %s, which may not %s %s (%s)",
				tok.Name, tok.Scope, r.Method, r.URL.Path, scopeHint(tok.Scope)))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func scopeHint(scope string) string {
	switch scope {
	case mih.ScopeIngest:
		return "an ingest token may only post events"
	case mih.ScopeGateway:
		return "a gateway token may only post events and call services through the gateway"
	case mih.ScopeRead:
		return "a read token may only read"
	}
	return "use an admin token"
}

// bearerToken returns the token of an Authorization: Bearer header, "" when there is none.
func bearerToken(r *http.Request) string {
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return raw
}

func (a *authenticator) authenticate(r *http.Request, raw string, fail *mih.Error) (*mih.Token, error) {
	if raw == "" {
		return nil, fail
	}
	tok, err := a.tokens.FindTokenByHash(r.Context(), secret.HashToken(raw))
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return nil, fail
	}
	if err != nil {
		return nil, err
	}
	a.touch(r, tok)
	return tok, nil
}

// requireOrSigned guards POST /api/v1/events, the one route local_mih posts to: a request with
// an Authorization header goes through require as everywhere else; one with X-MIH-Site and none
// is a batch signed the Standard Webhooks way with that site's plugin_secret, verified over the
// exact body bytes before h sees it. h finds the site with signedSite.
func (a *authenticator) requireOrSigned(h http.Handler) http.Handler {
	byToken := a.require(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site := strings.TrimSpace(r.Header.Get(HeaderSite))
		if site == "" || r.Header.Get("Authorization") != "" {
			byToken.ServeHTTP(w, r)
			return
		}
		body, err := a.verifySigned(r, site)
		if err != nil {
			writeError(w, r, a.logger, err)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r.WithContext(withSignedSite(r.Context(), site)))
	})
}

// verifySigned reads the body of a signed batch and checks it came from site. Missing headers
// and a timestamp out of tolerance are named (they are the sender's clock or configuration, and
// are checked before the body is read); an unknown site, a site without plugin_secret and a
// wrong signature all answer errSignature, after the same work, so that the answer does not
// tell which site names exist. The reason is logged at debug level; no secret is.
func (a *authenticator) verifySigned(r *http.Request, site string) ([]byte, error) {
	now := a.now()
	if reason := checkSignedHeaders(r.Header, now); reason != "" {
		a.refused(r, site, reason)
		return nil, mih.Errorf(mih.CodeUnauthorized, "signed batch refused: %s", reason)
	}
	key, reason := a.decoy, ""
	if !mih.ValidName(site) {
		reason = "not a site name"
	} else if s, err := a.sites.FindSiteByName(r.Context(), site); mih.ErrorCode(err) == mih.CodeNotFound {
		reason = "unknown site"
	} else if err != nil {
		return nil, err
	} else if s.PluginSecret == "" {
		reason = "the site has no plugin_secret"
	} else {
		key = s.PluginSecret
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	err = webhook.Verify(key, r.Header, body, now, webhook.Tolerance)
	if reason == "" && err == nil {
		return body, nil
	}
	if mih.ErrorCode(err) == mih.CodeInternal {
		// The stored plugin_secret does not decode: the hub's configuration, not the sender.
		return nil, fmt.Errorf("verify the batch of site %q: %w", site, err)
	}
	if reason == "" {
		reason = mih.ErrorMessage(err)
	}
	a.refused(r, site, reason)
	return nil, errSignature
}

// checkSignedHeaders says what is wrong, before anything is read or looked up, with a signed
// request whose Standard Webhooks headers are missing or whose timestamp is more than
// webhook.Tolerance away from now; "" when nothing is. webhook.Verify checks the same again with
// the signature.
func checkSignedHeaders(h http.Header, now time.Time) string {
	for _, name := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
		if strings.TrimSpace(h.Get(name)) == "" {
			return "missing " + strings.ToLower(name) + " header (local_mih signs with webhook-id, webhook-timestamp and webhook-signature)"
		}
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(h.Get(webhook.HeaderTimestamp)), 10, 64)
	// Bounded, so that the difference with now cannot overflow.
	if err != nil || ts < 0 || ts > 1<<40 {
		return "webhook-timestamp is not a Unix time in seconds"
	}
	tol := int64(webhook.Tolerance / time.Second)
	switch d := now.Unix() - ts; {
	case d > tol:
		return fmt.Sprintf("webhook-timestamp is %ds in the past, more than the %ds allowed: check the clocks of Moodle and the hub", d, tol)
	case -d > tol:
		return fmt.Sprintf("webhook-timestamp is %ds in the future, more than the %ds allowed: check the clocks of Moodle and the hub", -d, tol)
	}
	return ""
}

// refused logs why a signed batch was refused, at debug level: the site header as sent (cut
// short) and the reason, never a secret or a signature.
func (a *authenticator) refused(r *http.Request, site, reason string) {
	if !a.logger.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	if len(site) > 64 {
		site = site[:64] + "…"
	}
	a.logger.LogAttrs(r.Context(), slog.LevelDebug, "signed batch refused",
		slog.String("request_id", RequestID(r.Context())),
		slog.String("site", site),
		slog.String("reason", reason))
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
	if err := a.tokens.TouchToken(r.Context(), tok.ID, now); err != nil {
		a.logger.LogAttrs(r.Context(), slog.LevelWarn, "record token use",
			slog.String("request_id", RequestID(r.Context())),
			slog.Int64("token", tok.ID),
			slog.String("err", err.Error()))
	}
}
