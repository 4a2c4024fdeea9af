package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

func TestRules_CRUD(t *testing.T) {
	h := newTestHub(t)
	h.createService("crm")
	var ru mih.Rule
	t.Run("create", func(t *testing.T) {
		r := h.do("POST", "/api/v1/rules", map[string]any{
			"name": "new users", "event": `\core\event\user_created`, "service": "crm",
			"endpoint": "/users/{{userid}}", "template": `{"id": {{userid}}, "text": "hi {{username}}"}`,
		}).want(http.StatusCreated)
		r.decode(&ru)
		if ru.ID == 0 || ru.Method != "POST" || !ru.Active || ru.Enrich == nil {
			t.Errorf("created %+v, want an id and defaults", ru)
		}
		if loc := r.Header.Get("Location"); loc != fmt.Sprintf("/api/v1/rules/%d", ru.ID) {
			t.Errorf("Location %q", loc)
		}
	})
	path := fmt.Sprintf("/api/v1/rules/%d", ru.ID)
	t.Run("get", func(t *testing.T) {
		var got mih.Rule
		h.do("GET", path, nil).want(http.StatusOK).decode(&got)
		if got.Name != "new users" || got.Endpoint != "/users/{{userid}}" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("glob event", func(t *testing.T) {
		var g mih.Rule
		h.do("POST", "/api/v1/rules", map[string]any{
			"event": `\mod_assign\event\*`, "service": "crm", "filter": `courseid == 5 && crud == "c"`,
		}).want(http.StatusCreated).decode(&g)
		if g.Event != `\mod_assign\event\*` {
			t.Errorf("event %q", g.Event)
		}
	})
	t.Run("list", func(t *testing.T) {
		var l list[*mih.Rule]
		h.do("GET", "/api/v1/rules", nil).want(http.StatusOK).decode(&l)
		if len(l.Items) != 2 || l.Items[0].ID < l.Items[1].ID {
			t.Fatalf("got %+v, want two rules newest first", l.Items)
		}
		h.do("GET", "/api/v1/rules?limit=1", nil).want(http.StatusOK).decode(&l)
		if len(l.Items) != 1 || l.Next == "" {
			t.Fatalf("page 1 %+v next %q", l.Items, l.Next)
		}
		h.do("GET", "/api/v1/rules?limit=1&cursor="+l.Next, nil).want(http.StatusOK).decode(&l)
		if len(l.Items) != 1 || l.Items[0].ID != ru.ID || l.Next != "" {
			t.Fatalf("page 2 %+v next %q, want the first rule and no cursor", l.Items, l.Next)
		}
		h.do("GET", "/api/v1/rules?service=other", nil).want(http.StatusOK).decode(&l)
		if len(l.Items) != 0 {
			t.Fatalf("service filter gave %d rules", len(l.Items))
		}
	})
	t.Run("update", func(t *testing.T) {
		var got mih.Rule
		h.do("PUT", path, map[string]any{
			"name": "renamed", "event": `\core\event\user_updated`, "service": "crm", "method": "put", "active": false,
		}).want(http.StatusOK).decode(&got)
		if got.ID != ru.ID || got.Name != "renamed" || got.Method != "PUT" || got.Active {
			t.Errorf("updated %+v", got)
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
		{"invalid template", "POST", "/api/v1/rules", map[string]any{"event": `\core\event\user_created`, "service": "crm", "template": "{\n  \"a\": {{userid}\n}"}, 400, "invalid", "line 2"},
		{"template not JSON", "POST", "/api/v1/rules", map[string]any{"event": `\core\event\user_created`, "service": "crm", "template": `{"a": }`}, 400, "invalid", "col"},
		{"unknown service", "POST", "/api/v1/rules", map[string]any{"event": `\core\event\user_created`, "service": "nope"}, 400, "invalid", "nope"},
		{"no event", "POST", "/api/v1/rules", map[string]any{"service": "crm"}, 400, "invalid", "event"},
		{"bad filter", "POST", "/api/v1/rules", map[string]any{"event": "*", "service": "crm", "filter": "courseid =="}, 400, "invalid", "filter"},
		{"bad method", "POST", "/api/v1/rules", map[string]any{"event": "*", "service": "crm", "method": "TRACE"}, 400, "invalid", "method"},
		{"id on create", "POST", "/api/v1/rules", map[string]any{"id": 99, "event": "*", "service": "crm"}, 400, "invalid", "id"},
		{"id mismatch on update", "PUT", path, map[string]any{"id": 99, "event": "*", "service": "crm"}, 400, "invalid", "id"},
		{"update to unknown service", "PUT", path, map[string]any{"event": "*", "service": "nope"}, 400, "invalid", "nope"},
		{"get unknown", "GET", "/api/v1/rules/999", nil, 404, "not_found", ""},
		{"get non-numeric", "GET", "/api/v1/rules/abc", nil, 404, "not_found", ""},
		{"put unknown", "PUT", "/api/v1/rules/999", map[string]any{"event": "*", "service": "crm"}, 404, "not_found", ""},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.path, tc.body).wantError(tc.status, tc.code)
			if !strings.Contains(r.errMessage(), tc.mention) {
				t.Errorf("message %q does not mention %q", r.errMessage(), tc.mention)
			}
		})
	}
	t.Run("delete", func(t *testing.T) {
		h.do("DELETE", path, nil).want(http.StatusNoContent)
		h.do("GET", path, nil).wantError(404, "not_found")
		h.do("DELETE", path, nil).wantError(404, "not_found")
	})
}

// Rule writes invalidate the rule set, so ingest uses a new rule at once.
func TestRules_TakeEffectAtOnce(t *testing.T) {
	h := newTestHub(t)
	h.createService("crm")
	h.do("POST", "/api/v1/events", testEvent("before", `\core\event\user_created`, 2)).want(http.StatusAccepted)
	h.createRule("crm", "*", "")
	h.do("POST", "/api/v1/events", testEvent("after", `\core\event\user_created`, 2)).want(http.StatusAccepted)
	var l list[*mih.Delivery]
	h.do("GET", "/api/v1/deliveries", nil).want(http.StatusOK).decode(&l)
	if len(l.Items) != 1 || l.Items[0].EventID != "after" {
		t.Errorf("deliveries %+v, want one for the event after the rule", l.Items)
	}
}

func TestRules_Preview(t *testing.T) {
	h := newTestHub(t)
	tests := []struct {
		name     string
		body     any
		payload  string
		warnings int
	}{
		{"with event", map[string]any{
			"template": `{"user": {{userid}}, "course": {{courseid}}}`,
			"event":    map[string]any{"eventname": `\core\event\course_viewed`, "userid": 5, "courseid": 7},
		}, `{"user":5,"course":7}`, 0},
		{"event without name or time", map[string]any{
			"template": `{"name": "{{eventname}}"}`, "event": map[string]any{"userid": 5},
		}, `{"name":"\\core\\event\\user_created"}`, 0},
		{"mock event", map[string]any{"template": `{"id": {{relateduserid}}}`}, `{"id":42}`, 0},
		{"mock of a named event", map[string]any{
			"template": `{"text": "User {{username}} just logged in from IP {{ip}}!"}`, "eventname": `\core\event\user_loggedin`,
		}, `{"text":"User jdoe just logged in from IP 203.0.113.7!"}`, 0},
		{"missing value warns", map[string]any{"template": `{"text": "x{{nope}}y"}`}, `{"text":"xy"}`, 1},
		{"empty template sends the event", map[string]any{"template": ""}, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got previewResponse
			h.do("POST", "/api/v1/rules/preview", tc.body).want(http.StatusOK).decode(&got)
			if tc.payload != "" && string(got.Payload) != tc.payload {
				t.Errorf("payload %s, want %s", got.Payload, tc.payload)
			}
			if !json.Valid(got.Payload) {
				t.Errorf("payload %s is not JSON", got.Payload)
			}
			if len(got.Warnings) != tc.warnings || got.Warnings == nil {
				t.Errorf("warnings %+v, want %d (never null)", got.Warnings, tc.warnings)
			}
		})
	}
	t.Run("template error has a position", func(t *testing.T) {
		r := h.do("POST", "/api/v1/rules/preview", map[string]any{"template": `{"a": {{userid}`}).wantError(400, "invalid")
		if msg := r.errMessage(); !strings.Contains(msg, "line 1") || !strings.Contains(msg, "col") {
			t.Errorf("message %q does not give the position", msg)
		}
	})
	t.Run("bad event", func(t *testing.T) {
		h.do("POST", "/api/v1/rules/preview", map[string]any{"template": "", "event": []int{1}}).wantError(400, "invalid")
		h.do("POST", "/api/v1/rules/preview", map[string]any{"template": "", "event": map[string]any{"userid": "x"}}).wantError(400, "invalid")
	})
}
