package mih

import (
	"slices"
	"strings"
	"time"
)

// Rule routes matching events to a service with a payload template (docs/api.md, Rules).
type Rule struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Event    string `json:"event"`
	Filter   string `json:"filter"`
	Service  string `json:"service"`
	Method   string `json:"method"`
	Endpoint string `json:"endpoint"`
	Template string `json:"template"`
	// Format is the envelope of the payload: FormatTemplate (the template as rendered),
	// FormatCloudEvents, FormatCloudEventsBinary or FormatXAPI (see docs/formats.md).
	Format string   `json:"format"`
	Enrich []string `json:"enrich"`
	Active bool     `json:"active"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Enrichment kinds a rule may ask for.
const (
	EnrichUser        = "user"
	EnrichRelatedUser = "relateduser"
	EnrichCourse      = "course"
)

// Payload formats of a rule.
const (
	FormatTemplate          = "template"
	FormatCloudEvents       = "cloudevents"
	FormatCloudEventsBinary = "cloudevents-binary"
	FormatXAPI              = "xapi"
)

// Formats lists every payload format.
func Formats() []string {
	return []string{FormatTemplate, FormatCloudEvents, FormatCloudEventsBinary, FormatXAPI}
}

// Methods lists the HTTP methods a rule may use.
func Methods() []string { return []string{"POST", "GET", "PUT", "PATCH", "DELETE"} }

// NewRule returns a rule with defaults, ready to be decoded into.
func NewRule() *Rule {
	return &Rule{Method: "POST", Format: FormatTemplate, Active: true, Enrich: []string{}}
}

// Validate checks the rule's own fields. Compiling the filter and the template, and checking that
// the service exists, is the rule package's job.
func (r *Rule) Validate() error {
	r.Event = strings.TrimSpace(r.Event)
	if r.Event == "" {
		return Errorf(CodeInvalid, "event: required (an event name such as \\core\\event\\user_created, a glob, or *)")
	}
	if r.Service == "" {
		return Errorf(CodeInvalid, "service: required")
	}
	r.Method = strings.ToUpper(strings.TrimSpace(r.Method))
	if r.Method == "" {
		r.Method = "POST"
	}
	if !slices.Contains(Methods(), r.Method) {
		return Errorf(CodeInvalid, "method %q: want one of %s", r.Method, strings.Join(Methods(), ", "))
	}
	r.Format = strings.ToLower(strings.TrimSpace(r.Format))
	if r.Format == "" {
		r.Format = FormatTemplate
	}
	if !slices.Contains(Formats(), r.Format) {
		return Errorf(CodeInvalid, "format %q: want one of %s", r.Format, strings.Join(Formats(), ", "))
	}
	if len(r.Name) > 200 {
		return Errorf(CodeInvalid, "name: at most 200 characters")
	}
	if r.Enrich == nil {
		r.Enrich = []string{}
	}
	for _, e := range r.Enrich {
		if e != EnrichUser && e != EnrichRelatedUser && e != EnrichCourse {
			return Errorf(CodeInvalid, "enrich %q: want user, relateduser or course", e)
		}
	}
	if strings.ContainsAny(r.Endpoint, "\r\n") {
		return Errorf(CodeInvalid, "endpoint: contains a line break")
	}
	return nil
}

// RuleFilter selects rules.
type RuleFilter struct {
	Service string
	Active  *bool
}
