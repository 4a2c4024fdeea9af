package moodletest_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mihhub/mih/moodle/moodletest"
)

func TestParseForm(t *testing.T) {
	deep := "a" + strings.Repeat("[x]", 65) + "=1&b=2"
	tests := []struct {
		name    string
		body    string
		max     int
		want    map[string]any
		dropped int
	}{
		{name: "plain", body: "a=1&b=two", want: map[string]any{"a": "1", "b": "two"}},
		{name: "list", body: "values%5B0%5D=x&values%5B1%5D=y", want: map[string]any{"values": map[string]any{"0": "x", "1": "y"}}},
		{name: "raw brackets", body: "values[0]=x&values[1]=y", want: map[string]any{"values": map[string]any{"0": "x", "1": "y"}}},
		{name: "append", body: "v[]=x&v[]=y", want: map[string]any{"v": map[string]any{"0": "x", "1": "y"}}},
		{name: "append after index", body: "v[5]=x&v[]=y", want: map[string]any{"v": map[string]any{"5": "x", "6": "y"}}},
		{name: "nested", body: "c[0][fullname]=A&c[0][shortname]=B&c[1][fullname]=C",
			want: map[string]any{"c": map[string]any{"0": map[string]any{"fullname": "A", "shortname": "B"}, "1": map[string]any{"fullname": "C"}}}},
		{name: "scalar replaced by array", body: "a=1&a[b]=2", want: map[string]any{"a": map[string]any{"b": "2"}}},
		{name: "array replaced by scalar", body: "a[b]=2&a=1", want: map[string]any{"a": "1"}},
		{name: "last wins", body: "a=1&a=2", want: map[string]any{"a": "2"}},
		{name: "dots and spaces in a name", body: "a.b=1&c+d=2&+e=3", want: map[string]any{"a_b": "1", "c_d": "2", "e": "3"}},
		{name: "nested keys keep dots", body: "a[b.c]=1", want: map[string]any{"a": map[string]any{"b.c": "1"}}},
		{name: "unclosed bracket at top", body: "a[b=1", want: map[string]any{"a_b": "1"}},
		{name: "unclosed bracket deeper", body: "a[x][y=1", want: map[string]any{"a": map[string]any{"x": "1"}}},
		{name: "junk after bracket", body: "a[x]junk=1", want: map[string]any{"a": map[string]any{"x": "1"}}},
		{name: "decoding", body: "a=x+y%26z%3D%zz%", want: map[string]any{"a": "x y&z=%zz%"}},
		{name: "no value", body: "a&b=", want: map[string]any{"a": "", "b": ""}},
		{name: "empty name skipped", body: "=x&&b=1", want: map[string]any{"b": "1"}},
		{name: "NUL cuts a name", body: "a%00b=1", want: map[string]any{"a": "1"}},
		{name: "max_input_vars", body: "a=1&b=2&c=3&d=4", max: 2, want: map[string]any{"a": "1", "b": "2"}, dropped: 2},
		{name: "no limit", body: "a=1&b=2&c=3", max: -1, want: map[string]any{"a": "1", "b": "2", "c": "3"}},
		{name: "too deep", body: deep, want: map[string]any{"b": "2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, dropped := moodletest.ParseForm(tc.body, tc.max)
			if !reflect.DeepEqual(got.Generic(), tc.want) {
				t.Errorf("got %#v, want %#v", got.Generic(), tc.want)
			}
			if dropped != tc.dropped {
				t.Errorf("dropped %d, want %d", dropped, tc.dropped)
			}
		})
	}
}

func TestParseForm_KeepsInsertionOrder(t *testing.T) {
	// PHP iterates an array in insertion order, whatever its keys: Moodle validates list
	// items in the order they were sent.
	got, _ := moodletest.ParseForm("v[1]=b&v[0]=a&v[x]=c", -1)
	keys := got.Get("v").Arr.Keys()
	if !slices.Equal(keys, []string{"1", "0", "x"}) {
		t.Errorf("keys %v, want [1 0 x]", keys)
	}
}

func FuzzParseForm(f *testing.F) {
	f.Add("a[b][]=1&a[b][]=2&c.d=3")
	f.Add("a[x][y=1&%5B%5D=&a=1&a[b]=2")
	f.Fuzz(func(t *testing.T, body string) {
		vars, _ := moodletest.ParseForm(body, 50)
		vars.Generic() // must not panic, and every key must be readable back
		for _, k := range vars.Keys() {
			if vars.Get(k) == nil {
				t.Fatalf("key %q listed but missing", k)
			}
		}
	})
}
