package web

import (
	"net/url"
	"time"
)

// sinceChoices are the periods the events and logs pages filter by.
var sinceChoices = []struct {
	Value, Label string
	D            time.Duration
}{
	{"1h", "Last hour", time.Hour},
	{"24h", "Last 24 hours", 24 * time.Hour},
	{"7d", "Last 7 days", 7 * 24 * time.Hour},
	{"", "Any time", 0},
}

// since reads a period choice as a cut-off time; zero for "any time" or an unknown value.
func (h *Handler) since(v string) time.Time {
	for _, c := range sinceChoices {
		if c.Value == v && c.D > 0 {
			return h.now().UTC().Add(-c.D)
		}
	}
	return time.Time{}
}

// nextPage is the link to the page after this one: the query with the cursor replaced.
func nextPage(path string, q url.Values, cursor string) string {
	if cursor == "" {
		return ""
	}
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	v.Set("cursor", cursor)
	return path + "?" + v.Encode()
}
