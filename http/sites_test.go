package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/ops"
)

// Secrets of the test site; none of them may ever appear in an answer.
const (
	siteToken      = "ws-token-5f1c0d2e9a"
	siteDBPassword = "db-pa55-hunter2"
	sitePluginKey  = "c2l0ZS1wbHVnaW4tc2lnbmluZy1rZXktMzI=" // base64 of 25 bytes
	sitePlugin     = "whsec_" + sitePluginKey
)

// siteSecrets lists every secret a test may have sent, to look for in answers.
var siteSecrets = []string{siteToken, siteDBPassword, sitePluginKey, "new-ws-token-77", "other-pa55", "query-pa55"}

// noSiteSecrets fails when an answer carries any of the secrets.
func noSiteSecrets(t *testing.T, r *response) {
	t.Helper()
	for _, s := range siteSecrets {
		if strings.Contains(string(r.Body), s) {
			t.Fatalf("answer leaks secret %q: %s", s, r.Body)
		}
	}
}

func mainSite() map[string]any {
	return map[string]any{
		"name": "main", "url": "https://moodle.example.edu/", "token": siteToken,
		"db":   "postgres://mih_reader:" + siteDBPassword + "@db.example.edu:5432/moodle?sslmode=require",
		"tail": true, "plugin_secret": sitePlugin,
	}
}

func TestSites_CRUD(t *testing.T) {
	h := newTestHub(t)
	ctx := context.Background()
	stored := func() *mih.Site {
		t.Helper()
		s, err := h.store.FindSiteByName(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("create", func(t *testing.T) {
		r := h.do("POST", "/api/v1/sites", mainSite()).want(http.StatusCreated)
		noSiteSecrets(t, r)
		m := r.obj()
		want := map[string]any{
			"name": "main", "url": "https://moodle.example.edu", "token": mih.Masked,
			"db":     "postgres://mih_reader:********@db.example.edu:5432/moodle?sslmode=require",
			"prefix": "mdl_", "tail": true, "tail_from": "latest", "plugin_secret": mih.Masked,
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %v", k, m[k], v)
			}
		}
		if m["created_at"] == nil || m["updated_at"] == nil {
			t.Errorf("created_at/updated_at missing: %s", r.Body)
		}
		if _, ok := m["tail_status"]; ok {
			t.Errorf("tail_status present without a status source: %s", r.Body)
		}
		if loc := r.Header.Get("Location"); loc != "/api/v1/sites/main" {
			t.Errorf("Location %q", loc)
		}
		s := stored()
		if s.Token != siteToken || s.PluginSecret != sitePlugin || !strings.Contains(s.DB, siteDBPassword) {
			t.Errorf("stored secrets %q %q %q, want the ones sent", s.Token, s.PluginSecret, s.DB)
		}
	})
	t.Run("get and list mask secrets", func(t *testing.T) {
		r := h.do("GET", "/api/v1/sites/main", nil).want(http.StatusOK)
		noSiteSecrets(t, r)
		if m := r.obj(); m["token"] != mih.Masked || m["plugin_secret"] != mih.Masked {
			t.Errorf("secrets not masked: %s", r.Body)
		}
		r = h.do("GET", "/api/v1/sites", nil).want(http.StatusOK)
		noSiteSecrets(t, r)
		var l list[map[string]any]
		r.decode(&l)
		if len(l.Items) != 1 || l.Items[0]["name"] != "main" || l.Next != "" {
			t.Errorf("list = %s", r.Body)
		}
	})
	t.Run("put without secrets keeps them", func(t *testing.T) {
		r := h.do("PUT", "/api/v1/sites/main", map[string]any{"url": "https://moodle.example.edu/lms", "prefix": "m_"}).want(http.StatusOK)
		noSiteSecrets(t, r)
		s := stored()
		if s.Token != siteToken || s.PluginSecret != sitePlugin || !strings.Contains(s.DB, siteDBPassword) {
			t.Errorf("stored secrets %q %q %q, want the originals kept", s.Token, s.PluginSecret, s.DB)
		}
		if s.URL != "https://moodle.example.edu/lms" || s.Prefix != "m_" || s.Tail {
			t.Errorf("update not applied (tail omitted means false): %+v", s.Masked())
		}
	})
	t.Run("a read written back keeps the secrets", func(t *testing.T) {
		read := h.do("GET", "/api/v1/sites/main", nil).want(http.StatusOK).obj()
		read["tail"] = true
		// A password masked in the URL keeps the stored password, with the new host.
		read["db"] = "postgres://mih_reader:********@db.example.edu:5432/moodle2"
		r := h.do("PUT", "/api/v1/sites/main", read).want(http.StatusOK)
		noSiteSecrets(t, r)
		s := stored()
		if s.Token != siteToken || s.PluginSecret != sitePlugin {
			t.Errorf("stored token %q, plugin secret %q; want the originals kept", s.Token, s.PluginSecret)
		}
		if want := "postgres://mih_reader:" + siteDBPassword + "@db.example.edu:5432/moodle2"; s.DB != want {
			t.Errorf("stored db %q, want %q", s.DB, want)
		}
		if !s.Tail {
			t.Errorf("tail not applied")
		}
	})
	t.Run("secrets do not follow a new host", func(t *testing.T) {
		r := h.do("PUT", "/api/v1/sites/main", map[string]any{"url": "https://evil.example.net"}).want(http.StatusUnprocessableEntity)
		if !strings.Contains(string(r.Body), "secrets_required") || !strings.Contains(string(r.Body), "type them again: token") {
			t.Errorf("url moved: %s", r.Body)
		}
		r = h.do("PUT", "/api/v1/sites/main", map[string]any{"url": "https://moodle.example.edu/lms",
			"db": "postgres://mih_reader:********@evil.example.net:5432/moodle"}).want(http.StatusUnprocessableEntity)
		if !strings.Contains(string(r.Body), "db (its password)") {
			t.Errorf("db moved: %s", r.Body)
		}
		if s := stored(); s.URL != "https://moodle.example.edu/lms" || !strings.Contains(s.DB, "@db.example.edu") {
			t.Errorf("the site changed: %+v", s.Masked())
		}
	})
	t.Run("new secrets replace the old", func(t *testing.T) {
		r := h.do("PUT", "/api/v1/sites/main", map[string]any{
			"url": "https://lms.example.edu", "token": "new-ws-token-77",
			"db": "mysql://reader:other-pa55@mariadb.example.edu:3306/moodle",
		}).want(http.StatusOK)
		noSiteSecrets(t, r)
		s := stored()
		if s.Token != "new-ws-token-77" || s.DB != "mysql://reader:other-pa55@mariadb.example.edu:3306/moodle" || s.PluginSecret != sitePlugin {
			t.Errorf("stored %q %q %q, want the new token and db, the plugin secret kept", s.Token, s.DB, s.PluginSecret)
		}
	})
	t.Run("null removes a secret", func(t *testing.T) {
		h.do("PUT", "/api/v1/sites/main", map[string]any{
			"url": "https://lms.example.edu", "plugin_secret": nil, "db": nil,
		}).want(http.StatusOK)
		s := stored()
		if s.PluginSecret != "" || s.DB != "" || s.Token != "new-ws-token-77" {
			t.Errorf("stored %q %q %q, want plugin secret and db removed, token kept", s.PluginSecret, s.DB, s.Token)
		}
		m := h.do("GET", "/api/v1/sites/main", nil).want(http.StatusOK).obj()
		if _, ok := m["plugin_secret"]; ok {
			t.Errorf("a removed plugin_secret still reads as %v", m["plugin_secret"])
		}
	})

	bad := []struct {
		name    string
		method  string
		path    string
		body    any
		status  int
		code    string
		mention string
	}{
		{"duplicate name", "POST", "/api/v1/sites", map[string]any{"name": "main", "url": "https://x.example"}, 409, "conflict", ""},
		{"bad name", "POST", "/api/v1/sites", map[string]any{"name": "Main Site", "url": "https://x.example"}, 400, "invalid", "name"},
		{"no url", "POST", "/api/v1/sites", map[string]any{"name": "x"}, 400, "invalid", "url"},
		{"url with a password", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://admin:" + siteDBPassword + "@x.example"}, 400, "invalid", "url"},
		{"bad prefix", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "prefix": "MDL-"}, 400, "invalid", "prefix"},
		{"bad db scheme", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "db": "ftp://u:" + siteDBPassword + "@h/x"}, 400, "invalid", "db"},
		{"db without host", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "db": "mysql://u:" + siteDBPassword + "@/x"}, 400, "invalid", "db"},
		{"db password in the query", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "db": "postgres://u@h/x?password=query-pa55"}, 400, "invalid", "user part"},
		{"tail without db", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "tail": true}, 400, "invalid", "tail"},
		{"bad tail_from", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "tail_from": "yesterday"}, 400, "invalid", "tail_from"},
		{"short plugin_secret", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "plugin_secret": "whsec_c2hvcnQ="}, 400, "invalid", "plugin_secret"},
		{"plugin_secret without whsec_", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "plugin_secret": sitePluginKey}, 400, "invalid", "plugin_secret"},
		{"masked token on create", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "token": mih.Masked}, 400, "invalid", "token"},
		{"masked plugin_secret on create", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "plugin_secret": mih.Masked}, 400, "invalid", "plugin_secret"},
		{"masked db password on create", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "db": "postgres://u:********@h/x"}, 400, "invalid", "db"},
		{"null secret on create", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "token": nil}, 400, "invalid", "token"},
		{"unknown field", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "wwwroot": "x"}, 400, "invalid", "wwwroot"},
		{"wrong field type", "POST", "/api/v1/sites", map[string]any{"name": "x", "url": "https://x.example", "tail": "yes"}, 400, "invalid", "tail"},
		{"empty body", "POST", "/api/v1/sites", nil, 400, "invalid", "body"},
		{"rename", "PUT", "/api/v1/sites/main", map[string]any{"name": "other", "url": "https://x.example"}, 400, "invalid", "renamed"},
		{"masked db password with none stored", "PUT", "/api/v1/sites/main", map[string]any{"url": "https://lms.example.edu", "db": "postgres://u:********@h/x"}, 400, "invalid", "db"},
		{"tail after db removed", "PUT", "/api/v1/sites/main", map[string]any{"url": "https://lms.example.edu", "tail": true}, 400, "invalid", "tail"},
		{"put unknown", "PUT", "/api/v1/sites/nope", map[string]any{"url": "https://x.example"}, 404, "not_found", ""},
		{"get unknown", "GET", "/api/v1/sites/nope", nil, 404, "not_found", ""},
		{"delete unknown", "DELETE", "/api/v1/sites/nope", nil, 404, "not_found", ""},
		{"bad cursor", "GET", "/api/v1/sites?cursor=zzz", nil, 400, "invalid", "cursor"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.path, tc.body).wantError(tc.status, tc.code)
			noSiteSecrets(t, r)
			if !strings.Contains(r.errMessage(), tc.mention) {
				t.Errorf("message %q does not mention %q", r.errMessage(), tc.mention)
			}
		})
	}
	if sites, _ := h.store.FindSites(ctx); len(sites) != 1 {
		t.Errorf("got %d sites stored, want 1", len(sites))
	}

	t.Run("delete", func(t *testing.T) {
		h.do("DELETE", "/api/v1/sites/main", nil).want(http.StatusNoContent)
		h.do("GET", "/api/v1/sites/main", nil).wantError(404, "not_found")
		var l list[map[string]any]
		h.do("GET", "/api/v1/sites", nil).want(http.StatusOK).decode(&l)
		if len(l.Items) != 0 {
			t.Errorf("got %d sites after the delete, want 0", len(l.Items))
		}
	})
}

// A database password in the URL's query would escape the mask: the store refuses it on every
// path (a configuration file included), without quoting it.
func TestSites_RefuseQueryPassword(t *testing.T) {
	h := newTestHub(t)
	err := h.store.CreateSite(context.Background(), &mih.Site{
		Name: "cfg", URL: "https://moodle.example.edu",
		DB: "postgres://reader@db.example.edu/moodle?sslmode=disable&password=query-pa55",
	})
	if mih.ErrorCode(err) != mih.CodeInvalid || strings.Contains(err.Error(), "query-pa55") {
		t.Fatalf("got %v, want invalid without the password", err)
	}
}

// tailState stands in for the log store tailer's status.
type tailState struct {
	Running bool  `json:"running"`
	Cursor  int64 `json:"cursor"`
}

func TestSites_TailStatus(t *testing.T) {
	h := newTestHub(t, func(c *ops.Config) {
		c.Tails = func(site string) *mih.TailStatus {
			if site == "main" {
				return &mih.TailStatus{Running: true, Cursor: 4711}
			}
			return nil
		}
	})
	for _, name := range []string{"main", "typed-nil", "quiet"} {
		h.do("POST", "/api/v1/sites", map[string]any{"name": name, "url": "https://" + name + ".example.edu"}).want(http.StatusCreated)
	}
	var got struct {
		TailStatus *tailState `json:"tail_status"`
	}
	h.do("GET", "/api/v1/sites/main", nil).want(http.StatusOK).decode(&got)
	if got.TailStatus == nil || !got.TailStatus.Running || got.TailStatus.Cursor != 4711 {
		t.Errorf("main: tail_status %+v, want the tailer's status", got.TailStatus)
	}
	for _, name := range []string{"typed-nil", "quiet"} {
		m := h.do("GET", "/api/v1/sites/"+name, nil).want(http.StatusOK).obj()
		if v, ok := m["tail_status"]; ok {
			t.Errorf("%s: tail_status %v, want it left out", name, v)
		}
	}
	// The list shows it too, and a read with tail_status can be written back.
	var l list[map[string]any]
	h.do("GET", "/api/v1/sites", nil).want(http.StatusOK).decode(&l)
	var read map[string]any
	for _, it := range l.Items {
		if it["name"] == "main" {
			read = it
		}
	}
	if read == nil || read["tail_status"] == nil {
		t.Fatalf("list item of main = %v, want its tail_status", read)
	}
	h.do("PUT", "/api/v1/sites/main", read).want(http.StatusOK)
}

func TestSites_ListPages(t *testing.T) {
	h := newTestHub(t)
	for _, n := range []string{"a", "b", "c"} {
		h.do("POST", "/api/v1/sites", map[string]any{"name": n, "url": "https://" + n + ".example.edu"}).want(http.StatusCreated)
		h.clock.Add(1e9)
	}
	var names []string
	next := ""
	for range 3 {
		var l list[*mih.Site]
		h.do("GET", "/api/v1/sites?limit=2&cursor="+next, nil).want(http.StatusOK).decode(&l)
		for _, s := range l.Items {
			names = append(names, s.Name)
		}
		if next = l.Next; next == "" {
			break
		}
	}
	if got := strings.Join(names, ","); got != "c,b,a" {
		t.Errorf("pages gave %s, want c,b,a (newest first)", got)
	}
}

func TestMaskDBQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://u:********@h/db", "postgres://u:********@h/db"},
		{"postgres://u@h/db?sslmode=require", "postgres://u@h/db?sslmode=require"},
		{"postgres://u@h/db?password=x&sslmode=require", "postgres://u@h/db?password=********&sslmode=require"},
		{"postgres://u@h/db?PassWord=x", "postgres://u@h/db?PassWord=********"},
		{"mysql://u:********@h:3306/db?tls=true", "mysql://u:********@h:3306/db?tls=true"},
	}
	for _, tc := range tests {
		if got := maskDBQuery(tc.in); got != tc.want {
			t.Errorf("maskDBQuery(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The site JSON is exactly docs/api.md's (Sites): no other field reaches the client.
func TestSites_Shape(t *testing.T) {
	h := newTestHub(t)
	r := h.do("POST", "/api/v1/sites", mainSite()).want(http.StatusCreated)
	var m map[string]json.RawMessage
	r.decode(&m)
	allowed := map[string]bool{"name": true, "url": true, "token": true, "db": true, "prefix": true, "tail": true,
		"tail_from": true, "plugin_secret": true, "created_at": true, "updated_at": true, "tail_status": true}
	for k := range m {
		if !allowed[k] {
			t.Errorf("unexpected field %q in %s", k, r.Body)
		}
	}
}
