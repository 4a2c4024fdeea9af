package store

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestEncodeHeadersIsJSONMarshal(t *testing.T) {
	many := map[string]string{}
	for i := range 40 {
		many[fmt.Sprintf("X-H%02d", 39-i)] = fmt.Sprint(i)
	}
	for name, h := range map[string]map[string]string{
		"typical": {"Content-Type": "application/json", "Idempotency-Key": "e1:3", "Authorization": "********",
			"User-Agent": "mih/dev", "Accept": "application/json"},
		"empty value":    {"X-Empty": ""},
		"more than 16":   many,
		"html":           {"Link": "<https://x>; rel=next", "X-Q": "a&b"},
		"quote, slash":   {"X-Q": `say "hi" \ bye`},
		"control":        {"X-C": "a\tb\x01"},
		"unicode":        {"X-U": "héllo \u2028"},
		"invalid utf-8":  {"X-Bad": "a\xffb"},
		"non-ASCII name": {"X-Ünï": "v"},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeHeaders(h)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("encodeHeaders = %s, want %s", got, want)
			}
		})
	}
	if got, err := encodeHeaders(nil); got != "" || err != nil {
		t.Errorf("encodeHeaders(nil) = %q, %v; want \"\", nil", got, err)
	}
}

func BenchmarkEncodeHeaders(b *testing.B) {
	h := map[string]string{"Content-Type": "application/json", "Idempotency-Key": "e1:3", "Authorization": "********",
		"User-Agent": "mih/dev", "Accept": "application/json"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeHeaders(h); err != nil {
			b.Fatal(err)
		}
	}
}
