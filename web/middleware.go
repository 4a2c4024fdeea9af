package web

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
)

// chain wraps h in middlewares; the first one listed runs first.
func chain(h http.Handler, mws ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// contentSecurityPolicy allows only the hub's own scripts, styles and forms: no inline script or
// style anywhere in the UI, so an injected tag could not run even if escaping failed.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the headers every page carries. Pages hold operational data, so they are
// never cached; static files set their own long caching.
func (h *Handler) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// recoverPanic turns a panicking handler into the error page, logged with its stack.
func (h *Handler) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.LogAttrs(r.Context(), slog.LevelError, "web handler panicked",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			h.renderError(w, r, fmt.Errorf("panic: %v", v))
		}()
		next.ServeHTTP(w, r)
	})
}

// fragmentHeader marks the dashboard's background refresh: it gets a 401 instead of a redirect
// to the sign-in page, so the script can stop and say so.
const fragmentHeader = "X-Mih-Fragment"

// requireSession lets only signed-in requests through. A page visit without a session goes to
// the sign-in page and comes back afterwards.
func (h *Handler) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.sessions.read(r)
		if err != nil {
			h.renderError(w, r, err)
			return
		}
		if s == nil {
			if r.Header.Get(fragmentHeader) != "" {
				http.Error(w, "signed out", http.StatusUnauthorized)
				return
			}
			back := r.URL.Path
			if r.Method == http.MethodGet && r.URL.RawQuery != "" {
				back += "?" + r.URL.RawQuery
			}
			if r.Method != http.MethodGet {
				back = "/"
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(back), http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r.WithContext(withSession(r.Context(), s)))
	})
}

// requireFormToken refuses a POST without the session's form token.
func (h *Handler) requireFormToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := sessionOf(r.Context())
		got := r.PostFormValue("csrf")
		if s == nil || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
			h.renderError(w, r, errFormToken)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitForm bounds a form body; a longer one fails to parse and reads as an invalid form.
func (h *Handler) limitForm(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			h.renderError(w, r, errBadForm)
			return
		}
		next.ServeHTTP(w, r)
	})
}
