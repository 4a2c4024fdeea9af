package mih

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzJSONLimits: CheckJSONDepth agrees with a real decoder on valid JSON, and PrettyJSON stays
// within its bound whatever it is given.
func FuzzJSONLimits(f *testing.F) {
	for _, s := range []string{`{}`, `[[["a\"]"]]]`, `{"a":{"b":[1,{"c":"\\\\"}]}}`, `[[[[[[[[`, `"\"["`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if json.Valid(b) {
			var v any
			d := json.NewDecoder(bytes.NewReader(b))
			deep := d.Decode(&v) != nil // encoding/json refuses past 10,000 levels
			if got := depthOf(v); !deep && (CheckJSONDepth(b, 3) == nil) != (got <= 3) {
				t.Fatalf("depth %d, CheckJSONDepth(3) = %v", got, CheckJSONDepth(b, 3))
			}
		}
		if out := PrettyJSON(b); len(out) > prettyMaxBytes+100 {
			t.Fatalf("PrettyJSON gave %d bytes", len(out))
		}
	})
}

func depthOf(v any) int {
	d := 0
	switch t := v.(type) {
	case []any:
		for _, x := range t {
			d = max(d, depthOf(x))
		}
		return d + 1
	case map[string]any:
		for _, x := range t {
			d = max(d, depthOf(x))
		}
		return d + 1
	}
	return 0
}
