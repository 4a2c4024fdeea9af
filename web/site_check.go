package web

import (
	"net/http"
	"time"

	"github.com/mihhub/mih/ops"
)

// The "Test connection" button of a site calls core_webservice_get_site_info with the stored URL
// and token (ops.TestSite) and shows who answered and which of the functions the hub calls the
// token's external service does not list. Nothing is changed on the site.

// siteCheck is the outcome shown on the site's page.
type siteCheck struct {
	Level   string // "ok", "warn" or "bad"
	Summary string
	Detail  string
	Latency string
	// What the site reported.
	SiteName, Release, Version, User, SiteURL string
	// Missing lists, by feature, the functions the token may not call.
	Missing []ops.SiteNeed
}

// siteTest tests the stored site and shows the outcome on its page.
func (h *Handler) siteTest(w http.ResponseWriter, r *http.Request) error {
	s, res, err := h.ops.TestSite(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	rd := siteSecrets(s)
	out := &siteCheck{Level: res.Level, Summary: rd.apply(res.Summary), Detail: rd.apply(res.Detail),
		SiteName: rd.apply(res.SiteName), Release: rd.apply(res.Release), Version: rd.apply(res.Version),
		User: rd.apply(res.User), SiteURL: rd.apply(res.SiteURL), Missing: res.Missing}
	if res.Latency > 0 {
		out.Latency = formatMS(float64(res.Latency) / float64(time.Millisecond))
	}
	f := newSiteForm(s, false)
	f.Test = out
	return h.renderSiteForm(w, r, http.StatusOK, f)
}
