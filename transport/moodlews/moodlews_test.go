package moodlews_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle/moodletest"
	"github.com/mihhub/mih/transport/moodlews"
)

func target(ws *moodletest.Server) *mih.Service {
	s := mih.NewService()
	s.Name, s.Type, s.BaseURL, s.Auth = "moodle:main", mih.ServiceMoodle, ws.URL, mih.Auth{Type: mih.AuthBearer, Token: ws.Token}
	return s
}

func sendErr(t *testing.T, err error) *mih.SendError {
	t.Helper()
	se, ok := errors.AsType[*mih.SendError](err)
	if !ok {
		t.Fatalf("got %v, want a *mih.SendError", err)
	}
	return se
}

func TestSend(t *testing.T) {
	ws := moodletest.NewServer(t, moodletest.Options{})
	uid := ws.AddUser(moodletest.User{Username: "ada", FirstName: "Ada", LastName: "L", Email: "ada@example.edu"})
	tr := moodlews.New(moodlews.Options{})
	ctx := t.Context()
	call := func(fn, params string) (*mih.Response, error) {
		return tr.Send(ctx, target(ws), &mih.Request{Method: "POST", Path: fn, Body: json.RawMessage(params)})
	}

	// A reference resolved to the user's id; the answer kept; no token anywhere.
	resp, err := call("core_user_update_users", `{"users": [{"id": {"$user": {"username": "ada"}}, "suspended": 1}]}`)
	if err != nil || resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), `"warnings":[]`) {
		t.Fatalf("update: %v %+v", err, resp)
	}
	if u, _ := ws.User(uid); !u.Suspended {
		t.Error("not suspended")
	}
	if strings.Contains(resp.URL, ws.Token) || resp.RequestHeaders["wsfunction"] != "core_user_update_users" {
		t.Errorf("response %+v", resp)
	}

	// Warnings (an unknown id) are a final failure.
	_, err = call("core_user_update_users", `{"users": [{"id": 999, "suspended": 1}]}`)
	if se := sendErr(t, err); se.Code != moodlews.ErrWarning || se.Retryable || !strings.Contains(se.Message, "invaliduserid") {
		t.Errorf("warnings: %+v", se)
	}
	// A reference to nobody is retried: the record may be created by a call that runs later.
	_, err = call("core_user_update_users", `{"users": [{"id": {"$user": {"username": "nobody"}}, "suspended": 1}]}`)
	if se := sendErr(t, err); se.Code != moodlews.ErrReference || !se.Retryable || !strings.Contains(se.Message, `username "nobody"`) {
		t.Errorf("missing reference: %+v", se)
	}
	// invalidparameter is final, with Moodle's words.
	_, err = call("core_user_create_users", `{"users": [{"username": "ada", "firstname": "A", "lastname": "B", "email": "a@example.edu", "createpassword": 1}]}`)
	if se := sendErr(t, err); se.Code != moodlews.ErrException || se.Retryable || !strings.Contains(se.Message, "invalidparameter") {
		t.Errorf("invalidparameter: %+v", se)
	}
	// Maintenance and HTML error pages are retried.
	ws.FailNext("core_user_update_users", 1, moodletest.Failure{Exception: &moodletest.Exception{Class: "moodle_exception", ErrorCode: "sitemaintenance", Message: "maintenance"}})
	_, err = call("core_user_update_users", `{"users": [{"id": 2, "suspended": 0}]}`)
	if se := sendErr(t, err); !se.Retryable {
		t.Errorf("maintenance: %+v", se)
	}
	ws.FailNext("core_user_update_users", 1, moodletest.Failure{Status: 503, Body: "<html>down</html>", ContentType: "text/html"})
	_, err = call("core_user_update_users", `{"users": [{"id": 2, "suspended": 0}]}`)
	if se := sendErr(t, err); !se.Retryable {
		t.Errorf("503: %+v", se)
	}
	// A failed notification after the call committed is a success.
	ws.FailNext("core_user_update_users", 1, moodletest.Failure{Exception: &moodletest.Exception{Class: "core\\exception\\moodle_exception",
		ErrorCode: moodlews.ErrCodeMessageNotSent, Message: "Message was not sent."}})
	if resp, err := call("core_user_update_users", `{"users": [{"id": 2, "suspended": 0}]}`); err != nil || !strings.Contains(string(resp.Body), "committed") {
		t.Errorf("message not sent: %v %s", err, resp.Body)
	}
	// Parameters that are not an object never reach Moodle.
	calls := ws.Calls().Total
	_, err = call("core_user_update_users", `[1]`)
	if se := sendErr(t, err); se.Code != mih.ErrRequest || se.Retryable || ws.Calls().Total != calls {
		t.Errorf("bad parameters: %+v", se)
	}
}
