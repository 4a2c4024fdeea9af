package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

// The backend_sync plugin guide posts four bodies, one per endpoint name; each becomes the core
// event its observer listened to, with the body kept as the event's "other" (typed fields as JSON
// numbers and booleans), so templates read {{other.email}} — or {{email}}, since bare names fall
// back to other.
//
// What the bodies do not carry stays at its zero value: contextid is 0 for all four, the actor
// (userid) is 0 except for grade_updated, which names its grader, and a grade's courseid is 0
// unless the body adds one.

// SourceBackendSync is the ingest source of backend_sync bodies.
const SourceBackendSync = "backend_sync"

// Moodle constants the mapping uses.
const (
	contextUser   = 30 // CONTEXT_USER
	contextCourse = 50 // CONTEXT_COURSE
	levelOther    = 0  // \core\event\base::LEVEL_OTHER
	levelTeaching = 1  // \core\event\base::LEVEL_TEACHING
)

// fieldKind is how a backend_sync body field is read. The plugin encodes Moodle database
// records, where every column is a string ("42"), next to PHP booleans and integers: each kind
// accepts both, and the event keeps the typed value.
type fieldKind int

const (
	kindInt    fieldKind = iota // integer: a number or a numeric string
	kindNumber                  // number or null: a grade ("87.50000")
	kindBool                    // boolean: true/false, 0/1, "0"/"1"
	kindString                  // string or null; a number becomes its text
)

// syncField is one field a mapping reads.
type syncField struct {
	name     string
	kind     fieldKind
	required bool
}

// syncMapping turns one backend_sync body into a core event.
type syncMapping struct {
	eventName string
	component string
	action    string
	target    string
	table     string
	crud      string
	edulevel  int64
	fields    []syncField
	// times are the body fields that give the event's time, first non-zero wins.
	times []string
	// fill sets the event fields that come from the body (read and typed already).
	fill func(ev *mih.Event, b syncBody)
}

// userFields are the fields the user_created and user_updated bodies carry.
var userFields = []syncField{
	{"userid", kindInt, true},
	{"username", kindString, false}, {"firstname", kindString, false}, {"lastname", kindString, false},
	{"email", kindString, false}, {"idnumber", kindString, false}, {"phone1", kindString, false},
	{"city", kindString, false}, {"country", kindString, false},
	{"suspended", kindBool, false}, {"deleted", kindBool, false},
	{"timecreated", kindInt, false}, {"timemodified", kindInt, false},
}

// fillUser maps a user body: the user is the object and the related user, in its own context.
func fillUser(ev *mih.Event, b syncBody) {
	uid := b.int("userid")
	ev.ObjectID, ev.RelatedUserID = &uid, &uid
	ev.ContextLevel, ev.ContextInstanceID = contextUser, uid
}

// backendSyncEvents maps the four endpoint names to their core events (docs/moodle.md, What Moodle
// sends, and the classes in lib/classes/event: their init() gives objecttable, crud and edulevel).
var backendSyncEvents = map[string]*syncMapping{
	"user_created": {
		eventName: `\core\event\user_created`, component: "core", action: "created", target: "user",
		table: "user", crud: "c", edulevel: levelOther,
		fields: userFields, times: []string{"timecreated"}, fill: fillUser,
	},
	"user_updated": {
		eventName: `\core\event\user_updated`, component: "core", action: "updated", target: "user",
		table: "user", crud: "u", edulevel: levelOther,
		// The user's timecreated is when the account was made; timemodified is the update.
		fields: userFields, times: []string{"timemodified", "timecreated"}, fill: fillUser,
	},
	"user_enrolled": {
		eventName: `\core\event\user_enrolment_created`, component: "core", action: "created", target: "user_enrolment",
		table: "user_enrolments", crud: "c", edulevel: levelOther,
		fields: []syncField{
			{"enrollmentid", kindInt, true}, {"userid", kindInt, true}, {"courseid", kindInt, true},
			{"roleid", kindInt, false}, {"status", kindInt, false},
			{"timestart", kindInt, false}, {"timeend", kindInt, false}, {"timecreated", kindInt, false},
		},
		times: []string{"timecreated"},
		fill: func(ev *mih.Event, b syncBody) {
			ueid, uid, cid := b.int("enrollmentid"), b.int("userid"), b.int("courseid")
			ev.ObjectID, ev.RelatedUserID, ev.CourseID = &ueid, &uid, cid
			ev.ContextLevel, ev.ContextInstanceID = contextCourse, cid
		},
	},
	"grade_updated": {
		eventName: `\core\event\user_graded`, component: "core", action: "graded", target: "user",
		table: "grade_grades", crud: "u", edulevel: levelTeaching,
		fields: []syncField{
			{"gradeid", kindInt, true}, {"userid", kindInt, true},
			{"itemid", kindInt, false}, {"itemname", kindString, false},
			{"finalgrade", kindNumber, false}, {"feedback", kindString, false},
			{"grader", kindInt, false}, {"courseid", kindInt, false},
			{"timecreated", kindInt, false}, {"timemodified", kindInt, false},
		},
		times: []string{"timemodified", "timecreated"},
		fill: func(ev *mih.Event, b syncBody) {
			gid, uid, cid := b.int("gradeid"), b.int("userid"), b.int("courseid")
			ev.ObjectID, ev.RelatedUserID, ev.UserID, ev.CourseID = &gid, &uid, b.int("grader"), cid
			ev.ContextLevel, ev.ContextInstanceID = contextCourse, cid
		},
	},
}

// BackendSyncNames lists the endpoint names in the guide's order, for messages.
const BackendSyncNames = "user_created, user_updated, user_enrolled or grade_updated"

// ParseBackendSync maps one backend_sync body, posted to the endpoint name, onto its core event
// for site ("" for none); now dates an event whose body carries no time. An unknown name is
// CodeNotFound; a body that is not the endpoint's is CodeInvalid, with the field at fault.
func ParseBackendSync(name, site string, body []byte, now time.Time) (*mih.Event, error) {
	m, ok := backendSyncEvents[name]
	if !ok {
		return nil, mih.Errorf(mih.CodeNotFound, "no backend_sync event %q: want %s", name, BackendSyncNames)
	}
	return m.event(name, site, body, now)
}

// event builds the core event of a body. The body must be a JSON object with the mapping's
// required fields, each field of the mapping of its kind; other fields are kept as they are.
func (m *syncMapping) event(name, site string, body []byte, now time.Time) (*mih.Event, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var raw any
	if err := d.Decode(&raw); err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "request body is not valid JSON: %s", jsonErrText(err))
	}
	if d.More() {
		return nil, mih.Errorf(mih.CodeInvalid, "request body: data after the JSON value")
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, mih.Errorf(mih.CodeInvalid, "request body: want the JSON object of the %s event", name)
	}
	b := syncBody(obj)
	if en, ok := obj["eventname"]; ok && en != nil {
		s, ok := en.(string)
		if !ok || (s != m.eventName && s != name) {
			return nil, mih.Errorf(mih.CodeInvalid, "eventname: this endpoint takes %s events, got %s", m.eventName, describeJSON(en))
		}
	}
	for _, f := range m.fields {
		if err := b.normalize(f); err != nil {
			return nil, err
		}
	}
	table := m.table
	ev := &mih.Event{
		EventName: m.eventName, Component: m.component, Action: m.action, Target: m.target,
		ObjectTable: &table, CRUD: m.crud, EduLevel: m.edulevel,
	}
	m.fill(ev, b)
	for _, t := range m.times {
		if ev.TimeCreated = b.int(t); ev.TimeCreated > 0 {
			break
		}
	}
	if ev.TimeCreated <= 0 {
		ev.TimeCreated = now.Unix()
	}
	other, err := json.Marshal(obj)
	if err != nil {
		return nil, mih.WrapError(mih.CodeInvalid, err, "request body cannot be stored as the event's other")
	}
	ev.Other = other
	ev.ID = backendSyncID(name, site, other)
	return ev, nil
}

// backendSyncID derives the event id from what was posted: the endpoint, the site and the body
// (typed, with its keys sorted), so that the plugin posting the same event again is a duplicate.
// The body carries the record's times, so a real second change is a new event.
func backendSyncID(name, site string, other []byte) string {
	hash := sha256.New()
	fmt.Fprintf(hash, "%s\x00%s\x00", name, site)
	hash.Write(other)
	return SourceBackendSync + ":" + name + ":" + hex.EncodeToString(hash.Sum(nil)[:16])
}

// syncBody is a decoded backend_sync body; numbers are json.Number.
type syncBody map[string]any

// normalize checks the field f and stores it typed: a required field must be there and not
// null; integers in the id fields must be positive.
func (b syncBody) normalize(f syncField) error {
	v, ok := b[f.name]
	if !ok || v == nil {
		if f.required {
			return mih.Errorf(mih.CodeInvalid, "%s: required", f.name)
		}
		return nil
	}
	bad := func(want string) error {
		return mih.Errorf(mih.CodeInvalid, "%s: got %s, want %s", f.name, describeJSON(v), want)
	}
	switch f.kind {
	case kindInt:
		n, ok := toInt(v)
		if !ok || n < 0 || (f.required && n == 0) {
			if f.required {
				return bad("a positive integer")
			}
			return bad("an integer of at least 0")
		}
		b[f.name] = n
	case kindNumber:
		x, ok := toNumber(v)
		if !ok {
			return bad("a number")
		}
		b[f.name] = x
	case kindBool:
		t, ok := toBool(v)
		if !ok {
			return bad("a boolean")
		}
		b[f.name] = t
	case kindString:
		switch t := v.(type) {
		case string:
		case json.Number:
			b[f.name] = t.String()
		default:
			return bad("a string")
		}
	}
	return nil
}

// int returns a normalized integer field, 0 when it is absent.
func (b syncBody) int(name string) int64 {
	n, _ := b[name].(int64)
	return n
}

func toInt(v any) (int64, bool) {
	switch t := v.(type) {
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n, true
		}
		if f, err := t.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f), true
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

// decimalRE is a decimal number as people and PHP write them: JSON's numbers plus a leading
// "+", a leading or trailing ".", and leading zeros.
var decimalRE = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)

// toNumber reads a decimal number; it stays a json.Number so that it is stored as sent
// ("87.50000" as 87.50000), or in Go's shortest form when what was sent is not JSON (".5").
func toNumber(v any) (json.Number, bool) {
	var s string
	switch t := v.(type) {
	case json.Number:
		s = t.String()
	case string:
		s = strings.TrimSpace(t)
	default:
		return "", false
	}
	if !decimalRE.MatchString(s) {
		return "", false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return "", false
	}
	if !json.Valid([]byte(s)) {
		s = strconv.FormatFloat(f, 'g', -1, 64)
	}
	return json.Number(s), true
}

func toBool(v any) (bool, bool) {
	switch t := v.(type) {
	case bool:
		return t, true
	case json.Number:
		switch t.String() {
		case "0":
			return false, true
		case "1":
			return true, true
		}
	case string:
		switch strings.TrimSpace(t) {
		case "0", "", "false":
			return false, true
		case "1", "true":
			return true, true
		}
	}
	return false, false
}

// describeJSON names a decoded JSON value for an error message, short.
func describeJSON(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		if len(t) > 40 {
			t = t[:40] + "…"
		}
		return strconv.Quote(t)
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}
