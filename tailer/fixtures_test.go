package tailer_test

import (
	"fmt"
	"strings"
)

// fixture is a row as a real Moodle 4.5 site logs it, with the JSON its other must become.
type fixture struct {
	name  string
	row   logRow
	other string
	// bad is set when other cannot be decoded: the event keeps the text.
	bad bool
}

const t0 = 1767000000

// fixtures are the rows of docs/moodle.md (What Moodle sends): the same change logged the way
// Moodle does, quirks included.
func fixtures() []fixture {
	longText := strings.Repeat("Ünïcödé and a \"quote\" / slash \\ backslash\n", 500)
	long := fmt.Sprintf(`{"function":"core_course_create_courses","args":%q}`, longText)
	return []fixture{
		{"user_created", logRow{
			EventName: `\core\event\user_created`, Component: "core", Action: "created", Target: "user",
			ObjectTable: sp("user"), ObjectID: ip(42), CRUD: "c", EduLevel: 0, ContextID: 87, ContextLevel: 30,
			ContextInstanceID: 42, UserID: 2, CourseID: ip(0), RelatedUserID: ip(42), Other: sp("null"),
			TimeCreated: t0, Origin: sp("web"), IP: sp("192.0.2.10"),
		}, `null`, false},
		{"user_password_updated", logRow{
			EventName: `\core\event\user_password_updated`, Component: "core", Action: "updated", Target: "user_password",
			CRUD: "u", ContextID: 87, ContextLevel: 30, ContextInstanceID: 42, UserID: 2, CourseID: ip(0),
			RelatedUserID: ip(42), Other: sp(`{"forgottenreset":false}`), TimeCreated: t0, Origin: sp("web"), IP: sp("192.0.2.10"),
		}, `{"forgottenreset":false}`, false},
		{"course_created", logRow{
			EventName: `\core\event\course_created`, Component: "core", Action: "created", Target: "course",
			ObjectTable: sp("course"), ObjectID: ip(7), CRUD: "c", ContextID: 120, ContextLevel: 50, ContextInstanceID: 7,
			UserID: 2, CourseID: ip(7), Other: sp(`{"shortname":"CS101","fullname":"Intro \u2014 Caf\u00e9 \/ 101"}`),
			TimeCreated: t0 + 1, Origin: sp("ws"), IP: sp("2001:db8::1"),
		}, `{"shortname":"CS101","fullname":"Intro — Café / 101"}`, false},
		{"user_enrolment_created", logRow{
			EventName: `\core\event\user_enrolment_created`, Component: "core", Action: "created", Target: "user_enrolment",
			ObjectTable: sp("user_enrolments"), ObjectID: ip(15), CRUD: "c", ContextID: 120, ContextLevel: 50,
			ContextInstanceID: 7, UserID: 2, CourseID: ip(7), RelatedUserID: ip(42), Other: sp(`{"enrol":"manual"}`),
			TimeCreated: t0 + 2, Origin: sp("ws"), IP: sp("2001:db8::1"),
		}, `{"enrol":"manual"}`, false},
		{"role_assigned", logRow{
			EventName: `\core\event\role_assigned`, Component: "core", Action: "assigned", Target: "role",
			ObjectTable: sp("role"), ObjectID: ip(5), CRUD: "c", ContextID: 120, ContextLevel: 50, ContextInstanceID: 7,
			UserID: 2, CourseID: ip(7), RelatedUserID: ip(42), Other: sp(`{"id":31,"component":"","itemid":0}`),
			TimeCreated: t0 + 2, Origin: sp("ws"), IP: sp("2001:db8::1"),
		}, `{"id":31,"component":"","itemid":0}`, false},
		// role_unassigned logs the same keys with string values.
		{"role_unassigned", logRow{
			EventName: `\core\event\role_unassigned`, Component: "core", Action: "unassigned", Target: "role",
			ObjectTable: sp("role"), ObjectID: ip(5), CRUD: "d", ContextID: 120, ContextLevel: 50, ContextInstanceID: 7,
			UserID: 2, CourseID: ip(7), RelatedUserID: ip(42), Other: sp(`{"id":"31","component":"","itemid":"0"}`),
			TimeCreated: t0 + 3, Origin: sp("web"), IP: sp("192.0.2.10"),
		}, `{"id":"31","component":"","itemid":"0"}`, false},
		{"user_enrolment_deleted", logRow{
			EventName: `\core\event\user_enrolment_deleted`, Component: "core", Action: "deleted", Target: "user_enrolment",
			ObjectTable: sp("user_enrolments"), ObjectID: ip(15), CRUD: "d", ContextID: 120, ContextLevel: 50,
			ContextInstanceID: 7, UserID: 2, CourseID: ip(7), RelatedUserID: ip(42),
			Other:       sp(`{"userenrolment":{"id":"15","status":"0","enrolid":"3","userid":"42","timestart":"0","timeend":"0","modifierid":"2","timecreated":"1767000002","timemodified":"1767000002","courseid":"7","enrol":"manual","lastenrol":true},"enrol":"manual"}`),
			TimeCreated: t0 + 3, Origin: sp("web"), IP: sp("192.0.2.10"),
		}, `{"userenrolment":{"id":"15","status":"0","enrolid":"3","userid":"42","timestart":"0","timeend":"0","modifierid":"2","timecreated":"1767000002","timemodified":"1767000002","courseid":"7","enrol":"manual","lastenrol":true},"enrol":"manual"}`, false},
		{"user_loggedin", logRow{
			EventName: `\core\event\user_loggedin`, Component: "core", Action: "loggedin", Target: "user",
			ObjectTable: sp("user"), ObjectID: ip(42), CRUD: "r", ContextID: 1, ContextLevel: 10, ContextInstanceID: 0,
			UserID: 42, CourseID: ip(0), Other: sp(`{"username":"jdoe","extrauserinfo":[]}`),
			TimeCreated: t0 + 4, Origin: sp("web"), IP: sp("198.51.100.7"),
		}, `{"username":"jdoe","extrauserinfo":[]}`, false},
		{"user_login_failed", logRow{
			EventName: `\core\event\user_login_failed`, Component: "core", Action: "failed", Target: "user_login",
			CRUD: "r", ContextID: 1, ContextLevel: 10, UserID: 0, CourseID: ip(0),
			Other: sp(`{"username":"jdoe","reason":3}`), TimeCreated: t0 + 5, Origin: sp("web"), IP: sp("203.0.113.9"),
		}, `{"username":"jdoe","reason":3}`, false},
		{"user_graded", logRow{
			EventName: `\core\event\user_graded`, Component: "core", Action: "graded", Target: "user",
			ObjectTable: sp("grade_grades"), ObjectID: ip(99), CRUD: "u", EduLevel: 1, ContextID: 120, ContextLevel: 50,
			ContextInstanceID: 7, UserID: 3, CourseID: ip(7), RelatedUserID: ip(42),
			Other: sp(`{"itemid":12,"overridden":false,"finalgrade":85.5}`), TimeCreated: t0 + 6, Origin: sp("web"), IP: sp("192.0.2.11"),
		}, `{"itemid":12,"overridden":false,"finalgrade":85.5}`, false},
		// The same event on a site upgraded from before 3.7: other is PHP serialize() output.
		{"user_graded serialized", logRow{
			EventName: `\core\event\user_graded`, Component: "core", Action: "graded", Target: "user",
			ObjectTable: sp("grade_grades"), ObjectID: ip(99), CRUD: "u", EduLevel: 1, ContextID: 120, ContextLevel: 50,
			ContextInstanceID: 7, UserID: 3, CourseID: ip(7), RelatedUserID: ip(42),
			Other: sp(`a:3:{s:6:"itemid";i:12;s:10:"overridden";b:0;s:10:"finalgrade";d:85.5;}`), TimeCreated: t0 + 6,
			Origin: sp("web"), IP: sp("192.0.2.11"),
		}, `{"itemid":12,"overridden":false,"finalgrade":85.5}`, false},
		{"course_viewed by guest, other NULL", logRow{
			EventName: `\core\event\course_viewed`, Component: "core", Action: "viewed", Target: "course",
			CRUD: "r", EduLevel: 2, ContextID: 120, ContextLevel: 50, ContextInstanceID: 7, UserID: 1, CourseID: ip(7),
			TimeCreated: t0 + 7, Origin: sp("web"), IP: sp("203.0.113.50"),
		}, `null`, false},
		{"anonymous feedback", logRow{
			EventName: `\mod_feedback\event\response_submitted`, Component: "mod_feedback", Action: "submitted",
			Target: "response", ObjectTable: sp("feedback_completed"), ObjectID: ip(8), CRUD: "c", EduLevel: 2,
			ContextID: 140, ContextLevel: 70, ContextInstanceID: 33, UserID: 42, CourseID: ip(7), RelatedUserID: ip(42),
			Anonymous: 1, Other: sp(`{"anonymous":1,"cmid":"33","instanceid":4}`), TimeCreated: t0 + 8,
			Origin: sp("web"), IP: sp("198.51.100.7"),
		}, `{"anonymous":1,"cmid":"33","instanceid":4}`, false},
		{"logged in as", logRow{
			EventName: `\core\event\course_viewed`, Component: "core", Action: "viewed", Target: "course",
			CRUD: "r", EduLevel: 2, ContextID: 120, ContextLevel: 50, ContextInstanceID: 7, UserID: 42, CourseID: ip(7),
			Other: sp("null"), TimeCreated: t0 + 9, Origin: sp("web"), IP: sp("192.0.2.10"), RealUserID: ip(2),
		}, `null`, false},
		{"cli, no ip, no courseid", logRow{
			EventName: `\core\event\config_log_created`, Component: "core", Action: "created", Target: "config_log",
			ObjectTable: sp("config_log"), ObjectID: ip(501), CRUD: "c", ContextID: 1, ContextLevel: 10, UserID: 0,
			Other: sp(`{"name":"loglifetime","oldvalue":null,"value":"365","plugin":null}`), TimeCreated: t0 + 10,
			Origin: sp("cli"),
		}, `{"name":"loglifetime","oldvalue":null,"value":"365","plugin":null}`, false},
		{"long other", logRow{
			EventName: `\core\event\webservice_function_called`, Component: "core", Action: "called",
			Target: "webservice_function", CRUD: "r", ContextID: 1, ContextLevel: 10, UserID: 2, CourseID: ip(0),
			Other: sp(long), TimeCreated: t0 + 11, Origin: sp("ws"), IP: sp("2001:db8::1"),
		}, long, false},
		{"serialized null", logRow{
			EventName: `\core\event\dashboard_viewed`, Component: "core", Action: "viewed", Target: "dashboard",
			CRUD: "r", ContextID: 5, ContextLevel: 30, ContextInstanceID: 42, UserID: 42, CourseID: ip(0),
			Other: sp("N;"), TimeCreated: t0 + 12, Origin: sp("web"), IP: sp("198.51.100.7"),
		}, `null`, false},
		{"corrupt serialized other", logRow{
			EventName: `\core\event\course_updated`, Component: "core", Action: "updated", Target: "course",
			ObjectTable: sp("course"), ObjectID: ip(7), CRUD: "u", ContextID: 120, ContextLevel: 50, ContextInstanceID: 7,
			UserID: 2, CourseID: ip(7), Other: sp(`a:1:{s:9:"shortname";s:9:"CS1`), TimeCreated: t0 + 13,
			Origin: sp("web"), IP: sp("192.0.2.10"),
		}, `"a:1:{s:9:\"shortname\";s:9:\"CS1"`, true},
	}
}

// realistic returns the i-th row of a busy site's log: mostly views, some enrolments, grades and
// logins, one in ten with a PHP-serialized other, a few anonymous, long or guest rows.
func realistic(i int) logRow {
	user := int64(100 + i%5000)
	course := int64(2 + i%300)
	ts := int64(t0 + i/10)
	ipAddr := fmt.Sprintf("10.%d.%d.%d", i%200, (i/200)%250, 1+i%250)
	r := logRow{
		Component: "core", CRUD: "r", EduLevel: 2, ContextID: 1000 + course, ContextLevel: 50,
		ContextInstanceID: course, UserID: user, CourseID: &course, TimeCreated: ts, Origin: sp("web"), IP: &ipAddr,
		Other: sp("null"),
	}
	switch i % 20 {
	case 0:
		r.EventName, r.Action, r.Target, r.CRUD = `\core\event\user_enrolment_created`, "created", "user_enrolment", "c"
		r.ObjectTable, r.ObjectID, r.RelatedUserID, r.EduLevel = sp("user_enrolments"), ip(int64(i)), &user, 0
		r.UserID = 2
		r.Other = sp(`{"enrol":"manual"}`)
	case 1:
		r.EventName, r.Action, r.Target, r.CRUD = `\core\event\role_assigned`, "assigned", "role", "c"
		r.ObjectTable, r.ObjectID, r.RelatedUserID, r.EduLevel, r.UserID = sp("role"), ip(5), &user, 0, 2
		r.Other = sp(fmt.Sprintf(`a:3:{s:2:"id";i:%d;s:9:"component";s:0:"";s:6:"itemid";i:0;}`, i))
	case 2:
		r.EventName, r.Action, r.Target, r.CRUD = `\core\event\user_graded`, "graded", "user", "u"
		r.ObjectTable, r.ObjectID, r.RelatedUserID, r.EduLevel, r.UserID = sp("grade_grades"), ip(int64(i)), &user, 1, 3
		r.Other = sp(fmt.Sprintf(`{"itemid":%d,"overridden":false,"finalgrade":%d.5}`, i%90, i%100))
	case 3:
		r.EventName, r.Action, r.Target = `\core\event\user_loggedin`, "loggedin", "user"
		r.ObjectTable, r.ObjectID, r.ContextID, r.ContextLevel, r.ContextInstanceID = sp("user"), &user, 1, 10, 0
		zero := int64(0)
		r.CourseID = &zero
		r.Other = sp(fmt.Sprintf(`{"username":"user%d","extrauserinfo":[]}`, user))
	case 4:
		r.EventName, r.Component, r.Action, r.Target = `\mod_forum\event\post_created`, "mod_forum", "created", "post"
		r.ObjectTable, r.ObjectID, r.CRUD, r.ContextLevel = sp("forum_posts"), ip(int64(i)), "c", 70
		r.Other = sp(fmt.Sprintf(`{"discussionid":%d,"forumid":%d,"forumtype":"general","message":%q}`,
			i/7, course, strings.Repeat("A reply with some text in it. ", 1+i%40)))
	case 5:
		r.EventName, r.Component, r.Action, r.Target = `\mod_feedback\event\response_submitted`, "mod_feedback", "submitted", "response"
		r.ObjectTable, r.ObjectID, r.CRUD, r.ContextLevel, r.Anonymous = sp("feedback_completed"), ip(int64(i)), "c", 70, 1
		r.Other = sp(fmt.Sprintf(`{"anonymous":1,"cmid":"%d","instanceid":%d}`, i%500, i%40))
	case 6:
		r.EventName, r.Action, r.Target, r.UserID = `\core\event\course_viewed`, "viewed", "course", 1 // guest
		r.Other = nil
	default:
		r.EventName, r.Component, r.Action, r.Target = `\mod_page\event\course_module_viewed`, "mod_page", "viewed", "course_module"
		r.ObjectTable, r.ObjectID, r.ContextLevel = sp("page"), ip(int64(i%700)), 70
		if i%10 == 7 {
			r.Other = sp("N;")
		}
	}
	return r
}
