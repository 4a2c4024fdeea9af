package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/mihhub/mih"
)

// serviceForm is the add/edit form of a service. V holds the value of every field that is not a
// secret, by field name; the field names are the JSON paths of docs/api.md, Services ("auth.type",
// "circuit.window_s"), so that an error of Service.Validate, which starts with the path, lands
// next to its field. Secret fields never carry a value: Stored says which secrets are kept, and
// an empty secret field keeps the stored one.
type serviceForm struct {
	New    bool
	Name   string // the service's name when editing
	Action string
	V      map[string]string
	Stored map[string]bool
	Errors map[string]string
	// Error is a fault no single field owns.
	Error string
	Test  *testOutcome
	// Circuit is the service's circuit state when editing.
	Circuit string
	// Moved: the form sends the service elsewhere and its secrets must be typed again.
	Moved bool
}

// The form's choices.
var (
	serviceTypes = []struct{ Value, Label string }{{"rest", "REST (HTTP + JSON)"}, {"soap", "SOAP"}, {"amqp", "AMQP (RabbitMQ)"}}
	authTypes    = []struct{ Value, Label string }{
		{mih.AuthNone, "None"},
		{mih.AuthBearer, "Bearer token (Authorization: Bearer …)"},
		{mih.AuthAPIKey, "API key (X-API-Key: …)"},
		{mih.AuthBasic, "Basic (user name and password)"},
		{mih.AuthHeader, "Custom header (name and value)"},
	}
)

// secretFields are the form's secret inputs.
var secretFields = []string{"auth.token", "auth.password", "auth.value", "signing_secret", "amqp.password"}

// fail records an error next to field, or for the whole form when field is "".
func (f *serviceForm) fail(field, format string, args ...any) {
	if field == "" {
		f.Error = fmt.Sprintf(format, args...)
		return
	}
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = fmt.Sprintf(format, args...)
	}
}

func num64(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// newServiceForm fills the form from a stored service (or the defaults of a new one).
func newServiceForm(s *mih.Service, isNew bool) *serviceForm {
	f := &serviceForm{New: isNew, Name: s.Name, V: map[string]string{}, Stored: map[string]bool{}}
	if isNew {
		f.Action = "/services"
	} else {
		f.Action = "/services/" + url.PathEscape(s.Name) + "/edit"
	}
	v := f.V
	v["name"] = s.Name
	v["type"] = string(s.Type)
	v["enabled"] = strconv.FormatBool(s.Enabled)
	v["auth.type"] = s.Auth.Type
	v["auth.username"] = s.Auth.Username
	v["auth.name"] = s.Auth.Name
	v["headers"] = headersText(s.Headers)
	v["timeout_s"] = num64(s.TimeoutS)
	v["max_retries"] = strconv.Itoa(s.MaxRetries)
	v["initial_backoff_s"] = num64(s.InitialBackoffS)
	v["max_backoff_s"] = num64(s.MaxBackoffS)
	v["max_age_h"] = num64(s.MaxAgeH)
	v["circuit.failure_threshold"] = strconv.Itoa(s.Circuit.FailureThreshold)
	v["circuit.window_s"] = num64(s.Circuit.WindowS)
	v["circuit.cooldown_s"] = num64(s.Circuit.CooldownS)
	f.Stored["auth.token"] = s.Auth.Token != ""
	f.Stored["auth.password"] = s.Auth.Password != ""
	f.Stored["auth.value"] = s.Auth.Value != ""
	f.Stored["signing_secret"] = s.SigningSecret != ""
	v["amqp.port"] = defaultAMQPPort(false)
	v["amqp.vhost"] = "/"
	if s.Type == mih.ServiceAMQP {
		p, err := splitAMQP(s.BaseURL)
		if err != nil {
			f.fail("base_url", "%s", err.Error())
		}
		v["amqp.tls"] = strconv.FormatBool(p.TLS)
		v["amqp.host"], v["amqp.port"], v["amqp.user"], v["amqp.vhost"] = p.Host, p.Port, p.User, p.VHost
		v["amqp.exchange"], v["amqp.routing_key"], v["amqp.queue_declare"], v["amqp.dlq"] = p.Exchange, p.RoutingKey, p.Queue, p.DLQ
		f.Stored["amqp.password"] = p.Password != ""
	} else {
		// A password in the URL is a secret like the others: the page shows its mask, and
		// Service.KeepSecrets puts the stored one back when the mask comes back.
		v["base_url"] = showURL(s.BaseURL)
	}
	return f
}

// headersText writes headers one per line as "Name: value", credentials masked.
func headersText(h map[string]string) string {
	var b strings.Builder
	for _, l := range showHeaders(h) {
		b.WriteString(l.Name + ": " + l.Value + "\n")
	}
	return b.String()
}

// parseServiceForm builds a service from a submitted form. old is the stored service when
// editing (nil when adding): its secrets stay where the form leaves them empty. The returned form
// holds what was typed (secrets excepted) and the errors by field; the service is nil when there
// are errors.
func parseServiceForm(r *http.Request, old *mih.Service) (*mih.Service, *serviceForm) {
	base := mih.NewService()
	if old != nil {
		base = old
	}
	f := newServiceForm(base, old == nil)
	f.Errors = nil // the stored URL's faults; the form's values replace it
	get := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	v := f.V
	for _, k := range []string{"name", "type", "auth.type", "auth.username", "auth.name", "base_url",
		"timeout_s", "max_retries", "initial_backoff_s", "max_backoff_s", "max_age_h",
		"circuit.failure_threshold", "circuit.window_s", "circuit.cooldown_s",
		"amqp.host", "amqp.port", "amqp.user", "amqp.vhost", "amqp.exchange", "amqp.routing_key", "amqp.queue_declare", "amqp.dlq"} {
		v[k] = get(k)
	}
	v["headers"] = r.PostFormValue("headers")
	v["enabled"] = strconv.FormatBool(r.PostFormValue("enabled") != "")
	v["amqp.tls"] = strconv.FormatBool(r.PostFormValue("amqp.tls") != "")
	v["remove_signing_secret"] = strconv.FormatBool(r.PostFormValue("remove_signing_secret") != "")
	if old != nil {
		v["name"] = old.Name // a service cannot be renamed
	}

	s := mih.NewService()
	s.Name = v["name"]
	s.Type = mih.ServiceType(v["type"])
	s.Enabled = v["enabled"] == "true"
	s.Auth = mih.Auth{Type: v["auth.type"], Username: v["auth.username"], Name: v["auth.name"],
		Token: r.PostFormValue("auth.token"), Password: r.PostFormValue("auth.password"), Value: r.PostFormValue("auth.value")}
	s.SigningSecret = strings.TrimSpace(r.PostFormValue("signing_secret"))
	floats := []struct {
		field string
		dst   *float64
	}{
		{"timeout_s", &s.TimeoutS}, {"initial_backoff_s", &s.InitialBackoffS}, {"max_backoff_s", &s.MaxBackoffS},
		{"max_age_h", &s.MaxAgeH}, {"circuit.window_s", &s.Circuit.WindowS}, {"circuit.cooldown_s", &s.Circuit.CooldownS},
	}
	for _, fl := range floats {
		n, err := strconv.ParseFloat(v[fl.field], 64)
		if err != nil {
			f.fail(fl.field, "want a number of %s", unitOf(fl.field))
			continue
		}
		*fl.dst = n
	}
	ints := []struct {
		field string
		dst   *int
	}{{"max_retries", &s.MaxRetries}, {"circuit.failure_threshold", &s.Circuit.FailureThreshold}}
	for _, in := range ints {
		n, err := strconv.Atoi(v[in.field])
		if err != nil {
			f.fail(in.field, "want a whole number")
			continue
		}
		*in.dst = n
	}
	headers, err := parseHeaders(v["headers"], base.Headers)
	if err != nil {
		f.fail("headers", "%s", err.Error())
	}
	s.Headers = headers
	// Shown again, the headers are masked like stored ones: a typed credential never goes back
	// into the page.
	v["headers"] = maskHeaderLines(v["headers"])

	if s.Type == mih.ServiceAMQP {
		p := amqpParts{TLS: v["amqp.tls"] == "true", Host: v["amqp.host"], Port: v["amqp.port"], User: v["amqp.user"],
			Password: r.PostFormValue("amqp.password"), VHost: v["amqp.vhost"], Exchange: v["amqp.exchange"],
			RoutingKey: v["amqp.routing_key"], Queue: v["amqp.queue_declare"], DLQ: v["amqp.dlq"]}
		if p.Password == "" && p.User != "" && f.Stored["amqp.password"] {
			// Service.KeepSecrets puts the stored password back in place of the mask.
			p.Password = mih.Masked
		}
		u, err := p.url()
		if err != nil {
			field, msg, _ := strings.Cut(err.Error(), ": ")
			f.fail("amqp."+strings.Fields(field)[0], "%s", msg)
		}
		s.BaseURL = u
		// The builder's credentials are in the URL; auth fields are for REST and SOAP.
		s.Auth = mih.Auth{Type: mih.AuthNone}
	} else {
		s.BaseURL = v["base_url"]
		v["base_url"] = showURL(v["base_url"])
	}
	if old != nil {
		if err := s.KeepSecrets(old); err != nil {
			f.Moved = true
			field := "base_url"
			if s.Type == mih.ServiceAMQP {
				field = "amqp.host"
			}
			f.fail(field, "%s", mih.ErrorMessage(err))
		}
		s.CreatedAt = old.CreatedAt
	} else {
		for _, k := range secretFields {
			if strings.Contains(r.PostFormValue(k), mih.Masked) {
				f.fail(k, "%s is the mask of a secret; type the secret itself", mih.Masked)
			}
		}
	}
	if v["remove_signing_secret"] == "true" {
		s.SigningSecret = ""
	}
	if len(f.Errors) > 0 {
		return nil, f
	}
	if err := s.Validate(); err != nil {
		f.fail(fieldOf(mih.ErrorMessage(err), serviceFields, s.Type), "%s", mih.ErrorMessage(err))
		return nil, f
	}
	return s, f
}

func unitOf(field string) string {
	if strings.HasSuffix(field, "_h") {
		return "hours"
	}
	return "seconds"
}

// parseHeaders reads "Name: value" lines. A masked value keeps the value stored under that name.
func parseHeaders(text string, stored map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: want Name: value", i+1)
		}
		if value == mih.Masked {
			// The mask stays, under the stored name: Service.KeepSecrets puts the stored value
			// back, unless the service moves to another host.
			key, ok := storedHeaderName(stored, name)
			if !ok {
				return nil, fmt.Errorf("line %d: %s is the mask of a stored value, but no %s header is stored; type the value itself", i+1, mih.Masked, name)
			}
			name = key
		}
		out[name] = value
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// maskHeaderLines masks the values of credential headers in "Name: value" lines as typed.
func maskHeaderLines(text string) string {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		if ok && sensitiveHeader(strings.TrimSpace(name)) && strings.TrimSpace(value) != "" {
			lines[i] = strings.TrimSpace(name) + ": " + mih.Masked
		}
	}
	return strings.Join(lines, "\n")
}

// storedHeaderName returns the name under which a header is stored, found without regard to case.
func storedHeaderName(h map[string]string, name string) (string, bool) {
	for k := range h {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// serviceFields are the form fields an error message may start with.
var serviceFields = []string{"name", "type", "base_url", "auth.type", "auth.token", "auth.username",
	"auth.password", "auth.name", "auth.value", "headers", "signing_secret", "timeout_s", "max_retries",
	"initial_backoff_s", "max_backoff_s", "max_age_h", "circuit.failure_threshold", "circuit.window_s",
	"circuit.cooldown_s"}

// fieldOf names the form field an error message is about: messages of the domain's Validate
// methods start with the field's JSON path ("auth.token: required …", "timeout_s must be …").
// An AMQP service's base_url is its connection builder. "" when no field owns the message.
func fieldOf(msg string, fields []string, typ mih.ServiceType) string {
	head := msg
	if i := strings.IndexAny(msg, " :"); i >= 0 {
		head = msg[:i]
	}
	for _, f := range fields {
		if head == f {
			if f == "base_url" && typ == mih.ServiceAMQP {
				return "amqp.host"
			}
			return f
		}
	}
	return ""
}
