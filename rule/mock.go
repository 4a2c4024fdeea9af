package rule

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/format"
	"github.com/mihhub/mih/template"
)

// CommonEvents lists Moodle events an administrator routes most often, for the rule editor's
// suggestions and for choosing mock data.
func CommonEvents() []string {
	return []string{
		`\core\event\user_created`,
		`\core\event\user_updated`,
		`\core\event\user_deleted`,
		`\core\event\user_loggedin`,
		`\core\event\user_loggedout`,
		`\core\event\user_login_failed`,
		`\core\event\user_password_updated`,
		`\core\event\course_created`,
		`\core\event\course_updated`,
		`\core\event\course_deleted`,
		`\core\event\course_completed`,
		`\core\event\course_viewed`,
		`\core\event\user_enrolment_created`,
		`\core\event\user_enrolment_updated`,
		`\core\event\user_enrolment_deleted`,
		`\core\event\role_assigned`,
		`\core\event\role_unassigned`,
		`\core\event\user_graded`,
		`\core\event\grade_item_updated`,
		`\core\event\badge_awarded`,
		`\core\event\message_sent`,
		`\core\event\course_module_completion_updated`,
		`\mod_assign\event\assessable_submitted`,
		`\mod_assign\event\submission_graded`,
		`\mod_quiz\event\attempt_submitted`,
		`\mod_forum\event\post_created`,
	}
}

// MockEvent returns a realistic event of the given name, shaped like the rows Moodle really logs
// (docs/moodle.md, What Moodle sends): the right objecttable, relateduserid and `other` for the
// common events, and generic values for the rest.
func MockEvent(name string) *mih.Event {
	if name == "" || strings.ContainsAny(name, "*?") {
		name = exampleName(name)
	}
	parts := strings.Split(strings.TrimPrefix(name, `\`), `\`)
	component, short := "core", name
	if len(parts) == 3 {
		component, short = parts[0], parts[2]
	}
	target, action, _ := strings.Cut(short, "_")
	if i := strings.LastIndex(short, "_"); i > 0 {
		target, action = short[:i], short[i+1:]
	}
	ptr := func(n int64) *int64 { return &n }
	str := func(s string) *string { return &s }
	ev := &mih.Event{
		EventName:         name,
		Component:         component,
		Action:            action,
		Target:            target,
		CRUD:              "c",
		EduLevel:          0,
		ContextID:         1,
		ContextLevel:      10,
		ContextInstanceID: 0,
		UserID:            2,
		CourseID:          0,
		Anonymous:         0,
		Other:             json.RawMessage("null"),
		TimeCreated:       time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC).Unix(),
		IP:                "203.0.113.7",
		Origin:            "web",
		Site:              "main",
	}
	switch short {
	case "user_created", "user_updated", "user_deleted":
		ev.ObjectTable, ev.ObjectID, ev.RelatedUserID = str("user"), ptr(42), ptr(42)
		ev.ContextID, ev.ContextLevel, ev.ContextInstanceID = 87, 30, 42
		ev.CRUD = map[string]string{"user_created": "c", "user_updated": "u", "user_deleted": "d"}[short]
		if short == "user_deleted" {
			ev.Other = json.RawMessage(`{"username":"jdoe","email":"jdoe@example.edu","idnumber":"","picture":0,"mnethostid":1}`)
		}
	case "user_loggedin":
		ev.ObjectTable, ev.ObjectID, ev.UserID, ev.CRUD = str("user"), ptr(42), 42, "r"
		ev.Other = json.RawMessage(`{"username":"jdoe","extrauserinfo":[]}`)
	case "user_loggedout":
		ev.ObjectTable, ev.ObjectID, ev.UserID, ev.CRUD = str("user"), ptr(42), 42, "r"
		ev.Other = json.RawMessage(`{"sessionid":"3o4kq6d5v0a1f2"}`)
	case "user_login_failed":
		ev.UserID, ev.CRUD = 0, "r"
		ev.Other = json.RawMessage(`{"username":"jdoe","reason":3}`)
	case "user_password_updated":
		ev.RelatedUserID, ev.CRUD = ptr(42), "u"
		ev.Other = json.RawMessage(`{"forgottenreset":false}`)
	case "course_created", "course_updated", "course_deleted", "course_viewed":
		ev.ObjectTable, ev.ObjectID, ev.CourseID = str("course"), ptr(7), 7
		ev.ContextID, ev.ContextLevel, ev.ContextInstanceID = 120, 50, 7
		ev.Other = json.RawMessage(`{"shortname":"BIO101","fullname":"Introduction to Biology"}`)
	case "course_completed":
		ev.ObjectTable, ev.ObjectID, ev.CourseID, ev.RelatedUserID = str("course_completions"), ptr(311), 7, ptr(42)
		ev.ContextID, ev.ContextLevel, ev.ContextInstanceID, ev.EduLevel = 120, 50, 7, 2
		ev.Other = json.RawMessage(`{"relateduserid":42}`)
	case "user_enrolment_created", "user_enrolment_updated", "user_enrolment_deleted":
		ev.ObjectTable, ev.ObjectID, ev.CourseID, ev.RelatedUserID = str("user_enrolments"), ptr(905), 7, ptr(42)
		ev.ContextID, ev.ContextLevel, ev.ContextInstanceID = 120, 50, 7
		ev.Other = json.RawMessage(`{"enrol":"manual"}`)
		if short == "user_enrolment_deleted" {
			ev.CRUD = "d"
			ev.Other = json.RawMessage(`{"userenrolment":{"id":"905","status":"0","enrolid":"14","userid":"42","courseid":"7","enrol":"manual","lastenrol":true},"enrol":"manual"}`)
		}
	case "role_assigned", "role_unassigned":
		ev.ObjectTable, ev.ObjectID, ev.CourseID, ev.RelatedUserID = str("role"), ptr(5), 7, ptr(42)
		ev.ContextID, ev.ContextLevel, ev.ContextInstanceID = 120, 50, 7
		ev.Other = json.RawMessage(`{"id":1208,"component":"","itemid":0}`)
		if short == "role_unassigned" {
			ev.CRUD = "d"
			ev.Other = json.RawMessage(`{"id":"1208","component":"","itemid":"0"}`)
		}
	case "user_graded":
		ev.ObjectTable, ev.ObjectID, ev.CourseID, ev.RelatedUserID = str("grade_grades"), ptr(5521), 7, ptr(42)
		ev.ContextID, ev.ContextLevel, ev.ContextInstanceID, ev.EduLevel, ev.CRUD = 120, 50, 7, 1, "u"
		ev.Other = json.RawMessage(`{"itemid":88,"overridden":false,"finalgrade":87.5}`)
	default:
		if component != "core" {
			ev.CourseID, ev.ContextLevel, ev.ContextInstanceID, ev.ContextID = 7, 70, 31, 140
			ev.ObjectID, ev.EduLevel = ptr(31), 2
		}
	}
	return ev
}

// MockScope is the template scope of an event with realistic enrichment data, used to check
// and preview templates without calling Moodle.
func MockScope(ev *mih.Event) template.Scope {
	data, _ := ev.Data()
	return template.Scope{
		Event:       data,
		User:        mockUser(ev.UserID, "jdoe"),
		RelatedUser: mockUser(42, "jdoe"),
		Course: map[string]any{
			"id": json.Number("7"), "shortname": "BIO101", "fullname": "Introduction to Biology",
			"idnumber": "BIO101-2026", "categoryid": json.Number("1"), "visible": json.Number("1"),
		},
	}
}

func mockUser(id int64, username string) map[string]any {
	return map[string]any{
		"id": json.Number(itoa(id)), "username": username, "email": username + "@example.edu",
		"firstname": "Jane", "lastname": "Doe", "fullname": "Jane Doe", "idnumber": "S0042",
		"lang": "en", "timezone": "99",
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// PreviewFormat wraps a previewed payload in the rule's format, as the delivery worker would,
// with mock Moodle records (the user, course, course module and grade item of MockScope) so that
// the preview does not call Moodle. site names the event's site; without a URL a mock one is
// used, so that an xAPI statement can still be shown.
func PreviewFormat(r *mih.Rule, ev *mih.Event, payload json.RawMessage, site format.Site, transport mih.ServiceType) (format.Output, error) {
	if site.URL == "" {
		site.URL = "https://moodle.example.edu"
	}
	if ev.ID == "" { // a mock event: CloudEvents and statements need an id
		e := *ev
		e.ID = "mock:1"
		ev = &e
	}
	sc := MockScope(ev)
	data, err := ev.Data()
	if err != nil {
		return format.Output{}, err
	}
	return format.Apply(format.Input{Format: r.Format, Event: data, Site: site, Body: payload, Transport: transport,
		Records: format.Records{User: sc.User, RelatedUser: sc.RelatedUser, Course: sc.Course,
			Module: map[string]any{"id": json.Number(itoa(ev.ContextInstanceID)), "name": "Mock activity", "modname": "page"},
			GradeItem: map[string]any{"itemname": "Mock grade item", "itemmodule": "assign", "cmid": json.Number("31"),
				"grademin": json.Number("0"), "grademax": json.Number("100")}}})
}
