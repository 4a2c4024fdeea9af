package event

import (
	"testing"

	"github.com/mihhub/mih"
)

// FuzzParse: whatever arrives, Parse answers events or an invalid error, never panics, and
// every event it accepts has an id that can travel in a header.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","eventname":"\\core\\event\\user_created","timecreated":1767000000,"other":{"x":[1,2]}}`,
		`[{"eventname":"\\core\\event\\user_created","timecreated":"1767000000","relateduserid":"42"}]`,
		`{"events":[{"eventname":"\\mod_assign\\event\\submission_created","timecreated":1,"crud":"c","other":null}]}`,
		`{"id":"a\r\nb","eventname":"\\core\\event\\x","timecreated":1}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"eventname":"\\core\\event\\x","timecreated":1e3,"anonymous":true,"objectid":1.0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := Parse(body)
		if err != nil {
			if mih.ErrorCode(err) != mih.CodeInvalid {
				t.Fatalf("error of code %s: %v", mih.ErrorCode(err), err)
			}
			return
		}
		for _, ev := range evs {
			if msg := mih.CheckEventID(ev.ID); msg != "" || ev.ID == "" {
				t.Fatalf("accepted id %q: %s", ev.ID, msg)
			}
			if _, err := ev.Data(); err != nil {
				t.Fatalf("accepted event has no data: %v", err)
			}
		}
	})
}
