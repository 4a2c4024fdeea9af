package template

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzTemplates = []string{
	"", " ", guideTemplate, slackRecipe, `{{event}}`, `"{{a}}"`, `{"a": [{{x}}, "{{y}}", {"{{k}}": {{v}}}]}`,
	`{"a": "{{name"}`, `{{{k}}: 1}`, `{"a": 1,}`, `[1 2]`, `["\u12"]`, `{"a": -{{x}}}`,
	`{"esc": "\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`, `{"b": "\u007b{x}}"}`, "[\"\xff\"]",
	`{{ other.items.0 }}`, `{"u": "{{user.email}} {{course.fullname}} {{relateduser.id}}"}`,
}

// fuzzScope holds one value of every kind, reachable by every kind of path.
func fuzzScope(t *testing.T) Scope {
	return Scope{
		Event: decode(t, `{"eventname": "\\core\\event\\x", "userid": 2, "s": "q\"\\\n\u2028<&>",
			"n": null, "b": true, "f": -1.5e300, "big": 9007199254740993,
			"other": {"username": "jdoe", "items": [1, "two", {"x": null}], "o": {"k": "v"}}}`),
		User:        decode(t, `{"email": "a@b.c", "fullname": "Zoë 🎉"}`),
		RelatedUser: decode(t, `{"id": 57}`),
		Course:      decode(t, `{"fullname": "Bio\t101"}`),
	}
}

func FuzzCompile(f *testing.F) {
	for _, src := range fuzzTemplates {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Compile(src)
		if err != nil {
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("Compile(%q): got %T %v, want *Error", src, err, err)
			}
			if e.Pos < 0 || e.Pos > len(src) {
				t.Fatalf("Compile(%q): got pos %d, want within [0, %d]", src, e.Pos, len(src))
			}
			if line, col := lineCol(src, e.Pos); e.Line != line || e.Col != col {
				t.Fatalf("Compile(%q): got line %d col %d, want %d %d", src, e.Line, e.Col, line, col)
			}
		}
		// Without placeholders the grammar is JSON's, so Compile must agree
		// with encoding/json (which does not check UTF-8; we do).
		if !strings.Contains(src, "{{") && utf8.ValidString(src) && !isBlank(src) {
			if valid := json.Valid([]byte(src)); valid != (err == nil) {
				t.Fatalf("Compile(%q): got error %v, json.Valid says %v", src, err, valid)
			}
		}
		if err != nil {
			return
		}
		for _, scope := range []Scope{fuzzScope(t), {}} {
			out, _, err := tmpl.Render(scope)
			if err != nil {
				t.Fatalf("Render(%q): %v", src, err)
			}
			if !json.Valid(out) {
				t.Fatalf("Render(%q) = %q, not valid JSON", src, out)
			}
			if len(tmpl.Placeholders()) == 0 && !tmpl.SendsWholeEvent() && string(out) != src {
				t.Fatalf("Render(%q) = %q, want the template unchanged", src, out)
			}
		}
	})
}

// fuzzFallback has the placeholder in every position, for when the fuzzed
// template does not compile.
const fuzzFallback = `{"{{v}}": ["{{v}}", {{v}}, "{{other.o}}", {{other.o}}, "{{u}}", {{u}}]}`

func FuzzRender(f *testing.F) {
	values := []string{`null`, `true`, `"a\"b\\c\n"`, `9007199254740993`, `-0.5e-7`, `{"b":1,"a":[null,"<&>"]}`,
		`[]`, `"🎉\u2028"`, "\xff\x00", `1"2`, `0x10`, ``, `{"x":`}
	for i, src := range fuzzTemplates {
		f.Add(src, values[i%len(values)])
	}
	for _, v := range values {
		f.Add(fuzzFallback, v)
	}
	f.Fuzz(func(t *testing.T, src, value string) {
		tmpl, err := Compile(src)
		if err != nil {
			tmpl = mustCompile(t, fuzzFallback)
		}
		candidates := []any{value, json.Number(value)}
		d := json.NewDecoder(strings.NewReader(value))
		d.UseNumber()
		var decoded any
		if d.Decode(&decoded) == nil {
			candidates = append(candidates, decoded)
		}
		for _, v := range candidates {
			scope := Scope{
				Event:       map[string]any{"v": v, "other": map[string]any{"o": v, "username": v}},
				User:        map[string]any{"u": v, "email": v},
				RelatedUser: map[string]any{"id": v},
				Course:      map[string]any{"fullname": v},
			}
			out, _, err := tmpl.Render(scope)
			if err != nil {
				if _, ok := v.(json.Number); ok && !validNumber(value) {
					continue // a bad json.Number cannot be a JSON value
				}
				t.Fatalf("Render(%q) with %#v: %v", tmpl.String(), v, err)
			}
			if !json.Valid(out) {
				t.Fatalf("Render(%q) with %#v = %q, not valid JSON", tmpl.String(), v, out)
			}
		}
		// Text in a string decodes back to the data, whatever the data.
		out, _, err := mustCompile(t, `["{{v}}", {{v}}]`).Render(Scope{Event: map[string]any{"v": value}})
		if err != nil {
			t.Fatalf("Render string %q: %v", value, err)
		}
		var got []string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("Render string %q = %q: %v", value, out, err)
		}
		if want := string([]rune(value)); len(got) != 2 || got[0] != want || got[1] != want {
			t.Fatalf("Render string %q: got %q, want [%q %q]", value, got, want, want)
		}
	})
}
