package web

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/redact"
)

// siteForm is the add/edit form of a Moodle site (docs/api.md, Sites). V holds the value of every
// field that is not a secret, by the field's JSON name, so that an error of Site.Validate, which
// starts with that name, lands next to its field.
//
// Secrets never go back into the page. The token and the plugin secret fields are always empty:
// Stored says which are kept, an empty field keeps the stored value, and a "remove" checkbox
// drops it. The database URL is shown with its password masked: keeping the mask, or leaving the
// password out, keeps the stored password; typing one replaces it; "remove the password" drops
// it, and an empty URL means no database.
type siteForm struct {
	New    bool
	Name   string // the site's name when editing
	Action string
	V      map[string]string
	// Stored says which secrets are stored: "token", "plugin_secret", "db_password".
	Stored map[string]bool
	Errors map[string]string
	// Error is a fault no single field owns.
	Error string
	// Retype is set when the form comes back with errors and secrets were typed: they are not
	// sent back, so they must be typed again.
	Retype bool
	// Moved: the form sends the site's token or database password elsewhere; they must be
	// typed again.
	Moved bool
	Test  *siteCheck
	// Tail is the site's log store tailer as this process sees it (edit page).
	Tail tailView
	// Jobs are the sync jobs that use the site (edit page).
	Jobs []string
}

// fail records an error next to field, or for the whole form when field is "".
func (f *siteForm) fail(field, format string, args ...any) {
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

// siteFields are the form fields a message of Site.Validate may start with.
var siteFields = []string{"name", "url", "token", "db", "prefix", "tail", "tail_from", "plugin_secret"}

// siteTailFrom are the choices of where a new tailer starts; a log row id is typed instead.
var siteTailFrom = []struct{ Value, Label string }{
	{mih.TailFromLatest, "latest: events from now on"},
	{mih.TailFromStart, "beginning: the whole log table"},
}

// newSite is a site with the defaults a new one gets.
func newSite() *mih.Site {
	s := &mih.Site{}
	s.Normalize()
	return s
}

// newSiteForm fills the form from a stored site (or the defaults of a new one).
func newSiteForm(s *mih.Site, isNew bool) *siteForm {
	f := &siteForm{New: isNew, Name: s.Name, V: map[string]string{}, Stored: map[string]bool{}}
	if isNew {
		f.Action = "/sites"
	} else {
		f.Action = "/sites/" + url.PathEscape(s.Name) + "/edit"
	}
	v := f.V
	v["name"] = s.Name
	v["url"] = s.URL
	v["db"] = showDB(s.DB)
	v["prefix"] = s.Prefix
	v["tail"] = strconv.FormatBool(s.Tail)
	v["tail_from"] = s.TailFrom
	f.Stored["token"] = s.Token != ""
	f.Stored["plugin_secret"] = s.PluginSecret != ""
	f.Stored["db_password"] = dbPassword(s.DB) != ""
	return f
}

// parseSiteForm builds a site from a submitted form. old is the stored site when editing (nil
// when adding): its secrets stay where the form leaves them empty. The returned form holds what
// was typed (secrets excepted) and the errors by field; the site is nil when there are errors.
// generated is the plugin secret made for "Generate", to be shown once.
func parseSiteForm(r *http.Request, old *mih.Site) (s *mih.Site, f *siteForm, generated string) {
	base := newSite()
	if old != nil {
		base = old
	}
	f = newSiteForm(base, old == nil)
	get := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	flag := func(k string) bool { return r.PostFormValue(k) != "" }
	v := f.V
	for _, k := range []string{"name", "url", "prefix", "tail_from"} {
		v[k] = get(k)
	}
	siteURL := v["url"]
	// A site URL has no credentials (Validate refuses them), but one typed there must not come
	// back either.
	v["url"] = showURL(siteURL)
	if old != nil {
		v["name"] = old.Name // a site cannot be renamed
	}
	v["tail"] = strconv.FormatBool(flag("tail"))
	for _, k := range []string{"remove_token", "remove_plugin_secret", "remove_db_password", "generate_plugin_secret"} {
		v[k] = strconv.FormatBool(flag(k))
	}
	token, secret, db := get("token"), get("plugin_secret"), get("db")
	// What the page shows again: the password masked, nothing when the URL cannot be read (it
	// might hold the password where masking would miss it).
	v["db"] = showDB(db)
	if db != "" && v["db"] == "" {
		f.fail("db", "want postgres://user:password@host:port/dbname or mysql://user:password@host:port/dbname (what was typed is not shown again: it may hold a password)")
	}
	typed := func(v string) bool { return v != "" && v != mih.Masked }
	f.Retype = typed(token) || typed(secret) || typed(dbPassword(db))

	s = &mih.Site{Name: v["name"], URL: siteURL, Prefix: v["prefix"], Tail: v["tail"] == "true", TailFrom: v["tail_from"]}
	keep := &mih.Site{}
	if old != nil {
		keep = old
		s.CreatedAt = old.CreatedAt
	}

	switch {
	case flag("remove_token") && token != "":
		f.fail("token", "type a new token or remove the stored one, not both")
	case flag("remove_token"):
	case token == "" || token == mih.Masked:
		if token == mih.Masked && keep.Token == "" {
			f.fail("token", "%s is the mask of a secret; type the Web Services token itself", mih.Masked)
		}
		s.Token = keep.Token
	case strings.ContainsFunc(token, isSpaceOrControl):
		f.fail("token", "a Web Services token has no spaces: copy it again from Moodle")
	default:
		s.Token = token
	}

	switch {
	case flag("generate_plugin_secret") && (secret != "" || flag("remove_plugin_secret")):
		f.fail("plugin_secret", "generate a new secret, type one or remove the stored one: only one of them")
	case flag("generate_plugin_secret"):
		generated = newPluginSecret()
		s.PluginSecret = generated
	case flag("remove_plugin_secret") && secret != "":
		f.fail("plugin_secret", "type a new secret or remove the stored one, not both")
	case flag("remove_plugin_secret"):
	case secret == "" || secret == mih.Masked:
		if secret == mih.Masked && keep.PluginSecret == "" {
			f.fail("plugin_secret", "%s is the mask of a secret; type the secret itself (whsec_…) or generate one", mih.Masked)
		}
		s.PluginSecret = keep.PluginSecret
	default:
		s.PluginSecret = secret
	}

	if db != "" && f.Errors["db"] == "" {
		merged, err := mergeDB(db, keep.DB, flag("remove_db_password"))
		if err != nil {
			f.fail("db", "%s", err.Error())
		}
		s.DB = merged
	}
	if old != nil && len(f.Errors) == 0 {
		// The site as sent, for the domain's check: a secret taken from the stored site shows
		// as kept (empty, or the mask in the database URL), one typed or removed as not.
		probe := &mih.Site{URL: siteURL, Token: "-", DB: s.DB}
		if typed(token) {
			probe.Token = token
		} else if s.Token != "" {
			probe.Token = ""
		}
		if dbPassword(s.DB) != "" && !typed(dbPassword(db)) {
			probe.DB = mih.RedactURL(s.DB)
		}
		if err := mih.SiteSecretsMoved(probe, old); err != nil {
			f.Moved = true
			field := "url"
			if !strings.Contains(mih.ErrorMessage(err), "token") {
				field = "db"
			}
			f.fail(field, "%s", mih.ErrorMessage(err))
		}
	}

	if len(f.Errors) > 0 {
		return nil, f, ""
	}
	s.Normalize()
	v["url"], v["prefix"], v["tail_from"] = showURL(s.URL), s.Prefix, s.TailFrom
	if err := s.Validate(); err != nil {
		msg := mih.ErrorMessage(err)
		f.fail(fieldOf(msg, siteFields, ""), "%s", msg)
		return nil, f, ""
	}
	return s, f, generated
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// mergeDB reads the database URL as typed. A password that is the mask, or left out, keeps the
// stored one (old's) unless removePassword; a typed password replaces it. Errors name no secret.
func mergeDB(typed, old string, removePassword bool) (string, error) {
	u, err := url.Parse(typed)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("want postgres://user:password@host:port/dbname or mysql://user:password@host:port/dbname")
	}
	for k := range u.Query() {
		if secretParam(k) {
			return "", fmt.Errorf("put the password in the URL's user part (postgres://user:password@host/db), not in the query parameter %s", k)
		}
	}
	if strings.Contains(u.Host+u.Path+u.RawQuery+u.Fragment, mih.Masked) || strings.Contains(u.RawQuery, url.QueryEscape(mih.Masked)) {
		return "", fmt.Errorf("%s stands for the stored password, in the user part only", mih.Masked)
	}
	if u.User == nil {
		if removePassword {
			return "", fmt.Errorf("the URL names no user: there is no password to remove")
		}
		return typed, nil
	}
	user := u.User.Username()
	pass, typedPass := u.User.Password()
	stored := dbPassword(old)
	switch {
	case removePassword && typedPass && pass != mih.Masked:
		return "", fmt.Errorf("type a new password or remove the stored one, not both")
	case removePassword:
		u.User = url.User(user)
	case pass == mih.Masked && stored == "":
		return "", fmt.Errorf("%s is the mask of a stored password, and none is stored: type the password itself", mih.Masked)
	case (!typedPass || pass == mih.Masked) && stored != "":
		u.User = url.UserPassword(user, stored)
	default:
		// As typed: a new password, or none where none is stored.
		return typed, nil
	}
	return u.String(), nil
}

// dbPassword returns the password of a database URL, "" when it has none.
func dbPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// showDB is a database URL as a page may show it: the password masked, password parameters of
// the query masked too. A URL that cannot be read as host-based is not shown at all (""): its
// password could sit where masking does not look.
func showDB(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return ""
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), mih.Masked)
		}
	}
	q := u.Query()
	masked := false
	for k := range q {
		if secretParam(k) {
			q.Set(k, mih.Masked)
			masked = true
		}
	}
	if masked {
		u.RawQuery = q.Encode()
	}
	u.Fragment, u.RawFragment = "", ""
	return strings.ReplaceAll(u.String(), url.QueryEscape(mih.Masked), mih.Masked)
}

// showURL is a site URL as typed, its password masked should it have one; a URL that cannot be
// read and may hold credentials is not shown at all.
func showURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		if strings.Contains(raw, "@") {
			return ""
		}
		return raw
	}
	if u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), mih.Masked)
		return strings.Replace(u.String(), url.QueryEscape(mih.Masked), mih.Masked, 1)
	}
	return raw
}

// secretParam reports whether a database URL's query parameter carries a password (pgx takes
// password and sslpassword); the API refuses them too.
func secretParam(name string) bool {
	return strings.Contains(strings.ToLower(name), "password")
}

// newPluginSecret makes a plugin secret the Standard Webhooks way: whsec_ and the base64 of 32
// random bytes.
func newPluginSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // crypto/rand.Read never fails
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// siteSecrets lists a site's secrets in the forms they may appear in elsewhere: the Web
// Services token, the plugin secret (whole and its key), the database password (as is and
// escaped).
func siteSecrets(s *mih.Site) redactor { return redactor(redact.Site(s)) }
