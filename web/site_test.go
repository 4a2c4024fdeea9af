package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/tailer"
)

// Secrets the site tests type into forms; no response may ever contain one of them.
const (
	siteToken  = "wstok-9d1c2b7a66e04f"
	siteDBPass = "dbpw-71c3e9a0b5"
	// sitePlugin is whsec_ and the base64 of "plugin-secret-key-987654321".
	sitePlugin = "whsec_cGx1Z2luLXNlY3JldC1rZXktOTg3NjU0MzIx"
)

var siteSecretValues = []string{siteToken, siteDBPass, sitePlugin, strings.TrimPrefix(sitePlugin, "whsec_")}

// siteForm is a complete site form as the page sends it.
func siteFormValues(name, siteURL string) url.Values {
	return url.Values{
		"name": {name}, "url": {siteURL}, "token": {siteToken},
		"db":     {"postgres://mih_reader:" + siteDBPass + "@db.example.edu:5432/moodle?sslmode=require"},
		"prefix": {"mdl_"}, "tail": {"true"}, "tail_from": {"latest"}, "plugin_secret": {sitePlugin},
	}
}

func (u *testUI) site(name string) *mih.Site {
	u.t.Helper()
	s, err := u.store.FindSiteByName(context.Background(), name)
	if err != nil {
		u.t.Fatalf("find site %s: %v", name, err)
	}
	return s
}

func TestSite_CreateEditKeepsSecrets(t *testing.T) {
	u := newTestUI(t)
	u.login()
	must(t, u.get("/sites"), http.StatusOK, "No Moodle sites yet")
	must(t, u.get("/sites/new"), http.StatusOK, `value="mdl_"`, `value="latest"`)

	r := u.post("/sites", siteFormValues("main", "https://moodle.example.edu/"))
	if r.status != http.StatusSeeOther || r.location != "/sites/main/edit" {
		t.Fatalf("create: got %d to %q\n%s", r.status, r.location, excerpt(r.body, 3000))
	}
	s := u.site("main")
	wantDB := "postgres://mih_reader:" + siteDBPass + "@db.example.edu:5432/moodle?sslmode=require"
	if s.URL != "https://moodle.example.edu" || s.Token != siteToken || s.DB != wantDB || s.PluginSecret != sitePlugin ||
		!s.Tail || s.Prefix != "mdl_" || s.TailFrom != "latest" {
		t.Fatalf("stored: %+v", s.Masked())
	}
	edit := u.follow("/sites/main/edit")
	must(t, edit, http.StatusOK, "Site main added", "A value is stored and never shown",
		`value="postgres://mih_reader:********@db.example.edu:5432/moodle?sslmode=require"`,
		"Remove the token", "Remove the plugin secret", "Remove the stored database password")
	list := u.get("/sites")
	must(t, list, http.StatusOK, "https://moodle.example.edu", "postgres://mih_reader:********@db.example.edu")
	if n := strings.Count(list.body, "✓</span> set"); n != 2 {
		t.Errorf("the list shows %d secrets as set, want 2 (token, plugin secret)", n)
	}

	// Saving the form as the page shows it (secrets empty, the password masked) keeps every
	// secret; other fields change.
	f := siteFormValues("main", "https://moodle.example.edu/two")
	f.Set("token", "")
	f.Set("plugin_secret", "")
	f.Set("db", "postgres://mih_reader:********@db.example.edu:5432/moodle2")
	f.Set("prefix", "m_")
	f.Set("tail_from", "1234")
	if r := u.post("/sites/main/edit", f); r.status != http.StatusSeeOther || r.location != "/sites" {
		t.Fatalf("update: got %d to %q\n%s", r.status, r.location, excerpt(r.body, 3000))
	}
	s = u.site("main")
	if s.Token != siteToken || s.PluginSecret != sitePlugin || s.DB != "postgres://mih_reader:"+siteDBPass+"@db.example.edu:5432/moodle2" {
		t.Errorf("secrets after an update that left them empty: token kept %v, plugin secret kept %v, db %q",
			s.Token == siteToken, s.PluginSecret == sitePlugin, mih.RedactURL(s.DB))
	}
	if s.URL != "https://moodle.example.edu/two" || s.Prefix != "m_" || s.TailFrom != "1234" {
		t.Errorf("other fields not saved: %+v", s.Masked())
	}

	// The password left out of the URL is kept too.
	f.Set("db", "postgres://mih_reader@db.example.edu/moodle3")
	u.post("/sites/main/edit", f)
	if s = u.site("main"); s.DB != "postgres://mih_reader:"+siteDBPass+"@db.example.edu/moodle3" {
		t.Errorf("a URL without the password: stored %q, want the stored password kept", mih.RedactURL(s.DB))
	}

	// Neither the token nor the database password follows the site to another host: the form
	// comes back (422) naming them.
	moved := siteFormValues("main", "https://evil.example.net")
	moved.Set("token", "")
	moved.Set("plugin_secret", "")
	moved.Set("db", "postgres://mih_reader@db.example.edu/moodle3")
	must(t, u.post("/sites/main/edit", moved), http.StatusUnprocessableEntity, "type them again: token")
	moved = siteFormValues("main", "https://moodle.example.edu/two")
	moved.Set("token", "")
	moved.Set("plugin_secret", "")
	moved.Set("db", "postgres://mih_reader:********@evil.example.net/moodle3")
	must(t, u.post("/sites/main/edit", moved), http.StatusUnprocessableEntity, "db (its password)")
	if s = u.site("main"); s.URL != "https://moodle.example.edu/two" || !strings.Contains(s.DB, "@db.example.edu/") {
		t.Errorf("a refused move changed the site: %+v", s.Masked())
	}

	// New values replace the old ones.
	f = siteFormValues("main", "https://moodle2.example.edu")
	f.Set("token", "wstok-new-000111222")
	f.Set("db", "postgres://mih_reader:pw-new-3344@db3.example.edu/moodle")
	f.Set("plugin_secret", "whsec_"+strings.Repeat("QUJD", 8))
	u.post("/sites/main/edit", f)
	s = u.site("main")
	if s.Token != "wstok-new-000111222" || dbPassword(s.DB) != "pw-new-3344" || s.PluginSecret != "whsec_"+strings.Repeat("QUJD", 8) {
		t.Errorf("after replacing: %+v", s.Masked())
	}
	for _, p := range []string{"/sites", "/sites/main/edit", "/sites/main/delete", "/"} {
		must(t, u.get(p), http.StatusOK)
	}
	u.noSecrets(siteSecretValues...)
	u.noSecrets("wstok-new-000111222", "pw-new-3344", strings.Repeat("QUJD", 8))
}

func TestSite_RemoveSecrets(t *testing.T) {
	u := newTestUI(t)
	u.login()
	if r := u.post("/sites", siteFormValues("main", "https://moodle.example.edu")); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, excerpt(r.body, 2000))
	}
	kept := siteFormValues("main", "https://moodle.example.edu")
	kept.Set("token", "")
	kept.Set("plugin_secret", "")
	kept.Set("db", "postgres://mih_reader:********@db.example.edu:5432/moodle")

	// Typing a secret and asking to remove it is refused: it is not clear which is meant.
	for _, tc := range []struct{ remove, field, value, id string }{
		{"remove_token", "token", "wstok-other-5555", "f-token-error"},
		{"remove_plugin_secret", "plugin_secret", "whsec_" + strings.Repeat("WFla", 8), "f-plugin-secret-error"},
		{"remove_db_password", "db", "postgres://mih_reader:pw-other-6666@db.example.edu/moodle", "f-db-error"},
		{"generate_plugin_secret", "plugin_secret", "whsec_" + strings.Repeat("WFla", 8), "f-plugin-secret-error"},
	} {
		f := url.Values{}
		for k, v := range kept {
			f[k] = v
		}
		f.Set(tc.remove, "true")
		f.Set(tc.field, tc.value)
		r := u.post("/sites/main/edit", f)
		must(t, r, http.StatusBadRequest, "The site was not saved", "Type the secrets again")
		if got := regexpFind(t, `id="`+tc.id+`">([^<]*)<`, r.body); !strings.Contains(got, "not both") && !strings.Contains(got, "only one of them") {
			t.Errorf("%s with %s: error %q", tc.remove, tc.field, got)
		}
	}
	u.noSecrets("wstok-other-5555", strings.Repeat("WFla", 8), "pw-other-6666")
	if s := u.site("main"); s.Token != siteToken || s.PluginSecret != sitePlugin || dbPassword(s.DB) != siteDBPass {
		t.Fatalf("refused forms changed the secrets: %+v", s.Masked())
	}

	tests := []struct {
		name  string
		set   map[string]string
		check func(*mih.Site) bool
	}{
		{"token", map[string]string{"remove_token": "true"}, func(s *mih.Site) bool {
			return s.Token == "" && s.PluginSecret == sitePlugin && dbPassword(s.DB) == siteDBPass
		}},
		{"plugin secret", map[string]string{"remove_plugin_secret": "true"}, func(s *mih.Site) bool {
			return s.PluginSecret == "" && dbPassword(s.DB) == siteDBPass
		}},
		{"database password", map[string]string{"remove_db_password": "true"}, func(s *mih.Site) bool {
			return s.DB == "postgres://mih_reader@db.example.edu:5432/moodle"
		}},
		// An empty URL is no database, which needs the tailer off.
		{"database", map[string]string{"db": "", "tail": ""}, func(s *mih.Site) bool { return s.DB == "" && !s.Tail }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range kept {
				f[k] = v
			}
			for k, v := range tc.set {
				f.Set(k, v)
			}
			if r := u.post("/sites/main/edit", f); r.status != http.StatusSeeOther {
				t.Fatalf("remove: %d\n%s", r.status, excerpt(r.body, 3000))
			}
			if s := u.site("main"); !tc.check(s) {
				t.Errorf("after removing: %+v", s.Masked())
			}
		})
	}
	edit := u.get("/sites/main/edit")
	must(t, edit, http.StatusOK)
	for _, gone := range []string{"Remove the token", "Remove the plugin secret", "Remove the stored database password", "A value is stored"} {
		if strings.Contains(edit.body, gone) {
			t.Errorf("the form offers %q with nothing stored", gone)
		}
	}
	u.noSecrets(siteSecretValues...)
}

func TestSite_ValidationNextToTheField(t *testing.T) {
	u := newTestUI(t)
	u.login()
	tests := []struct {
		name   string
		change map[string]string
		field  string
		want   string
	}{
		{"bad name", map[string]string{"name": "Main Site"}, "f-name", "want a slug"},
		{"no url", map[string]string{"url": ""}, "f-url", "want the site's http(s) address"},
		{"url with credentials", map[string]string{"url": "https://admin:" + siteDBPass + "@moodle.example.edu"}, "f-url", "want the site's http(s) address"},
		{"bad prefix", map[string]string{"prefix": "MDL-"}, "f-prefix", "want lowercase letters"},
		{"tail without db", map[string]string{"db": ""}, "f-tail", "needs db"},
		{"bad tail_from", map[string]string{"tail_from": "yesterday"}, "f-tail-from", "want latest, beginning or a log row id"},
		{"bad plugin secret", map[string]string{"plugin_secret": "plain-" + siteDBPass}, "f-plugin-secret", "want whsec_"},
		{"masked token", map[string]string{"token": "********"}, "f-token", "type the Web Services token itself"},
		{"token with a space", map[string]string{"token": "wstok 9d1c2b7a66e04f"}, "f-token", "has no spaces"},
		{"masked db password", map[string]string{"db": "postgres://u:********@db.example.edu/moodle"}, "f-db", "none is stored"},
		{"db password in the query", map[string]string{"db": "postgres://db.example.edu/moodle?password=" + siteDBPass}, "f-db", "not in the query parameter password"},
		{"db not a url", map[string]string{"db": "host=db.example.edu password=" + siteDBPass}, "f-db", "is not shown again"},
		{"db other scheme", map[string]string{"db": "sqlserver://u:" + siteDBPass + "@db.example.edu/moodle"}, "f-db", "want postgres://"},
		{"db opaque", map[string]string{"db": "postgres:u:" + siteDBPass + "@db.example.edu"}, "f-db", "is not shown again"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := siteFormValues("main", "https://moodle.example.edu")
			for k, v := range tc.change {
				f.Set(k, v)
			}
			r := u.post("/sites", f)
			must(t, r, http.StatusBadRequest, "The site was not saved")
			got := regexpFind(t, `id="`+tc.field+`-error">([^<]*)<`, r.body)
			if !strings.Contains(htmlUnescape(got), tc.want) {
				t.Errorf("error next to %s: got %q, want %q", tc.field, htmlUnescape(got), tc.want)
			}
			// What was typed comes back, but never a secret.
			if tc.name == "bad prefix" && !strings.Contains(r.body, `value="MDL-"`) {
				t.Errorf("the typed prefix is not shown again")
			}
		})
	}
	if sites, err := u.store.FindSites(t.Context()); err != nil || len(sites) != 0 {
		t.Fatalf("invalid forms stored sites: %d %v", len(sites), err)
	}
	// A name taken already.
	u.post("/sites", siteFormValues("main", "https://moodle.example.edu"))
	r := u.post("/sites", siteFormValues("main", "https://other.example.edu"))
	must(t, r, http.StatusConflict, "a site named &#34;main&#34; exists already")
	u.noSecrets(siteSecretValues...)
}

func TestSite_GeneratedPluginSecretShownOnce(t *testing.T) {
	u := newTestUI(t)
	u.login()
	f := siteFormValues("main", "https://moodle.example.edu")
	f.Del("plugin_secret")
	f.Set("generate_plugin_secret", "true")
	r := u.post("/sites", f)
	must(t, r, http.StatusOK, "Site main added.", "shown this once", "local_mih/secret")
	shown := htmlUnescape(regexpFind(t, `id="plugin-secret" value="(whsec_[^"]+)"`, r.body))
	s := u.site("main")
	if s.PluginSecret != shown {
		t.Fatalf("the page shows %q, the store has another secret", shown)
	}
	if err := s.Validate(); err != nil || len(shown) != len("whsec_")+44 {
		t.Fatalf("generated secret %q: %v (want whsec_ and the base64 of 32 bytes)", shown, err)
	}

	// No other page shows it.
	before := len(u.bodies)
	for _, p := range []string{"/sites", "/sites/main/edit", "/sites/main/delete"} {
		must(t, u.get(p), http.StatusOK)
	}
	for _, b := range u.bodies[before:] {
		if text := htmlUnescape(b); strings.Contains(text, strings.TrimPrefix(shown, "whsec_")) {
			t.Fatal("a page shows the generated secret again")
		}
	}

	// Generating again on edit replaces it.
	f = siteFormValues("main", "https://moodle.example.edu")
	f.Set("token", "")
	f.Del("plugin_secret")
	f.Set("db", "postgres://mih_reader:********@db.example.edu:5432/moodle")
	f.Set("generate_plugin_secret", "true")
	r = u.post("/sites/main/edit", f)
	must(t, r, http.StatusOK, "saved with a new plugin secret")
	again := htmlUnescape(regexpFind(t, `id="plugin-secret" value="(whsec_[^"]+)"`, r.body))
	if s = u.site("main"); again == shown || s.PluginSecret != again || s.Token != siteToken {
		t.Fatalf("after generating again: new secret differs %v, stored it %v, token kept %v", again != shown, s.PluginSecret == again, s.Token == siteToken)
	}
	for _, b := range u.bodies[before:] {
		if strings.Contains(htmlUnescape(b), strings.TrimPrefix(shown, "whsec_")) {
			t.Fatal("a page shows the replaced secret")
		}
	}
	u.noSecrets(siteToken, siteDBPass)
}

func TestSite_TestConnection(t *testing.T) {
	u := newTestUI(t)
	u.login()
	ws := moodletest.NewServer(t, moodletest.Options{Token: siteToken, SiteName: "Moodle of Example University", Release: "4.5.2 (Build: 20250210)"})
	f := siteFormValues("main", ws.URL)
	f.Set("db", "")
	f.Del("tail")
	if r := u.post("/sites", f); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, excerpt(r.body, 2000))
	}

	r := u.post("/sites/main/test", nil)
	must(t, r, http.StatusOK, "Connected to Moodle of Example University.", "4.5.2 (Build: 20250210)",
		"The token may call every function the hub uses.", `class="notice ok"`)
	if strings.Contains(r.body, "missing-functions") {
		t.Error("a token that may call everything has missing functions")
	}
	if got := ws.Calls(); got.Total != 1 || got.ByFunction[moodle.FuncSiteInfo] != 1 {
		t.Errorf("calls: %+v, want one core_webservice_get_site_info", got)
	}

	// A token whose service lists only some functions: the missing ones, by feature. A job that
	// updates courses needs core_course_update_courses too.
	const partial = "wstok-partial-77aa88bb"
	ws.AddToken(partial, moodle.FuncSiteInfo, moodle.FuncUsersByField, moodle.FuncCoursesByField, moodle.FuncEnrolUsers)
	setToken(t, u, partial)
	svc := restService("academic", "https://sis.example.edu/api")
	u.createService(svc)
	job := mih.NewSyncJob()
	job.Name, job.Site, job.SourceService, job.SourcePath, job.UpdateCourses = "webcourse", "main", "academic", "/courses", true
	if err := u.store.CreateSyncJob(t.Context(), job); err != nil {
		t.Fatal(err)
	}
	r = u.post("/sites/main/test", nil)
	must(t, r, http.StatusOK, "Connected to Moodle of Example University.", `class="notice warn"`, "Functions the token may not call")
	missing := regexpFind(t, `(?s)<ul id="missing-functions">(.*?)</ul>`, r.body)
	for _, want := range []string{moodle.FuncEnrolledUsers, moodle.FuncCategories, moodle.FuncCreateCourses,
		moodle.FuncAssignRoles, moodle.FuncUnassignRoles, moodle.FuncUpdateCourses, "the sync job webcourse cannot update existing courses"} {
		if !strings.Contains(missing, want) {
			t.Errorf("missing functions lack %s:\n%s", want, missing)
		}
	}
	if strings.Contains(missing, "Enrichment") || strings.Contains(missing, moodle.FuncEnrolUsers) || strings.Contains(missing, moodle.FuncUnenrolUsers) {
		t.Errorf("missing functions list what the token may call, or what no job needs:\n%s", missing)
	}

	// A token Moodle does not know.
	const wrong = "wstok-unknown-99cc00dd"
	setToken(t, u, wrong)
	r = u.post("/sites/main/test", nil)
	must(t, r, http.StatusOK, "Moodle refused the Web Services token.", "invalidtoken", `class="notice bad"`, "Manage tokens")

	// Web services off on the site: Moodle answers 403 with nothing in the body.
	setToken(t, u, siteToken)
	ws.SetProtocolEnabled(false)
	must(t, u.post("/sites/main/test", nil), http.StatusOK, "HTTP 403", "Manage protocols")
	ws.SetProtocolEnabled(true)

	// A site that echoes the token in its error is masked.
	ws.FailNext(moodle.FuncSiteInfo, 1, moodletest.Failure{Status: http.StatusOK, Exception: &moodletest.Exception{
		Class: "moodle_exception", ErrorCode: "servicerequireslogin", Message: "token " + siteToken + " may not log in"}})
	must(t, u.post("/sites/main/test", nil), http.StatusOK, "Moodle refused the call")

	// Nothing listens: the network error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	s := u.site("main")
	s.URL = closed
	if err := u.store.UpdateSite(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	must(t, u.post("/sites/main/test", nil), http.StatusOK, "The hub could not reach the site.")

	// No token at all.
	s.Token = ""
	if err := u.store.UpdateSite(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	must(t, u.post("/sites/main/test", nil), http.StatusOK, "No Web Services token is stored")
	must(t, u.post("/sites/nope/test", nil), http.StatusNotFound)
	u.noSecrets(siteToken, partial, wrong, siteDBPass, sitePlugin)
}

// setToken stores a site's token directly, as the API or another process would.
func setToken(t *testing.T, u *testUI, token string) {
	t.Helper()
	s := u.site("main")
	s.Token = token
	if err := u.store.UpdateSite(t.Context(), s); err != nil {
		t.Fatal(err)
	}
}

func TestSite_DeleteNeedsConfirmation(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.post("/sites", siteFormValues("main", "https://moodle.example.edu"))
	u.post("/sites", siteFormValues("other", "https://other.example.edu"))
	u.createService(restService("academic", "https://sis.example.edu/api"))
	for _, name := range []string{"webcourse", "archive"} {
		j := mih.NewSyncJob()
		j.Name, j.Site, j.SourceService, j.SourcePath = name, "main", "academic", "/courses"
		if err := u.store.CreateSyncJob(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	ev := &mih.Event{ID: "ev-1", Site: "main", EventName: `\core\event\user_created`, Component: "core", Action: "created", Target: "user",
		CRUD: "c", UserID: 2, Other: json.RawMessage("null"), TimeCreated: 1767000000, ReceivedAt: time.Now()}
	if _, err := u.store.CreateEvents(t.Context(), []mih.IngestItem{{Event: ev}}); err != nil {
		t.Fatal(err)
	}

	confirm := u.get("/sites/main/delete")
	must(t, confirm, http.StatusOK, "2 sync jobs use this site", `href="/sync/archive/edit"`, `href="/sync/webcourse/edit"`,
		"runs fail until a site named", "keeps its events", "stops its log store tailer", "refuse the batches of its local_mih plugin")
	must(t, u.get("/sites/other/delete"), http.StatusOK)
	if strings.Contains(u.get("/sites/other/delete").body, "sync job") {
		t.Error("the confirmation of a site without jobs names jobs")
	}
	must(t, u.post("/sites/main/delete", nil), http.StatusConflict, "needs confirmation")
	u.site("main")

	r := u.post("/sites/main/delete", url.Values{"confirm": {"yes"}})
	if r.status != http.StatusSeeOther || r.location != "/sites" {
		t.Fatalf("delete: %d to %q", r.status, r.location)
	}
	must(t, u.follow("/sites"), http.StatusOK, "Site main deleted; its events stay. Runs of the sync jobs archive and webcourse fail")
	if _, err := u.store.FindSiteByName(t.Context(), "main"); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := u.store.FindSyncJobByName(t.Context(), "webcourse"); err != nil {
		t.Errorf("the job went with the site: %v", err)
	}
	if _, err := u.store.FindEventByID(t.Context(), "ev-1"); err != nil {
		t.Errorf("the event went with the site: %v", err)
	}
	must(t, u.post("/sites/main/delete", url.Values{"confirm": {"yes"}}), http.StatusNotFound)
	must(t, u.get("/sites/main/edit"), http.StatusNotFound)
	u.noSecrets(siteSecretValues...)
}

// TestSite_SessionAndCSRF: every page of the sites needs a session, and every form its token
// and the same origin; refused forms change nothing.
func TestSite_SessionAndCSRF(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.post("/sites", siteFormValues("main", "https://moodle.example.edu"))

	anon := u.newClient()
	for _, p := range []string{"/sites", "/sites/new", "/sites/main/edit", "/sites/main/delete"} {
		req, _ := http.NewRequest("GET", u.srv.URL+p, nil)
		if r := u.do(anon, req); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login?next=") {
			t.Errorf("GET %s without a session: %d to %q", p, r.status, r.location)
		}
	}
	changed := siteFormValues("main", "https://evil.example.com")
	changed.Set("token", "wstok-forged-1234")
	actions := []struct {
		path string
		form url.Values
	}{
		{"/sites", siteFormValues("forged", "https://evil.example.com")},
		{"/sites/main/edit", changed},
		{"/sites/main/delete", url.Values{"confirm": {"yes"}}},
		{"/sites/main/test", nil},
	}
	for _, a := range actions {
		form := url.Values{}
		for k, v := range a.form {
			form[k] = v
		}
		if r := u.postRaw(anon, a.path, form, nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login") {
			t.Errorf("POST %s without a session: %d to %q", a.path, r.status, r.location)
		}
		must(t, u.postRaw(u.client, a.path, form, nil), http.StatusForbidden, "This form has expired")
		form.Set("csrf", "forged-token")
		must(t, u.postRaw(u.client, a.path, form, nil), http.StatusForbidden, "This form has expired")
		form.Set("csrf", u.csrf())
		must(t, u.postRaw(u.client, a.path, form, http.Header{"Sec-Fetch-Site": {"cross-site"}}), http.StatusForbidden, "sent from another site")
		must(t, u.postRaw(u.client, a.path, form, http.Header{"Origin": {"https://evil.example.com"}}), http.StatusForbidden)
	}
	s := u.site("main")
	if s.URL != "https://moodle.example.edu" || s.Token != siteToken {
		t.Errorf("refused forms changed the site: %+v", s.Masked())
	}
	if _, err := u.store.FindSiteByName(t.Context(), "forged"); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("a forged form created a site: %v", err)
	}
	u.noSecrets(siteSecretValues...)
}

// withTailers serves the UI again over the same store and key, with tailers: the session signed
// in before stays valid.
func (u *testUI) withTailers(t *testing.T, tailers ops.TailStatus) {
	t.Helper()
	oc := u.ops
	oc.Tails = tailers
	h, err := New(Config{Ops: ops.New(oc), Now: u.clock.Now, SecretKey: u.key, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u.srv = srv
}

// The tail status comes from the real log store supervisor of this process, here tailing a
// database that refuses connections: the page shows the tailer failing with its error, never
// the password. A site another process tails says so.
func TestSite_TailStatus(t *testing.T) {
	u := newTestUI(t)
	u.login()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f := siteFormValues("main", "https://moodle.example.edu")
	f.Set("db", "postgres://mih_reader:"+siteDBPass+"@"+addr+"/moodle?connect_timeout=2")
	if r := u.post("/sites", f); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, excerpt(r.body, 2000))
	}
	u.post("/sites", siteFormValues("elsewhere", "https://other.example.edu"))
	off := siteFormValues("quiet", "https://quiet.example.edu")
	off.Del("tail")
	u.post("/sites", off)

	// Without tailers the list says only that tailing is on.
	list := u.get("/sites")
	must(t, list, http.StatusOK)
	if strings.Contains(list.body, "another process") || strings.Contains(list.body, "failing") {
		t.Errorf("without tailers the list claims a status:\n%s", excerpt(list.body, 4000))
	}

	// Another process holds the lease of "elsewhere".
	now := time.Now()
	if ok, err := u.store.TryLease(t.Context(), "tail:elsewhere", "other-process", now.Add(time.Hour), now); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	logger := slog.New(slog.DiscardHandler)
	ingester := event.NewIngester(event.Config{Store: u.store, Rules: rule.NewSet(u.store, logger, time.Second), Logger: logger})
	sup := tailer.NewSupervisor(u.store, ingester, tailer.SupervisorConfig{Owner: "test", Check: 20 * time.Millisecond,
		Tailer: tailer.Config{RetryMin: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	u.withTailers(t, sup.Status)

	deadline := time.Now().Add(10 * time.Second)
	for {
		if st := sup.Status("main"); st != nil && st.Failures > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tailer of main did not fail within 10 s: %+v", sup.Status("main"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	list = u.get("/sites")
	must(t, list, http.StatusOK, "failing", "cursor 0", "tailed by another process")
	row := regexpFind(t, `(?s)<a href="/sites/main/edit">main</a></th>(.*?)</tr>`, list.body)
	if !strings.Contains(row, `class="field-error"`) || !strings.Contains(row, "failing") {
		t.Errorf("the row of main lacks the tailer's error:\n%s", row)
	}
	quiet := regexpFind(t, `(?s)<a href="/sites/quiet/edit">quiet</a></th>(.*?)</tr>`, list.body)
	if !strings.Contains(quiet, "off") {
		t.Errorf("the row of quiet: %s", quiet)
	}
	must(t, u.get("/sites/main/edit"), http.StatusOK, "failing", "in process <code>test</code>", "failed polls in a row")
	must(t, u.get("/sites/elsewhere/edit"), http.StatusOK, "tailed by another process of the hub")
	u.noSecrets(siteSecretValues...)
}

// Runs asked for from the web UI are recorded with the trigger "web", and shown so.
func TestSync_RunsFromTheUIAreWeb(t *testing.T) {
	u := newSyncUI(t, false)
	u.login()
	if r := u.post("/sync", syncJobForm("webcourse")); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, excerpt(r.body, 2000))
	}
	id := queued(t, u.post("/sync/webcourse/plan", nil))
	run, err := u.store.FindSyncRunByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Trigger != mih.TriggerWeb {
		t.Errorf("preview run trigger %q, want %q", run.Trigger, mih.TriggerWeb)
	}
	runs := u.get("/sync/webcourse/runs")
	must(t, runs, http.StatusOK)
	if !regexp.MustCompile(`<td>web UI</td>`).MatchString(runs.body) {
		t.Errorf("the runs page does not say the run came from the web UI:\n%s", excerpt(runs.body, 4000))
	}
}
