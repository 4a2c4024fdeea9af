package mih

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// InboundEndpoint receives messages from an external system at POST /api/v1/inbound/{name}
// (docs/inbound.md). A message is accepted when it carries a valid Standard Webhooks signature
// under one of Secrets (two at once while a secret is rotated), or the endpoint's token as a
// bearer token. Secrets and the token are write-only: they read back masked.
type InboundEndpoint struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Secrets     []string `json:"secrets,omitempty"`
	// Token, when set, lets a caller that cannot sign authenticate with
	// "Authorization: Bearer <token>"; it is valid for this endpoint only. Stored hashed.
	Token string `json:"token,omitempty"`
	// Source, when set, also feeds the endpoint from a broker queue:
	// amqp[s]://user:pass@host:port/vhost?queue=Q[&prefetch=N]. Messages taken from it need no
	// signature (the broker's access control admits the publishers); the password reads back
	// masked.
	Source string `json:"source,omitempty"`
	// ToleranceS is how far a signed message's timestamp may be from the hub's clock
	// (default 300).
	ToleranceS float64   `json:"tolerance_s"`
	Active     bool      `json:"active"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// NewInboundEndpoint returns an endpoint with defaults, ready to be decoded into.
func NewInboundEndpoint() *InboundEndpoint {
	return &InboundEndpoint{ToleranceS: 300, Active: true, Secrets: []string{}}
}

// MaxInboundSecrets is how many signing secrets an endpoint holds at once: the current one and
// the next (or previous) during a rotation.
const MaxInboundSecrets = 2

// Validate checks the endpoint's own fields; the secrets' format is checked by package webhook.
func (e *InboundEndpoint) Validate() error {
	if !ValidName(e.Name) {
		return Errorf(CodeInvalid, "name %q: want a slug of lowercase letters, digits, '-', '_' or '.' (1-63 characters)", e.Name)
	}
	if e.Secrets == nil {
		e.Secrets = []string{}
	}
	if len(e.Secrets) > MaxInboundSecrets {
		return Errorf(CodeInvalid, "secrets: at most %d (the current one and the next, while rotating)", MaxInboundSecrets)
	}
	for i, s := range e.Secrets {
		if s != Masked && !strings.HasPrefix(s, "whsec_") {
			return Errorf(CodeInvalid, "secrets[%d]: want a Standard Webhooks secret starting with whsec_", i)
		}
	}
	if len(e.Secrets) == 0 && e.Token == "" && e.Source == "" {
		return Errorf(CodeInvalid, "secrets, token or source: an endpoint needs a signing secret, a token or a broker queue, or anyone could call Moodle through it")
	}
	if e.Source != "" {
		if err := checkSource(e.Source); err != nil {
			return err
		}
	}
	if e.Token != "" && e.Token != Masked && len(e.Token) < 16 {
		return Errorf(CodeInvalid, "token: at least 16 characters")
	}
	if e.ToleranceS == 0 {
		e.ToleranceS = 300
	}
	if e.ToleranceS < 1 || e.ToleranceS > 86400 {
		return Errorf(CodeInvalid, "tolerance_s must be between 1 and 86400")
	}
	if len(e.Description) > 1000 {
		return Errorf(CodeInvalid, "description: at most 1000 characters")
	}
	return nil
}

// Tolerance is the allowed clock difference of signed messages.
func (e *InboundEndpoint) Tolerance() time.Duration { return seconds(e.ToleranceS) }

// Masked returns a copy safe to show.
func (e *InboundEndpoint) Masked() *InboundEndpoint {
	c := *e
	c.Secrets = make([]string, len(e.Secrets))
	for i := range e.Secrets {
		c.Secrets[i] = Masked
	}
	if c.Token != "" {
		c.Token = Masked
	}
	c.Source = RedactURL(e.Source)
	return &c
}

// KeepSecrets copies from old each secret that e leaves masked, and the token when e's is
// masked, so that a form or an API client can write an endpoint back without knowing them.
func (e *InboundEndpoint) KeepSecrets(old *InboundEndpoint) {
	for i, s := range e.Secrets {
		if s == Masked && i < len(old.Secrets) {
			e.Secrets[i] = old.Secrets[i]
		}
	}
	if e.Token == Masked {
		e.Token = old.Token
	}
	if e.Source != "" && e.Source == RedactURL(old.Source) {
		e.Source = old.Source
	}
}

// checkSource checks a broker queue URL: amqp or amqps, a host, a queue, and a prefetch between
// 1 and 1000 when given. The message never quotes the URL, which may carry a password.
func checkSource(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		return Errorf(CodeInvalid, "source: want amqp[s]://user:pass@host:port/vhost?queue=NAME")
	}
	q := u.Query()
	if q.Get("queue") == "" {
		return Errorf(CodeInvalid, "source: the queue parameter is required")
	}
	for k := range q {
		if k != "queue" && k != "prefetch" {
			return Errorf(CodeInvalid, "source: unknown parameter %q (want queue and prefetch)", k)
		}
	}
	if p := q.Get("prefetch"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1000 {
			return Errorf(CodeInvalid, "source: prefetch must be between 1 and 1000")
		}
	}
	return nil
}

// InboundRule turns a message received by its endpoint into one call of a Moodle Web Service
// function on a registered site. Filter (an expression over the message, as in outbound rules)
// selects the messages; Template renders the function's parameters as a JSON object. Every
// matching active rule of an endpoint makes its call.
type InboundRule struct {
	ID       int64  `json:"id"`
	Endpoint string `json:"endpoint"`
	Name     string `json:"name"`
	Filter   string `json:"filter"`
	Site     string `json:"site"`
	Function string `json:"function"`
	Template string `json:"template"`
	Active   bool   `json:"active"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewInboundRule returns a rule with defaults, ready to be decoded into.
func NewInboundRule() *InboundRule { return &InboundRule{Active: true} }

// Validate checks the rule's own fields; compiling the filter and the template is package
// inbound's job.
func (r *InboundRule) Validate() error {
	if r.Endpoint == "" {
		return Errorf(CodeInvalid, "endpoint: required")
	}
	if r.Site == "" {
		return Errorf(CodeInvalid, "site: required (the Moodle site to call)")
	}
	r.Function = strings.TrimSpace(r.Function)
	if !validFunction(r.Function) {
		return Errorf(CodeInvalid, "function %q: want a Moodle Web Service function name such as core_user_create_users", r.Function)
	}
	if len(r.Name) > 200 {
		return Errorf(CodeInvalid, "name: at most 200 characters")
	}
	return nil
}

func validFunction(s string) bool {
	if s == "" || len(s) > 200 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// InboundStore keeps inbound endpoints and their rules. Deleting an endpoint deletes its rules.
type InboundStore interface {
	FindInboundEndpoint(ctx context.Context, name string) (*InboundEndpoint, error)
	FindInboundEndpoints(ctx context.Context) ([]*InboundEndpoint, error)
	CreateInboundEndpoint(ctx context.Context, e *InboundEndpoint) error
	UpdateInboundEndpoint(ctx context.Context, e *InboundEndpoint) error
	DeleteInboundEndpoint(ctx context.Context, name string) error

	FindInboundRule(ctx context.Context, id int64) (*InboundRule, error)
	// FindInboundRules returns the rules of an endpoint ("" for all), oldest first.
	FindInboundRules(ctx context.Context, endpoint string) ([]*InboundRule, error)
	CreateInboundRule(ctx context.Context, r *InboundRule) error
	UpdateInboundRule(ctx context.Context, r *InboundRule) error
	DeleteInboundRule(ctx context.Context, id int64) error
}

// ServiceMoodle is the type of the service-like target an inbound rule calls: a registered
// Moodle site's Web Services. It is never stored as a service; deliveries name it
// SiteService(site), and the delivery worker resolves that name to the site.
const ServiceMoodle ServiceType = "moodle"

// siteServicePrefix starts the service name of a site's Web Services. The colon cannot occur
// in a service name, so the two never clash.
const siteServicePrefix = "moodle:"

// SiteService is the name under which inbound deliveries, the circuit breaker and the request
// log know a site's Web Services.
func SiteService(site string) string { return siteServicePrefix + site }

// SiteOfService returns the site a SiteService name stands for.
func SiteOfService(name string) (site string, ok bool) {
	return strings.CutPrefix(name, siteServicePrefix)
}

// InboundEventName is the event name under which an endpoint's messages are stored.
func InboundEventName(endpoint string) string { return `\mih\inbound\` + endpoint }
