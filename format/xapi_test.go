package format_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/format"
	"github.com/mihhub/mih/rule"
)

// The xAPI 1.0.3 MUST rules a statement from the hub has to keep, each with the section of the
// specification (Part Two, "Experience API Data") it comes from. No maintained Go validator
// exists, so these are written out here; validate reports every rule a statement breaks.

var (
	uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	// RFC 5646 language tag, the common shapes: language, optional script, region, or "und".
	langRE = regexp.MustCompile(`^[a-zA-Z]{2,3}(-[a-zA-Z]{4})?(-([a-zA-Z]{2}|[0-9]{3}))?$`)
	// ISO 8601 combined date and time, as RFC 3339 profiles it, with at least millisecond
	// precision kept.
	isoRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3,})?(Z|[+-]\d{2}:\d{2})$`)
)

type rules struct {
	t    *testing.T
	errs []string
}

func (r *rules) must(ok bool, section, format string, args ...any) {
	if !ok {
		r.errs = append(r.errs, section+": "+fmt.Sprintf(format, args...))
	}
}

func isIRI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "") && !strings.ContainsAny(s, " \t\n")
}

func isIRL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// validate checks a statement (decoded JSON) against the MUST rules.
func validate(t *testing.T, raw []byte) []string {
	t.Helper()
	r := &rules{t: t}
	var st map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&st); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	noNulls(r, "statement", st)

	// 2.2: A Statement MUST use "actor", "verb", and "object".
	for _, k := range []string{"actor", "verb", "object"} {
		r.must(st[k] != nil, "2.2", "statement has no %q", k)
	}
	// 2.4.1 / 4.4: the id is a UUID in the standard string form (variant 2 of RFC 4122).
	if id, ok := st["id"]; ok {
		s, _ := id.(string)
		r.must(uuidRE.MatchString(s), "2.4.1", "id %q is not a UUID in standard form", s)
	}
	// 2.4.2.1: an Agent is identified by exactly one Inverse Functional Identifier.
	if a, ok := st["actor"].(map[string]any); ok {
		agentRules(r, "actor", a)
	}
	// 2.4.3: a verb has an id that is an IRI; display is a language map.
	if v, ok := st["verb"].(map[string]any); ok {
		id, _ := v["id"].(string)
		r.must(isIRI(id), "2.4.3", "verb id %q is not an IRI", id)
		langMap(r, "verb.display", v["display"])
	}
	// 2.4.4.1: an Activity object: objectType Activity when present, id an IRI (required),
	// definition.type an IRI, definition.name a language map.
	if o, ok := st["object"].(map[string]any); ok {
		activityRules(r, "object", o)
	}
	// 2.4.5.1: score.scaled in [-1, 1]; raw between min and max; min less than max.
	if res, ok := st["result"].(map[string]any); ok {
		if sc, ok := res["score"].(map[string]any); ok {
			num := func(k string) (float64, bool) {
				n, ok := sc[k].(json.Number)
				if !ok {
					r.must(sc[k] == nil, "2.4.5.1", "score.%s is not a number", k)
					return 0, false
				}
				f, err := n.Float64()
				return f, err == nil
			}
			if s, ok := num("scaled"); ok {
				r.must(s >= -1 && s <= 1, "2.4.5.1", "score.scaled %v is outside [-1, 1]", s)
			}
			lo, hasLo := num("min")
			hi, hasHi := num("max")
			if hasLo && hasHi {
				r.must(lo < hi, "2.4.5.1", "score.min %v is not less than max %v", lo, hi)
			}
			if raw, ok := num("raw"); ok {
				r.must(!hasLo || raw >= lo, "2.4.5.1", "score.raw %v is below min %v", raw, lo)
				r.must(!hasHi || raw <= hi, "2.4.5.1", "score.raw %v is above max %v", raw, hi)
			}
		}
		for _, k := range []string{"success", "completion"} {
			if v, ok := res[k]; ok {
				_, isBool := v.(bool)
				r.must(isBool, "2.4.5", "result.%s is not a boolean", k)
			}
		}
	}
	// 2.4.6: platform and revision only when the object is an Activity; contextActivities
	// values are Activities; instructor is an Agent.
	if c, ok := st["context"].(map[string]any); ok {
		o, _ := st["object"].(map[string]any)
		isActivity := o != nil && (o["objectType"] == nil || o["objectType"] == "Activity")
		for _, k := range []string{"platform", "revision"} {
			if _, ok := c[k]; ok {
				r.must(isActivity, "2.4.6", "context.%s on a statement whose object is not an Activity", k)
			}
		}
		if ca, ok := c["contextActivities"].(map[string]any); ok {
			for k, v := range ca {
				r.must(k == "parent" || k == "grouping" || k == "category" || k == "other", "2.4.6.2", "contextActivities key %q", k)
				list, ok := v.([]any)
				r.must(ok, "2.4.6.2", "contextActivities.%s is not an array", k)
				for i, a := range list {
					am, _ := a.(map[string]any)
					activityRules(r, fmt.Sprintf("contextActivities.%s[%d]", k, i), am)
				}
			}
		}
		if in, ok := c["instructor"].(map[string]any); ok {
			agentRules(r, "context.instructor", in)
		}
		if ext, ok := c["extensions"].(map[string]any); ok {
			for k := range ext {
				r.must(isIRI(k), "4.1", "extension key %q is not an IRI", k)
			}
		}
	}
	// 2.4.7 / 4.5: the timestamp is ISO 8601 with at least millisecond precision, and not in
	// the future.
	if ts, ok := st["timestamp"]; ok {
		s, _ := ts.(string)
		r.must(isoRE.MatchString(s), "4.5", "timestamp %q is not ISO 8601 with milliseconds", s)
		if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
			r.must(!tm.After(time.Now().Add(time.Minute)), "2.4.7", "timestamp %s is in the future", s)
		}
	}
	// 2.4.10: a Learning Record Provider that sets version sets 1.0.0.
	if v, ok := st["version"]; ok {
		r.must(v == "1.0.0", "2.4.10", "version %v, want 1.0.0 or none", v)
	}
	// 2.4.8, 2.4.9: stored and authority are the LRS's to set.
	for _, k := range []string{"stored", "authority"} {
		_, has := st[k]
		r.must(!has, "2.4.8-9", "statement sets %q, which the LRS sets", k)
	}
	return r.errs
}

func agentRules(r *rules, where string, a map[string]any) {
	if ot, ok := a["objectType"]; ok {
		r.must(ot == "Agent", "2.4.2.1", "%s.objectType %v, want Agent", where, ot)
	}
	n := 0
	for _, k := range []string{"mbox", "mbox_sha1sum", "openid", "account"} {
		if _, ok := a[k]; ok {
			n++
		}
	}
	r.must(n == 1, "2.4.2.1", "%s has %d Inverse Functional Identifiers, want exactly 1", where, n)
	if acc, ok := a["account"].(map[string]any); ok {
		hp, _ := acc["homePage"].(string)
		name, _ := acc["name"].(string)
		// 2.4.2.4: homePage (an IRL) and name are required.
		r.must(isIRL(hp), "2.4.2.4", "%s.account.homePage %q is not an IRL", where, hp)
		r.must(name != "", "2.4.2.4", "%s.account.name is empty", where)
	}
	if name, ok := a["name"]; ok {
		_, isString := name.(string)
		r.must(isString, "2.4.2.1", "%s.name is not a string", where)
	}
}

func activityRules(r *rules, where string, o map[string]any) {
	if o == nil {
		r.must(false, "2.4.4", "%s is not an object", where)
		return
	}
	if ot, ok := o["objectType"]; ok {
		r.must(ot == "Activity", "2.4.4.1", "%s.objectType %v, want Activity", where, ot)
	}
	id, _ := o["id"].(string)
	r.must(isIRI(id), "2.4.4.1", "%s.id %q is not an IRI", where, id)
	if d, ok := o["definition"].(map[string]any); ok {
		if typ, ok := d["type"]; ok {
			s, _ := typ.(string)
			r.must(isIRI(s), "2.4.4.1", "%s.definition.type %q is not an IRI", where, s)
		}
		if name, ok := d["name"]; ok {
			langMap(r, where+".definition.name", name)
		}
	}
}

// 2.2 and 4.2: language map keys are RFC 5646 tags.
func langMap(r *rules, where string, v any) {
	m, ok := v.(map[string]any)
	r.must(ok, "4.2", "%s is not a language map", where)
	for k, s := range m {
		r.must(langRE.MatchString(k) || k == "und", "2.2", "%s key %q is not an RFC 5646 tag", where, k)
		_, isString := s.(string)
		r.must(isString, "4.2", "%s[%s] is not a string", where, k)
	}
}

// An LRS refuses null values; the specification defines no property whose value may be null.
func noNulls(r *rules, where string, v any) {
	switch t := v.(type) {
	case nil:
		r.must(false, "2.2", "%s is null", where)
	case map[string]any:
		for k, x := range t {
			noNulls(r, where+"."+k, x)
		}
	case []any:
		for i, x := range t {
			noNulls(r, fmt.Sprintf("%s[%d]", where, i), x)
		}
	}
}

// The validator itself must catch what it claims to: each broken statement is refused for the
// rule it breaks.
func TestValidatorCatchesBrokenStatements(t *testing.T) {
	good := `{"id":"6f1c1a2e-9d3b-5c4f-8a1b-2c3d4e5f6a7b","actor":{"objectType":"Agent","account":{"homePage":"https://m.example","name":"42"}},
		"verb":{"id":"http://adlnet.gov/expapi/verbs/scored","display":{"en":"scored"}},
		"object":{"objectType":"Activity","id":"https://m.example/course/view.php?id=7"},
		"result":{"score":{"raw":5,"min":0,"max":10,"scaled":0.5}},"timestamp":"2026-03-02T09:30:00.000Z"}`
	if errs := validate(t, []byte(good)); len(errs) > 0 {
		t.Fatalf("a valid statement is refused: %v", errs)
	}
	bad := map[string]struct{ from, to, section string }{
		"no verb":          {`"verb":{"id":"http://adlnet.gov/expapi/verbs/scored","display":{"en":"scored"}},`, ``, "2.2"},
		"id not uuid":      {`6f1c1a2e-9d3b-5c4f-8a1b-2c3d4e5f6a7b`, `42`, "2.4.1"},
		"two IFIs":         {`"account":`, `"mbox":"mailto:a@b.c","account":`, "2.4.2.1"},
		"homePage not IRL": {`https://m.example"`, `m.example"`, "2.4.2.4"},
		"verb id not IRI":  {`"id":"http://adlnet.gov/expapi/verbs/scored"`, `"id":"scored"`, "2.4.3"},
		"bad lang key":     {`{"en":"scored"}`, `{"english language":"scored"}`, "2.2"},
		"scaled > 1":       {`"scaled":0.5`, `"scaled":1.5`, "2.4.5.1"},
		"raw above max":    {`"raw":5`, `"raw":11`, "2.4.5.1"},
		"min not < max":    {`"min":0`, `"min":10`, "2.4.5.1"},
		"timestamp":        {`2026-03-02T09:30:00.000Z`, `2 March 2026`, "4.5"},
		"null":             {`"result":{`, `"context":null,"result":{`, "2.2"},
		"future":           {`2026-03-02T09:30:00.000Z`, `2999-03-02T09:30:00.000Z`, "2.4.7"},
	}
	for name, c := range bad {
		s := strings.Replace(good, c.from, c.to, 1)
		if s == good {
			t.Fatalf("%s: the replacement changed nothing", name)
		}
		errs := validate(t, []byte(s))
		found := false
		for _, e := range errs {
			found = found || strings.HasPrefix(e, c.section+":")
		}
		if !found {
			t.Errorf("%s: not refused under %s (got %v)", name, c.section, errs)
		}
	}
}

func records() format.Records {
	sc := rule.MockScope(rule.MockEvent(`\core\event\user_graded`))
	return format.Records{
		User: sc.User, RelatedUser: sc.RelatedUser, Course: sc.Course,
		Module:    map[string]any{"id": json.Number("31"), "name": "Cell structure", "modname": "page", "instance": json.Number("3")},
		GradeItem: map[string]any{"id": json.Number("88"), "itemname": "Lab report", "itemmodule": "assign", "cmid": json.Number("33"), "grademin": json.Number("0"), "grademax": json.Number("100")},
	}
}

func statement(t *testing.T, name string, recs format.Records, edit func(*mih.Event)) (map[string]any, error) {
	t.Helper()
	ev := moodleEvent(name, "main:"+strings.ReplaceAll(name, `\`, "/"))
	if edit != nil {
		edit(ev)
	}
	out, err := format.Apply(format.Input{Format: mih.FormatXAPI, Event: eventData(t, ev), Site: site, Records: recs})
	if err != nil {
		return nil, err
	}
	if errs := validate(t, out.Payload); len(errs) > 0 {
		t.Errorf("%s breaks xAPI rules:\n  %s\n%s", name, strings.Join(errs, "\n  "), out.Payload)
	}
	if out.Headers["X-Experience-API-Version"] != "1.0.3" {
		t.Errorf("%s: headers %v", name, out.Headers)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m, nil
}

func get(m any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch t := m.(type) {
		case map[string]any:
			m = t[k]
		case []any:
			var i int
			fmt.Sscan(k, &i)
			if i >= len(t) {
				return nil
			}
			m = t[i]
		default:
			return nil
		}
	}
	return m
}

func TestXAPIStatements(t *testing.T) {
	const home = "https://moodle.example.edu"
	cases := []struct {
		event            string
		actor, verb, obj string
		objType, parent  string
		extra            map[string]any
	}{
		{`\core\event\course_viewed`, "42", "http://adlnet.gov/expapi/verbs/experienced",
			home + "/course/view.php?id=7", format.ActivityCourse, "",
			map[string]any{"object.definition.name.und": "Introduction to Biology", "actor.name": "Jane Doe"}},
		{`\mod_page\event\course_module_viewed`, "42", "http://adlnet.gov/expapi/verbs/experienced",
			home + "/mod/page/view.php?id=31", format.ActivityModule, home + "/course/view.php?id=7",
			map[string]any{"object.definition.name.und": "Cell structure"}},
		{`\core\event\course_module_completion_updated`, "42", "http://adlnet.gov/expapi/verbs/completed",
			home + "/mod/page/view.php?id=31", format.ActivityModule, home + "/course/view.php?id=7",
			map[string]any{"result.completion": true}},
		{`\mod_assign\event\assessable_submitted`, "42", "http://activitystrea.ms/schema/1.0/submit",
			home + "/mod/assign/view.php?id=33", format.ActivityModule, home + "/course/view.php?id=7", nil},
		{`\mod_quiz\event\attempt_submitted`, "42", "http://adlnet.gov/expapi/verbs/completed",
			home + "/mod/quiz/view.php?id=32", format.ActivityAssessment, home + "/course/view.php?id=7", nil},
		{`\core\event\user_graded`, "42", "http://adlnet.gov/expapi/verbs/scored",
			home + "/mod/assign/view.php?id=33", format.ActivityModule, home + "/course/view.php?id=7",
			map[string]any{"result.score.raw": 87.5, "result.score.min": 0.0, "result.score.max": 100.0,
				"result.score.scaled": 0.875, "context.instructor.account.name": "2", "object.definition.name.und": "Lab report"}},
		{`\core\event\user_enrolment_created`, "42", "http://adlnet.gov/expapi/verbs/registered",
			home + "/course/view.php?id=7", format.ActivityCourse, "", nil},
	}
	for _, c := range cases {
		t.Run(c.event, func(t *testing.T) {
			if !format.Supports(mih.FormatXAPI, c.event) {
				t.Fatal("not supported")
			}
			st, err := statement(t, c.event, records(), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"actor.account.homePage": home, "actor.account.name": c.actor, "verb.id": c.verb,
				"object.id": c.obj, "object.definition.type": c.objType, "context.platform": "Moodle",
				"timestamp": "2026-03-02T09:30:00.000Z",
			}
			if c.parent != "" {
				want["context.contextActivities.parent.0.id"] = c.parent
			}
			for k, v := range c.extra {
				want[k] = v
			}
			for path, v := range want {
				if got := get(st, path); got != v {
					t.Errorf("%s = %#v, want %#v", path, got, v)
				}
			}
			if c.parent == "" && get(st, "context.contextActivities") != nil {
				t.Errorf("contextActivities on a course statement: %v", get(st, "context.contextActivities"))
			}
		})
	}
}

// Without enrichment a statement is still valid: names and min/max are left out, never null.
func TestXAPIWithoutRecords(t *testing.T) {
	for _, name := range []string{`\core\event\course_viewed`, `\mod_page\event\course_module_viewed`, `\core\event\user_graded`, `\mod_quiz\event\attempt_submitted`} {
		st, err := statement(t, name, format.Records{}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if get(st, "actor.name") != nil || get(st, "object.definition.name") != nil {
			t.Errorf("%s: names without records: %v", name, st)
		}
	}
	st, _ := statement(t, `\core\event\user_graded`, format.Records{}, nil)
	if get(st, "object.id") != "https://moodle.example.edu/course/view.php?id=7" || get(st, "result.score.raw") != 87.5 || get(st, "result.score.max") != nil {
		t.Errorf("grade without its item: %v", st)
	}
}

func TestXAPIStatementIDStable(t *testing.T) {
	a, b := format.StatementID("main:1"), format.StatementID("main:1")
	if a != b || a == format.StatementID("main:2") || !uuidRE.MatchString(a) {
		t.Errorf("ids %s %s %s", a, b, format.StatementID("main:2"))
	}
}

// Events the format does not cover, and events that record no learning, are skipped with a
// reason; statements that cannot be built correctly are errors, never sent malformed.
func TestXAPISkipsAndRefuses(t *testing.T) {
	skip := func(name string, recs format.Records, edit func(*mih.Event)) {
		t.Helper()
		_, err := statement(t, name, recs, edit)
		var se *format.SkipError
		if !errors.As(err, &se) || se.Reason == "" {
			t.Errorf("%s: %v, want a skip with a reason", name, err)
		}
	}
	skip(`\core\event\user_created`, records(), nil)
	skip(`\mod_forum\event\post_created`, records(), nil)
	skip(`\core\event\course_viewed`, records(), func(e *mih.Event) { e.Anonymous = 1 })
	skip(`\core\event\course_viewed`, records(), func(e *mih.Event) { e.UserID = 0 })
	skip(`\core\event\course_module_completion_updated`, records(), func(e *mih.Event) {
		e.Other = json.RawMessage(`{"relateduserid":42,"overrideby":null,"completionstate":0}`)
	})
	skip(`\core\event\user_graded`, records(), func(e *mih.Event) {
		e.Other = json.RawMessage(`{"itemid":88,"overridden":false,"finalgrade":null}`)
	})
	if format.Supports(mih.FormatXAPI, `\core\event\user_created`) || !format.Supports(mih.FormatXAPI, `\mod_book\event\course_module_viewed`) ||
		format.Supports(mih.FormatXAPI, `\core\event\course_module_viewed`) {
		t.Error("Supports")
	}

	refuse := func(name string, in format.Input) {
		t.Helper()
		_, err := format.Apply(in)
		var se *format.SkipError
		if err == nil || errors.As(err, &se) {
			t.Errorf("%s: %v, want an error", name, err)
		}
	}
	data := eventData(t, moodleEvent(`\core\event\course_viewed`, "e1"))
	refuse("no site URL", format.Input{Format: mih.FormatXAPI, Event: data, Site: format.Site{Name: "main"}})
	refuse("site URL not http", format.Input{Format: mih.FormatXAPI, Event: data, Site: format.Site{URL: "ftp://x"}})
	comp := eventData(t, moodleEvent(`\core\event\course_module_completion_updated`, "e2"))
	refuse("completion without its module", format.Input{Format: mih.FormatXAPI, Event: comp, Site: site})
}

// A grade outside its item's range (an overridden grade in an old item) keeps raw and drops
// min, max and scaled rather than send a score that breaks 2.4.5.1.
func TestXAPIScoreOutOfRange(t *testing.T) {
	st, err := statement(t, `\core\event\user_graded`, records(), func(e *mih.Event) {
		e.Other = json.RawMessage(`{"itemid":88,"overridden":true,"finalgrade":120}`)
	})
	if err != nil {
		t.Fatal(err)
	}
	if get(st, "result.score.raw") != 120.0 || get(st, "result.score.max") != nil || get(st, "result.score.scaled") != nil {
		t.Errorf("score %v", get(st, "result.score"))
	}
	if s := get(st, "result.score"); s == nil || math.IsNaN(get(st, "result.score.raw").(float64)) {
		t.Error("no score")
	}
}
