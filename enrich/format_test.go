package enrich_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

// modLookup adds course modules and grade items to lookup, as moodle.Directory does.
type modLookup struct {
	*lookup
	modules map[int64]map[string]any
	items   map[int64]map[string]any
}

func (l *modLookup) CourseModule(_ context.Context, id int64) (map[string]any, error) {
	if m, ok := l.modules[id]; ok {
		return m, nil
	}
	return nil, mih.Errorf(mih.CodeNotFound, "course module %d not found", id)
}

func (l *modLookup) GradeItem(_ context.Context, courseID, userID, itemID int64) (map[string]any, error) {
	if m, ok := l.items[itemID]; ok && courseID == 5 && userID == 7 {
		return m, nil
	}
	return nil, mih.Errorf(mih.CodeNotFound, "grade item %d not found", itemID)
}

func (f *fixture) formatRule(t *testing.T, event, format, tmpl string) *mih.Delivery {
	t.Helper()
	r := mih.NewRule()
	r.Name, r.Event, r.Service, r.Template, r.Format = "f", event, "crm", tmpl, format
	if err := f.st.CreateRule(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return &mih.Delivery{EventID: f.event.ID, RuleID: r.ID, Service: "crm", Method: "POST"}
}

func (f *fixture) addEvent(t *testing.T, ev *mih.Event) {
	t.Helper()
	if _, err := f.st.CreateEvents(context.Background(), []mih.IngestItem{{Event: ev}}); err != nil {
		t.Fatal(err)
	}
	f.event = ev
}

func TestRenderCloudEvents(t *testing.T) {
	f := setup(t, site("main"))
	d := f.formatRule(t, `\core\event\user_enrolment_created`, mih.FormatCloudEventsBinary, `{"email": {{relateduser.email}}}`)
	req, err := f.r.Render(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if string(req.Payload) != `{"email": "jdoe@example.edu"}` || req.Headers["ce-source"] != "https://main.example.edu" ||
		req.Headers["ce-type"] != "org.moodle.core.event.user_enrolment_created" || req.Headers["ce-id"] != "logstore:main:1" {
		t.Errorf("got %s %v", req.Payload, req.Headers)
	}

	f.lk.calls = 0
	d = f.formatRule(t, `\core\event\user_enrolment_created`, mih.FormatCloudEvents, ``)
	req, err = f.r.Render(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	var ce map[string]any
	if err := json.Unmarshal(req.Payload, &ce); err != nil {
		t.Fatal(err)
	}
	data, _ := ce["data"].(map[string]any)
	if ce["source"] != "https://main.example.edu" || data["eventname"] != `\core\event\user_enrolment_created` ||
		!strings.HasPrefix(req.Headers["Content-Type"], "application/cloudevents+json") {
		t.Errorf("got %s %v", req.Payload, req.Headers)
	}
	if f.lk.calls != 0 {
		t.Errorf("%d Moodle lookups for a CloudEvent of the whole event, want none", f.lk.calls)
	}
}

// A CloudEvent of an event from no known site names it by a URN rather than failing.
func TestRenderCloudEventsUnknownSite(t *testing.T) {
	f := setup(t, site("a"), site("b"))
	d := f.formatRule(t, `\core\event\user_enrolment_created`, mih.FormatCloudEvents, `{}`)
	req, err := f.r.Render(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(req.Payload), `"source":"urn:mih:site:main"`) {
		t.Errorf("got %s", req.Payload)
	}
}

func TestRenderXAPI(t *testing.T) {
	f := setup(t, site("main"))
	ml := &modLookup{lookup: f.lk,
		items: map[int64]map[string]any{88: {"itemname": "Quiz 1", "itemmodule": "quiz", "cmid": json.Number("12"),
			"grademin": json.Number("0"), "grademax": json.Number("10")}}}
	f.r = newRenderer(f, ml)
	rel := int64(7)
	f.addEvent(t, &mih.Event{ID: "logstore:main:2", Site: "main", EventName: `\core\event\user_graded`, UserID: 2,
		RelatedUserID: &rel, CourseID: 5, CRUD: "u", TimeCreated: 1795300000, ContextLevel: 50, ContextInstanceID: 5,
		Other: json.RawMessage(`{"itemid":88,"overridden":false,"finalgrade":"7.50000"}`)})
	d := f.formatRule(t, `\core\event\*`, mih.FormatXAPI, ``)
	req, err := f.r.Render(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Actor struct {
			Name    string
			Account struct{ HomePage, Name string }
		}
		Object struct {
			ID         string
			Definition struct{ Name map[string]string }
		}
		Result struct {
			Score struct{ Raw, Min, Max, Scaled float64 }
		}
	}
	if err := json.Unmarshal(req.Payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.Actor.Account.HomePage != "https://main.example.edu" || st.Actor.Account.Name != "7" ||
		st.Object.ID != "https://main.example.edu/mod/quiz/view.php?id=12" || st.Object.Definition.Name["und"] != "Quiz 1" ||
		st.Result.Score.Raw != 7.5 || st.Result.Score.Max != 10 || st.Result.Score.Scaled != 0.75 ||
		req.Headers["X-Experience-API-Version"] != "1.0.3" {
		t.Errorf("statement %s %v", req.Payload, req.Headers)
	}

	// A grade taken away is no learning experience: skipped, with the reason.
	f.addEvent(t, &mih.Event{ID: "logstore:main:3", Site: "main", EventName: `\core\event\user_graded`, UserID: 2,
		RelatedUserID: &rel, CourseID: 5, TimeCreated: 1795300000, Other: json.RawMessage(`{"itemid":88,"finalgrade":null}`)})
	d.EventID = f.event.ID
	_, err = f.r.Render(context.Background(), d)
	if se, ok := errors.AsType[*mih.SendError](err); !ok || se.Code != mih.ErrSkipped || se.Retryable || !strings.Contains(se.Message, "final grade") {
		t.Errorf("got %v, want a skip", err)
	}
}

// A statement needs the site's URL but not its token: without one it goes out without names.
func TestRenderXAPIWithoutToken(t *testing.T) {
	s := site("main")
	s.Token = ""
	f := setup(t, s)
	d := f.formatRule(t, `\core\event\user_enrolment_created`, mih.FormatXAPI, ``)
	req, err := f.r.Render(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(req.Payload), `"account":{"homePage":"https://main.example.edu","name":"7"}`) ||
		strings.Contains(string(req.Payload), `"name":{`) {
		t.Errorf("statement %s", req.Payload)
	}
}
