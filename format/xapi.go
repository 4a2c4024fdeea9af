package format

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// XAPIVersion is the version of the xAPI specification the statements follow; it travels as
// the X-Experience-API-Version header every LRS requires.
const XAPIVersion = "1.0.3"

// Verbs. ADL's vocabulary (http://adlnet.gov/expapi/verbs/) is used wherever it has the verb:
// "experienced" for views (ADL's verb for encountering content; the Tin Can registry's
// http://id.tincanapi.com/verb/viewed is common but is not ADL's), "completed", "scored",
// "registered". ADL has no verb for handing work in, so an assignment submission uses Activity
// Streams' submit, which is also what Moodle's own logstore_xapi plugin sends.
var (
	VerbExperienced = Verb{ID: "http://adlnet.gov/expapi/verbs/experienced", Display: "experienced"}
	VerbCompleted   = Verb{ID: "http://adlnet.gov/expapi/verbs/completed", Display: "completed"}
	VerbScored      = Verb{ID: "http://adlnet.gov/expapi/verbs/scored", Display: "scored"}
	VerbRegistered  = Verb{ID: "http://adlnet.gov/expapi/verbs/registered", Display: "registered"}
	VerbSubmitted   = Verb{ID: "http://activitystrea.ms/schema/1.0/submit", Display: "submitted"}
)

// Activity types, from ADL's vocabulary.
const (
	ActivityCourse     = "http://adlnet.gov/expapi/activities/course"
	ActivityModule     = "http://adlnet.gov/expapi/activities/module"
	ActivityAssessment = "http://adlnet.gov/expapi/activities/assessment"
)

// Verb is an xAPI verb.
type Verb struct {
	ID      string
	Display string
}

// statementNamespace is the UUID name space of statement ids (a random UUID, fixed forever):
// a statement's id is the name-based UUID (version 5) of its event id in this space, so that a
// retried or replayed delivery sends the same id and the LRS keeps one statement.
var statementNamespace = [16]byte{0x6d, 0x69, 0x68, 0x2d, 0x78, 0x61, 0x70, 0x69, 0x8c, 0x1e, 0x4b, 0x3a, 0x9f, 0x20, 0x51, 0x7e}

// StatementID is the statement id of an event.
func StatementID(eventID string) string {
	h := sha1.New()
	h.Write(statementNamespace[:])
	h.Write([]byte(eventID))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

type objectKind int

const (
	objectCourse objectKind = iota
	objectModule
	objectGraded // the grade item's activity, or the course for a course or manual item
)

// mapping is how one Moodle event becomes a statement.
type mapping struct {
	verb   Verb
	actor  string // "userid" or "relateduserid": whose statement it is
	object objectKind
	needs  Needs
}

// mappings covers the common learning events. Module views are matched by their pattern
// (\mod_<name>\event\course_module_viewed) in lookupMapping.
var mappings = map[string]mapping{
	`\core\event\course_viewed`: {VerbExperienced, "userid", objectCourse,
		Needs{Site: true, User: true, Course: true}},
	`\core\event\course_module_completion_updated`: {VerbCompleted, "relateduserid", objectModule,
		Needs{Site: true, RelatedUser: true, Course: true, Module: true}},
	`\mod_assign\event\assessable_submitted`: {VerbSubmitted, "userid", objectModule,
		Needs{Site: true, User: true, Course: true, Module: true}},
	`\mod_quiz\event\attempt_submitted`: {VerbCompleted, "relateduserid", objectModule,
		Needs{Site: true, RelatedUser: true, Course: true, Module: true}},
	`\core\event\user_graded`: {VerbScored, "relateduserid", objectGraded,
		Needs{Site: true, User: true, RelatedUser: true, Course: true, GradeItem: true}},
	`\core\event\user_enrolment_created`: {VerbRegistered, "relateduserid", objectCourse,
		Needs{Site: true, RelatedUser: true, Course: true}},
}

var moduleViewed = mapping{VerbExperienced, "userid", objectModule,
	Needs{Site: true, User: true, Course: true, Module: true}}

func lookupMapping(name string) (mapping, bool) {
	if !strings.HasPrefix(name, `\`) {
		name = `\` + name
	}
	if m, ok := mappings[name]; ok {
		return m, true
	}
	if comp, ok := strings.CutSuffix(name, `\event\course_module_viewed`); ok && strings.HasPrefix(comp, `\mod_`) && !strings.Contains(comp[1:], `\`) {
		return moduleViewed, true
	}
	return mapping{}, false
}

// XAPIEvents lists the event names the xapi format covers; module views stand for every
// \mod_<name>\event\course_module_viewed.
func XAPIEvents() []string {
	out := make([]string, 0, len(mappings)+1)
	for n := range mappings {
		out = append(out, n)
	}
	slices.Sort(out)
	out = append(out, `\mod_*\event\course_module_viewed`)
	return out
}

// Statement builds the xAPI 1.0.3 statement of an event. An event the format does not cover, or
// one that describes no learning experience (an anonymous event, no user, a completion set back
// to incomplete, a grade removed) is a *SkipError; a statement that cannot be built correctly
// (the site's URL is unknown, the module could not be looked up) is another error, so the
// delivery fails visibly instead of sending a malformed statement.
func Statement(in Input) (json.RawMessage, error) {
	ev := in.Event
	name, _ := ev["eventname"].(string)
	m, ok := lookupMapping(name)
	if !ok {
		return nil, &SkipError{Reason: fmt.Sprintf("xapi has no statement for %s", name)}
	}
	if anon, _ := intField(ev, "anonymous"); anon != 0 {
		return nil, &SkipError{Reason: "the event is anonymous"}
	}
	if in.Site.URL == "" {
		return nil, fmt.Errorf("xapi: the URL of site %q is unknown; an actor's account needs it as homePage", in.Site.Name)
	}
	if !strings.HasPrefix(in.Site.URL, "http://") && !strings.HasPrefix(in.Site.URL, "https://") {
		return nil, fmt.Errorf("xapi: the site's URL %q is not an http(s) URL", in.Site.URL)
	}
	actorID, _ := intField(ev, m.actor)
	actorRec := in.Records.User
	if m.actor == "relateduserid" {
		actorRec = in.Records.RelatedUser
		if actorID <= 0 { // a quiz attempt submitted by its own user may leave it out
			actorID, _ = intField(ev, "userid")
			actorRec = in.Records.User
		}
	}
	if actorID <= 0 {
		return nil, &SkipError{Reason: "the event has no user to be the actor"}
	}
	courseID, _ := intField(ev, "courseid")
	st := statement{
		ID:      StatementID(stringField(ev, "id")),
		Actor:   agent(in.Site.URL, actorID, actorRec),
		Verb:    verb{ID: m.verb.ID, Display: map[string]string{"en": m.verb.Display}},
		Context: &xcontext{Platform: "Moodle"},
	}
	if t, ok := intField(ev, "timecreated"); ok && t > 0 {
		// Milliseconds written out: xAPI asks timestamps to keep that precision (Part Two, 4.5).
		st.Timestamp = time.Unix(t, 0).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	course := courseActivity(in.Site.URL, courseID, in.Records.Course)

	switch m.object {
	case objectCourse:
		if courseID <= 0 {
			return nil, &SkipError{Reason: "the event names no course"}
		}
		st.Object = course
	case objectModule:
		obj, err := moduleActivity(in, name)
		if err != nil {
			return nil, err
		}
		st.Object = obj
		if courseID > 0 {
			st.Context.ContextActivities = &contextActivities{Parent: []activity{course}}
		}
	case objectGraded:
		obj, res, err := graded(in, course)
		if err != nil {
			return nil, err
		}
		st.Object, st.Result = obj, res
		if obj.ID != course.ID && courseID > 0 {
			st.Context.ContextActivities = &contextActivities{Parent: []activity{course}}
		}
		if grader, _ := intField(ev, "userid"); grader > 0 && grader != actorID {
			a := agent(in.Site.URL, grader, in.Records.User)
			st.Context.Instructor = &a
		}
	}

	if name == `\core\event\course_module_completion_updated` {
		res, err := completionResult(ev)
		if err != nil {
			return nil, err
		}
		st.Result = res
	}
	if name == `\mod_assign\event\assessable_submitted` || name == `\mod_quiz\event\attempt_submitted` {
		st.Result = &result{Completion: ptr(true)}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("xapi: %w", err)
	}
	return b, nil
}

type statement struct {
	ID        string    `json:"id"`
	Actor     agentJSON `json:"actor"`
	Verb      verb      `json:"verb"`
	Object    activity  `json:"object"`
	Result    *result   `json:"result,omitempty"`
	Context   *xcontext `json:"context,omitempty"`
	Timestamp string    `json:"timestamp,omitempty"`
}

type agentJSON struct {
	ObjectType string  `json:"objectType"`
	Name       string  `json:"name,omitempty"`
	Account    account `json:"account"`
}

type account struct {
	HomePage string `json:"homePage"`
	Name     string `json:"name"`
}

type verb struct {
	ID      string            `json:"id"`
	Display map[string]string `json:"display"`
}

type activity struct {
	ObjectType string      `json:"objectType"`
	ID         string      `json:"id"`
	Definition *definition `json:"definition,omitempty"`
}

type definition struct {
	Type string            `json:"type,omitempty"`
	Name map[string]string `json:"name,omitempty"`
}

type result struct {
	Score      *score `json:"score,omitempty"`
	Success    *bool  `json:"success,omitempty"`
	Completion *bool  `json:"completion,omitempty"`
}

type score struct {
	Scaled *float64 `json:"scaled,omitempty"`
	Raw    float64  `json:"raw"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

type xcontext struct {
	Instructor        *agentJSON         `json:"instructor,omitempty"`
	ContextActivities *contextActivities `json:"contextActivities,omitempty"`
	Platform          string             `json:"platform,omitempty"`
}

type contextActivities struct {
	Parent []activity `json:"parent,omitempty"`
}

// agent identifies a user by their account on the site: the id, which never changes, rather
// than the username, which an administrator may rename. The full name comes with enrichment.
func agent(site string, id int64, rec map[string]any) agentJSON {
	a := agentJSON{ObjectType: "Agent", Account: account{HomePage: strings.TrimRight(site, "/"), Name: strconv.FormatInt(id, 10)}}
	if rec != nil {
		a.Name = stringField(rec, "fullname")
		if a.Name == "" {
			a.Name = strings.TrimSpace(stringField(rec, "firstname") + " " + stringField(rec, "lastname"))
		}
	}
	return a
}

// nameMap is a language map of a name Moodle gave. Moodle does not say which language a
// course or activity name is in, so the tag is "und" (undetermined, RFC 5646).
func nameMap(s string) map[string]string {
	if s == "" {
		return nil
	}
	return map[string]string{"und": s}
}

func courseActivity(site string, id int64, rec map[string]any) activity {
	a := activity{ObjectType: "Activity", ID: siteURL(site, "/course/view.php", url.Values{"id": {strconv.FormatInt(id, 10)}}),
		Definition: &definition{Type: ActivityCourse}}
	if rec != nil {
		a.Definition.Name = nameMap(stringField(rec, "fullname"))
	}
	return a
}

func modActivity(site, modname string, cmid int64, name string) activity {
	typ := ActivityModule
	if modname == "quiz" {
		typ = ActivityAssessment
	}
	return activity{ObjectType: "Activity",
		ID:         siteURL(site, "/mod/"+url.PathEscape(modname)+"/view.php", url.Values{"id": {strconv.FormatInt(cmid, 10)}}),
		Definition: &definition{Type: typ, Name: nameMap(name)}}
}

// moduleActivity is the course module of the event's context: contextinstanceid is its id, the
// module name comes from the component (mod_page) or, for core events, from the looked up module.
func moduleActivity(in Input, name string) (activity, error) {
	ev := in.Event
	cmid, _ := intField(ev, "contextinstanceid")
	if lvl, ok := intField(ev, "contextlevel"); ok && lvl != 70 || cmid <= 0 {
		return activity{}, fmt.Errorf("xapi: %s does not happen in a course module context", name)
	}
	modname := ""
	if comp := stringField(ev, "component"); strings.HasPrefix(comp, "mod_") {
		modname = strings.TrimPrefix(comp, "mod_")
	}
	title := ""
	if mod := in.Records.Module; mod != nil {
		if modname == "" {
			modname = stringField(mod, "modname")
		}
		title = stringField(mod, "name")
	}
	if modname == "" {
		return activity{}, fmt.Errorf("xapi: course module %d could not be looked up, so its URL is unknown", cmid)
	}
	return modActivity(in.Site.URL, modname, cmid, title), nil
}

// completionResult reads other.completionstate: 1 complete, 2 complete and passed, 3 complete
// and failed. 0 (incomplete: a completion taken back) is no learning experience to record.
func completionResult(ev map[string]any) (*result, error) {
	other, _ := ev["other"].(map[string]any)
	state, ok := intField(other, "completionstate")
	if !ok {
		return nil, fmt.Errorf("xapi: the completion event has no other.completionstate")
	}
	switch state {
	case 1:
		return &result{Completion: ptr(true)}, nil
	case 2:
		return &result{Completion: ptr(true), Success: ptr(true)}, nil
	case 3:
		return &result{Completion: ptr(true), Success: ptr(false)}, nil
	}
	return nil, &SkipError{Reason: fmt.Sprintf("completion state %d is not a completion", state)}
}

// graded is the object and result of a user_graded event: the graded activity (or the course
// for a course total or a manual item) and the score. raw is other.finalgrade; min and max come
// from the grade item, and scaled is raw's place between them, (raw-min)/(max-min), in [0, 1].
func graded(in Input, course activity) (activity, *result, error) {
	other, _ := in.Event["other"].(map[string]any)
	raw, ok := floatField(other, "finalgrade")
	if !ok {
		return activity{}, nil, &SkipError{Reason: "the grade has no final grade (it was removed or is not set)"}
	}
	sc := &score{Raw: raw}
	obj := course
	if gi := in.Records.GradeItem; gi != nil {
		lo, okLo := floatField(gi, "grademin")
		hi, okHi := floatField(gi, "grademax")
		if okLo && okHi && lo < hi && raw >= lo && raw <= hi {
			sc.Min, sc.Max = &lo, &hi
			scaled := math.Round((raw-lo)/(hi-lo)*1e4) / 1e4
			sc.Scaled = &scaled
		}
		mod := stringField(gi, "itemmodule")
		cmid, _ := intField(gi, "cmid")
		if mod != "" && cmid > 0 {
			obj = modActivity(in.Site.URL, mod, cmid, stringField(gi, "itemname"))
		}
	}
	return obj, &result{Score: sc}, nil
}

func stringField(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

func floatField(m map[string]any, key string) (float64, bool) {
	switch v := m[key].(type) {
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case float64:
		return v, true
	case int64:
		return float64(v), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

func ptr[T any](v T) *T { return &v }
