package template

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// decode reads JSON the way the hub stores events: numbers as json.Number.
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

const userCreated = `{
	"id": "logstore:42", "site": "main",
	"eventname": "\\core\\event\\user_created", "component": "core", "action": "created",
	"target": "user", "objecttable": "user", "objectid": 57, "crud": "c", "edulevel": 0,
	"contextid": 160, "contextlevel": 30, "contextinstanceid": 57, "userid": 2,
	"courseid": 0, "relateduserid": 57, "anonymous": 0, "other": null,
	"timecreated": 1732200000, "origin": "web", "ip": "203.0.113.5"
}`

const userLoggedin = `{
	"eventname": "\\core\\event\\user_loggedin", "component": "core", "action": "loggedin",
	"target": "user", "objecttable": "user", "objectid": 57, "crud": "r", "edulevel": 0,
	"contextid": 1, "contextlevel": 10, "contextinstanceid": 0, "userid": 57,
	"courseid": 0, "relateduserid": null, "anonymous": 0,
	"other": {"username": "jdoe", "extrauserinfo": []},
	"timecreated": 1732200000, "origin": "web", "ip": "203.0.113.5"
}`

// guideTemplate is the example template of local_integrationhub's administrator guide, verbatim
// (docs/architecture.md, What mih replaces).
const guideTemplate = `{
"event": "{{eventname}}",
"user_id": {{userid}},
"object_id": {{objectid}},
"course_id": {{courseid}},
"timestamp": {{timecreated}},
"source": "moodle"
}`

// slackRecipe is the Slack recipe of local_integrationhub's cookbook, which works unchanged
// (docs/api.md, Payload templates).
const slackRecipe = `{
"text": "User {{username}} just logged in from IP {{ip}}!"
}`

func mustCompile(t testing.TB, src string) *Template {
	t.Helper()
	tmpl, err := Compile(src)
	if err != nil {
		t.Fatalf("Compile(%q): %v", src, err)
	}
	return tmpl
}

func mustRender(t testing.TB, tmpl *Template, s Scope) (string, []Warning) {
	t.Helper()
	out, warnings, err := tmpl.Render(s)
	if err != nil {
		t.Fatalf("Render(%q): %v", tmpl.String(), err)
	}
	if !json.Valid(out) {
		t.Fatalf("Render(%q) = %s, not valid JSON", tmpl.String(), out)
	}
	return string(out), warnings
}

func TestRender_Seeds(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		event string
		want  string
	}{
		{
			name:  "001 user_created",
			src:   guideTemplate,
			event: userCreated,
			want: `{
"event": "\\core\\event\\user_created",
"user_id": 2,
"object_id": 57,
"course_id": 0,
"timestamp": 1732200000,
"source": "moodle"
}`,
		},
		{
			name:  "001 user_loggedin",
			src:   guideTemplate,
			event: userLoggedin,
			want: `{
"event": "\\core\\event\\user_loggedin",
"user_id": 57,
"object_id": 57,
"course_id": 0,
"timestamp": 1732200000,
"source": "moodle"
}`,
		},
		{
			name:  "002 slack on user_loggedin",
			src:   slackRecipe,
			event: userLoggedin,
			want: `{
"text": "User jdoe just logged in from IP 203.0.113.5!"
}`,
		},
		{
			name:  "002 one line",
			src:   `{"text": "User {{username}} just logged in from IP {{ip}}!"}`,
			event: userLoggedin,
			want:  `{"text": "User jdoe just logged in from IP 203.0.113.5!"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings := mustRender(t, mustCompile(t, tc.src), Scope{Event: decode(t, tc.event)})
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if len(warnings) != 0 {
				t.Errorf("got warnings %v, want none", warnings)
			}
		})
	}
}

// TestRender_Value renders {"v": {{v}}}: the placeholder stands where a JSON
// value is expected, so it becomes that value.
func TestRender_Value(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"int", json.Number("42"), `42`},
		{"int beyond float64", json.Number("9007199254740993"), `9007199254740993`},
		{"negative exponent", json.Number("-1.5e-10"), `-1.5e-10`},
		{"string", "jdoe", `"jdoe"`},
		{"numeric string stays string", "42", `"42"`},
		{"quotes", `say "hi"`, `"say \"hi\""`},
		{"backslash", `\core\event\user_created`, `"\\core\\event\\user_created"`},
		{"newline tab cr", "a\nb\tc\rd", `"a\nb\tc\rd"`},
		{"control chars", "\x00\x01\x1f\b\f", `"\u0000\u0001\u001f\b\f"`},
		{"unicode", "Zoë Łukasz 東京", `"Zoë Łukasz 東京"`},
		{"emoji", "🎉 done", `"🎉 done"`},
		{"html kept literal", "<b>&</b>", `"<b>&</b>"`},
		{"line separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"invalid utf-8", "a\xffb", `"a\ufffdb"`},
		{"empty string", "", `""`},
		{"true", true, `true`},
		{"false", false, `false`},
		{"null", nil, `null`},
		{"object sorted compact", map[string]any{"b": json.Number("1"), "a": []any{"x", nil}}, `{"a":["x",null],"b":1}`},
		{"object key escaped", map[string]any{"a\"b": "c\nd"}, `{"a\"b":"c\nd"}`},
		{"empty object", map[string]any{}, `{}`},
		{"nil object", map[string]any(nil), `null`},
		{"array", []any{json.Number("1"), "two", true, map[string]any{"x": nil}}, `[1,"two",true,{"x":null}]`},
		{"empty array", []any{}, `[]`},
		{"float64 by hand", 1.5, `1.5`},
		{"int by hand", 7, `7`},
	}
	tmpl := mustCompile(t, `{"v": {{v}}}`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings := mustRender(t, tmpl, Scope{Event: map[string]any{"v": tc.v}})
			if want := `{"v": ` + tc.want + `}`; got != want {
				t.Errorf("got %s, want %s", got, want)
			}
			if len(warnings) != 0 {
				t.Errorf("got warnings %v, want none", warnings)
			}
		})
	}
}

// TestRender_Text renders {"v": "<{{v}}>"}: the placeholder is inside a
// string, so it becomes the value's text, escaped.
func TestRender_Text(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string // the raw text between < and >
	}{
		{"int", json.Number("42"), `42`},
		{"int beyond float64", json.Number("9007199254740993"), `9007199254740993`},
		{"string", "jdoe", `jdoe`},
		{"quotes", `say "hi"`, `say \"hi\"`},
		{"backslash", `\core\event\user_created`, `\\core\\event\\user_created`},
		{"newline tab cr", "a\nb\tc\rd", `a\nb\tc\rd`},
		{"control chars", "\x00\x07\x1f", `\u0000\u0007\u001f`},
		{"unicode", "Zoë 東京", `Zoë 東京`},
		{"emoji", "🎉", `🎉`},
		{"html kept literal", "<b>&</b>", `<b>&</b>`},
		{"invalid utf-8", "\xc3(", `\ufffd(`},
		{"true", true, `true`},
		{"false", false, `false`},
		{"object as json text", map[string]any{"b": "x\"y", "a": json.Number("1")}, `{\"a\":1,\"b\":\"x\\\"y\"}`},
		{"array as json text", []any{json.Number("1"), "a"}, `[1,\"a\"]`},
		{"invalid number is only text here", json.Number(`1"2`), `1\"2`},
	}
	tmpl := mustCompile(t, `{"v": "<{{v}}>"}`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings := mustRender(t, tmpl, Scope{Event: map[string]any{"v": tc.v}})
			if want := `{"v": "<` + tc.want + `>"}`; got != want {
				t.Errorf("got %s, want %s", got, want)
			}
			if len(warnings) != 0 {
				t.Errorf("got warnings %v, want none", warnings)
			}
		})
	}
}

func TestRender_TextRoundTrip(t *testing.T) {
	// Whatever the data, decoding the payload gives back the data's text.
	for _, s := range []string{"", "plain", "\"\\/\b\f\n\r\t", "\x00\x7f", "é\u2028🎉", "}}{{", "\xff\xfe"} {
		out, _ := mustRender(t, mustCompile(t, `{"{{v}}": "{{v}}{{v}}"}`), Scope{Event: map[string]any{"v": s}})
		var got map[string]string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("unmarshal %s: %v", out, err)
		}
		want := string([]rune(s))
		if got[want] != want+want {
			t.Errorf("got %q, want {%q: %q}", got, want, want+want)
		}
	}
}

func TestRender_MissingAndNull(t *testing.T) {
	event := map[string]any{"present": nil}
	tests := []struct {
		name         string
		src          string
		want         string
		wantWarnings []Warning
	}{
		{
			name: "null in value position",
			src:  `{"a": {{present}}}`,
			want: `{"a": null}`,
		},
		{
			name: "missing in value position",
			src:  `{"a": {{absent}}}`,
			want: `{"a": null}`,
			wantWarnings: []Warning{{Pos: 6, Path: "absent",
				Message: "no value for {{absent}}, rendered as null"}},
		},
		{
			name: "null in string",
			src:  `{"a": "x{{present}}y"}`,
			want: `{"a": "xy"}`,
			wantWarnings: []Warning{{Pos: 8, Path: "present",
				Message: "{{present}} is null, rendered as empty text"}},
		},
		{
			name: "missing in string",
			src:  `{"a": "x{{absent}}y"}`,
			want: `{"a": "xy"}`,
			wantWarnings: []Warning{{Pos: 8, Path: "absent",
				Message: "no value for {{absent}}, rendered as empty text"}},
		},
		{
			name: "missing in key",
			src:  `{"k{{absent}}": 1}`,
			want: `{"k": 1}`,
			wantWarnings: []Warning{{Pos: 3, Path: "absent",
				Message: "no value for {{absent}}, rendered as empty text"}},
		},
		{
			name: "same path twice warns at each place",
			src:  `[{{absent}}, {{absent}}]`,
			want: `[null, null]`,
			wantWarnings: []Warning{
				{Pos: 1, Path: "absent", Message: "no value for {{absent}}, rendered as null"},
				{Pos: 13, Path: "absent", Message: "no value for {{absent}}, rendered as null"},
			},
		},
		{
			name: "enrichment not loaded",
			src:  `{"e": {{user.email}}, "c": "{{course.fullname}}"}`,
			want: `{"e": null, "c": ""}`,
			wantWarnings: []Warning{
				{Pos: 6, Path: "user.email", Message: "no value for {{user.email}}, rendered as null"},
				{Pos: 28, Path: "course.fullname", Message: "no value for {{course.fullname}}, rendered as empty text"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings := mustRender(t, mustCompile(t, tc.src), Scope{Event: event})
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if !reflect.DeepEqual(warnings, tc.wantWarnings) {
				t.Errorf("got warnings %+v, want %+v", warnings, tc.wantWarnings)
			}
		})
	}
}

func TestRender_Lookup(t *testing.T) {
	scope := Scope{
		Event: decode(t, `{
			"eventname": "\\core\\event\\user_enrolment_deleted", "userid": 2, "relateduserid": 57,
			"courseid": 9, "ip": "10.0.0.1",
			"other": {
				"userenrolment": {"id": "12", "courseid": "9", "lastenrol": true},
				"enrol": "manual", "userid": 999, "username": "from-other",
				"items": [10, {"name": "first"}, [1, 2]],
				"nested": {"deep": {"deeper": {"x": 9007199254740993}}}
			}
		}`),
		User:        decode(t, `{"id": 2, "username": "admin", "email": "admin@example.edu", "firstname": "Ada", "fullname": "Ada Admin", "enrol": "from-user"}`),
		RelatedUser: decode(t, `{"id": 57, "email": "jdoe@example.edu", "firstname": "John"}`),
		Course:      decode(t, `{"id": 9, "fullname": "Biology 101", "shortname": "BIO101"}`),
	}
	tests := []struct {
		path    string
		want    string // rendered in value position
		missing bool
	}{
		{path: "userid", want: `2`},
		{path: "ip", want: `"10.0.0.1"`},
		{path: "other.userenrolment.id", want: `"12"`},
		{path: "other.userenrolment.lastenrol", want: `true`},
		{path: "other.userenrolment", want: `{"courseid":"9","id":"12","lastenrol":true}`},
		{path: "other.items", want: `[10,{"name":"first"},[1,2]]`},
		{path: "other.items.0", want: `10`},
		{path: "other.items.1.name", want: `"first"`},
		{path: "other.items.2.1", want: `2`},
		{path: "other.items.3", missing: true},
		{path: "other.items.01", missing: true},
		{path: "other.items.name", missing: true},
		{path: "other.nested.deep.deeper.x", want: `9007199254740993`},
		{path: "userid.x", missing: true},
		{path: "other.absent", missing: true},
		{path: "enrol", want: `"manual"`},        // other before user
		{path: "username", want: `"from-other"`}, // other before user
		{path: "userenrolment.id", want: `"12"`}, // dotted head found in other
		{path: "email", want: `"admin@example.edu"`},
		{path: "fullname", want: `"Ada Admin"`},
		{path: "user.email", want: `"admin@example.edu"`},
		{path: "user.username", want: `"admin"`},
		{path: "relateduser.email", want: `"jdoe@example.edu"`},
		{path: "relateduser.firstname", want: `"John"`},
		{path: "course.fullname", want: `"Biology 101"`},
		{path: "course.id", want: `9`},
		{path: "course.absent", missing: true},
		{path: "event.userid", want: `2`},
		{path: "event.other.enrol", want: `"manual"`},
		{path: "nowhere", missing: true},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, warnings := mustRender(t, mustCompile(t, `{{`+tc.path+`}}`), scope)
			if tc.missing {
				if got != "null" || len(warnings) != 1 {
					t.Errorf("got %s with warnings %v, want null with one warning", got, warnings)
				}
				return
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if len(warnings) != 0 {
				t.Errorf("got warnings %v, want none", warnings)
			}
		})
	}
}

func TestRender_EventKeyShadowsEnrichment(t *testing.T) {
	// An event that carries its own "user" field keeps it; enrichment only
	// answers names the event does not have.
	scope := Scope{
		Event: map[string]any{"user": map[string]any{"email": "from-event"}},
		User:  map[string]any{"email": "from-user"},
	}
	got, _ := mustRender(t, mustCompile(t, `[{{user.email}}, {{email}}]`), scope)
	if want := `["from-event", "from-user"]`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestRender_Other(t *testing.T) {
	src := `{"o": {{other}}, "u": "{{username}}", "x": {{other.x}}}`
	user := map[string]any{"username": "from-user"}
	tests := []struct {
		name         string
		other        string
		want         string
		wantWarnings int
	}{
		{"object", `{"username": "jdoe", "x": 1}`, `{"o": {"username":"jdoe","x":1}, "u": "jdoe", "x": 1}`, 0},
		{"null", `null`, `{"o": null, "u": "from-user", "x": null}`, 1},
		{"string", `"serialized"`, `{"o": "serialized", "u": "from-user", "x": null}`, 1},
		{"number", `5`, `{"o": 5, "u": "from-user", "x": null}`, 1},
		{"array", `["x"]`, `{"o": ["x"], "u": "from-user", "x": null}`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			event := decode(t, `{"other": `+tc.other+`}`)
			got, warnings := mustRender(t, mustCompile(t, src), Scope{Event: event, User: user})
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if len(warnings) != tc.wantWarnings {
				t.Errorf("got %d warnings (%v), want %d", len(warnings), warnings, tc.wantWarnings)
			}
		})
	}
}

func TestRender_WholeEvent(t *testing.T) {
	event := decode(t, `{"eventname": "\\core\\event\\user_created", "objectid": 9007199254740993,
		"other": {"b": "<&>", "a": null}, "id": "logstore:1", "site": "main"}`)
	const want = `{"eventname":"\\core\\event\\user_created","id":"logstore:1","objectid":9007199254740993,"other":{"a":null,"b":"<&>"},"site":"main"}`
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"empty", "", want},
		{"whitespace", " \n\t\r ", want},
		{"event placeholder", "{{event}}", want},
		{"event placeholder with spaces", " {{ event }}\n", " " + want + "\n"},
		{"event embedded", `{"e": {{event}}}`, `{"e": ` + want + `}`},
		{"event as text", `{"e": "{{event}}"}`, `{"e": "` + strings.ReplaceAll(strings.ReplaceAll(want, `\`, `\\`), `"`, `\"`) + `"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings := mustRender(t, mustCompile(t, tc.src), Scope{Event: event})
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if len(warnings) != 0 {
				t.Errorf("got warnings %v, want none", warnings)
			}
		})
	}
}

func TestRender_WholeEventNil(t *testing.T) {
	got, _ := mustRender(t, mustCompile(t, ""), Scope{})
	if got != "null" {
		t.Errorf("got %s, want null", got)
	}
}

func TestRender_Errors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		v       any
		wantPos int
		wantMsg string
	}{
		{"invalid number", `{"a": {{v}}}`, json.Number("12abc"), 6, `{{v}}: invalid number "12abc"`},
		{"empty number", `[1, {{v}}]`, json.Number(""), 4, `{{v}}: invalid number ""`},
		{"unsupported type", `[{{v}}]`, make(chan int), 1, `{{v}}: json: unsupported type: chan int`},
		{"unsupported type as text", `["{{v}}"]`, func() {}, 2, `{{v}}: json: unsupported type: func()`},
		{"invalid number nested", `{"a":{{v}}}`, []any{json.Number("0x1")}, 5, `{{v}}: invalid number "0x1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := mustCompile(t, tc.src).Render(Scope{Event: map[string]any{"v": tc.v}})
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("got %s, %v, want *Error", out, err)
			}
			if e.Pos != tc.wantPos || e.Message != tc.wantMsg {
				t.Errorf("got pos %d %q, want pos %d %q", e.Pos, e.Message, tc.wantPos, tc.wantMsg)
			}
			if out != nil {
				t.Errorf("got output %s, want none", out)
			}
		})
	}
}

func TestRender_WholeEventError(t *testing.T) {
	_, _, err := mustCompile(t, "").Render(Scope{Event: map[string]any{"n": json.Number("NaN")}})
	if err == nil || !strings.Contains(err.Error(), `invalid number "NaN"`) {
		t.Errorf("got %v, want an invalid number error", err)
	}
}

func TestRender_CyclicValue(t *testing.T) {
	m := map[string]any{}
	m["self"] = m
	_, _, err := mustCompile(t, `{{v}}`).Render(Scope{Event: map[string]any{"v": m}})
	if err == nil {
		t.Fatal("got no error, want one for a cyclic value")
	}
}

func TestCompile_Valid(t *testing.T) {
	tests := []string{
		`{}`, `[]`, `null`, `true`, `false`, `0`, `-0.5e+3`, `"s"`, `"{{a}}"`, `{{a}}`,
		`{{ a }}`, "{{\ta.b\t}}", `{{a_b.c_1.0}}`, `{{A9}}`,
		`{"a": [{{x}}, "{{y}}", {"{{k}}": {{v}}}], "b": {{x}}}`,
		`{"a": "{{x}}{{y}}"}`,
		`{"esc": "\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`,
		`{"literal braces": "\u007b{x}} { } }} {"}`,
		`{"single brace": "{x}"}`,
		"\n\t{ \"a\" : 1 }\r\n",
		`{"emoji": "🎉 {{x}} ✓"}`,
		`[[[[{{x}}]]]]`,
	}
	for _, src := range tests {
		if _, err := Compile(src); err != nil {
			t.Errorf("Compile(%q): got %v, want no error", src, err)
		}
	}
}

func TestCompile_Errors(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		wantPos  int
		wantLine int
		wantCol  int
		wantMsg  string // a substring of Message
	}{
		{"unclosed placeholder in string", `{"a": "{{name"}`, 7, 1, 8, "unclosed placeholder"},
		{"unclosed placeholder at end", `{"a": {{name`, 6, 1, 7, "unclosed placeholder"},
		{"single closing brace", `{"a": {{name}, "b": 1}`, 6, 1, 7, "unclosed placeholder"},
		{"empty placeholder", `{"a": {{ }}}`, 6, 1, 7, "empty placeholder"},
		{"bad character", `{"a": "{{user-name}}"}`, 13, 1, 14, "invalid character '-'"},
		{"pipe", `{"a": {{name|upper}}}`, 12, 1, 13, "invalid character '|'"},
		{"two names", `{"a": {{a b}}}`, 10, 1, 11, `expected }} after placeholder "a"`},
		{"leading dot", `{{.a}}`, 2, 1, 3, "starts with '.'"},
		{"trailing dot", `{{a.}}`, 2, 1, 3, "ends with '.'"},
		{"double dot", `{{a..b}}`, 2, 1, 3, "empty name between dots"},
		{"placeholder as key", `{{{k}}: 1}`, 1, 1, 2, "cannot be an object key"},
		{"placeholder as later key", `{"a": 1, {{k}}: 2}`, 9, 1, 10, "cannot be an object key"},
		{"triple braces in string", `["{{{k}}}"]`, 4, 1, 5, "invalid character '{'"},
		{"placeholder after key", `{"a" {{x}} }`, 5, 1, 6, "expected ':' after object key, found a placeholder"},
		{"placeholder after value", `{"a": 1 {{x}}}`, 8, 1, 9, "expected ',' or '}'"},
		{"two placeholders", `[{{x}}{{y}}]`, 6, 1, 7, "expected ',' or ']'"},
		{"placeholder in number", `{"a": -{{x}}}`, 7, 1, 8, "invalid number"},
		{"trailing comma object", "{\n  \"a\": 1,\n}", 10, 2, 9, "trailing comma before '}'"},
		{"trailing comma array", `[1, 2, ]`, 5, 1, 6, "trailing comma before ']'"},
		{"missing comma", "{\n\"a\": 1\n\"b\": 2\n}", 9, 3, 1, "expected ',' or '}'"},
		{"missing comma array", `[1 2]`, 3, 1, 4, "expected ',' or ']'"},
		{"unterminated string", `{"a": "abc`, 6, 1, 7, "unterminated string"},
		{"newline in string", "{\"a\": \"abc\n\"}", 10, 1, 11, "not closed before the end of the line"},
		{"control char in string", "[\"a\x01\"]", 3, 1, 4, "control character U+0001"},
		{"bad escape", `["a\x"]`, 3, 1, 4, `invalid escape \x`},
		{"short unicode escape", `["\u12"]`, 2, 1, 3, `\u needs four hex digits`},
		{"trailing garbage", `{"a": 1} x`, 9, 1, 10, "after the end of the JSON value"},
		{"two values", `{} {}`, 3, 1, 4, "after the end of the JSON value"},
		{"unclosed object", "{\"a\": 1", 7, 1, 8, "object opened at line 1, col 1 is not closed"},
		{"unclosed array", "[\n1,\n2", 6, 3, 2, "array opened at line 1, col 1 is not closed"},
		{"missing value", `{"a": }`, 6, 1, 7, "expected a value, found '}'"},
		{"missing colon", `{"a" 1}`, 5, 1, 6, "expected ':'"},
		{"unquoted key", `{a: 1}`, 1, 1, 2, "expected a string as object key"},
		{"single quotes", `{'a': 1}`, 1, 1, 2, "expected a string as object key"},
		{"bad literal", `[tru]`, 1, 1, 2, "invalid literal, expected true"},
		{"leading zero", `[01]`, 1, 1, 2, "leading zero"},
		{"bare dot number", `[1.]`, 3, 1, 4, "invalid number"},
		{"column counts characters", `{"é": "🎉", "x": {{a b}}}`, 24, 1, 21, `expected }}`},
		{"invalid utf-8 in string", "[\"a\xff\"]", 3, 1, 4, "invalid UTF-8"},
		{"invalid utf-8 outside", "[\xff]", 1, 1, 2, "invalid byte 0xff"},
		{"comment", "{} // note", 3, 1, 4, "after the end of the JSON value"},
		{"end after colon", `{"a":`, 5, 1, 6, "unexpected end of template, expected a value"},
		{"end after key", `{"a"`, 4, 1, 5, "object opened at line 1, col 1 is not closed"},
		{"end after comma", `{"a": 1,`, 8, 1, 9, "object opened at line 1, col 1 is not closed"},
		{"end in array", `[1,`, 3, 1, 4, "array opened at line 1, col 1 is not closed"},
		{"end in escape", `["\`, 2, 1, 3, "unterminated escape sequence"},
		{"escape of invalid utf-8", "[\"\\\xff\"]", 2, 1, 3, `invalid escape \(invalid UTF-8)`},
		{"exponent without digits", `[1e]`, 3, 1, 4, "invalid number"},
		{"nested too deeply", strings.Repeat("[", 10001), 10000, 1, 10001, "nested too deeply"},
		{"object nested too deeply", strings.Repeat(`{"a":`, 10001), 50000, 1, 50001, "nested too deeply"},
		{"crlf lines", "{\r\n\"a\": 1,\r\n}", 9, 2, 7, "trailing comma"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Compile(tc.src)
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("Compile(%q) = %v, %v; want *Error", tc.src, tmpl, err)
			}
			if e.Pos != tc.wantPos || e.Line != tc.wantLine || e.Col != tc.wantCol {
				t.Errorf("got pos %d line %d col %d, want pos %d line %d col %d (%s)",
					e.Pos, e.Line, e.Col, tc.wantPos, tc.wantLine, tc.wantCol, e.Message)
			}
			if !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", e.Message, tc.wantMsg)
			}
		})
	}
}

func TestError_Error(t *testing.T) {
	_, err := Compile("{\n\"a\": 1,\n\"b\": {{x y}}\n}")
	const want = `template: line 3, col 10: expected }} after placeholder "x", found 'y'`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestPlaceholders(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{``, nil},
		{`{"a": 1}`, nil},
		{guideTemplate, []string{"eventname", "userid", "objectid", "courseid", "timecreated"}},
		{slackRecipe, []string{"username", "ip"}},
		{`[{{ b }}, "{{a}}{{b}}", {"{{c.d}}": {{a}}}]`, []string{"b", "a", "c.d"}},
	}
	for _, tc := range tests {
		if got := mustCompile(t, tc.src).Placeholders(); !slices.Equal(got, tc.want) {
			t.Errorf("Placeholders(%q): got %q, want %q", tc.src, got, tc.want)
		}
	}
}

func TestNeeds(t *testing.T) {
	loggedin := decode(t, userLoggedin)
	tests := []struct {
		name                    string
		src                     string
		event                   map[string]any
		user, relateduser, crse bool
	}{
		{"administrator guide template", guideTemplate, loggedin, false, false, false},
		{"slack recipe finds username in other", slackRecipe, loggedin, false, false, false},
		{"slack recipe without other", slackRecipe, decode(t, userCreated), true, false, false},
		{"user path", `{{user.email}}`, loggedin, true, false, false},
		{"bare email", `"{{email}}"`, loggedin, true, false, false},
		{"relateduser", `{{relateduser.email}}`, loggedin, false, true, false},
		{"course", `{"c": "{{course.fullname}}"}`, loggedin, false, false, true},
		{"event key shadows", `{{course}}`, map[string]any{"course": 1}, false, false, false},
		{"whole event", ``, loggedin, false, false, false},
		{"event placeholder", `{{event.userid}}`, nil, false, false, false},
		{"nil event is conservative", `{{userid}}`, nil, true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := mustCompile(t, tc.src)
			if got := tmpl.NeedsUser(tc.event); got != tc.user {
				t.Errorf("NeedsUser: got %v, want %v", got, tc.user)
			}
			if got := tmpl.NeedsRelatedUser(tc.event); got != tc.relateduser {
				t.Errorf("NeedsRelatedUser: got %v, want %v", got, tc.relateduser)
			}
			if got := tmpl.NeedsCourse(tc.event); got != tc.crse {
				t.Errorf("NeedsCourse: got %v, want %v", got, tc.crse)
			}
		})
	}
}

func TestSendsWholeEvent(t *testing.T) {
	for src, want := range map[string]bool{"": true, " \n": true, "{{event}}": false, "{}": false} {
		if got := mustCompile(t, src).SendsWholeEvent(); got != want {
			t.Errorf("SendsWholeEvent(%q): got %v, want %v", src, got, want)
		}
	}
}

func TestRender_Concurrent(t *testing.T) {
	tmpl := mustCompile(t, guideTemplate)
	event := decode(t, userCreated)
	want, _ := mustRender(t, tmpl, Scope{Event: event})
	done := make(chan string)
	for range 8 {
		go func() {
			out, _, _ := tmpl.Render(Scope{Event: event})
			done <- string(out)
		}()
	}
	for range 8 {
		if got := <-done; got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	tmpl := mustCompile(b, guideTemplate)
	scope := Scope{Event: decode(b, userCreated)}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tmpl.Render(scope); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender_Text(b *testing.B) {
	tmpl := mustCompile(b, slackRecipe)
	scope := Scope{Event: decode(b, userLoggedin)}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tmpl.Render(scope); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(guideTemplate); err != nil {
			b.Fatal(err)
		}
	}
}
