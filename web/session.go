package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

// Sessions are stateless: the cookie carries its own id, issue and expiry times and the session
// epoch, signed with HMAC-SHA-256 under a key derived from the hub's secret key. Every process
// sharing the store has that key, so any of them accepts a session another issued, and nothing is
// written per sign-in. What a stateless cookie cannot do alone is die before its expiry; the
// epoch, one meta value read per request, does that: "Sign out everywhere" and
// `mih admin set-password` replace it, and every cookie signed under the old one stops working
// in every process at once. Signing out in one browser deletes that browser's cookie.
//
// The form token of a session is an HMAC of its id, so it needs no storage either; forms carry
// it in a hidden field and every POST of a signed-in page must bring it back (on top of
// http.CrossOriginProtection, which refuses cross-origin POSTs by their Fetch metadata).

const (
	sessionCookie = "mih_session"
	flashCookie   = "mih_flash"
	// metaSessionEpoch names the meta value that every session must match.
	metaSessionEpoch = "web_session_epoch"
)

// How a session was signed in.
const (
	byPassword = "password"
	byToken    = "token"
)

// session is what the cookie holds.
type session struct {
	ID      string `json:"sid"`
	Issued  int64  `json:"iat"`
	Expires int64  `json:"exp"`
	Epoch   string `json:"ep"`
	By      string `json:"by"`
	// csrf is the session's form token, derived from ID (not in the cookie).
	csrf string
}

type sessions struct {
	key    []byte
	store  mih.MetaStore
	ttl    time.Duration
	now    func() time.Time
	secure bool
}

// mac signs msg for one purpose; the purpose keeps a form token from passing as a cookie.
func (s *sessions) mac(purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(msg)
	return m.Sum(nil)
}

// seal returns payload and its signature as one cookie-safe value.
func (s *sessions) seal(purpose string, payload []byte) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.mac(purpose, payload))
}

// open checks a sealed value and returns its payload.
func (s *sessions) open(purpose, value string) ([]byte, bool) {
	p, sig, ok := strings.Cut(value, ".")
	if !ok {
		return nil, false
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(purpose, payload)) {
		return nil, false
	}
	return payload, true
}

func (s *sessions) secureFor(r *http.Request) bool { return s.secure || r.TLS != nil }

// epoch is the current session epoch; "" until the first "sign out everywhere".
func (s *sessions) epoch(ctx context.Context) (string, error) {
	v, err := s.store.GetMeta(ctx, metaSessionEpoch)
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the session epoch: %w", err)
	}
	return v, nil
}

// revokeSessions ends every session of every process, by replacing the epoch they were signed
// under.
func revokeSessions(ctx context.Context, st mih.MetaStore) error {
	b := make([]byte, 16)
	rand.Read(b)
	if err := st.SetMeta(ctx, metaSessionEpoch, hex.EncodeToString(b)); err != nil {
		return fmt.Errorf("sign out every session: %w", err)
	}
	return nil
}

// issue starts a session and sets its cookie.
func (s *sessions) issue(ctx context.Context, w http.ResponseWriter, r *http.Request, by string) error {
	ep, err := s.epoch(ctx)
	if err != nil {
		return err
	}
	id := make([]byte, 16)
	rand.Read(id)
	now := s.now()
	ss := session{ID: hex.EncodeToString(id), Issued: now.Unix(), Expires: now.Add(s.ttl).Unix(), Epoch: ep, By: by}
	payload, err := json.Marshal(ss)
	if err != nil {
		return fmt.Errorf("issue session: %w", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    s.seal("session", payload),
		Path:     "/",
		MaxAge:   int(s.ttl / time.Second),
		HttpOnly: true,
		Secure:   s.secureFor(r),
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// read returns the request's session, or nil when it has none that is valid now: missing,
// forged, expired, or signed under an older epoch. An error is the store's.
func (s *sessions) read(r *http.Request) (*session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	payload, ok := s.open("session", c.Value)
	if !ok {
		return nil, nil
	}
	var ss session
	if err := json.Unmarshal(payload, &ss); err != nil || ss.ID == "" {
		return nil, nil
	}
	if s.now().Unix() >= ss.Expires {
		return nil, nil
	}
	ep, err := s.epoch(r.Context())
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(ep), []byte(ss.Epoch)) {
		return nil, nil
	}
	ss.csrf = s.formToken(ss.ID)
	return &ss, nil
}

// clear deletes the session cookie in this browser.
func (s *sessions) clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureFor(r), SameSite: http.SameSiteLaxMode})
}

// formToken is the token a session's forms carry.
func (s *sessions) formToken(sessionID string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("form", []byte(sessionID)))
}

// flash is a one-line outcome shown on the page after a redirect (post, redirect, get).
type flash struct {
	Kind    string `json:"k"` // "ok" or "error"
	Message string `json:"m"`
}

// setFlash leaves a message for the next page. It is signed so that a link cannot plant text in
// the UI.
func (s *sessions) setFlash(w http.ResponseWriter, r *http.Request, kind, format string, args ...any) {
	b, _ := json.Marshal(flash{Kind: kind, Message: fmt.Sprintf(format, args...)})
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: s.seal("flash", b), Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: s.secureFor(r), SameSite: http.SameSiteLaxMode})
}

// takeFlash returns the pending message, if any, and deletes it.
func (s *sessions) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureFor(r), SameSite: http.SameSiteLaxMode})
	b, ok := s.open("flash", c.Value)
	if !ok {
		return nil
	}
	var f flash
	if json.Unmarshal(b, &f) != nil {
		return nil
	}
	return &f
}

type sessionKey struct{}

func withSession(ctx context.Context, s *session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// sessionOf returns the request's session; nil on public pages.
func sessionOf(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}
