package web

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/format"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/template"
)

// recentEventsShown is how many stored events the preview offers to render.
const recentEventsShown = 25

// ruleNew shows the form of a new rule; ?service= and ?event= fill those fields in.
func (h *Handler) ruleNew(w http.ResponseWriter, r *http.Request) error {
	ru := mih.NewRule()
	ru.Service = r.URL.Query().Get("service")
	ru.Event = r.URL.Query().Get("event")
	return h.renderRuleForm(w, r, http.StatusOK, newRuleForm(ru, true))
}

// ruleCreate adds a rule from the form; the form's "Preview payload" button renders the template
// instead of saving.
func (h *Handler) ruleCreate(w http.ResponseWriter, r *http.Request) error {
	ru, f := parseRuleForm(r, 0)
	if r.PostFormValue("action") == "preview" {
		return h.rulePreview(w, r, ru, f)
	}
	if err := h.checkRule(r.Context(), ru, f); err != nil {
		return err
	}
	if f.Errors != nil || f.Error != "" {
		return h.renderRuleForm(w, r, http.StatusBadRequest, f)
	}
	if err := h.ops.CreateRule(r.Context(), ru); err != nil {
		return err
	}
	return h.redirect(w, r, "/rules", "ok", "Rule %d added: %s events now go to %s.", ru.ID, ru.Event, ru.Service)
}

// ruleEdit shows a stored rule's form.
func (h *Handler) ruleEdit(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ru, err := h.store.FindRuleByID(r.Context(), id)
	if err != nil {
		return err
	}
	return h.renderRuleForm(w, r, http.StatusOK, newRuleForm(ru, false))
}

// ruleUpdate saves the form over a stored rule (or previews it).
func (h *Handler) ruleUpdate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	old, err := h.store.FindRuleByID(ctx, id)
	if err != nil {
		return err
	}
	ru, f := parseRuleForm(r, id)
	if r.PostFormValue("action") == "preview" {
		return h.rulePreview(w, r, ru, f)
	}
	if err := h.checkRule(ctx, ru, f); err != nil {
		return err
	}
	if f.Errors != nil || f.Error != "" {
		return h.renderRuleForm(w, r, http.StatusBadRequest, f)
	}
	ru.CreatedAt = old.CreatedAt
	if err := h.ops.UpdateRule(ctx, ru); err != nil {
		return err
	}
	return h.redirect(w, r, "/rules", "ok", "Rule %d saved.", ru.ID)
}

// rulePreview renders the form's template against a mock of its event, or against a stored
// event the admin picked, and shows the payload with its warnings, or the fault with its line
// and column. Enrichment (user.*, course.*) comes from mock data either way: the preview does not
// call Moodle.
func (h *Handler) rulePreview(w http.ResponseWriter, r *http.Request, ru *mih.Rule, f *ruleForm) error {
	ev, source, err := h.previewEvent(r.Context(), ru, f.V["preview_event"])
	if err != nil {
		if mih.ErrorCode(err) != mih.CodeNotFound {
			return err
		}
		f.fail("preview_event", "%s", mih.ErrorMessage(err))
		return h.renderRuleForm(w, r, http.StatusOK, f)
	}
	if _, err := template.Compile(ru.Template); err != nil {
		f.templateFault(ru.Template, err)
		return h.renderRuleForm(w, r, http.StatusOK, f)
	}
	payload, warns, err := rule.Preview(ru.Template, ev)
	if err != nil {
		f.templateFault(ru.Template, err)
		return h.renderRuleForm(w, r, http.StatusOK, f)
	}
	out := &previewOutcome{Source: source, Payload: prettyJSON(payload)}
	for _, wa := range warns {
		line, col := lineCol(ru.Template, wa.Pos)
		out.Warnings = append(out.Warnings, fmt.Sprintf("line %d, column %d: {{%s}}: %s", line, col, wa.Path, wa.Message))
	}
	// The request line, when the rest of the rule is complete enough to compile.
	c := *ru
	c.Service = cmp.Or(c.Service, "preview")
	if compiled, err := rule.Compile(&c); err == nil {
		if method, endpoint, _, err := compiled.Render(rule.MockScope(ev)); err == nil {
			out.Method, out.Endpoint = method, endpoint
		}
	} else if strings.HasPrefix(mih.ErrorMessage(err), "format") {
		f.fail("format", "%s", mih.ErrorMessage(err))
		return h.renderRuleForm(w, r, http.StatusOK, f)
	}
	// The envelope of the rule's format around the payload, as the delivery worker builds it.
	if c.Format != "" && c.Format != mih.FormatTemplate {
		site := format.Site{Name: ev.Site}
		if s, err := h.store.FindSiteByName(r.Context(), ev.Site); err == nil {
			site.URL = s.URL
		}
		transport := mih.ServiceREST
		if svc, err := h.store.FindServiceByName(r.Context(), ru.Service); err == nil {
			transport = svc.Type
		}
		env, err := rule.PreviewFormat(&c, ev, payload, site, transport)
		if err != nil {
			f.fail("format", "%s", err)
			return h.renderRuleForm(w, r, http.StatusOK, f)
		}
		out.Payload = prettyJSON(env.Payload)
		for _, k := range slices.Sorted(maps.Keys(env.Headers)) {
			out.Headers = append(out.Headers, k+": "+env.Headers[k])
		}
	}
	f.Preview = out
	return h.renderRuleForm(w, r, http.StatusOK, f)
}

// previewEvent is the event a preview renders: the stored event id, or a mock of the rule's event.
func (h *Handler) previewEvent(ctx context.Context, ru *mih.Rule, id string) (*mih.Event, string, error) {
	if id == "" {
		ev := rule.MockEvent(ru.Event)
		return ev, "a mock " + ev.EventName + " event", nil
	}
	ev, err := h.store.FindEventByID(ctx, id)
	if err != nil {
		if mih.ErrorCode(err) == mih.CodeNotFound {
			return nil, "", mih.Errorf(mih.CodeNotFound, "event %q is no longer stored; pick another", id)
		}
		return nil, "", err
	}
	return ev, "event " + ev.ID + " (" + ev.EventName + ", received " + ev.ReceivedAt.UTC().Format("2006-01-02 15:04:05") + " UTC)", nil
}

type ruleFormView struct {
	*ruleForm
	Services     []serviceOption
	Methods      []string
	CommonEvents []eventHint
	RecentEvents []eventOption
	Enrichments  []string
	Formats      []string
}

type serviceOption struct {
	Name    string
	Type    mih.ServiceType
	Enabled bool
}

type eventOption struct {
	ID, Label string
}

func (h *Handler) renderRuleForm(w http.ResponseWriter, r *http.Request, status int, f *ruleForm) error {
	ctx := r.Context()
	services, err := h.store.FindServices(ctx)
	if err != nil {
		return err
	}
	v := ruleFormView{ruleForm: f, Methods: mih.Methods(), CommonEvents: commonEvents(),
		Enrichments: []string{mih.EnrichUser, mih.EnrichRelatedUser, mih.EnrichCourse}, Formats: mih.Formats()}
	// Rules send to enabled services; the rule's own service stays listed when it is disabled, so
	// that editing a rule never moves it by accident.
	for _, s := range services {
		if s.Enabled || s.Name == f.V["service"] {
			v.Services = append(v.Services, serviceOption{s.Name, s.Type, s.Enabled})
		}
	}
	slices.SortFunc(v.Services, func(a, b serviceOption) int { return cmp.Compare(a.Name, b.Name) })
	filter := mih.EventFilter{Limit: recentEventsShown}
	if ev := f.V["event"]; ev != "" && !strings.ContainsAny(ev, "*?") {
		if !strings.HasPrefix(ev, `\`) {
			ev = `\` + ev
		}
		filter.EventName = ev
	}
	recent, _, err := h.store.FindEvents(ctx, filter)
	if err != nil {
		return err
	}
	for _, e := range recent {
		v.RecentEvents = append(v.RecentEvents, eventOption{ID: e.ID, Label: fmt.Sprintf("%s — %s, user %d, course %d, %s",
			e.ID, e.EventName, e.UserID, e.CourseID, e.ReceivedAt.UTC().Format("2006-01-02 15:04"))})
	}
	title := "Add a rule"
	if !f.New {
		title = "Rule " + strconv.FormatInt(f.ID, 10)
	}
	return h.render(w, r, status, "rule_form", title, "rules", v)
}

// pathID reads the {id} of the path; anything but a positive number names no page.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errPageNotFound
	}
	return id, nil
}
