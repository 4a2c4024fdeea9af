// Package redact removes a service's or a site's own secrets from text that comes from outside
// or is built from outside answers: response bodies (a receiver that echoes the request's
// headers is common), SOAP faults, broker errors, error messages. The hub redacts such text
// before it stores, logs or shows it, so that a secret is never in the data folder or on a page
// in clear, whoever sent it back.
//
// A Secrets knows each secret in the forms it may come back in: as is, base64 (HTTP basic
// auth), URL-escaped (a password in a URL), JSON-escaped (a body that quotes it), without its
// whsec_ prefix (a signing key). Secrets shorter than MinLen are not redacted: replacing every
// "ab" of a page would make it unreadable and tell the reader the secret anyway.
package redact

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/mihhub/mih"
)

// MinLen is the shortest secret that is redacted.
const MinLen = 4

// Secrets is a list of secret strings, longest first so that a secret containing another is
// replaced whole. The zero value redacts nothing.
type Secrets []string

// Service lists the secrets of a service: bearer or API-key token, password (and the basic
// credentials' base64), the value of a custom auth header, header values whose names say they
// are credentials, the signing secret, and the password of its URL (an AMQP URL carries one).
func Service(s *mih.Service) Secrets {
	if s == nil {
		return nil
	}
	var r Secrets
	r.add(s.Auth.Token)
	r.add(s.Auth.Password)
	r.add(s.Auth.Value)
	if s.Auth.Password != "" {
		r.add(base64.StdEncoding.EncodeToString([]byte(s.Auth.Username + ":" + s.Auth.Password)))
	}
	r.addSigning(s.SigningSecret)
	r.addURL(s.BaseURL)
	for k, v := range s.Headers {
		if mih.SensitiveHeader(k) {
			r.add(v)
		}
	}
	return r.sorted()
}

// Site lists the secrets of a Moodle site: the Web Services token, the plugin secret and the
// database password.
func Site(s *mih.Site) Secrets {
	if s == nil {
		return nil
	}
	var r Secrets
	r.add(s.Token)
	r.addSigning(s.PluginSecret)
	r.addURL(s.DB)
	r.addURL(s.URL)
	return r.sorted()
}

// Join merges lists.
func Join(lists ...Secrets) Secrets {
	var r Secrets
	for _, l := range lists {
		r = append(r, l...)
	}
	return r.sorted()
}

func (r *Secrets) add(v string) {
	if len(v) < MinLen || v == mih.Masked {
		return
	}
	*r = append(*r, v)
	if b, err := json.Marshal(v); err == nil {
		if q := string(b[1 : len(b)-1]); q != v {
			*r = append(*r, q)
		}
		// PHP's json_encode escapes slashes; Moodle answers are PHP.
		if q := strings.ReplaceAll(string(b[1:len(b)-1]), "/", `\/`); q != v {
			*r = append(*r, q)
		}
	}
	for _, e := range []string{url.QueryEscape(v), url.PathEscape(v)} {
		if e != v {
			*r = append(*r, e)
		}
	}
}

func (r *Secrets) addSigning(v string) {
	r.add(v)
	if k, ok := strings.CutPrefix(v, "whsec_"); ok {
		r.add(k)
	}
}

func (r *Secrets) addURL(raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return
	}
	if p, ok := u.User.Password(); ok {
		r.add(p)
		r.add(base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + p)))
	}
	for k, vs := range u.Query() {
		if strings.Contains(strings.ToLower(k), "password") {
			for _, v := range vs {
				r.add(v)
			}
		}
	}
}

func (r Secrets) sorted() Secrets {
	slices.SortFunc(r, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	return slices.Compact(r)
}

// String masks every known secret in s.
func (r Secrets) String(s string) string {
	for _, v := range r {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, mih.Masked)
		}
	}
	return s
}

// Bytes masks every known secret in b. b is not changed; the result may share its memory when
// nothing needed masking.
func (r Secrets) Bytes(b []byte) []byte {
	for _, v := range r {
		if bytes.Contains(b, []byte(v)) {
			b = bytes.ReplaceAll(b, []byte(v), []byte(mih.Masked))
		}
	}
	return b
}

// Map masks every known secret in the values of m, in place.
func (r Secrets) Map(m map[string]string) {
	for k, v := range m {
		m[k] = r.String(v)
	}
}

// Headers masks every known secret in the values of h, in place.
func (r Secrets) Headers(h map[string][]string) {
	for _, vs := range h {
		for i, v := range vs {
			vs[i] = r.String(v)
		}
	}
}

// Response masks every known secret in what a service answered: body, headers, the request's
// headers and URL as recorded. resp is changed in place.
func (r Secrets) Response(resp *mih.Response) {
	if resp == nil || len(r) == 0 {
		return
	}
	resp.Body = r.Bytes(resp.Body)
	resp.URL = r.String(resp.URL)
	r.Headers(resp.Headers)
	r.Map(resp.RequestHeaders)
}

// Error returns err with every known secret masked in its text: a *mih.SendError keeps its
// type, code and retry advice with its Message masked; any other error whose text holds a
// secret is wrapped so that its Error() is masked while errors.Is and errors.As still see it.
func (r Secrets) Error(err error) error {
	if err == nil || len(r) == 0 {
		return err
	}
	if se, ok := errors.AsType[*mih.SendError](err); ok && se == err {
		c := *se
		c.Message = r.String(se.Message)
		c.Err = r.Error(se.Err)
		return &c
	}
	if me, ok := errors.AsType[*mih.Error](err); ok && me == err {
		c := *me
		c.Message = r.String(me.Message)
		c.Err = r.Error(me.Err)
		return &c
	}
	if msg := err.Error(); r.String(msg) != msg {
		return &masked{msg: r.String(msg), err: err}
	}
	return err
}

type masked struct {
	msg string
	err error
}

func (m *masked) Error() string { return m.msg }
func (m *masked) Unwrap() error { return m.err }

// Password removes password from text, as is and URL-escaped (how it sits in a database URL),
// replacing it with "xxxxx": what a database driver's error says, which may quote the URL. A
// password shorter than MinLen is left alone, like every secret here.
func Password(text, password string) string {
	if len(password) < MinLen {
		return text
	}
	for _, p := range []string{password, url.QueryEscape(password), url.PathEscape(password)} {
		text = strings.ReplaceAll(text, p, "xxxxx")
	}
	return text
}
