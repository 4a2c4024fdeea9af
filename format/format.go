// Package format wraps the payload of an outbound rule in the envelope its format names
// (docs/formats.md):
//
//   - template: the rendered template, as it is (the default).
//   - cloudevents: a CloudEvents 1.0 event in structured JSON mode; data is the rendered template
//     (the whole Moodle event when the template is empty).
//   - cloudevents-binary: the same event in binary mode: the rendered template is the body and
//     the context attributes travel as ce-* HTTP headers, or as cloudEvents:* application
//     properties on AMQP (the AMQP protocol binding).
//   - xapi: an xAPI 1.0.3 statement for the learning events that have one (Statement); other
//     events are skipped, never sent as a malformed statement.
//
// The package is pure: it builds the envelope from the event, the site and the Moodle records
// that enrichment fetched, and does no I/O.
package format

import (
	"encoding/json"
	"fmt"

	"github.com/mihhub/mih"
)

// Site is the Moodle site an event came from. URL is the site's address (wwwroot); it may be
// empty for an event posted without a site the hub knows.
type Site struct {
	Name string
	URL  string
}

// Input is what an envelope is built from.
type Input struct {
	Format string
	// Event is the event's data (mih.Event.Data): the fields of a Moodle event, numbers as
	// json.Number.
	Event map[string]any
	Site  Site
	// Body is the rule's template as rendered (the whole event for an empty template).
	Body json.RawMessage
	// Transport is the type of the rule's service: binary mode puts the attributes in HTTP
	// headers for rest and in application properties for amqp.
	Transport mih.ServiceType
	// Records are the Moodle records enrichment fetched (nil when not fetched or not found).
	Records Records
}

// Records are the Moodle records an envelope may use, each as the generic map that
// package moodle's Directory returns.
type Records struct {
	User        map[string]any
	RelatedUser map[string]any
	Course      map[string]any
	// Module is the course module of the event's context (core_course_get_course_module's cm).
	Module map[string]any
	// GradeItem is the grade item a user_graded event refers to, with grademin and grademax.
	GradeItem map[string]any
}

// Output is the request an envelope makes.
type Output struct {
	Headers map[string]string
	Payload json.RawMessage
}

// Needs says which Moodle records a format wants for an event, beyond what the rule's template
// asks for.
type Needs struct {
	Site        bool // the site's URL
	User        bool
	RelatedUser bool
	Course      bool
	Module      bool
	GradeItem   bool
}

// Any reports whether anything is needed.
func (n Needs) Any() bool {
	return n.Site || n.User || n.RelatedUser || n.Course || n.Module || n.GradeItem
}

// NeedsFor returns what the format needs to wrap an event of the given name.
func NeedsFor(format, eventName string) Needs {
	switch format {
	case mih.FormatCloudEvents, mih.FormatCloudEventsBinary:
		return Needs{Site: true}
	case mih.FormatXAPI:
		m, ok := lookupMapping(eventName)
		if !ok {
			return Needs{}
		}
		return m.needs
	}
	return Needs{}
}

// Supports reports whether the format can wrap an event of the given name. Only xapi is
// selective; a rule whose pattern matches other events skips them (see Skip).
func Supports(format, eventName string) bool {
	if format != mih.FormatXAPI {
		return true
	}
	_, ok := lookupMapping(eventName)
	return ok
}

// SkipError is an event that the format does not wrap: not an error of the hub or of the rule,
// but no request to send. Its message says why.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// Apply builds the envelope. Errors are *SkipError for an event the format does not cover, or an
// error saying why the envelope cannot be built (the delivery's payload failure).
func Apply(in Input) (Output, error) {
	switch in.Format {
	case "", mih.FormatTemplate:
		return Output{Payload: in.Body}, nil
	case mih.FormatCloudEvents:
		b, err := structured(in)
		if err != nil {
			return Output{}, err
		}
		return Output{Headers: map[string]string{"Content-Type": ContentTypeStructured}, Payload: b}, nil
	case mih.FormatCloudEventsBinary:
		return binary(in)
	case mih.FormatXAPI:
		b, err := Statement(in)
		if err != nil {
			return Output{}, err
		}
		// Every request to an LRS carries the version it speaks (xAPI Part Three, 3.3).
		return Output{Headers: map[string]string{"X-Experience-API-Version": XAPIVersion}, Payload: b}, nil
	}
	return Output{}, fmt.Errorf("unknown format %q", in.Format)
}
