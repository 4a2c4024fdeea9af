package amqp

import (
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

// FuzzParseTarget: any base_url of an AMQP service is read or refused without a panic, and a
// refusal never quotes the password.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"amqp://hub:pw@127.0.0.1:5672/vh?exchange=events&routing_key=moodle.{eventname}",
		"amqps://u:p%40ss@broker.example.com/%2F?queue=q&dlq=q.dead",
		"amqp://[::1]:5672/",
		"amqp://:@/?exchange=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_, err := parseTarget(raw, mih.Auth{})
		if err != nil && strings.Contains(err.Error(), "Pw-Fuzz-Secret") {
			t.Fatalf("error quotes the password: %v", err)
		}
		parseTarget(strings.Replace(raw, "@", ":Pw-Fuzz-Secret@", 1), mih.Auth{})
	})
}
