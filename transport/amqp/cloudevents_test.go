package amqp

import (
	"encoding/json"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/format"
)

// A CloudEvent on RabbitMQ: in binary mode the attributes arrive as cloudEvents:* message
// headers (the AMQP binding's application properties) with the data as the body; in structured
// mode the message's content type is application/cloudevents+json, and no Content-Type header
// is left among the message's headers.
func TestTransport_CloudEvents(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	q := name(t, "q")
	a.queue(q, nil)
	tr := newTransport(t, Options{})
	s := service(withURL(t, base, "", "/", "?routing_key="+q))
	ev := map[string]any{"id": "logstore:main:9", "eventname": `\core\event\user_created`, "objecttable": "user",
		"objectid": json.Number("42"), "timecreated": json.Number("1772443800")}
	site := format.Site{Name: "main", URL: "https://moodle.example.edu"}

	out, err := format.Apply(format.Input{Format: mih.FormatCloudEventsBinary, Event: ev, Site: site,
		Body: json.RawMessage(`{"userid":42}`), Transport: mih.ServiceAMQP})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, tr, s, &mih.Request{Body: out.Payload, Headers: out.Headers, IdempotencyKey: "logstore:main:9:1"}); err != nil {
		t.Fatal(err)
	}
	d := a.get(q, true)
	want := map[string]string{"cloudEvents:specversion": "1.0", "cloudEvents:id": "logstore:main:9",
		"cloudEvents:source": "https://moodle.example.edu", "cloudEvents:type": "org.moodle.core.event.user_created",
		"cloudEvents:subject": "user/42", "cloudEvents:time": "2026-03-02T09:30:00Z"}
	for k, v := range want {
		if d.Headers[k] != v {
			t.Errorf("header %s = %v, want %q", k, d.Headers[k], v)
		}
	}
	if string(d.Body) != `{"userid":42}` || d.ContentType != "application/json" {
		t.Errorf("body %s, content type %q", d.Body, d.ContentType)
	}

	out, err = format.Apply(format.Input{Format: mih.FormatCloudEvents, Event: ev, Site: site,
		Body: json.RawMessage(`{"userid":42}`), Transport: mih.ServiceAMQP})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, tr, s, &mih.Request{Body: out.Payload, Headers: out.Headers}); err != nil {
		t.Fatal(err)
	}
	d = a.get(q, true)
	if d.ContentType != format.ContentTypeStructured || d.Headers["Content-Type"] != nil {
		t.Errorf("structured: content type %q, headers %v", d.ContentType, d.Headers)
	}
	var ce map[string]any
	if err := json.Unmarshal(d.Body, &ce); err != nil || ce["specversion"] != "1.0" || ce["type"] != "org.moodle.core.event.user_created" {
		t.Errorf("structured body %s: %v", d.Body, err)
	}
}
