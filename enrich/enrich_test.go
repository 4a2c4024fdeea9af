package enrich_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/enrich"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
)

var _ delivery.Renderer = (*enrich.Renderer)(nil)

// lookup is a Lookup whose answers a test sets; the real one (moodle.Directory over a Moodle
// Web Services server) is tested with the hub in cmd/mih.
type lookup struct {
	users   map[int64]map[string]any
	courses map[int64]map[string]any
	err     error
	calls   int
}

func (l *lookup) User(_ context.Context, id int64) (map[string]any, error) {
	l.calls++
	if l.err != nil {
		return nil, l.err
	}
	if u, ok := l.users[id]; ok {
		return u, nil
	}
	return nil, mih.Errorf(mih.CodeNotFound, "user %d not found", id)
}

func (l *lookup) Course(_ context.Context, id int64) (map[string]any, error) {
	l.calls++
	if l.err != nil {
		return nil, l.err
	}
	if c, ok := l.courses[id]; ok {
		return c, nil
	}
	return nil, mih.Errorf(mih.CodeNotFound, "course %d not found", id)
}

type fixture struct {
	st    mih.Store
	r     *enrich.Renderer
	lk    *lookup
	event *mih.Event
}

func setup(t *testing.T, sites ...*mih.Site) *fixture {
	box, _ := secret.NewBox(make([]byte, secret.KeySize))
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mih.db"), box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, s := range sites {
		if err := st.CreateSite(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	svc := mih.NewService()
	svc.Name, svc.BaseURL = "crm", "https://crm.example.com"
	if err := st.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	rel := int64(7)
	ev := &mih.Event{ID: "logstore:main:1", Site: "main", EventName: `\core\event\user_enrolment_created`, UserID: 2,
		RelatedUserID: &rel, CourseID: 5, CRUD: "c", TimeCreated: 1795300000, Other: json.RawMessage(`{"enrol":"manual"}`)}
	if _, err := st.CreateEvents(ctx, []mih.IngestItem{{Event: ev}}); err != nil {
		t.Fatal(err)
	}
	lk := &lookup{
		users:   map[int64]map[string]any{7: {"id": 7, "username": "jdoe", "email": "jdoe@example.edu"}},
		courses: map[int64]map[string]any{5: {"id": 5, "shortname": "MATH101", "fullname": "Algebra \"I\""}},
	}
	f := &fixture{st: st, lk: lk, event: ev}
	f.r = newRenderer(f, lk)
	return f
}

func newRenderer(f *fixture, lk enrich.Lookup) *enrich.Renderer {
	return enrich.New(f.st, enrich.NewSiteLookups(f.st, func(*mih.Site) (enrich.Lookup, error) { return lk, nil }))
}

func (f *fixture) rule(t *testing.T, tmpl string, enrichWith ...string) *mih.Delivery {
	r := mih.NewRule()
	r.Name, r.Event, r.Service, r.Endpoint, r.Template = "enrol", `\core\event\user_enrolment_created`, "crm", "/users/{{relateduser.username}}", tmpl
	r.Enrich = append([]string{}, enrichWith...)
	if err := f.st.CreateRule(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return &mih.Delivery{EventID: f.event.ID, RuleID: r.ID, Service: "crm", Method: "POST"}
}

func site(name string) *mih.Site {
	return &mih.Site{Name: name, URL: "https://" + name + ".example.edu", Token: "tok-" + name}
}

func TestRender(t *testing.T) {
	f := setup(t, site("main"))
	d := f.rule(t, `{"email": {{relateduser.email}}, "course": "{{course.fullname}}", "teacher": {{user.email}}}`)
	req, err := f.r.Render(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	method, endpoint, payload := req.Method, req.Endpoint, req.Payload
	want := `{"email": "jdoe@example.edu", "course": "Algebra \"I\"", "teacher": null}`
	if method != "POST" || endpoint != "/users/jdoe" || string(payload) != want {
		t.Errorf("got %s %s %s\nwant POST /users/jdoe %s", method, endpoint, payload, want)
	}
}

func TestRender_Failures(t *testing.T) {
	t.Run("moodle down is retried", func(t *testing.T) {
		f := setup(t, site("main"))
		f.lk.err = errors.New("dial tcp 127.0.0.1:1: connection refused")
		_, err := f.r.Render(context.Background(), f.rule(t, `{"e": {{relateduser.email}}}`))
		se, ok := errors.AsType[*mih.SendError](err)
		if !ok || !se.Retryable || se.Code != mih.ErrEnrich || !strings.Contains(se.Message, "related user 7") {
			t.Fatalf("got %v, want a retryable enrichment failure naming the user", err)
		}
	})
	t.Run("rule deleted", func(t *testing.T) {
		f := setup(t, site("main"))
		d := f.rule(t, `{"e": {{relateduser.email}}}`)
		if err := f.st.DeleteRule(context.Background(), d.RuleID); err != nil {
			t.Fatal(err)
		}
		_, err := f.r.Render(context.Background(), d)
		if se, ok := errors.AsType[*mih.SendError](err); !ok || se.Retryable || se.Code != mih.ErrPayload {
			t.Fatalf("got %v, want a final payload failure", err)
		}
	})
	t.Run("site without token", func(t *testing.T) {
		s := site("main")
		s.Token = ""
		f := setup(t, s)
		_, err := f.r.Render(context.Background(), f.rule(t, `{"e": {{relateduser.email}}}`))
		if se, ok := errors.AsType[*mih.SendError](err); !ok || se.Retryable || !strings.Contains(se.Message, "no Web Services token") {
			t.Fatalf("got %v, want a final failure that says the site has no token", err)
		}
	})
	t.Run("unknown site", func(t *testing.T) {
		f := setup(t, site("other"))
		_, err := f.r.Render(context.Background(), f.rule(t, `{"e": {{relateduser.email}}}`))
		if se, ok := errors.AsType[*mih.SendError](err); !ok || se.Retryable {
			t.Fatalf("got %v, want a final failure", err)
		}
	})
}

// An event posted without a site is enriched from the only site there is.
func TestRender_DefaultSite(t *testing.T) {
	f := setup(t, site("solo"))
	ev := *f.event
	ev.ID, ev.Site = "api:1", ""
	if _, err := f.st.CreateEvents(context.Background(), []mih.IngestItem{{Event: &ev}}); err != nil {
		t.Fatal(err)
	}
	d := f.rule(t, `{"e": {{relateduser.email}}}`)
	d.EventID = ev.ID
	req, err := f.r.Render(context.Background(), d)
	if err != nil || string(req.Payload) != `{"e": "jdoe@example.edu"}` {
		t.Fatalf("got %v, %v", req, err)
	}
}
