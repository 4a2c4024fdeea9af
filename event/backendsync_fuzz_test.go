package event

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// FuzzBackendSyncBody: any body posted to a backend_sync route becomes one core event or an
// invalid error, without a panic, and the event's id and other are fit to store.
func FuzzBackendSyncBody(f *testing.F) {
	names := []string{"user_created", "user_updated", "user_enrolled", "grade_updated"}
	for i, s := range []string{
		`{"id":"42","username":"alice","email":"a@example.edu","timecreated":"1767000000"}`,
		`{"id":42,"username":"bob","timemodified":1767000000,"timecreated":1}`,
		`{"enrollmentid":"7","userid":"42","courseid":"3","roleid":"5","status":"0"}`,
		`{"itemid":"1","userid":"42","finalgrade":"87.50000","courseid":3,"timemodified":"1767000000"}`,
	} {
		f.Add(uint8(i), []byte(s))
	}
	f.Add(uint8(0), []byte(`{"id":"1e400"}`))
	now := time.Unix(1767000000, 0)
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		name := names[int(which)%len(names)]
		ev, err := backendSyncEvents[name].event(name, "main", body, now)
		if err != nil {
			if mih.ErrorCode(err) != mih.CodeInvalid {
				t.Fatalf("error of code %s: %v", mih.ErrorCode(err), err)
			}
			return
		}
		if msg := mih.CheckEventID(ev.ID); msg != "" || ev.ID == "" {
			t.Fatalf("id %q: %s", ev.ID, msg)
		}
		if len(ev.Other) > 0 && !json.Valid(ev.Other) {
			t.Fatalf("other is not JSON: %q", ev.Other)
		}
		if ev.EventName != backendSyncEvents[name].eventName {
			t.Fatalf("event %s for %s", ev.EventName, name)
		}
	})
}
