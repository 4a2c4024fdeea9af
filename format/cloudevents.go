package format

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

// SpecVersion is the CloudEvents version the hub writes.
const SpecVersion = "1.0"

// TypePrefix starts every CloudEvents type: the reverse DNS name of Moodle's own domain, so that
// a router can tell Moodle's events from others by prefix.
const TypePrefix = "org.moodle."

// Type maps a Moodle event name to a CloudEvents type: the leading backslash goes, the other
// backslashes become dots, and TypePrefix goes in front, so \core\event\user_created is
// org.moodle.core.event.user_created and \mod_assign\event\assessable_submitted is
// org.moodle.mod_assign.event.assessable_submitted. The mapping is one to one and reversible.
func Type(eventName string) string {
	return TypePrefix + strings.ReplaceAll(strings.TrimPrefix(eventName, `\`), `\`, ".")
}

// Source is the CloudEvents source of a site's events: the site's URL, or, for a site whose
// URL the hub does not know, the URI reference urn:mih:site:<name> (urn:mih:site for an event
// that names no site).
func Source(s Site) string {
	if s.URL != "" {
		return strings.TrimRight(s.URL, "/")
	}
	if s.Name != "" {
		return "urn:mih:site:" + s.Name
	}
	return "urn:mih:site"
}

// Subject is the CloudEvents subject of an event: the object it is about as <table>/<id>
// (user/42, course_modules/7), else the related user as user/<id>, else empty.
func Subject(ev map[string]any) string {
	if table, _ := ev["objecttable"].(string); table != "" {
		if id, ok := intField(ev, "objectid"); ok {
			return table + "/" + strconv.FormatInt(id, 10)
		}
	}
	if id, ok := intField(ev, "relateduserid"); ok && id > 0 {
		return "user/" + strconv.FormatInt(id, 10)
	}
	return ""
}

// attributes are the context attributes of an event, in the order the spec lists them.
type attributes struct {
	ID, Source, Type, Subject, Time string
}

func contextOf(in Input) (attributes, error) {
	id, _ := in.Event["id"].(string)
	if id == "" {
		return attributes{}, fmt.Errorf("cloudevents: the event has no id")
	}
	name, _ := in.Event["eventname"].(string)
	if name == "" {
		return attributes{}, fmt.Errorf("cloudevents: the event has no eventname")
	}
	a := attributes{ID: id, Source: Source(in.Site), Type: Type(name), Subject: Subject(in.Event)}
	if t, ok := intField(in.Event, "timecreated"); ok && t > 0 {
		a.Time = time.Unix(t, 0).UTC().Format(time.RFC3339)
	}
	return a, nil
}

// structured is the event in structured JSON mode. data holds the body as JSON, since the hub's
// bodies are always JSON (datacontenttype application/json).
func structured(in Input) (json.RawMessage, error) {
	a, err := contextOf(in)
	if err != nil {
		return nil, err
	}
	body := in.Body
	if len(body) == 0 {
		body = json.RawMessage("null")
	}
	ev := struct {
		SpecVersion     string          `json:"specversion"`
		ID              string          `json:"id"`
		Source          string          `json:"source"`
		Type            string          `json:"type"`
		Subject         string          `json:"subject,omitempty"`
		Time            string          `json:"time,omitempty"`
		DataContentType string          `json:"datacontenttype"`
		Data            json.RawMessage `json:"data"`
	}{SpecVersion, a.ID, a.Source, a.Type, a.Subject, a.Time, "application/json", body}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("cloudevents: %w", err)
	}
	return b, nil
}

// ContentTypeStructured is the media type of a structured-mode CloudEvent; rules with format
// cloudevents send it as Content-Type.
const ContentTypeStructured = "application/cloudevents+json; charset=UTF-8"

// binary is the event in binary mode: the body is the data, the attributes go in headers. HTTP
// (rest services) uses ce-<name> headers with percent-encoded values; AMQP uses application
// properties named cloudEvents:<name>; datacontenttype is the message's content type on both.
func binary(in Input) (Output, error) {
	a, err := contextOf(in)
	if err != nil {
		return Output{}, err
	}
	var prefix string
	var encode func(string) string
	switch in.Transport {
	case mih.ServiceREST, "":
		prefix, encode = "ce-", percentEncode
	case mih.ServiceAMQP:
		prefix, encode = "cloudEvents:", func(s string) string { return s }
	default:
		return Output{}, fmt.Errorf("cloudevents-binary: a %s service has no CloudEvents binding; use format cloudevents", in.Transport)
	}
	h := map[string]string{
		prefix + "specversion": SpecVersion,
		prefix + "id":          encode(a.ID),
		prefix + "source":      encode(a.Source),
		prefix + "type":        encode(a.Type),
		"Content-Type":         "application/json",
	}
	if a.Subject != "" {
		h[prefix+"subject"] = encode(a.Subject)
	}
	if a.Time != "" {
		h[prefix+"time"] = encode(a.Time)
	}
	if in.Transport == mih.ServiceAMQP {
		// The AMQP message's content_type is already application/json; a header of that name
		// would only be noise in the message's application properties.
		delete(h, "Content-Type")
	}
	body := in.Body
	if len(body) == 0 {
		body = json.RawMessage("null")
	}
	return Output{Headers: h, Payload: body}, nil
}

// percentEncode encodes a header value as the HTTP binding asks (section 3.1.3.2): characters
// outside printable ASCII, the double quote and the percent sign become %XX of their UTF-8
// bytes.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// intField reads an integer field of event data, as json.Number, a number or a numeric string.
func intField(m map[string]any, key string) (int64, bool) {
	switch v := m[key].(type) {
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			f, ferr := v.Float64()
			if ferr != nil {
				return 0, false
			}
			return int64(f), true
		}
		return n, true
	case float64:
		return int64(v), true
	case int64:
		return v, true
	case int:
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// siteURL joins a path to the site's URL.
func siteURL(base, path string, query url.Values) string {
	u := strings.TrimRight(base, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}
