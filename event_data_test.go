package mih

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// dataByJSON is what Data promises to equal: the event's JSON decoded with UseNumber.
func dataByJSON(e *Event) (map[string]any, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	err = d.Decode(&m)
	return m, err
}

func TestEventDataMatchesJSON(t *testing.T) {
	table, obj, related, real := "user", int64(7), int64(-3), int64(1<<40)
	full := Event{ID: "e1", Site: "main", EventName: `\core\event\user_created`, Component: "core", Action: "created",
		Target: "user", ObjectTable: &table, ObjectID: &obj, CRUD: "c", EduLevel: 0, ContextID: 1, ContextLevel: 10,
		ContextInstanceID: 0, UserID: 2, CourseID: 3, RelatedUserID: &related, Anonymous: 1,
		Other: json.RawMessage(` {"a": [1, 2.50, "x", null, true], "b": {"c": 1e3}} `), TimeCreated: 1767000000,
		IP: "10.0.0.1", Origin: "web", RealUserID: &real, ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)}
	for name, e := range map[string]Event{
		"full":             full,
		"empty":            {},
		"other null":       {ID: "x", Other: json.RawMessage(`null`)},
		"other string":     {ID: "x", Other: json.RawMessage(`"s\u00e9<&>"`)},
		"invalid utf-8":    {ID: "a\xffb\xfe\xfd", EventName: "ok", Other: json.RawMessage("[\"\xff\"]")},
		"html characters":  {ID: "<script>&", Target: "\u2028"},
		"local time zone":  {ID: "x", ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))},
		"negative numbers": {ID: "x", UserID: -1, CourseID: -9223372036854775808},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := dataByJSON(&e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Data()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Data() =\n%#v\nwant\n%#v", got, want)
			}
		})
	}
	for name, other := range map[string]string{"not JSON": `{"a":`, "two values": `1 2`, "garbage after": `{} x`} {
		t.Run(name, func(t *testing.T) {
			e := Event{ID: "x", Other: json.RawMessage(other)}
			if _, err := dataByJSON(&e); err == nil {
				t.Fatal("the reference accepted it")
			}
			if _, err := e.Data(); err == nil {
				t.Error("Data accepted other that is not one JSON value")
			}
		})
	}
}

func BenchmarkEventData(b *testing.B) {
	related := int64(5)
	e := Event{ID: "bench-1", EventName: `\local_bench\event\x`, Component: "local_bench", Action: "created",
		Target: "thing", CRUD: "c", ContextID: 1, ContextLevel: 10, UserID: 2, RelatedUserID: &related,
		Other: json.RawMessage(`{"n":1}`), TimeCreated: 1767000000, ReceivedAt: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Data(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEventDataByJSON(b *testing.B) {
	related := int64(5)
	e := Event{ID: "bench-1", EventName: `\local_bench\event\x`, Component: "local_bench", Action: "created",
		Target: "thing", CRUD: "c", ContextID: 1, ContextLevel: 10, UserID: 2, RelatedUserID: &related,
		Other: json.RawMessage(`{"n":1}`), TimeCreated: 1767000000, ReceivedAt: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dataByJSON(&e); err != nil {
			b.Fatal(err)
		}
	}
}
