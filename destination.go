package mih

import (
	"net"
	"net/url"
	"sort"
	"strings"
)

// CodeSecretsRequired refuses a change that would send stored secrets to a new destination:
// the secrets must be typed again (HTTP 422).
const CodeSecretsRequired Code = "secrets_required"

// Destination is where a URL sends what it carries: scheme, host and port (the default port of
// the scheme when none is given), lower case; "" when raw is not an absolute URL. Two URLs with
// the same destination reach the same server whatever their paths.
func Destination(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return ""
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = defaultPorts[scheme]
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

var defaultPorts = map[string]string{
	"http": "80", "https": "443", "amqp": "5672", "amqps": "5671", "postgres": "5432", "postgresql": "5432", "mysql": "3306",
}

// movedError names the secrets that would follow a change of destination.
func movedError(field, from, to string, secrets []string) error {
	sort.Strings(secrets)
	return Errorf(CodeSecretsRequired, "%s moves from %s to %s: stored secrets are not sent to a new destination, type them again: %s",
		field, orNone(from), orNone(to), strings.Join(secrets, ", "))
}

func orNone(d string) string {
	if d == "" {
		return "(none)"
	}
	return d
}

// kept reports whether a secret field as sent keeps the stored value: empty or the mask, while
// a value is stored.
func kept(sent, stored string) bool { return (sent == "" || sent == Masked) && stored != "" }

// urlPasswordKept reports whether raw carries the mask as its password while old has one.
func urlPasswordKept(raw, old string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return false
	}
	p, ok := u.User.Password()
	if !ok || p != Masked {
		return false
	}
	ou, err := url.Parse(old)
	if err != nil || ou.User == nil {
		return false
	}
	_, has := ou.User.Password()
	return has
}

// serviceMoved lists the secrets s would keep from old although its destination changed.
func (s *Service) serviceMoved(old *Service) error {
	from, to := Destination(old.BaseURL), Destination(s.BaseURL)
	if from == to {
		return nil
	}
	var names []string
	if s.Auth.Type == old.Auth.Type {
		for _, f := range []struct {
			name, sent, stored string
		}{{"auth.token", s.Auth.Token, old.Auth.Token}, {"auth.password", s.Auth.Password, old.Auth.Password}, {"auth.value", s.Auth.Value, old.Auth.Value}} {
			if kept(f.sent, f.stored) {
				names = append(names, f.name)
			}
		}
	}
	if kept(s.SigningSecret, old.SigningSecret) {
		names = append(names, "signing_secret")
	}
	for k, v := range s.Headers {
		if v == Masked && old.Headers[k] != "" {
			names = append(names, "headers."+k)
		}
	}
	if urlPasswordKept(s.BaseURL, old.BaseURL) {
		names = append(names, "base_url (its password)")
	}
	if len(names) == 0 {
		return nil
	}
	return movedError("base_url", from, to, names)
}

// siteMoved lists the secrets s would keep from old although they would go elsewhere: the Web
// Services token goes to the site's url, the database password to the database's host.
func (s *Site) siteMoved(old *Site) error {
	var names []string
	var field, from, to string
	if f, t := Destination(old.URL), Destination(s.URL); f != t && kept(s.Token, old.Token) {
		names, field, from, to = append(names, "token"), "url", f, t
	}
	if s.DB != "" && s.DB != Masked {
		if f, t := Destination(old.DB), Destination(s.DB); f != t && urlPasswordKept(s.DB, old.DB) {
			names = append(names, "db (its password)")
			if field == "" {
				field, from, to = "db", f, t
			} else {
				field += " and db"
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	return movedError(field, from, to, names)
}

// SiteSecretsMoved is the check of Site.KeepSecrets for callers that merge secrets their own way
// (the UI's form): s as sent (a kept secret empty or masked, a kept database password masked in
// its URL) against the stored old.
func SiteSecretsMoved(s, old *Site) error { return s.siteMoved(old) }
