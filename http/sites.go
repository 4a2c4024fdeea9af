package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/ops"
)

// siteHandler serves the Moodle sites, /api/v1/sites (docs/api.md, Sites). Secrets — the Web
// Services token, the plugin secret and the password of the database URL — are write-only: every
// answer masks them, a write that omits them (or sends the mask back) keeps the stored ones, and a
// secret sent as null is removed.
//
// Nothing is invalidated after a write: the tailers, enrichment and course sync follow the sites
// through the store's config version, which every site write bumps.
type siteHandler struct {
	store mih.SiteStore
	ops   *ops.Ops
}

// siteDoc is a site as the API reads and writes it (docs/api.md, Sites), with tail_status on read.
// tail_status is accepted and ignored on write, so that a client can write back what it read.
type siteDoc struct {
	*mih.Site
	TailStatus *mih.TailStatus `json:"tail_status,omitempty"`
}

// show is what a site reads as: secrets masked, the tailer's status when there is one.
func (h *siteHandler) show(s *mih.Site) siteDoc {
	m := s.Masked()
	m.DB = maskDBQuery(m.DB)
	d := siteDoc{Site: m}
	if st := h.ops.TailStatus(s.Name); st != nil {
		d.TailStatus = st
	}
	return d
}

// list answers the sites, newest first. Like the service registry, it pages in memory.
func (h *siteHandler) list(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	limit, cursor := q.limit(), q.cursor()
	if q.err != nil {
		return q.err
	}
	all, err := h.store.FindSites(r.Context())
	if err != nil {
		return err
	}
	page, next, err := pageNewest(all, func(s *mih.Site) (time.Time, string) { return s.CreatedAt, s.Name }, limit, cursor)
	if err != nil {
		return err
	}
	out := make([]siteDoc, len(page))
	for i, s := range page {
		out[i] = h.show(s)
	}
	writeList(w, out, next)
	return nil
}

// get answers one site, secrets masked.
func (h *siteHandler) get(w http.ResponseWriter, r *http.Request) error {
	s, err := h.store.FindSiteByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.show(s))
	return nil
}

// create registers a site. prefix and tail_from take their defaults when omitted.
func (h *siteHandler) create(w http.ResponseWriter, r *http.Request) error {
	s, cleared, err := decodeSite(r)
	if err != nil {
		return err
	}
	if len(cleared) > 0 {
		return mih.Errorf(mih.CodeInvalid, "%s: null is only for removing a stored secret; leave the field out", cleared[0])
	}
	if err := checkSiteSecrets(s); err != nil {
		return err
	}
	if err := h.ops.CreateSite(r.Context(), s); err != nil {
		return err
	}
	created, err := h.store.FindSiteByName(r.Context(), s.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/sites/"+url.PathEscape(s.Name))
	writeJSON(w, http.StatusCreated, h.show(created))
	return nil
}

// update replaces a site. Omitted fields take the defaults, as on create, except secrets: an
// omitted or masked secret keeps the stored one, a null one removes it. A masked password in db
// keeps the stored password with the new URL.
func (h *siteHandler) update(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	old, err := h.store.FindSiteByName(r.Context(), name)
	if err != nil {
		return err
	}
	s, cleared, err := decodeSite(r)
	if err != nil {
		return err
	}
	if s.Name == "" {
		s.Name = name
	}
	if s.Name != name {
		return mih.Errorf(mih.CodeInvalid, "name %q: a site cannot be renamed (the path names %q)", s.Name, name)
	}
	if err := s.KeepSecrets(old); err != nil {
		return err
	}
	for _, f := range cleared {
		switch f {
		case "token":
			s.Token = ""
		case "plugin_secret":
			s.PluginSecret = ""
		case "db":
			s.DB = ""
		}
	}
	if err := checkSiteSecrets(s); err != nil {
		return err
	}
	s.CreatedAt = old.CreatedAt
	if err := h.ops.UpdateSite(r.Context(), s); err != nil {
		return err
	}
	updated, err := h.store.FindSiteByName(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.show(updated))
	return nil
}

// delete removes a site. Its events stay, and so do their deliveries.
func (h *siteHandler) delete(w http.ResponseWriter, r *http.Request) error {
	if err := h.ops.DeleteSite(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// siteSecretFields are the fields of a site that hold secrets, as they are named in JSON.
var siteSecretFields = []string{"token", "db", "plugin_secret"}

// decodeSite reads a site from the body, strictly, and reports which secret fields were sent as
// an explicit null: removing a secret needs a way to say so, since leaving it out keeps it.
func decodeSite(r *http.Request) (*mih.Site, []string, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil, mih.Errorf(mih.CodeInvalid, "request body: want a JSON object")
	}
	d := siteDoc{Site: &mih.Site{}}
	if err := decodeStrict(body, &d); err != nil {
		return nil, nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, nil, jsonError(err)
	}
	var cleared []string
	for _, f := range siteSecretFields {
		if v, ok := fields[f]; ok && string(bytes.TrimSpace(v)) == "null" {
			cleared = append(cleared, f)
		}
	}
	s := d.Site
	// The store sets these; what a client echoes back means nothing.
	s.CreatedAt, s.UpdatedAt = time.Time{}, time.Time{}
	return s, cleared, nil
}

// checkSiteSecrets refuses secrets that cannot be stored as sent: the mask itself (a read pasted
// back as a create, or a masked password with no stored one to keep), and a database password
// in the URL's query, which the mask on read would not cover. No message quotes a secret.
func checkSiteSecrets(s *mih.Site) error {
	if s.Token == mih.Masked {
		return mih.Errorf(mih.CodeInvalid, "token: %s is the mask of a secret; send the Web Services token itself", mih.Masked)
	}
	if s.PluginSecret == mih.Masked {
		return mih.Errorf(mih.CodeInvalid, "plugin_secret: %s is the mask of a secret; send the secret itself (whsec_…)", mih.Masked)
	}
	if s.DB == "" {
		return nil
	}
	if strings.Contains(s.DB, mih.Masked) || strings.Contains(s.DB, url.QueryEscape(mih.Masked)) {
		return mih.Errorf(mih.CodeInvalid, "db: contains the mask %s and there is no stored password to keep; send the password itself", mih.Masked)
	}
	if u, err := url.Parse(s.DB); err == nil {
		for k := range u.Query() {
			if secretParam(k) {
				return mih.Errorf(mih.CodeInvalid, "db: put the password in the URL's user part (postgres://user:password@host/db), not in the query parameter %s", k)
			}
		}
	}
	return nil
}

// secretParam reports whether a database URL query parameter carries a password (pgx takes
// password and sslpassword).
func secretParam(name string) bool {
	return strings.Contains(strings.ToLower(name), "password")
}

// maskDBQuery masks password parameters in the query of a database URL. The API refuses them on
// write, but a site written by other means (a configuration file) may still carry one.
func maskDBQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return raw
	}
	q := u.Query()
	masked := false
	for k := range q {
		if secretParam(k) {
			q.Set(k, mih.Masked)
			masked = true
		}
	}
	if !masked {
		return raw
	}
	u.RawQuery = q.Encode()
	return strings.ReplaceAll(u.String(), url.QueryEscape(mih.Masked), mih.Masked)
}
