package web

import (
	"net/http"

	"github.com/mihhub/mih"
)

type siteDeleteData struct {
	Name         string
	Jobs         []string
	Tail         bool
	Token        bool
	PluginSecret bool
}

// siteDeleteConfirm says what deleting the site changes before anything happens. Deleting is
// what DELETE /api/v1/sites/{name} does, and the store refuses nothing: the site's events stay,
// and so do the sync jobs that name it, whose runs then fail until a site of that name exists
// again. The page names those jobs, so that the administrator can move them to another site
// first.
func (h *Handler) siteDeleteConfirm(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s, err := h.store.FindSiteByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	jobs, err := h.siteJobs(ctx)
	if err != nil {
		return err
	}
	d := siteDeleteData{Name: s.Name, Jobs: jobs[s.Name], Tail: s.Tail && s.DB != "", Token: s.Token != "", PluginSecret: s.PluginSecret != ""}
	return h.render(w, r, http.StatusOK, "site_delete", "Delete Moodle site "+s.Name, "sites", d)
}

// siteDelete deletes the site once confirmed on siteDeleteConfirm's page.
func (h *Handler) siteDelete(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	if r.PostFormValue("confirm") != "yes" {
		return mih.Errorf(mih.CodeConfirm, "Deleting site %s needs confirmation: use the Delete button of its confirmation page.", name)
	}
	jobs, err := h.siteJobs(ctx)
	if err != nil {
		return err
	}
	if err := h.ops.DeleteSite(ctx, name); err != nil {
		return err
	}
	if j := jobs[name]; len(j) > 0 {
		return h.redirect(w, r, "/sites", "ok",
			"Site %s deleted; its events stay. Runs of %s fail until a site named %s exists again, or until the job names another site.",
			name, jobsPhrase(j), name)
	}
	return h.redirect(w, r, "/sites", "ok", "Site %s deleted; its events stay.", name)
}
