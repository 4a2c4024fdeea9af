package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/template"
)

// ruleForm is the add/edit form of a rule. Field names are the JSON names (docs/api.md, Rules), so
// an error of rule.Compile, which starts with the field, lands next to it.
type ruleForm struct {
	New    bool
	ID     int64
	Action string
	V      map[string]string
	Enrich []string
	Errors map[string]string
	Error  string
	// Fault points at a template fault: the line with a caret under the column.
	Fault   *templateFault
	Preview *previewOutcome
}

type templateFault struct {
	Line, Col int
	Message   string
	Text      string // the template's line
	Caret     string // spaces up to the column, then ^
}

type previewOutcome struct {
	// Source says which event the preview rendered.
	Source   string
	Method   string
	Endpoint string
	Headers  []string
	Payload  string
	Warnings []string
}

// ruleFields are the form fields an error message may start with.
var ruleFields = []string{"name", "event", "filter", "service", "method", "endpoint", "template", "format", "enrich"}

func (f *ruleForm) fail(field, format string, args ...any) {
	if field == "" {
		f.Error = fmt.Sprintf(format, args...)
		return
	}
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = fmt.Sprintf(format, args...)
	}
}

func newRuleForm(ru *mih.Rule, isNew bool) *ruleForm {
	f := &ruleForm{New: isNew, ID: ru.ID, Enrich: slices.Clone(ru.Enrich), V: map[string]string{
		"name": ru.Name, "event": ru.Event, "filter": ru.Filter, "service": ru.Service,
		"method": ru.Method, "endpoint": ru.Endpoint, "template": ru.Template, "format": ru.Format,
		"active": strconv.FormatBool(ru.Active),
	}}
	f.Action = "/rules"
	if !isNew {
		f.Action = "/rules/" + strconv.FormatInt(ru.ID, 10) + "/edit"
	}
	return f
}

// parseRuleForm reads a submitted rule form into a rule and the form to show again.
func parseRuleForm(r *http.Request, id int64) (*mih.Rule, *ruleForm) {
	ru := mih.NewRule()
	ru.ID = id
	ru.Name = strings.TrimSpace(r.PostFormValue("name"))
	ru.Event = strings.TrimSpace(r.PostFormValue("event"))
	ru.Filter = strings.TrimSpace(r.PostFormValue("filter"))
	ru.Service = strings.TrimSpace(r.PostFormValue("service"))
	ru.Method = r.PostFormValue("method")
	ru.Endpoint = strings.TrimSpace(r.PostFormValue("endpoint"))
	// Line endings as browsers send them (CRLF) become LF, so that columns match what was typed.
	ru.Template = strings.ReplaceAll(r.PostFormValue("template"), "\r\n", "\n")
	ru.Format = r.PostFormValue("format")
	ru.Enrich = []string{}
	for _, e := range r.PostForm["enrich"] {
		if !slices.Contains(ru.Enrich, e) {
			ru.Enrich = append(ru.Enrich, e)
		}
	}
	ru.Active = r.PostFormValue("active") != ""
	f := newRuleForm(ru, id == 0)
	f.V["preview_event"] = r.PostFormValue("preview_event")
	return ru, f
}

// check validates a rule as the API does (rule.Compile, the service exists), and puts each
// fault next to its field; a template fault also gets its line and column shown.
func (h *Handler) checkRule(ctx context.Context, ru *mih.Rule, f *ruleForm) error {
	if _, err := template.Compile(ru.Template); err != nil {
		f.templateFault(ru.Template, err)
	}
	// Compile normalises the rule as the API stores it (a leading backslash, the method in
	// capitals).
	if _, err := rule.Compile(ru); err != nil {
		msg := mih.ErrorMessage(err)
		f.fail(fieldOf(msg, ruleFields, ""), "%s", msg)
	}
	if ru.Service != "" {
		if _, err := h.store.FindServiceByName(ctx, ru.Service); mih.ErrorCode(err) == mih.CodeNotFound {
			f.fail("service", "no service named %q; add it first", ru.Service)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// templateFault records a template error with its position.
func (f *ruleForm) templateFault(src string, err error) {
	te, ok := errors.AsType[*template.Error](err)
	if !ok {
		f.fail("template", "%s", strings.TrimPrefix(err.Error(), "template: "))
		return
	}
	lines := strings.Split(src, "\n")
	fault := &templateFault{Line: te.Line, Col: te.Col, Message: te.Message}
	if te.Line >= 1 && te.Line <= len(lines) {
		fault.Text = lines[te.Line-1]
		// Tabs stay tabs so that the caret lines up in a monospace block.
		var caret strings.Builder
		for i, c := range []rune(fault.Text) {
			if i >= te.Col-1 {
				break
			}
			if c == '\t' {
				caret.WriteByte('\t')
			} else {
				caret.WriteByte(' ')
			}
		}
		caret.WriteByte('^')
		fault.Caret = caret.String()
	}
	f.Fault = fault
	f.fail("template", "line %d, column %d: %s", te.Line, te.Col, te.Message)
}

// lineCol converts a byte offset of src to a 1-based line and a column counted in characters.
func lineCol(src string, pos int) (line, col int) {
	pos = min(max(pos, 0), len(src))
	before := src[:pos]
	line = strings.Count(before, "\n") + 1
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, utf8.RuneCountInString(before) + 1
}
