package format_test

import (
	"encoding/json"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/template"
)

func templateScope(data map[string]any) template.Scope { return template.Scope{Event: data} }

// moodleEvent is an event shaped as Moodle logs it (the fields its event class sets), for the
// learning events the formats care about.
func moodleEvent(name, id string) *mih.Event {
	ev := rule.MockEvent(name)
	ev.ID = id
	str := func(s string) *string { return &s }
	i64 := func(n int64) *int64 { return &n }
	module := func(table string, object, cmid int64) {
		ev.ObjectTable, ev.ObjectID = str(table), i64(object)
		ev.ContextLevel, ev.ContextInstanceID, ev.ContextID, ev.CourseID = 70, cmid, 140, 7
		ev.EduLevel = 2
	}
	switch name {
	case `\mod_page\event\course_module_viewed`:
		module("page", 3, 31)
		ev.UserID, ev.CRUD = 42, "r"
	case `\core\event\course_module_completion_updated`:
		module("course_modules_completion", 77, 31)
		ev.UserID, ev.RelatedUserID, ev.CRUD = 42, i64(42), "u"
		ev.Other = json.RawMessage(`{"relateduserid":42,"overrideby":null,"completionstate":1}`)
	case `\mod_assign\event\assessable_submitted`:
		module("assign_submission", 3, 33)
		ev.UserID, ev.CRUD = 42, "u"
		ev.Other = json.RawMessage(`{"submission_editable":false}`)
	case `\mod_quiz\event\attempt_submitted`:
		module("quiz_attempts", 12, 32)
		ev.UserID, ev.RelatedUserID, ev.CRUD = 42, i64(42), "u"
		ev.Other = json.RawMessage(`{"submitterid":42,"quizid":4}`)
	case `\core\event\course_viewed`:
		ev.UserID, ev.ObjectTable, ev.ObjectID, ev.CRUD, ev.EduLevel = 42, nil, nil, "r", 2
	}
	return ev
}
