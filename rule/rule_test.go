package rule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		name    string
		rule    mih.Rule
		wantErr string
	}{
		{"the administrator guide's template", mih.Rule{Event: `\core\event\user_created`, Service: "crm", Template: `{"event": "{{eventname}}", "user_id": {{userid}}}`}, ""},
		{"empty template sends whole event", mih.Rule{Event: "*", Service: "crm"}, ""},
		{"event without leading backslash", mih.Rule{Event: `core\event\user_created`, Service: "crm"}, ""},
		{"bad template has position", mih.Rule{Event: "*", Service: "crm", Template: "{\n  \"a\": {{userid}},\n}"}, "template: line 2, col 18"},
		{"bad filter", mih.Rule{Event: "*", Service: "crm", Filter: "courseid == == 5"}, "filter"},
		{"bad method", mih.Rule{Event: "*", Service: "crm", Method: "TRACE"}, "method"},
		{"no service", mih.Rule{Event: "*"}, "service"},
		{"no event", mih.Rule{Service: "crm"}, "event"},
		{"bad enrich", mih.Rule{Event: "*", Service: "crm", Enrich: []string{"group"}}, "enrich"},
		{"bad endpoint placeholder", mih.Rule{Event: "*", Service: "crm", Endpoint: "/users/{{user id}}"}, "endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rule
			_, err := Compile(&r)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || mih.ErrorCode(err) != mih.CodeInvalid {
					t.Fatalf("got error %v, want an invalid error mentioning %q", err, tc.wantErr)
				}
			}
		})
	}
}

func TestCompiled_MatchesName(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{`\core\event\user_created`, `\core\event\user_created`, true},
		{`\core\event\user_created`, `\core\event\user_updated`, false},
		{`\mod_assign\event\*`, `\mod_assign\event\submission_graded`, true},
		{`\mod_assign\event\*`, `\mod_quiz\event\attempt_submitted`, false},
		{`*`, `\core\event\course_viewed`, true},
		{`\core\event\user_*`, `\core\event\user_loggedin`, true},
		{`\core\event\user_?`, `\core\event\user_loggedin`, false},
		{`\core\event\course.created`, `\core\event\courseXcreated`, false},
	}
	for _, tc := range tests {
		c, err := Compile(&mih.Rule{Event: tc.pattern, Service: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.MatchesName(tc.name); got != tc.want {
			t.Errorf("%s matches %s: got %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestCompiled_Matches(t *testing.T) {
	ev := MockEvent(`\core\event\user_graded`)
	data, _ := ev.Data()
	env := FilterEnv(data)
	tests := []struct {
		filter string
		want   bool
	}{
		{"", true},
		{`courseid == 7 && crud == "u"`, true},
		{`courseid == 5`, false},
		{`other.finalgrade > 50`, true},
		{`eventname endsWith "user_graded"`, true},
		{`relateduserid in [42, 43]`, true},
		{`nosuchfield == 1`, false},
	}
	for _, tc := range tests {
		c, err := Compile(&mih.Rule{Event: "*", Service: "s", Filter: tc.filter})
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		got, err := c.Matches(env)
		if err != nil || got != tc.want {
			t.Errorf("filter %q: got %v, %v, want %v", tc.filter, got, err, tc.want)
		}
	}
}

func TestCompiled_Render(t *testing.T) {
	c, err := Compile(&mih.Rule{Event: `\core\event\user_loggedin`, Service: "slack", Method: "put",
		Endpoint: "/users/{{userid}}/logins/{{other.username}}", Template: `{"text": "User {{username}} just logged in from IP {{ip}}!"}`})
	if err != nil {
		t.Fatal(err)
	}
	ev := MockEvent(`\core\event\user_loggedin`)
	ev.Other = json.RawMessage(`{"username":"o'brien/x y"}`)
	method, endpoint, payload, err := c.Render(MockScope(ev))
	if err != nil {
		t.Fatal(err)
	}
	if method != "PUT" {
		t.Errorf("method: got %q, want PUT", method)
	}
	if want := "/users/42/logins/o%27brien%2Fx%20y"; endpoint != want {
		t.Errorf("endpoint: got %q, want %q", endpoint, want)
	}
	if want := `{"text": "User o'brien/x y just logged in from IP 203.0.113.7!"}`; string(payload) != want {
		t.Errorf("payload: got %s, want %s", payload, want)
	}
}

func TestMockEvent(t *testing.T) {
	for _, name := range CommonEvents() {
		ev := MockEvent(name)
		if ev.EventName != name || ev.TimeCreated == 0 || !json.Valid(ev.Other) {
			t.Errorf("MockEvent(%s): got %+v", name, ev)
		}
	}
	if ev := MockEvent(`\core\event\role_unassigned`); !strings.Contains(string(ev.Other), `"id":"1208"`) {
		t.Errorf("role_unassigned mock: got other %s, want string-valued ids as Moodle logs them", ev.Other)
	}
}

func TestPreview(t *testing.T) {
	payload, warnings, err := Preview(`{"u": "{{nosuch}}", "id": {{userid}}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(payload) || len(warnings) == 0 {
		t.Errorf("got %s with warnings %v, want valid JSON and a warning for {{nosuch}}", payload, warnings)
	}
	if _, _, err := Preview(`{"a": }`, nil); mih.ErrorCode(err) != mih.CodeInvalid || !strings.Contains(err.Error(), "col") {
		t.Errorf("bad template: got %v, want an invalid error with a position", err)
	}
}
