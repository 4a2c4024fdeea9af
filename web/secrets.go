package web

import (
	"cmp"
	"slices"
	"strings"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/redact"
)

// Secrets never reach a page: forms show that a secret is stored, never its value; header
// values whose names say they are credentials are masked; and text that comes from outside (a
// response body, an error from a broker) passes through a redactor that knows the service's
// secrets, so that an echo service cannot reflect a token into the UI.

// sensitiveHeader reports whether a header's value should be masked.
func sensitiveHeader(name string) bool { return mih.SensitiveHeader(name) }

// headerLine is one header as a page shows it.
type headerLine struct {
	Name, Value string
}

// showHeaders returns headers sorted by name, credential values masked.
func showHeaders(h map[string]string) []headerLine {
	out := make([]headerLine, 0, len(h))
	for k, v := range h {
		if sensitiveHeader(k) && v != "" {
			v = mih.Masked
		}
		out = append(out, headerLine{k, v})
	}
	slices.SortFunc(out, func(a, b headerLine) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// redactor replaces known secret values in text.
type redactor []string

// secretsOf lists a service's secrets in the forms they may appear in elsewhere.
func secretsOf(s *mih.Service) redactor { return redactor(redact.Service(s)) }

// apply masks every known secret in text.
func (rd redactor) apply(text string) string {
	for _, s := range rd {
		text = strings.ReplaceAll(text, s, mih.Masked)
	}
	return text
}
