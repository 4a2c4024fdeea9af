package web

import (
	"net/http"
	"testing"

	"github.com/mihhub/mih"
)

// The format is chosen on the form, saved, and the preview shows the envelope around the
// payload: a binary CloudEvent's headers, an xAPI statement, or why the event has none.
func TestRule_Format(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com"))
	must(t, u.get("/rules/new"), http.StatusOK, `<select id="f-format" name="format"`, "<option>cloudevents-binary</option>")

	f := newRuleValues(`{"id": {{relateduserid}}}`)
	f.Set("format", "cloudevents-binary")
	f.Set("action", "preview")
	must(t, u.post("/rules", f), http.StatusOK, "ce-type: org.moodle.core.event.user_created", "ce-source: https://moodle.example.edu",
		"ce-subject: user/42", `"id": 42`)

	f.Set("format", "xapi")
	must(t, u.post("/rules", f), http.StatusOK, "leave the template empty")
	f.Set("template", "")
	must(t, u.post("/rules", f), http.StatusOK, "has no xAPI statement")
	f.Set("event", `\core\event\user_graded`)
	f.Set("endpoint", "/statements")
	must(t, u.post("/rules", f), http.StatusOK, `"id": "http://adlnet.gov/expapi/verbs/scored"`, "X-Experience-API-Version: 1.0.3")

	f.Set("action", "save")
	u.post("/rules", f)
	rules, _ := u.store.FindRules(t.Context(), mih.RuleFilter{})
	if len(rules) != 1 || rules[0].Format != mih.FormatXAPI {
		t.Fatalf("saved rules %+v", rules)
	}
	must(t, u.get("/rules/1/edit"), http.StatusOK, "<option selected>xapi</option>")
}
