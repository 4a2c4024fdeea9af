package moodle

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeJSON(t *testing.T) {
	type item struct {
		ID      int64   `json:"id"`
		Visible bool    `json:"visible"`
		Name    string  `json:"name"`
		Grade   float64 `json:"grade"`
		Tags    []string
	}
	tests := []struct {
		name string
		body string
		want []item
	}{
		{"as documented", `[{"id":5,"visible":true,"name":"x","grade":1.5,"Tags":["a"]}]`,
			[]item{{ID: 5, Visible: true, Name: "x", Grade: 1.5, Tags: []string{"a"}}}},
		{"ids as strings", `[{"id":"5","visible":"1","name":12,"grade":"2.5"}]`,
			[]item{{ID: 5, Visible: true, Name: "12", Grade: 2.5}}},
		{"booleans as numbers", `[{"id":1,"visible":0},{"id":2,"visible":1}]`,
			[]item{{ID: 1}, {ID: 2, Visible: true}}},
		{"integral float id", `[{"id":7.0}]`, []item{{ID: 7}}},
		{"nulls", `[{"id":null,"visible":null,"name":null}]`, []item{{}}},
		{"list with gaps as an object", `{"2":{"id":3},"0":{"id":1},"10":{"id":11}}`, []item{{ID: 1}, {ID: 3}, {ID: 11}}},
		{"names match without regard to case", `[{"ID":"4","tags":["b"]}]`, []item{{ID: 4, Tags: []string{"b"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []item
			if err := decodeJSON([]byte(tc.body), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeJSON_Refused(t *testing.T) {
	type item struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	tests := []struct {
		name, body, want string
		out              any
	}{
		{"word for a number", `[{"id":"abc"}]`, "[0].id: cannot read a JSON string as int64", &[]item{}},
		{"fraction for an integer", `[{"id":1.5}]`, "[0].id: cannot read a JSON number", &[]item{}},
		{"object for a string", `[{"name":{"a":1}}]`, "[0].name: cannot read a JSON object as string", &[]item{}},
		{"scalar for a list", `"x"`, "answer: cannot read a JSON string as []moodle.User", &[]User{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeJSON([]byte(tc.body), tc.out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDecodeJSON_EmbeddedAndMaps(t *testing.T) {
	var got []EnrolledUser
	body := `[{"id":"3","username":"u","suspended":"0","roles":[{"roleid":"5","shortname":"student"}],"lastcourseaccess":"9"}]`
	if err := decodeJSON([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != 3 || got[0].Username != "u" || !got[0].HasRole(5) || got[0].LastCourseAccess != 9 {
		t.Errorf("got %+v", got)
	}
	var m map[string]json.Number
	if err := decodeJSON([]byte(`[]`), &m); err != nil || m != nil {
		t.Errorf("PHP's empty array into a map: %v %v", m, err)
	}
}
