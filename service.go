package mih

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ServiceType names a transport.
type ServiceType string

// Service types.
const (
	ServiceREST ServiceType = "rest"
	ServiceSOAP ServiceType = "soap"
	ServiceAMQP ServiceType = "amqp"
)

// ServiceTypes lists every service type.
func ServiceTypes() []ServiceType { return []ServiceType{ServiceREST, ServiceSOAP, ServiceAMQP} }

// Auth types.
const (
	AuthNone   = "none"
	AuthBearer = "bearer"
	AuthAPIKey = "apikey"
	AuthBasic  = "basic"
	AuthHeader = "header"
)

// Masked is what a secret reads back as. Writing it back keeps the stored secret.
const Masked = "********"

// Auth is how the hub authenticates to a service. Token, Password and Value are secrets.
type Auth struct {
	Type     string `json:"type"`
	Token    string `json:"token,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Name     string `json:"name,omitempty"`
	Value    string `json:"value,omitempty"`
}

// CircuitConfig tunes a service's circuit breaker.
type CircuitConfig struct {
	FailureThreshold int     `json:"failure_threshold"`
	WindowS          float64 `json:"window_s"`
	CooldownS        float64 `json:"cooldown_s"`
}

// Circuit states.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "halfopen"
)

// Service is an external system the hub calls (docs/api.md, Services). Durations are in seconds as
// floats so that sub-second values work in tests and tight set-ups.
type Service struct {
	Name            string            `json:"name"`
	Type            ServiceType       `json:"type"`
	BaseURL         string            `json:"base_url"`
	Enabled         bool              `json:"enabled"`
	Auth            Auth              `json:"auth"`
	Headers         map[string]string `json:"headers,omitempty"`
	SigningSecret   string            `json:"signing_secret,omitempty"`
	TimeoutS        float64           `json:"timeout_s"`
	MaxRetries      int               `json:"max_retries"`
	InitialBackoffS float64           `json:"initial_backoff_s"`
	MaxBackoffS     float64           `json:"max_backoff_s"`
	MaxAgeH         float64           `json:"max_age_h"`
	Circuit         CircuitConfig     `json:"circuit"`
	CircuitState    string            `json:"circuit_state,omitempty"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

// NewService returns a service with the documented defaults, ready to be decoded into so that
// omitted fields keep them.
func NewService() *Service {
	return &Service{
		Type:     ServiceREST,
		Enabled:  true,
		Auth:     Auth{Type: AuthNone},
		TimeoutS: 5,
		// 16 attempts over about 5 hours (2 s, 4 s, 8 s … doubling to an hour): this budget
		// only ends deliveries that fail while the service answers others; an outage pauses
		// deliveries with the circuit instead (docs/operations.md).
		MaxRetries:      15,
		InitialBackoffS: 2,
		MaxBackoffS:     3600,
		MaxAgeH:         72,
		// Three failures in a row open the circuit: with probes from 1 s apart, opening on a
		// blip costs a second, while a real outage is caught even with one delivery in flight.
		Circuit: CircuitConfig{FailureThreshold: 3, WindowS: 60, CooldownS: 30},
	}
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// ValidName reports whether s is a valid slug for a service, site or sync job.
func ValidName(s string) bool { return slugRE.MatchString(s) }

// Validate checks a service before it is stored.
func (s *Service) Validate() error {
	if !ValidName(s.Name) {
		return Errorf(CodeInvalid, "name %q: want a slug of lowercase letters, digits, '-', '_' or '.' (1-63 characters)", s.Name)
	}
	if !slices.Contains(ServiceTypes(), s.Type) {
		return Errorf(CodeInvalid, "type %q: want rest, soap or amqp", s.Type)
	}
	u, err := url.Parse(s.BaseURL)
	if err != nil || u.Host == "" {
		return Errorf(CodeInvalid, "base_url: want an absolute URL")
	}
	want := []string{"http", "https"}
	if s.Type == ServiceAMQP {
		want = []string{"amqp", "amqps"}
	}
	if !slices.Contains(want, u.Scheme) {
		return Errorf(CodeInvalid, "base_url: scheme %q is not one of %s", u.Scheme, strings.Join(want, ", "))
	}
	switch s.Auth.Type {
	case "", AuthNone:
		s.Auth = Auth{Type: AuthNone}
	case AuthBearer, AuthAPIKey:
		if s.Auth.Token == "" {
			return Errorf(CodeInvalid, "auth.token: required for auth type %s", s.Auth.Type)
		}
	case AuthBasic:
		if s.Auth.Username == "" {
			return Errorf(CodeInvalid, "auth.username: required for auth type basic")
		}
	case AuthHeader:
		if s.Auth.Name == "" || s.Auth.Value == "" {
			return Errorf(CodeInvalid, "auth.name and auth.value: required for auth type header")
		}
	default:
		return Errorf(CodeInvalid, "auth.type %q: want none, bearer, apikey, basic or header", s.Auth.Type)
	}
	for k := range s.Headers {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return Errorf(CodeInvalid, "headers: invalid header name %q", k)
		}
		if strings.ContainsAny(s.Headers[k], "\r\n") {
			return Errorf(CodeInvalid, "headers: value of %q contains a line break", k)
		}
	}
	if s.SigningSecret != "" {
		if s.Type != ServiceREST {
			return Errorf(CodeInvalid, "signing_secret: only REST services sign requests")
		}
		if !strings.HasPrefix(s.SigningSecret, "whsec_") {
			return Errorf(CodeInvalid, "signing_secret: want a Standard Webhooks secret starting with whsec_")
		}
	}
	checks := []struct {
		name string
		bad  bool
	}{
		{"timeout_s must be between 0 and 3600", s.TimeoutS <= 0 || s.TimeoutS > 3600},
		{"max_retries must be between 0 and 100", s.MaxRetries < 0 || s.MaxRetries > 100},
		{"initial_backoff_s must be between 0 and 86400", s.InitialBackoffS < 0 || s.InitialBackoffS > 86400},
		{"max_backoff_s must be at least initial_backoff_s", s.MaxBackoffS < s.InitialBackoffS},
		{"max_age_h must be positive", s.MaxAgeH <= 0},
		{"circuit.failure_threshold must be at least 1", s.Circuit.FailureThreshold < 1},
		{"circuit.window_s must be positive", s.Circuit.WindowS <= 0},
		{"circuit.cooldown_s must be positive", s.Circuit.CooldownS <= 0},
	}
	for _, c := range checks {
		if c.bad {
			return Errorf(CodeInvalid, "%s", c.name)
		}
	}
	return nil
}

// Timeout is the per-attempt time limit.
func (s *Service) Timeout() time.Duration { return seconds(s.TimeoutS) }

// Window is how close together failures must come to count as consecutive.
func (c CircuitConfig) Window() time.Duration { return seconds(c.WindowS) }

// Cooldown is how long an open circuit waits before its probe.
func (c CircuitConfig) Cooldown() time.Duration { return seconds(c.CooldownS) }

// sensitiveWords mark a header name whose value is a credential.
var sensitiveWords = []string{"authorization", "key", "token", "secret", "password", "passwd", "cookie", "signature", "credential", "session"}

// SensitiveHeader reports whether a header's name says its value is a credential (an API key in
// X-Api-Key, a session cookie …): such values are masked wherever headers are shown.
func SensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	if n == "idempotency-key" {
		return false // names the delivery, proves nothing
	}
	for _, w := range sensitiveWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Masked returns a copy safe to show: every secret replaced by Masked, header values that are
// credentials too, and any password in an AMQP URL.
func (s *Service) Masked() *Service {
	c := *s
	c.Headers = maps.Clone(s.Headers)
	for k, v := range c.Headers {
		if v != "" && SensitiveHeader(k) {
			c.Headers[k] = Masked
		}
	}
	mask := func(v *string) {
		if *v != "" {
			*v = Masked
		}
	}
	mask(&c.Auth.Token)
	mask(&c.Auth.Password)
	mask(&c.Auth.Value)
	mask(&c.SigningSecret)
	c.BaseURL = RedactURL(s.BaseURL)
	return &c
}

// KeepSecrets copies each secret from old that s leaves empty or masked, so that a form or an
// API client can write a service back without knowing its secrets. When s goes to another
// destination than old (scheme, host or port of base_url: for SOAP, the WSDL's host, which is
// where its operations are called), nothing is copied and a CodeSecretsRequired error names the
// secrets to type again: a token holder must not be able to point a service at a host of theirs
// and receive its stored credentials.
func (s *Service) KeepSecrets(old *Service) error {
	if err := s.serviceMoved(old); err != nil {
		return err
	}
	keep := func(v *string, o string) {
		if *v == "" || *v == Masked {
			*v = o
		}
	}
	if s.Auth.Type == old.Auth.Type {
		keep(&s.Auth.Token, old.Auth.Token)
		keep(&s.Auth.Password, old.Auth.Password)
		keep(&s.Auth.Value, old.Auth.Value)
	}
	keep(&s.SigningSecret, old.SigningSecret)
	for k, v := range s.Headers {
		if v == Masked {
			s.Headers[k] = old.Headers[k]
		}
	}
	if u, err := url.Parse(s.BaseURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p == Masked {
			if ou, err := url.Parse(old.BaseURL); err == nil && ou.User != nil {
				if op, ok := ou.User.Password(); ok {
					u.User = url.UserPassword(u.User.Username(), op)
					s.BaseURL = u.String()
				}
			}
		}
	}
	return nil
}

// RedactURL masks the password of a URL with user info (AMQP URLs carry credentials).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Masked)
		return strings.Replace(u.String(), url.QueryEscape(Masked), Masked, 1)
	}
	return raw
}

// Backoff is the delay before attempt n+1 after n failed attempts, before jitter:
// initial_backoff_s · 2^(n-1), capped at max_backoff_s.
func (s *Service) Backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := s.InitialBackoffS
	for i := 1; i < n && d < s.MaxBackoffS; i++ {
		d *= 2
	}
	return seconds(min(d, s.MaxBackoffS))
}

// MaxAge is how long a delivery may wait before it goes to the DLQ as expired.
func (s *Service) MaxAge() time.Duration { return seconds(s.MaxAgeH * 3600) }

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// String names the service for logs; it never includes secrets.
func (s *Service) String() string { return fmt.Sprintf("%s(%s)", s.Name, s.Type) }
