package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

func newRuleValues(template string) url.Values {
	return url.Values{
		"name": {"new users"}, "event": {`\core\event\user_created`}, "filter": {""}, "service": {"crm"},
		"method": {"POST"}, "endpoint": {"/users/{{relateduserid}}"}, "template": {template}, "active": {"true"},
		"enrich": {"user"}, "preview_event": {""},
	}
}

func TestRule_CreateAndEdit(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com"))
	off := restService("old", "https://old.example.com")
	off.Enabled = false
	u.createService(off)

	page := u.get("/rules/new?service=crm")
	must(t, page, http.StatusOK, `<option value="crm" selected>`, `<datalist id="moodle-events">`,
		`value="\core\event\user_enrolment_created"`, "A user was enrolled in a course")
	if strings.Contains(page.body, `value="old"`) {
		t.Error("a disabled service is offered for a new rule")
	}

	f := newRuleValues("{\n  \"id\": {{relateduserid}}\n}")
	f.Set("event", `core\event\user_created`) // without the leading backslash, as people type it
	f.Set("method", "put")
	f.Set("action", "save")
	r := u.post("/rules", f)
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, excerpt(r.body, 3000))
	}
	ru, err := u.store.FindRuleByID(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if ru.Event != `\core\event\user_created` || ru.Method != "PUT" || !ru.Active || len(ru.Enrich) != 1 || ru.Endpoint != "/users/{{relateduserid}}" {
		t.Fatalf("stored: %+v", ru)
	}
	must(t, u.follow("/rules"), http.StatusOK, "Rule 1 added", "new users")

	// Edit: the form comes back filled; inactive when unticked.
	must(t, u.get("/rules/1/edit"), http.StatusOK, `value="new users"`, `name="enrich" value="user" checked`, "{{relateduserid}}")
	f.Del("active")
	if r := u.post("/rules/1/edit", f); r.status != http.StatusSeeOther {
		t.Fatalf("update: %d", r.status)
	}
	if ru2, _ := u.store.FindRuleByID(t.Context(), 1); ru2.Active || !ru2.CreatedAt.Equal(ru.CreatedAt) {
		t.Errorf("after the update: active %v, created %s (was %s)", ru2.Active, ru2.CreatedAt, ru.CreatedAt)
	}
	u.post("/rules/1/active", url.Values{"active": {"true"}})
	if ru, _ := u.store.FindRuleByID(t.Context(), 1); !ru.Active {
		t.Error("activate did not activate")
	}
	// A rule of a disabled service keeps it in its select.
	ru, _ = u.store.FindRuleByID(t.Context(), 1)
	ru.Service = "old"
	u.store.UpdateRule(t.Context(), ru)
	must(t, u.get("/rules/1/edit"), http.StatusOK, `<option value="old" selected>old (REST) — disabled</option>`)

	must(t, u.get("/rules/1/delete"), http.StatusOK, "Delete rule 1?")
	must(t, u.post("/rules/1/delete", nil), http.StatusConflict)
	u.post("/rules/1/delete", url.Values{"confirm": {"yes"}})
	if _, err := u.store.FindRuleByID(t.Context(), 1); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("after delete: %v", err)
	}
}

func TestRule_ErrorsNextToTheField(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com"))
	tests := []struct {
		name   string
		change map[string]string
		field  string
		want   []string
	}{
		{"no event", map[string]string{"event": ""}, "f-event", []string{"event: required"}},
		{"bad filter", map[string]string{"filter": "courseid == "}, "f-filter", []string{"filter: "}},
		{"unknown service", map[string]string{"service": "nope"}, "f-service", []string{`no service named &#34;nope&#34;`}},
		{"no service", map[string]string{"service": ""}, "f-service", []string{"service: required"}},
		{"template fault", map[string]string{"template": "{\n  \"id\": {{relateduserid}},\n  \"name\": \"x\"\n  \"more\": 1\n}"}, "f-template",
			[]string{"line 4, column 3:", `<pre class="fault"`, "  \"more\": 1\n  ^</pre>"}},
		{"unclosed placeholder", map[string]string{"template": `{"id": {{userid}`}, "f-template", []string{"line 1, column 8:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newRuleValues(`{"id": {{relateduserid}}}`)
			for k, v := range tc.change {
				f.Set(k, v)
			}
			f.Set("action", "save")
			r := u.post("/rules", f)
			must(t, r, http.StatusBadRequest, append([]string{`id="` + tc.field + `-error"`, "The rule was not saved"}, tc.want...)...)
		})
	}
	if rules, _ := u.store.FindRules(t.Context(), mih.RuleFilter{}); len(rules) != 0 {
		t.Errorf("invalid forms stored %d rules", len(rules))
	}
}

func TestRule_Preview(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com"))

	// A mock event of the rule's event; the request line with its endpoint.
	f := newRuleValues("{\n  \"id\": {{relateduserid}},\n  \"email\": \"{{user.email}}\",\n  \"note\": \"{{other.nothing}}\"\n}")
	f.Set("action", "preview")
	r := u.post("/rules", f)
	must(t, r, http.StatusOK, "Rendered from a mock \\core\\event\\user_created event", `"id": 42`, `"email": "jdoe@example.edu"`,
		"<code>POST /users/42</code>", "line 4, column 12: {{other.nothing}}")
	if rules, _ := u.store.FindRules(t.Context(), mih.RuleFilter{}); len(rules) != 0 {
		t.Fatal("a preview saved the rule")
	}

	// A stored event, picked from the recent ones.
	ev := &mih.Event{ID: "evt-77", EventName: `\core\event\user_created`, Component: "core", Action: "created", Target: "user",
		CRUD: "c", UserID: 9, RelatedUserID: ptr(int64(1234)), Other: json.RawMessage("null"), TimeCreated: 1767000000, ReceivedAt: time.Now()}
	if _, err := u.store.CreateEvents(t.Context(), []mih.IngestItem{{Event: ev}}); err != nil {
		t.Fatal(err)
	}
	must(t, u.get("/rules/new"), http.StatusOK, `<option value="evt-77">evt-77 — \core\event\user_created, user 9`)
	f.Set("preview_event", "evt-77")
	must(t, u.post("/rules", f), http.StatusOK, "Rendered from event evt-77", `"id": 1234`, "/users/1234", `<option value="evt-77" selected>`)
	f.Set("preview_event", "gone")
	must(t, u.post("/rules", f), http.StatusOK, `is no longer stored`)

	// A template fault: its line and column, the line itself and a caret.
	f.Set("preview_event", "")
	f.Set("template", "{\n\t\"a\": {{userid}},\n\t\"b\": [1, 2,]\n}")
	r = u.post("/rules", f)
	must(t, r, http.StatusOK, "line 3, column 12: trailing comma", "\t\"b\": [1, 2,]\n\t          ^</pre>")
	if strings.Contains(r.body, `id="preview"`) {
		t.Error("a faulty template shows a preview")
	}
}

func ptr[T any](v T) *T { return &v }

func TestLineCol(t *testing.T) {
	src := "ab\ncdé\n\nx"
	tests := []struct{ pos, line, col int }{{0, 1, 1}, {2, 1, 3}, {3, 2, 1}, {7, 2, 4}, {8, 3, 1}, {9, 4, 1}, {99, 4, 2}}
	for _, tc := range tests {
		if l, c := lineCol(src, tc.pos); l != tc.line || c != tc.col {
			t.Errorf("lineCol(%d): got %d:%d, want %d:%d", tc.pos, l, c, tc.line, tc.col)
		}
	}
}
