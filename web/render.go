package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

//go:embed templates static
var embedded embed.FS

// Shared template files: every page is parsed with these.
const (
	layoutFile   = "templates/layout.html"
	partialsFile = "templates/partials.html"
)

// parsePages parses each page of templates/ with the layout and the partials, once. Each page
// defines "content"; the layout wraps it.
func parsePages(fsys fs.FS, funcs template.FuncMap) (map[string]*template.Template, error) {
	files, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: list templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, f := range files {
		if f == layoutFile || f == partialsFile {
			continue
		}
		name := strings.TrimSuffix(path.Base(f), ".html")
		t, err := template.New(name).Funcs(funcs).ParseFS(fsys, layoutFile, partialsFile, f)
		if err != nil {
			return nil, fmt.Errorf("web: parse %s: %w", f, err)
		}
		pages[name] = t
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("web: no page templates found")
	}
	return pages, nil
}

// view is what every page template gets: the page's own data in Data, and what the layout needs.
type view struct {
	Title   string
	Nav     string // the nav entry that is the current page
	CSRF    string // the session's form token; "" on public pages
	Flash   *flash
	Version string
	Data    any
}

// Nav entries, in order.
var navEntries = []struct{ ID, Label, Href string }{
	{"dashboard", "Dashboard", "/"},
	{"services", "Services", "/services"},
	{"rules", "Rules", "/rules"},
	{"queue", "Queue", "/queue"},
	{"events", "Events", "/events"},
	{"logs", "Logs", "/logs"},
	{"sites", "Moodle sites", "/sites"},
	{"inbound", "Inbound", "/inbound"},
	{"sync", "Course sync", "/sync"},
	{"tokens", "API tokens", "/tokens"},
}

// render executes the page name inside the layout into a buffer and writes it only when it
// rendered completely.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any) error {
	return h.execute(w, r, status, name, "layout", title, nav, data)
}

// renderFragment executes one named template of a page without the layout (the dashboard's
// refresh).
func (h *Handler) renderFragment(w http.ResponseWriter, r *http.Request, name, block string, data any) error {
	return h.execute(w, r, http.StatusOK, name, block, "", "", data)
}

func (h *Handler) execute(w http.ResponseWriter, r *http.Request, status int, name, block, title, nav string, data any) error {
	t, ok := h.pages[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	v := view{Title: title, Nav: nav, Version: h.cfg.Version, Data: data}
	if s := sessionOf(r.Context()); s != nil {
		v.CSRF = s.csrf
	}
	if block == "layout" {
		v.Flash = h.sessions.takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	// A failed write means the client went away: there is no one to show an error page to.
	w.Write(buf.Bytes())
	return nil
}

// redirect answers a POST with 303 to a page that shows msg once.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, to, kind, format string, args ...any) error {
	h.sessions.setFlash(w, r, kind, format, args...)
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// badge is how a state shows: a class for the colour, a symbol and a word, so that the state
// never rests on colour alone.
type badge struct {
	Class, Symbol, Label string
}

func circuitBadge(state string) badge {
	switch state {
	case mih.CircuitOpen:
		return badge{"bad", "✕", "OPEN"}
	case mih.CircuitHalfOpen:
		return badge{"warn", "◐", "HALFOPEN"}
	default:
		return badge{"ok", "✓", "CLOSED"}
	}
}

func stateBadge(state mih.DeliveryState) badge {
	switch state {
	case mih.DeliverySucceeded:
		return badge{"ok", "✓", "succeeded"}
	case mih.DeliveryDead:
		return badge{"bad", "✕", "dead"}
	case mih.DeliveryPaused:
		return badge{"warn", "‖", "paused"}
	case mih.DeliveryRetrying:
		return badge{"warn", "↻", "retrying"}
	default:
		return badge{"info", "…", string(state)}
	}
}

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"static": func(name string) (string, error) { return h.static.url(name) },
		"nav":    func() any { return navEntries },
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"unix":     func(s int64) time.Time { return time.Unix(s, 0).UTC() },
		"ms":       formatMS,
		"circuit":  circuitBadge,
		"state":    stateBadge,
		"contains": func(list []string, s string) bool { return slices.Contains(list, s) },
		"list":     func(s ...string) []string { return s },
		"upper":    strings.ToUpper,
		"input":    inputField,
		"secret":   secretField,
		"check":    checkField,
		"inc":      func(i int) int { return i + 1 },
		// noValues stands for the values of a form that has none (a lone checkbox).
		"noValues": func() map[string]string { return nil },
	}
}

// formatMS shows a latency: milliseconds below ten seconds, else seconds.
func formatMS(ms float64) string {
	switch {
	case ms <= 0:
		return "—"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 10000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(ms/1000, 'f', 1, 64) + " s"
}

// prettyJSON indents JSON for reading, within mih.PrettyJSON's bounds of depth and size;
// anything else comes back as it is.
func prettyJSON(b []byte) string { return mih.PrettyJSON(b) }
