package web

import (
	"net/http"
	"net/url"

	"github.com/mihhub/mih"
)

// siteNew shows the form of a new site with the defaults (prefix mdl_, tail from latest).
func (h *Handler) siteNew(w http.ResponseWriter, r *http.Request) error {
	return h.renderSiteForm(w, r, http.StatusOK, newSiteForm(newSite(), true))
}

// siteCreate registers a site from the form, or shows the form again with its errors.
func (h *Handler) siteCreate(w http.ResponseWriter, r *http.Request) error {
	s, f, generated := parseSiteForm(r, nil)
	if s == nil {
		return h.renderSiteForm(w, r, http.StatusBadRequest, f)
	}
	if err := h.ops.CreateSite(r.Context(), s); err != nil {
		if mih.ErrorCode(err) == mih.CodeConflict {
			f.fail("name", "a site named %q exists already", s.Name)
			return h.renderSiteForm(w, r, http.StatusConflict, f)
		}
		return err
	}
	if generated != "" {
		return h.renderPluginSecret(w, r, s.Name, "Site "+s.Name+" added.", generated)
	}
	return h.redirect(w, r, "/sites/"+url.PathEscape(s.Name)+"/edit", "ok",
		"Site %s added. Test the connection below, then use it in course sync jobs and rules with enrichment.", s.Name)
}

// siteEdit shows a stored site's form; secrets show as stored, never their values.
func (h *Handler) siteEdit(w http.ResponseWriter, r *http.Request) error {
	s, err := h.store.FindSiteByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return h.renderSiteForm(w, r, http.StatusOK, newSiteForm(s, false))
}

// siteUpdate saves the form over the stored site. Secret fields left empty keep the stored
// secrets; the "remove" checkboxes drop them.
func (h *Handler) siteUpdate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	old, err := h.store.FindSiteByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	s, f, generated := parseSiteForm(r, old)
	if s == nil {
		status := http.StatusBadRequest
		if f.Moved {
			status = http.StatusUnprocessableEntity
		}
		return h.renderSiteForm(w, r, status, f)
	}
	if err := h.ops.UpdateSite(ctx, s); err != nil {
		return err
	}
	if generated != "" {
		return h.renderPluginSecret(w, r, s.Name, "Site "+s.Name+" saved with a new plugin secret.", generated)
	}
	return h.redirect(w, r, "/sites", "ok", "Site %s saved.", s.Name)
}

// renderSiteForm shows the form; when editing, with the site's tailer and the sync jobs that
// use it.
func (h *Handler) renderSiteForm(w http.ResponseWriter, r *http.Request, status int, f *siteForm) error {
	title := "Add a Moodle site"
	if !f.New {
		title = "Moodle site " + f.Name
		ctx := r.Context()
		s, err := h.store.FindSiteByName(ctx, f.Name)
		if err != nil {
			return err
		}
		f.Tail = h.tailOf(s)
		jobs, err := h.siteJobs(ctx)
		if err != nil {
			return err
		}
		f.Jobs = jobs[f.Name]
	}
	return h.render(w, r, status, "site_form", title, "sites", siteFormView{siteForm: f, TailFrom: siteTailFrom})
}

type siteFormView struct {
	*siteForm
	TailFrom []struct{ Value, Label string }
}

type pluginSecretData struct {
	Site, Message, Secret string
}

// renderPluginSecret shows a generated plugin secret, this once: it is answered to the form's
// POST (no redirect, so it never rides in a cookie or a URL), and no page shows it again. The
// administrator copies it into the local_mih plugin's settings.
func (h *Handler) renderPluginSecret(w http.ResponseWriter, r *http.Request, site, msg, secret string) error {
	return h.render(w, r, http.StatusOK, "site_secret", "Plugin secret of "+site, "sites",
		pluginSecretData{Site: site, Message: msg, Secret: secret})
}
