package format_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/format"
	"github.com/mihhub/mih/rule"
)

var site = format.Site{Name: "main", URL: "https://moodle.example.edu/"}

func eventData(t *testing.T, ev *mih.Event) map[string]any {
	t.Helper()
	d, err := ev.Data()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mockEvent(name, id string) *mih.Event { return moodleEvent(name, id) }

// parse reads a request the way a CloudEvents receiver does: the official SDK's HTTP binding.
func parse(t *testing.T, out format.Output) (*event.Event, binding.Encoding) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/hook", bytes.NewReader(out.Payload))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range out.Headers {
		req.Header.Set(k, v)
	}
	msg := cehttp.NewMessageFromHttpRequest(req)
	enc := msg.ReadEncoding()
	e, err := binding.ToEvent(t.Context(), msg)
	if err != nil {
		t.Fatalf("the CloudEvents SDK refuses the request: %v\nheaders %v\nbody %s", err, out.Headers, out.Payload)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("the CloudEvents SDK finds the event invalid: %v", err)
	}
	return e, enc
}

func TestCloudEventsParsedBySDK(t *testing.T) {
	cases := []struct {
		name, event, id, subject string
		template                 string
	}{
		{"user created, whole event", `\core\event\user_created`, "ev-1", "user/42", ""},
		{"assignment submitted, template", `\mod_assign\event\assessable_submitted`, "main:9001", "assign_submission/3", `{"who": {{userid}}}`},
		// Percent-encoding in binary mode: a space, a quote, a percent sign and non-ASCII text.
		{"awkward id", `\core\event\user_created`, `ev 2 "100%" é`, "user/42", ""},
	}
	for _, c := range cases {
		for _, mode := range []string{mih.FormatCloudEvents, mih.FormatCloudEventsBinary} {
			t.Run(c.name+"/"+mode, func(t *testing.T) {
				ev := mockEvent(c.event, c.id)
				data := eventData(t, ev)
				body := renderTemplate(t, c.template, data)
				out, err := format.Apply(format.Input{Format: mode, Event: data, Site: site, Body: body, Transport: mih.ServiceREST})
				if err != nil {
					t.Fatal(err)
				}
				e, enc := parse(t, out)
				wantEnc := binding.EncodingStructured
				if mode == mih.FormatCloudEventsBinary {
					wantEnc = binding.EncodingBinary
				}
				if enc != wantEnc {
					t.Errorf("encoding %v, want %v", enc, wantEnc)
				}
				id := e.ID()
				if mode == mih.FormatCloudEventsBinary {
					// The HTTP binding percent-encodes header values (3.1.3.2). The Go SDK
					// (v2.16) does not decode them (cloudevents/sdk-go#1331), so a receiver
					// using it sees the escapes of an id with a space or non-ASCII text; a
					// conformant decoder gets the id back.
					var err error
					if id, err = url.PathUnescape(id); err != nil {
						t.Fatal(err)
					}
				}
				if e.SpecVersion() != "1.0" || id != c.id || e.Source() != "https://moodle.example.edu" {
					t.Errorf("specversion %q id %q source %q", e.SpecVersion(), e.ID(), e.Source())
				}
				if want := format.Type(c.event); e.Type() != want {
					t.Errorf("type %q, want %q", e.Type(), want)
				}
				if e.Subject() != c.subject {
					t.Errorf("subject %q, want %q", e.Subject(), c.subject)
				}
				if want := time.Unix(ev.TimeCreated, 0).UTC(); !e.Time().Equal(want) {
					t.Errorf("time %v, want %v", e.Time(), want)
				}
				if e.DataContentType() != "application/json" {
					t.Errorf("datacontenttype %q", e.DataContentType())
				}
				if !jsonEqual(t, e.Data(), body) {
					t.Errorf("data %s, want %s", e.Data(), body)
				}
			})
		}
	}
}

func TestCloudEventsType(t *testing.T) {
	for name, want := range map[string]string{
		`\core\event\user_created`:                     "org.moodle.core.event.user_created",
		`\mod_assign\event\assessable_submitted`:       "org.moodle.mod_assign.event.assessable_submitted",
		`\local_mih\event\something_happened`:          "org.moodle.local_mih.event.something_happened",
		`\core\event\course_module_completion_updated`: "org.moodle.core.event.course_module_completion_updated",
	} {
		if got := format.Type(name); got != want {
			t.Errorf("Type(%s) = %q, want %q", name, got, want)
		}
	}
}

func TestCloudEventsSourceWithoutURL(t *testing.T) {
	data := eventData(t, mockEvent(`\core\event\user_created`, "e1"))
	for s, want := range map[format.Site]string{
		{Name: "lms"}: "urn:mih:site:lms",
		{}:            "urn:mih:site",
	} {
		out, err := format.Apply(format.Input{Format: mih.FormatCloudEvents, Event: data, Site: s, Body: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		e, _ := parse(t, out)
		if e.Source() != want {
			t.Errorf("source %q, want %q", e.Source(), want)
		}
	}
}

// On AMQP the attributes are application properties with the cloudEvents: prefix of the AMQP
// binding, and no HTTP header is left over.
func TestCloudEventsBinaryAMQP(t *testing.T) {
	data := eventData(t, mockEvent(`\core\event\user_created`, "ev 1"))
	out, err := format.Apply(format.Input{Format: mih.FormatCloudEventsBinary, Event: data, Site: site, Body: json.RawMessage(`{"a":1}`), Transport: mih.ServiceAMQP})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cloudEvents:specversion": "1.0", "cloudEvents:id": "ev 1", "cloudEvents:source": "https://moodle.example.edu",
		"cloudEvents:type": "org.moodle.core.event.user_created", "cloudEvents:subject": "user/42",
		"cloudEvents:time": "2026-03-02T09:30:00Z",
	}
	if len(out.Headers) != len(want) {
		t.Errorf("headers %v, want %v", out.Headers, want)
	}
	for k, v := range want {
		if out.Headers[k] != v {
			t.Errorf("%s = %q, want %q", k, out.Headers[k], v)
		}
	}
	if string(out.Payload) != `{"a":1}` {
		t.Errorf("body %s", out.Payload)
	}
	_, err = format.Apply(format.Input{Format: mih.FormatCloudEventsBinary, Event: data, Site: site, Body: json.RawMessage(`{}`), Transport: mih.ServiceSOAP})
	if err == nil {
		t.Error("binary mode on SOAP: no error")
	}
}

func TestCloudEventsNeedAnID(t *testing.T) {
	data := eventData(t, mockEvent(`\core\event\user_created`, ""))
	_, err := format.Apply(format.Input{Format: mih.FormatCloudEvents, Event: data, Site: site, Body: json.RawMessage(`{}`)})
	var skip *format.SkipError
	if err == nil || errors.As(err, &skip) {
		t.Errorf("event without id: %v, want a payload error", err)
	}
}

func renderTemplate(t *testing.T, tmpl string, data map[string]any) json.RawMessage {
	t.Helper()
	c, err := rule.Compile(&mih.Rule{Event: `\core\event\user_created`, Service: "x", Template: tmpl})
	if err != nil {
		t.Fatal(err)
	}
	_, _, body, err := c.Render(templateScope(data))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
