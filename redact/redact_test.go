package redact

import (
	"errors"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

func TestService_EveryForm(t *testing.T) {
	s := &mih.Service{
		BaseURL:       "amqp://hub:p%40ss%2Fword@broker:5672/",
		Auth:          mih.Auth{Type: mih.AuthBasic, Username: "hub", Password: "pa/ss\"word"},
		Headers:       map[string]string{"X-Api-Key": "key-123456", "X-Tenant": "tenant-42"},
		SigningSecret: "whsec_c2VjcmV0LWtleQ==",
	}
	r := Service(s)
	for _, in := range []string{
		`pa/ss"word`, `pa\/ss\"word`, `pa/ss\"word`, "pa%2Fss%22word", "aHViOnBhL3NzIndvcmQ=",
		"key-123456", "whsec_c2VjcmV0LWtleQ==", "c2VjcmV0LWtleQ==", "p@ss/word", "p%40ss%2Fword",
	} {
		if got := r.String("x " + in + " y"); got != "x ******** y" {
			t.Errorf("%q: got %q", in, got)
		}
	}
	if got := r.String("tenant-42"); got != "tenant-42" {
		t.Errorf("a header that is no credential was masked: %q", got)
	}
	se := &mih.SendError{Code: mih.ErrSOAPFault, Message: "fault: bad key key-123456", Retryable: true, Err: errors.New("key-123456")}
	err := r.Error(se)
	got, ok := errors.AsType[*mih.SendError](err)
	if !ok || got.Code != mih.ErrSOAPFault || !got.Retryable || strings.Contains(err.Error(), "key-123456") || strings.Contains(got.Err.Error(), "key-123456") {
		t.Errorf("send error: %#v", err)
	}
	if strings.Contains(se.Message, "********") {
		t.Error("the original error was changed")
	}
	if Service(&mih.Service{Auth: mih.Auth{Token: "abc"}}).String("abc") != "abc" {
		t.Error("a secret shorter than MinLen was masked")
	}
}

// A database password goes from a driver's error as is and in both URL escapings; a short one
// is left alone.
func TestPassword(t *testing.T) {
	const pass = "p@ss/w rd"
	text := `connect postgres://moodle:p%40ss%2Fw+rd@db/moodle: "p@ss/w rd" refused; p@ss%2Fw%20rd`
	got := Password(text, pass)
	if want := `connect postgres://moodle:xxxxx@db/moodle: "xxxxx" refused; xxxxx`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := Password("pw is abc", "abc"); got != "pw is abc" {
		t.Errorf("a three-character password was scrubbed: %s", got)
	}
}
