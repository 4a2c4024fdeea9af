// Package rule compiles Event Bridge rules (event glob, filter expression, endpoint and payload
// template), matches events against them and keeps the compiled set of active rules current.
//
// Filters use github.com/expr-lang/expr: a small, dependency-free expression language compiled
// once per rule and evaluated in about a microsecond, e.g. `courseid == 5 && crud == "c"`.
package rule

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/format"
	"github.com/mihhub/mih/template"
)

// Compiled is a rule ready to match and render.
type Compiled struct {
	Rule     *mih.Rule
	glob     *regexp.Regexp // nil for an exact name
	filter   *vm.Program
	body     *template.Template
	endpoint []endpointPart
	enrich   map[string]bool
}

// Compile checks a rule and prepares it. Errors are *mih.Error with CodeInvalid and say which
// field is wrong and where: the template is also rendered against a mock event of the rule's
// event, so a template that could never produce valid JSON is refused when it is saved.
func Compile(r *mih.Rule) (*Compiled, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(r.Event, `\`) && r.Event != "*" && !strings.HasPrefix(r.Event, "*") {
		r.Event = `\` + r.Event
	}
	c := &Compiled{Rule: r, enrich: map[string]bool{}}
	if strings.ContainsAny(r.Event, "*?") {
		c.glob = globRE(r.Event)
	}
	if f := strings.TrimSpace(r.Filter); f != "" {
		p, err := expr.Compile(f, filterOptions()...)
		if err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "filter: %s", strings.TrimSpace(err.Error()))
		}
		c.filter = p
	}
	body, err := template.Compile(r.Template)
	if err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "%v", err)
	}
	c.body = body
	if r.Format == mih.FormatXAPI && strings.TrimSpace(r.Template) != "" {
		return nil, mih.Errorf(mih.CodeInvalid, "format xapi: the statement is built from the event; leave the template empty")
	}
	if r.Format == mih.FormatXAPI && c.glob == nil && !format.Supports(r.Format, r.Event) {
		return nil, mih.Errorf(mih.CodeInvalid, "format xapi: %s has no xAPI statement; the events it covers are %s",
			r.Event, strings.Join(format.XAPIEvents(), ", "))
	}
	ep, err := compileEndpoint(r.Endpoint)
	if err != nil {
		return nil, err
	}
	c.endpoint = ep
	for _, e := range r.Enrich {
		c.enrich[e] = true
	}
	for _, p := range append(body.Placeholders(), endpointPaths(ep)...) {
		head, _, _ := strings.Cut(p, ".")
		switch head {
		case mih.EnrichUser, mih.EnrichRelatedUser, mih.EnrichCourse:
			if strings.Contains(p, ".") {
				c.enrich[head] = true
			}
		}
	}
	mock := MockEvent(exampleName(r.Event))
	if _, _, _, err := c.Render(MockScope(mock)); err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "%v", err)
	}
	if err := c.dryRun(mock); err != nil {
		return nil, err
	}
	return c, nil
}

// Needs reports whether rendering wants an enrichment (user, relateduser or course), asked for
// by the rule or implied by its placeholders.
func (c *Compiled) Needs(kind string) bool { return c.enrich[kind] }

// Wants says which enrichments rendering an event needs: those the rule asks for, those its
// dotted placeholders imply, and the user when a bare name is in neither the event nor other.
// Format is what the rule's payload format wants on top (the site's URL, names, scores): a rule
// with a format other than template is always rendered by the delivery worker.
type Wants struct {
	User, RelatedUser, Course bool
	Format                    format.Needs
}

// Any reports whether any enrichment is wanted.
func (w Wants) Any() bool { return w.User || w.RelatedUser || w.Course || w.Format.Any() }

// Wants reports the enrichments rendering data (the event's Data) needs.
func (c *Compiled) Wants(data map[string]any) Wants {
	name, _ := data["eventname"].(string)
	return Wants{
		User:        c.enrich[mih.EnrichUser] || c.body.NeedsUser(data),
		RelatedUser: c.enrich[mih.EnrichRelatedUser] || c.body.NeedsRelatedUser(data),
		Course:      c.enrich[mih.EnrichCourse] || c.body.NeedsCourse(data),
		Format:      format.NeedsFor(c.Rule.Format, name),
	}
}

// MatchesName reports whether the rule's event pattern covers an event name. An xapi rule whose
// pattern is a glob covers only the events that have a statement: the others are skipped
// without a delivery (docs/formats.md).
func (c *Compiled) MatchesName(name string) bool {
	if c.glob != nil {
		return c.glob.MatchString(name) && format.Supports(c.Rule.Format, name)
	}
	return c.Rule.Event == name
}

// Matches reports whether the event passes the rule's filter. env is FilterEnv of the event,
// built once per event for all rules.
func (c *Compiled) Matches(env map[string]any) (bool, error) {
	if c.filter == nil {
		return true, nil
	}
	out, err := runFilter(c.filter, env)
	if err != nil {
		return false, fmt.Errorf("rule %d filter: %w", c.Rule.ID, err)
	}
	ok, _ := out.(bool)
	return ok, nil
}

// dryRun evaluates the filter on a mock event under the run-time limits, so that a filter that
// would stall ingest is refused when it is saved. Any other fault on the mock (a field of
// another type than the real events') is left to run time, where it only makes the rule skip
// that event.
func (c *Compiled) dryRun(mock *mih.Event) error {
	if c.filter == nil {
		return nil
	}
	data, err := mock.Data()
	if err != nil {
		return fmt.Errorf("filter dry run: %w", err)
	}
	if _, err := runFilter(c.filter, FilterEnv(data)); overBudget(err) {
		return mih.Errorf(mih.CodeInvalid, "filter: refused, it %s on a sample event (limits: %d steps, strings of %d bytes, %s, %d nodes)",
			budgetReason(err), FilterMaxSteps, FilterMaxString, FilterTimeout, filterMaxNodes)
	}
	return nil
}

// Render builds the request of a delivery: method, endpoint (placeholders URL-escaped) and body.
func (c *Compiled) Render(s template.Scope) (method, endpoint string, payload json.RawMessage, err error) {
	payload, _, err = c.body.Render(s)
	if err != nil {
		return "", "", nil, err
	}
	return c.Rule.Method, renderEndpoint(c.endpoint, s), payload, nil
}

// Preview renders a template against an event (a mock one when ev is nil), for the rule editor.
func Preview(tmpl string, ev *mih.Event) (json.RawMessage, []template.Warning, error) {
	t, err := template.Compile(tmpl)
	if err != nil {
		return nil, nil, mih.Errorf(mih.CodeInvalid, "%v", err)
	}
	if ev == nil {
		ev = MockEvent(`\core\event\user_created`)
	}
	return t.Render(MockScope(ev))
}

// FilterEnv converts event data for filter expressions: json.Number becomes int64 or float64
// so that `courseid == 5` compares numbers, not strings.
func FilterEnv(data map[string]any) map[string]any {
	return convertNumbers(data).(map[string]any)
}

func convertNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n
		}
		f, _ := t.Float64()
		return f
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = convertNumbers(x)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, x := range t {
			a[i] = convertNumbers(x)
		}
		return a
	}
	return v
}

// globRE turns an event pattern into a regexp: '*' is any run of characters (backslashes
// included, so `\mod_assign\event\*` works), '?' one character, everything else literal.
func globRE(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// exampleName picks a concrete event name for a pattern, to render the mock event.
func exampleName(pattern string) string {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern
	}
	for _, n := range CommonEvents() {
		if globRE(pattern).MatchString(n) {
			return n
		}
	}
	return `\core\event\user_created`
}

// Endpoints may hold {{path}} placeholders; their values are URL-path-escaped so that Moodle
// data can never change the URL's structure.
type endpointPart struct {
	lit  string
	path string
}

var endpointRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_.]+)\s*\}\}`)

func compileEndpoint(s string) ([]endpointPart, error) {
	var parts []endpointPart
	last := 0
	for _, m := range endpointRE.FindAllStringSubmatchIndex(s, -1) {
		parts = append(parts, endpointPart{lit: s[last:m[0]]}, endpointPart{path: s[m[2]:m[3]]})
		last = m[1]
	}
	parts = append(parts, endpointPart{lit: s[last:]})
	for _, p := range parts {
		if strings.Contains(p.lit, "{{") || strings.Contains(p.lit, "}}") {
			return nil, mih.Errorf(mih.CodeInvalid, "endpoint: a placeholder is malformed (want {{name}} or {{dotted.path}})")
		}
	}
	return parts, nil
}

func endpointPaths(parts []endpointPart) []string {
	var out []string
	for _, p := range parts {
		if p.path != "" {
			out = append(out, p.path)
		}
	}
	return out
}

func renderEndpoint(parts []endpointPart, s template.Scope) string {
	if len(parts) == 1 {
		return parts[0].lit
	}
	var b strings.Builder
	for _, p := range parts {
		if p.path == "" {
			b.WriteString(p.lit)
			continue
		}
		v, ok := s.Lookup(p.path)
		if !ok || v == nil {
			continue
		}
		b.WriteString(url.PathEscape(text(v)))
	}
	return b.String()
}

func text(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		if t {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// HasFilter reports whether the rule has a filter expression.
func (c *Compiled) HasFilter() bool { return c.filter != nil }
