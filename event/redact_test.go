package event

import (
	"encoding/json"
	"testing"

	"github.com/mihhub/mih"
)

func TestRedactSecrets(t *testing.T) {
	tests := []struct {
		name, event, other, want string
	}{
		{"smtp password", configLogCreated, `{"name":"smtppass","oldvalue":"old-pw","value":"new-pw","plugin":null}`,
			`{"name":"smtppass","oldvalue":"********","plugin":null,"value":"********"}`},
		{"plugin secret", configLogCreated, `{"name":"secret","oldvalue":"","value":"whsec_abc","plugin":"local_mih"}`,
			`{"name":"secret","oldvalue":"","plugin":"local_mih","value":"********"}`},
		{"api token", configLogCreated, `{"name":"apiToken","oldvalue":null,"value":"t0k","plugin":"mod_x"}`,
			`{"name":"apiToken","oldvalue":null,"plugin":"mod_x","value":"********"}`},
		{"ordinary setting kept", configLogCreated, `{"name":"theme","oldvalue":"classic","value":"boost","plugin":null}`,
			`{"name":"theme","oldvalue":"classic","value":"boost","plugin":null}`},
		{"other events untouched", `\core\event\user_created`, `{"name":"password","value":"x"}`,
			`{"name":"password","value":"x"}`},
		{"not an object", configLogCreated, `"null"`, `"null"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := &mih.Event{EventName: tc.event, Other: json.RawMessage(tc.other)}
			redactSecrets(ev)
			if string(ev.Other) != tc.want {
				t.Errorf("got %s, want %s", ev.Other, tc.want)
			}
		})
	}
}
