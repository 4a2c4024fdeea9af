package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

const webInboundSecret = "whsec_d2ViLWluYm91bmQtc2VjcmV0LTAxMjM0NQ=="

func TestInbound_Pages(t *testing.T) {
	u := newTestUI(t)
	u.login()
	if err := u.store.CreateSite(t.Context(), &mih.Site{Name: "main", URL: "https://moodle.example.edu", Token: "ws-tok"}); err != nil {
		t.Fatal(err)
	}
	must(t, u.get("/inbound"), http.StatusOK, "No inbound endpoints yet")
	must(t, u.get("/inbound/new"), http.StatusOK, `name="secret1"`, `name="source"`)

	form := url.Values{"name": {"sis"}, "description": {"student records"}, "secret1": {webInboundSecret}, "tolerance_s": {"300"}, "active": {"true"}}
	bad := url.Values{"name": {"sis"}, "secret1": {"whsec_%%"}, "tolerance_s": {"300"}}
	must(t, u.post("/inbound", bad), http.StatusBadRequest, "not valid base64")
	u.post("/inbound", form)
	r := u.get("/inbound")
	must(t, r, http.StatusOK, "POST /api/v1/inbound/sis", "signed (1 secret)", "No rules yet")
	if strings.Contains(r.body, "d2ViLWluYm91bmQ") {
		t.Fatal("the list shows a secret")
	}
	// Saving the form with empty secret fields keeps the secret; a second one starts a rotation.
	u.post("/inbound/sis/edit", url.Values{"description": {"SIS"}, "tolerance_s": {"300"}, "active": {"true"},
		"secret2": {"whsec_bmV4dC1zZWNyZXQtMDEyMzQ1Njc4OQ=="}})
	e, _ := u.store.FindInboundEndpoint(t.Context(), "sis")
	if len(e.Secrets) != 2 || e.Secrets[0] != webInboundSecret || e.Description != "SIS" {
		t.Fatalf("after edit %+v", e)
	}

	rule := url.Values{"name": {"create"}, "site": {"main"}, "function": {"core_user_create_users"}, "active": {"true"},
		"filter": {`action == "created"`}, "template": {`{"users": [{"username": {{username}}, "createpassword": 1}]}`},
		"sample": {`{"action": "created", "username": "ada"}`}, "action": {"preview"}}
	must(t, u.post("/inbound/sis/rules", rule), http.StatusOK, "The call this message would make",
		"users%5B0%5D%5Busername%5D=ada", "wstoken=********")
	rule.Set("sample", `{"action": "other"}`)
	must(t, u.post("/inbound/sis/rules", rule), http.StatusOK, "The filter does not match this message")
	rule.Set("action", "save")
	rule.Set("site", "")
	must(t, u.post("/inbound/sis/rules", rule), http.StatusBadRequest, "site: required")
	rule.Set("site", "gone")
	must(t, u.post("/inbound/sis/rules", rule), http.StatusBadRequest, "choose a registered Moodle site")
	rule.Set("site", "main")
	u.post("/inbound/sis/rules", rule)
	rules, _ := u.store.FindInboundRules(t.Context(), "sis")
	if len(rules) != 1 || rules[0].Function != "core_user_create_users" {
		t.Fatalf("rules %+v", rules)
	}
	must(t, u.get("/inbound"), http.StatusOK, "<code>core_user_create_users</code> on main")
	must(t, u.get("/inbound/sis/rules/1/edit"), http.StatusOK, `value="create"`)
	must(t, u.get("/inbound/other/rules/1/edit"), http.StatusNotFound)

	u.post("/inbound/sis/delete", url.Values{})
	if _, err := u.store.FindInboundEndpoint(t.Context(), "sis"); err != nil {
		t.Fatal("deleted without the confirmation")
	}
	u.post("/inbound/sis/delete", url.Values{"confirm": {"true"}})
	if _, err := u.store.FindInboundEndpoint(t.Context(), "sis"); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Fatalf("not deleted: %v", err)
	}
}
