package moodle_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
)

// gen builds parameters from fuzz bytes: maps, lists, strings, integers and booleans, up to
// four levels deep.
type gen struct{ b []byte }

func (g *gen) byte() byte {
	if len(g.b) == 0 {
		return 0
	}
	c := g.b[0]
	g.b = g.b[1:]
	return c
}

func (g *gen) str() string {
	n := int(g.byte() % 8)
	n = min(n, len(g.b))
	s := string(g.b[:n])
	g.b = g.b[n:]
	return s
}

func (g *gen) value(depth int) any {
	op := g.byte() % 5
	if depth >= 4 && op >= 3 {
		op = 0
	}
	switch op {
	case 0:
		return g.str()
	case 1:
		return int64(int8(g.byte())) * 1000
	case 2:
		return g.byte()%2 == 0
	case 3:
		l := make([]any, g.byte()%4)
		for i := range l {
			l[i] = g.value(depth + 1)
		}
		return l
	default:
		return g.object(depth + 1)
	}
}

func (g *gen) object(depth int) map[string]any {
	m := map[string]any{}
	for range g.byte() % 4 {
		m[g.str()] = g.value(depth)
	}
	return m
}

// expected is what PHP should decode from v: lists as arrays keyed "0", "1", …, scalars as
// text, and empty lists and maps gone, since a form cannot carry them.
func expected(v any) (any, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case bool:
		if v {
			return "1", true
		}
		return "0", true
	case []any:
		m := map[string]any{}
		for i, x := range v {
			if e, ok := expected(x); ok {
				m[strconv.Itoa(i)] = e
			}
		}
		return m, len(m) > 0
	case map[string]any:
		m := map[string]any{}
		for k, x := range v {
			if e, ok := expected(x); ok {
				m[k] = e
			}
		}
		return m, len(m) > 0
	}
	panic("unexpected type")
}

// encodable reports whether every key is one EncodeParams accepts.
func encodable(v any, top bool) bool {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			if !encodable(x, false) {
				return false
			}
		}
	case map[string]any:
		for k, x := range v {
			if k == "" || strings.ContainsAny(k, "[]\x00") {
				return false
			}
			if top && (strings.ContainsAny(k, " .") || k == "wstoken" || k == "wsfunction" || k == "moodlewsrestformat" ||
				k == "wsusername" || k == "wspassword" || strings.HasPrefix(k, "moodlewssetting")) {
				return false
			}
			if !encodable(x, false) {
				return false
			}
		}
	}
	return true
}

// FuzzEncodeRoundTrip checks that what the client encodes is what PHP (as moodletest decodes
// it, following php_register_variable_ex) reads back.
func FuzzEncodeRoundTrip(f *testing.F) {
	f.Add([]byte("\x02\x01a\x03\x02\x00\x03x y\x00\x02&="))
	f.Add([]byte("\x03\x06values\x03\x03\x00\x04jdoe\x00\x05A+B%C"))
	f.Add([]byte("\x01\x07courses\x04\x01\x00\x08fullname\x00\x05Été/1"))
	f.Add([]byte("\x01\x01a\x04\x01\x03b[0]\x00\x01x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{b: data}
		params := g.object(0)
		body, err := moodle.EncodeParams(params)
		if !encodable(params, true) {
			if err == nil {
				t.Fatalf("encoded %#v with a key PHP cannot read: %q", params, body)
			}
			return
		}
		if err != nil {
			t.Fatalf("encode %#v: %v", params, err)
		}
		got, dropped := moodletest.ParseForm(body, -1)
		want, ok := expected(params)
		if !ok {
			want = map[string]any{}
		}
		if dropped != 0 || !reflect.DeepEqual(got.Generic(), want) {
			t.Fatalf("params %#v\nbody %q\ngot  %#v\nwant %#v", params, body, got.Generic(), want)
		}
	})
}
