package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/inbound"
	"github.com/mihhub/mih/webhook"
)

// The inbound pages (docs/inbound.md): the endpoints that external systems post to, each with
// its rules, a form for each, and a preview that shows the Web Service call a sample message
// would make. They do what /api/v1/inbound-endpoints and /api/v1/inbound-rules do, on the same
// store calls: secrets, the token and the source's password are write-only, kept when a form
// leaves them empty.

type inboundRow struct {
	*mih.InboundEndpoint
	Rules  []*mih.InboundRule
	Signed bool
	Token  bool
}

func (h *Handler) inboundList(w http.ResponseWriter, r *http.Request) error {
	eps, err := h.store.FindInboundEndpoints(r.Context())
	if err != nil {
		return err
	}
	rules, err := h.store.FindInboundRules(r.Context(), "")
	if err != nil {
		return err
	}
	rows := make([]inboundRow, len(eps))
	for i, e := range eps {
		rows[i] = inboundRow{InboundEndpoint: e.Masked(), Signed: len(e.Secrets) > 0, Token: e.Token != ""}
		for _, ru := range rules {
			if ru.Endpoint == e.Name {
				rows[i].Rules = append(rows[i].Rules, ru)
			}
		}
	}
	return h.render(w, r, http.StatusOK, "inbound", "Inbound", "inbound", rows)
}

// inboundForm is the add/edit form of an endpoint.
type inboundForm struct {
	New    bool
	Action string
	V      map[string]string
	Errors map[string]string
	Error  string
	// Set says which secrets are stored, so the form can say "leave empty to keep".
	Set map[string]bool
}

func newInboundForm(e *mih.InboundEndpoint, isNew bool) *inboundForm {
	f := &inboundForm{New: isNew, V: map[string]string{
		"name": e.Name, "description": e.Description, "tolerance_s": strconv.FormatFloat(e.ToleranceS, 'g', -1, 64),
		"active": strconv.FormatBool(e.Active), "source": mih.RedactURL(e.Source),
	}, Set: map[string]bool{"secret1": len(e.Secrets) > 0, "secret2": len(e.Secrets) > 1, "token": e.Token != ""}}
	f.Action = "/inbound"
	if !isNew {
		f.Action = "/inbound/" + e.Name + "/edit"
	}
	return f
}

func (f *inboundForm) fail(field, msg string) {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	f.Errors[field] = msg
}

func (h *Handler) inboundNew(w http.ResponseWriter, r *http.Request) error {
	return h.render(w, r, http.StatusOK, "inbound_form", "Add an inbound endpoint", "inbound", newInboundForm(mih.NewInboundEndpoint(), true))
}

func (h *Handler) inboundEdit(w http.ResponseWriter, r *http.Request) error {
	e, err := h.store.FindInboundEndpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "inbound_form", "Inbound endpoint "+e.Name, "inbound", newInboundForm(e, false))
}

// parseInboundForm reads the form over old (nil for a new endpoint): empty secret fields keep
// the stored ones; "clear" boxes remove them.
func parseInboundForm(r *http.Request, old *mih.InboundEndpoint) (*mih.InboundEndpoint, *inboundForm) {
	e := mih.NewInboundEndpoint()
	e.Name = strings.TrimSpace(r.PostFormValue("name"))
	if old != nil {
		e.Name = old.Name
	}
	e.Description = strings.TrimSpace(r.PostFormValue("description"))
	e.Active = r.PostFormValue("active") != ""
	f := newInboundForm(e, old == nil)
	if t, err := strconv.ParseFloat(strings.TrimSpace(r.PostFormValue("tolerance_s")), 64); err == nil {
		e.ToleranceS = t
	} else {
		f.fail("tolerance_s", "want a number of seconds")
	}
	keep := func(field string, stored string) string {
		if r.PostFormValue("clear_"+field) != "" {
			return ""
		}
		if v := strings.TrimSpace(r.PostFormValue(field)); v != "" {
			return v
		}
		return stored
	}
	var s1, s2, tok string
	if old != nil {
		if len(old.Secrets) > 0 {
			s1 = old.Secrets[0]
		}
		if len(old.Secrets) > 1 {
			s2 = old.Secrets[1]
		}
		tok = old.Token
	}
	s1, s2, e.Token = keep("secret1", s1), keep("secret2", s2), keep("token", tok)
	for _, s := range []string{s1, s2} {
		if s != "" {
			e.Secrets = append(e.Secrets, s)
		}
	}
	e.Source = strings.TrimSpace(r.PostFormValue("source"))
	if old != nil && e.Source == mih.RedactURL(old.Source) {
		e.Source = old.Source
	}
	f.V = newInboundForm(e, old == nil).V
	f.V["tolerance_s"] = r.PostFormValue("tolerance_s")
	f.Set = map[string]bool{"secret1": s1 != "", "secret2": s2 != "", "token": e.Token != ""}
	return e, f
}

func (h *Handler) checkInbound(e *mih.InboundEndpoint, f *inboundForm) {
	for i, s := range e.Secrets {
		if err := webhook.CheckSecret(s); err != nil {
			f.fail("secret"+strconv.Itoa(i+1), mih.ErrorMessage(err))
		}
	}
	if err := e.Validate(); err != nil {
		msg := mih.ErrorMessage(err)
		for _, field := range []string{"name", "secrets", "token", "source", "tolerance_s", "description"} {
			if strings.HasPrefix(msg, field) {
				if field == "secrets" {
					field = "secret1"
				}
				f.fail(field, msg)
				return
			}
		}
		f.Error = msg
	}
}

func (h *Handler) inboundCreate(w http.ResponseWriter, r *http.Request) error {
	e, f := parseInboundForm(r, nil)
	h.checkInbound(e, f)
	if f.Errors != nil || f.Error != "" {
		return h.render(w, r, http.StatusBadRequest, "inbound_form", "Add an inbound endpoint", "inbound", f)
	}
	if err := h.ops.CreateInboundEndpoint(r.Context(), e); err != nil {
		if mih.ErrorCode(err) == mih.CodeConflict {
			f.fail("name", "an endpoint of that name exists")
			return h.render(w, r, http.StatusBadRequest, "inbound_form", "Add an inbound endpoint", "inbound", f)
		}
		return err
	}
	return h.redirect(w, r, "/inbound", "ok", "Inbound endpoint %s added: it receives at /api/v1/inbound/%s.", e.Name, e.Name)
}

func (h *Handler) inboundUpdate(w http.ResponseWriter, r *http.Request) error {
	old, err := h.store.FindInboundEndpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	e, f := parseInboundForm(r, old)
	h.checkInbound(e, f)
	if f.Errors != nil || f.Error != "" {
		return h.render(w, r, http.StatusBadRequest, "inbound_form", "Inbound endpoint "+e.Name, "inbound", f)
	}
	if err := h.ops.UpdateInboundEndpoint(r.Context(), e); err != nil {
		return err
	}
	return h.redirect(w, r, "/inbound", "ok", "Inbound endpoint %s saved.", e.Name)
}

// inboundDelete deletes an endpoint and its rules; the form asks for a confirmation box.
func (h *Handler) inboundDelete(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if r.PostFormValue("confirm") == "" {
		return h.redirect(w, r, "/inbound/"+name+"/edit", "bad", "Tick the confirmation to delete endpoint %s and its rules.", name)
	}
	if err := h.ops.DeleteInboundEndpoint(r.Context(), name); err != nil {
		return err
	}
	return h.redirect(w, r, "/inbound", "ok", "Inbound endpoint %s and its rules deleted; their messages and calls stay.", name)
}

// inboundRuleForm is the add/edit form of a rule, with the preview of a sample message.
type inboundRuleForm struct {
	New      bool
	Endpoint string
	Action   string
	V        map[string]string
	Errors   map[string]string
	Error    string
	Sites    []string
	Preview  *inbound.Call
	Params   string
}

func (f *inboundRuleForm) fail(field, msg string) {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	f.Errors[field] = msg
}

func newInboundRuleForm(ru *mih.InboundRule, isNew bool) *inboundRuleForm {
	f := &inboundRuleForm{New: isNew, Endpoint: ru.Endpoint, V: map[string]string{
		"name": ru.Name, "filter": ru.Filter, "site": ru.Site, "function": ru.Function, "template": ru.Template,
		"active": strconv.FormatBool(ru.Active),
	}}
	f.Action = "/inbound/" + ru.Endpoint + "/rules"
	if !isNew {
		f.Action += "/" + strconv.FormatInt(ru.ID, 10) + "/edit"
	}
	return f
}

func (h *Handler) renderInboundRule(w http.ResponseWriter, r *http.Request, status int, f *inboundRuleForm) error {
	sites, err := h.store.FindSites(r.Context())
	if err != nil {
		return err
	}
	for _, s := range sites {
		f.Sites = append(f.Sites, s.Name)
	}
	title := "Add an inbound rule"
	if !f.New {
		title = "Inbound rule"
	}
	return h.render(w, r, status, "inbound_rule_form", title, "inbound", f)
}

func (h *Handler) inboundRuleNew(w http.ResponseWriter, r *http.Request) error {
	e, err := h.store.FindInboundEndpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	ru := mih.NewInboundRule()
	ru.Endpoint = e.Name
	f := newInboundRuleForm(ru, true)
	f.V["sample"] = "{\n  \n}"
	return h.renderInboundRule(w, r, http.StatusOK, f)
}

func (h *Handler) inboundRuleEdit(w http.ResponseWriter, r *http.Request) error {
	ru, err := h.inboundRuleOf(r)
	if err != nil {
		return err
	}
	return h.renderInboundRule(w, r, http.StatusOK, newInboundRuleForm(ru, false))
}

func (h *Handler) inboundRuleOf(r *http.Request) (*mih.InboundRule, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	ru, err := h.store.FindInboundRule(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if ru.Endpoint != r.PathValue("name") {
		return nil, errPageNotFound
	}
	return ru, nil
}

func parseInboundRuleForm(r *http.Request, endpoint string, id int64) (*mih.InboundRule, *inboundRuleForm) {
	ru := mih.NewInboundRule()
	ru.ID, ru.Endpoint = id, endpoint
	ru.Name = strings.TrimSpace(r.PostFormValue("name"))
	ru.Filter = strings.TrimSpace(r.PostFormValue("filter"))
	ru.Site = r.PostFormValue("site")
	ru.Function = strings.TrimSpace(r.PostFormValue("function"))
	ru.Template = strings.ReplaceAll(r.PostFormValue("template"), "\r\n", "\n")
	ru.Active = r.PostFormValue("active") != ""
	f := newInboundRuleForm(ru, id == 0)
	f.V["sample"] = r.PostFormValue("sample")
	return ru, f
}

// saveInboundRule previews or saves the submitted rule.
func (h *Handler) saveInboundRule(w http.ResponseWriter, r *http.Request, endpoint string, id int64) error {
	ru, f := parseInboundRuleForm(r, endpoint, id)
	if r.PostFormValue("action") == "preview" {
		call, err := inbound.Preview(ru, []byte(f.V["sample"]))
		if err != nil {
			f.fail("template", mih.ErrorMessage(err))
			if strings.Contains(mih.ErrorMessage(err), "message") {
				f.fail("sample", mih.ErrorMessage(err))
			}
			return h.renderInboundRule(w, r, http.StatusOK, f)
		}
		f.Preview = call
		if b, err := json.MarshalIndent(json.RawMessage(call.Params), "", "  "); err == nil {
			f.Params = string(b)
		}
		return h.renderInboundRule(w, r, http.StatusOK, f)
	}
	if _, err := inbound.Compile(ru); err != nil {
		msg := mih.ErrorMessage(err)
		field := "template"
		for _, x := range []string{"filter", "function", "site", "name"} {
			if strings.HasPrefix(msg, x) {
				field = x
			}
		}
		f.fail(field, msg)
	} else if _, err := h.store.FindSiteByName(r.Context(), ru.Site); err != nil {
		f.fail("site", "choose a registered Moodle site")
	}
	if f.Errors != nil {
		return h.renderInboundRule(w, r, http.StatusBadRequest, f)
	}
	var err error
	if id == 0 {
		err = h.ops.CreateInboundRule(r.Context(), ru)
	} else {
		err = h.ops.UpdateInboundRule(r.Context(), ru)
	}
	if err != nil {
		return err
	}
	return h.redirect(w, r, "/inbound", "ok", "Inbound rule %d of %s saved.", ru.ID, endpoint)
}

func (h *Handler) inboundRuleCreate(w http.ResponseWriter, r *http.Request) error {
	e, err := h.store.FindInboundEndpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return h.saveInboundRule(w, r, e.Name, 0)
}

func (h *Handler) inboundRuleUpdate(w http.ResponseWriter, r *http.Request) error {
	ru, err := h.inboundRuleOf(r)
	if err != nil {
		return err
	}
	return h.saveInboundRule(w, r, ru.Endpoint, ru.ID)
}

func (h *Handler) inboundRuleDelete(w http.ResponseWriter, r *http.Request) error {
	ru, err := h.inboundRuleOf(r)
	if err != nil {
		return err
	}
	if err := h.ops.DeleteInboundRule(r.Context(), ru.ID); err != nil {
		return err
	}
	return h.redirect(w, r, "/inbound", "ok", "Inbound rule %d deleted; its calls stay.", ru.ID)
}
