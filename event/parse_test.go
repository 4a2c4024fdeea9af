package event

import (
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

const userCreated = `{"eventname":"\\core\\event\\user_created","component":"core","action":"created","target":"user",
"objecttable":"user","objectid":42,"crud":"c","edulevel":0,"contextid":87,"contextlevel":30,"contextinstanceid":42,
"userid":2,"courseid":0,"relateduserid":42,"anonymous":0,"other":null,"timecreated":1767000000}`

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		n       int
		wantErr string
	}{
		{"single", userCreated, 1, ""},
		{"array", "[" + userCreated + "," + userCreated + "]", 2, ""},
		{"events object", `{"events":[` + userCreated + `]}`, 1, ""},
		{"empty array", `[]`, 0, ""},
		{"bad json", `{"eventname":`, 0, "not valid JSON"},
		{"trailing data", userCreated + ` {}`, 0, "after the JSON value"},
		{"missing eventname at index 2", "[" + userCreated + "," + userCreated + `,{"timecreated":1}]`, 0, "event 2: eventname: required"},
		{"missing timecreated", `{"eventname":"\\core\\event\\x"}`, 0, "timecreated: required"},
		{"not a class name", `{"eventname":"user_created","timecreated":1}`, 0, "eventname"},
		{"bad integer", `{"eventname":"\\core\\event\\x","timecreated":1,"userid":"abc"}`, 0, `userid: got "abc", want an integer`},
		{"scalar body", `42`, 0, "want an event object"},
		{"item not object", `[1]`, 0, "event 0: want a JSON object"},
		{"bad crud", `{"eventname":"\\core\\event\\x","timecreated":1,"crud":"x"}`, 0, "crud"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := Parse([]byte(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || mih.ErrorCode(err) != mih.CodeInvalid {
					t.Fatalf("got %v, want an invalid error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(evs) != tc.n {
				t.Fatalf("got %d events, %v; want %d", len(evs), err, tc.n)
			}
		})
	}
}

func TestFromMap_Fields(t *testing.T) {
	evs, err := Parse([]byte(`{"eventname":"\\core\\event\\role_unassigned","timecreated":"1767000000","objectid":"5",
		"relateduserid":null,"other":{"id":"1208","itemid":"0"},"id":"logstore:main:9","anonymous":false}`))
	if err != nil {
		t.Fatal(err)
	}
	ev := evs[0]
	if ev.TimeCreated != 1767000000 || *ev.ObjectID != 5 || ev.RelatedUserID != nil || ev.ID != "logstore:main:9" {
		t.Errorf("got %+v", ev)
	}
	if string(ev.Other) != `{"id":"1208","itemid":"0"}` {
		t.Errorf("other: got %s, want the strings kept", ev.Other)
	}
}

func TestDerivedID(t *testing.T) {
	a, _ := Parse([]byte(userCreated))
	b, _ := Parse([]byte(userCreated))
	c, _ := Parse([]byte(strings.Replace(userCreated, `"objectid":42`, `"objectid":43`, 1)))
	if a[0].ID != b[0].ID || !strings.HasPrefix(a[0].ID, "sha256:") {
		t.Errorf("same event: got ids %q and %q, want equal derived ids", a[0].ID, b[0].ID)
	}
	if a[0].ID == c[0].ID {
		t.Errorf("different events got the same id %q", a[0].ID)
	}
}
