package moodle_test

import (
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih/moodle"
)

type level string

func (l level) MarshalText() ([]byte, error) { return []byte("L-" + string(l)), nil }

type base struct {
	ID int64 `moodle:"id"`
}

type course struct {
	base
	FullName  string    `moodle:"fullname"`
	ShortName string    `json:"shortname"`
	Category  int       // no tag: lower-cased name
	IDNumber  string    `moodle:"idnumber,omitempty"`
	Visible   *bool     `moodle:"visible,omitempty"`
	Start     time.Time `moodle:"startdate"`
	Skip      string    `moodle:"-"`
	hidden    string
}

func TestEncodeParams(t *testing.T) {
	yes, no := true, false
	zero := int64(0)
	tests := []struct {
		name   string
		params any
		want   string // decoded, "&"-joined, for readability
	}{
		{name: "nil", params: nil, want: ""},
		{name: "nil map", params: map[string]any(nil), want: ""},
		{name: "flat map sorted", params: map[string]any{"value": "x", "field": "id"}, want: "field=id&value=x"},
		{name: "list of strings", params: map[string]any{"field": "username", "values": []string{"jdoe", "asmith"}},
			want: "field=username&values[0]=jdoe&values[1]=asmith"},
		{name: "nested structs", params: map[string]any{"courses": []course{
			{base: base{ID: 7}, FullName: "Physics", ShortName: "PHY", Category: 1, Visible: &no, Start: time.Unix(1700000000, 0), Skip: "x", hidden: "y"},
			{FullName: "Maths", ShortName: "MAT", Category: 2, IDNumber: "M1", Visible: &yes},
		}}, want: "courses[0][id]=7&courses[0][fullname]=Physics&courses[0][shortname]=PHY&courses[0][category]=1&courses[0][visible]=0&courses[0][startdate]=1700000000" +
			"&courses[1][id]=0&courses[1][fullname]=Maths&courses[1][shortname]=MAT&courses[1][category]=2&courses[1][idnumber]=M1&courses[1][visible]=1&courses[1][startdate]=0"},
		{name: "slice of maps", params: map[string]any{"options": []map[string]string{{"name": "onlyactive", "value": "1"}, {"value": "id", "name": "sortby"}}},
			want: "options[0][name]=onlyactive&options[0][value]=1&options[1][name]=sortby&options[1][value]=id"},
		{name: "booleans", params: map[string]bool{"a": true, "b": false}, want: "a=1&b=0"},
		{name: "empty slice sends nothing", params: map[string]any{"values": []string{}, "field": "id"}, want: "field=id"},
		{name: "nil pointer sends nothing, zero pointer sends zero", params: map[string]any{"a": (*int64)(nil), "b": &zero}, want: "b=0"},
		{name: "numbers", params: map[string]any{"f": 1.5, "g": float32(0.25), "i": -3, "u": uint8(7), "n": json.Number("12")},
			want: "f=1.5&g=0.25&i=-3&n=12&u=7"},
		{name: "enrolment update without dates keeps them", params: map[string]any{"enrolments": []moodle.EnrolmentUpdate{
			{CourseID: 3, UserID: 4, Suspend: true}, {CourseID: 3, UserID: 5, TimeStart: &zero, TimeEnd: &zero}}},
			want: "enrolments[0][courseid]=3&enrolments[0][userid]=4&enrolments[0][suspend]=1" +
				"&enrolments[1][courseid]=3&enrolments[1][userid]=5&enrolments[1][suspend]=0&enrolments[1][timestart]=0&enrolments[1][timeend]=0"},
		{name: "text marshaler", params: map[string]any{"l": level("x")}, want: "l=L-x"},
		{name: "integer map keys in numeric order", params: map[string]any{"v": map[int]string{10: "b", 2: "a"}}, want: "v[2]=a&v[10]=b"},
		{name: "special characters in values", params: map[string]string{"s": "a&b=c+d e%/ü[0]\n"}, want: "s=a&b=c+d e%/ü[0]\n"},
		{name: "byte slice is a string", params: map[string]any{"b": []byte("raw")}, want: "b=raw"},
		{name: "pointer to struct", params: &struct {
			Courseid int64 `moodle:"courseid"`
		}{5}, want: "courseid=5"},
		{name: "embedded pointer, nil", params: struct {
			*base
			X int `moodle:"x"`
		}{X: 1}, want: "x=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := moodle.EncodeParams(tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if decoded := decodePairs(t, got); decoded != tc.want {
				t.Errorf("got  %q\nwant %q", decoded, tc.want)
			}
		})
	}
}

// decodePairs undoes the URL encoding pair by pair, keeping the order.
func decodePairs(t *testing.T, s string) string {
	t.Helper()
	if s == "" {
		return ""
	}
	var out []string
	for pair := range strings.SplitSeq(s, "&") {
		k, v, _ := strings.Cut(pair, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad encoding in %q", pair)
		}
		out = append(out, dk+"="+dv)
	}
	return strings.Join(out, "&")
}

func TestEncodeParams_Escaping(t *testing.T) {
	got, err := moodle.EncodeParams(map[string]any{"values": []string{"a b&c=d+e"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "values%5B0%5D=a+b%26c%3Dd%2Be"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestEncodeParams_Refused(t *testing.T) {
	tests := []struct {
		name   string
		params any
		want   string
	}{
		{"top-level list", []string{"a"}, "must be a struct or a map"},
		{"top-level scalar", "x", "must be a struct or a map"},
		{"top-level time", time.Now(), "must be a struct or a map"},
		{"bracket in a key", map[string]any{"a": map[string]string{"b[0]": "x"}}, "brackets"},
		{"NUL in a key", map[string]string{"a\x00": "x"}, "NUL"},
		{"empty key", map[string]any{"a": map[string]string{"": "x"}}, "empty key"},
		{"dot in a top-level name", map[string]string{"a.b": "x"}, "not allowed"},
		{"the token's name", map[string]string{"wstoken": "x"}, "not allowed"},
		{"a setting's name", map[string]string{"moodlewssettingfilter": "true"}, "not allowed"},
		{"NaN", map[string]float64{"f": math.NaN()}, "cannot be sent"},
		{"channel", map[string]any{"c": make(chan int)}, "cannot send"},
		{"float map keys", map[string]any{"m": map[float64]string{1: "x"}}, "map keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := moodle.EncodeParams(tc.params)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
