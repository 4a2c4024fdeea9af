// Package event turns what Moodle sends into mih.Events and runs the ingest pipeline: parse,
// dedupe id, match rules, render payloads, and commit each event with its deliveries in one
// transaction before anything is acknowledged.
package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mihhub/mih"
)

// MaxBatch bounds the events of one ingest call, so one request cannot hold the writer for long.
const MaxBatch = 10000

// Parse reads one event, an array of events, or {"events": [...]}. Any bad item rejects the
// whole batch with an error naming its index and field, so nothing is half-accepted.
func Parse(body []byte) ([]*mih.Event, error) {
	if err := mih.CheckJSONDepth(body, mih.MaxJSONDepth); err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "body is not valid JSON: %s", jsonErrText(err))
	}
	if d.More() {
		return nil, mih.Errorf(mih.CodeInvalid, "body has data after the JSON value")
	}
	var items []any
	single := false
	switch t := v.(type) {
	case []any:
		items = t
	case map[string]any:
		if evs, ok := t["events"]; ok && t["eventname"] == nil {
			arr, ok := evs.([]any)
			if !ok {
				return nil, mih.Errorf(mih.CodeInvalid, "events: want an array")
			}
			items = arr
		} else {
			items, single = []any{t}, true
		}
	default:
		return nil, mih.Errorf(mih.CodeInvalid, "body: want an event object, an array of events or {\"events\": [...]}")
	}
	if len(items) > MaxBatch {
		return nil, mih.Errorf(mih.CodeInvalid, "batch of %d events is over the limit of %d", len(items), MaxBatch)
	}
	out := make([]*mih.Event, 0, len(items))
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, itemErr(single, i, fmt.Errorf("want a JSON object"))
		}
		ev, err := FromMap(m)
		if err != nil {
			return nil, itemErr(single, i, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

func itemErr(single bool, i int, err error) error {
	if single {
		return mih.Errorf(mih.CodeInvalid, "event: %v", err)
	}
	return mih.Errorf(mih.CodeInvalid, "event %d: %v", i, err)
}

func jsonErrText(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%s at byte %d", se.Error(), se.Offset)
	}
	return err.Error()
}

// FromMap builds an event from a decoded JSON object (numbers as json.Number). Integer fields
// accept numbers or numeric strings, because Moodle data arrives both ways (role_unassigned
// carries strings, for one).
func FromMap(m map[string]any) (*mih.Event, error) {
	p := fieldParser{m: m}
	ev := &mih.Event{
		ID:                p.str("id"),
		Site:              p.str("site"),
		EventName:         p.str("eventname"),
		Component:         p.str("component"),
		Action:            p.str("action"),
		Target:            p.str("target"),
		ObjectTable:       p.strPtr("objecttable"),
		ObjectID:          p.intPtr("objectid"),
		CRUD:              p.str("crud"),
		EduLevel:          p.int("edulevel"),
		ContextID:         p.int("contextid"),
		ContextLevel:      p.int("contextlevel"),
		ContextInstanceID: p.int("contextinstanceid"),
		UserID:            p.int("userid"),
		CourseID:          p.int("courseid"),
		RelatedUserID:     p.intPtr("relateduserid"),
		Anonymous:         p.int("anonymous"),
		TimeCreated:       p.int("timecreated"),
		IP:                p.str("ip"),
		Origin:            p.str("origin"),
		RealUserID:        p.intPtr("realuserid"),
	}
	if p.err != nil {
		return nil, p.err
	}
	if ev.EventName == "" {
		return nil, fmt.Errorf("eventname: required")
	}
	if len(ev.EventName) > 255 || !strings.HasPrefix(ev.EventName, `\`) {
		return nil, fmt.Errorf("eventname %q: want a Moodle event class name such as \\core\\event\\user_created", ev.EventName)
	}
	if _, ok := m["timecreated"]; !ok || ev.TimeCreated <= 0 {
		return nil, fmt.Errorf("timecreated: required (Unix seconds)")
	}
	if msg := mih.CheckEventID(ev.ID); msg != "" {
		return nil, fmt.Errorf("id: %s", msg)
	}
	if ev.CRUD != "" && !strings.Contains("crud", ev.CRUD) || len(ev.CRUD) > 1 {
		return nil, fmt.Errorf("crud %q: want c, r, u or d", ev.CRUD)
	}
	other := m["other"]
	if other != nil {
		b, err := json.Marshal(other)
		if err != nil {
			return nil, fmt.Errorf("other: %w", err)
		}
		ev.Other = b
	} else {
		ev.Other = json.RawMessage("null")
	}
	if ev.ID == "" {
		ev.ID = DerivedID(ev)
	}
	return ev, nil
}

// DerivedID is the id of an event that came without one: a hash of its content, so that the
// same event posted twice is still accepted once, while two different events never collide.
func DerivedID(ev *mih.Event) string {
	c := *ev
	c.ID = ""
	b, _ := json.Marshal(&c)
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:16])
}

type fieldParser struct {
	m   map[string]any
	err error
}

func (p *fieldParser) fail(name string, v any, want string) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: got %s, want %s", name, describe(v), want)
	}
}

func (p *fieldParser) str(name string) string {
	switch v := p.m[name].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	default:
		p.fail(name, v, "a string")
		return ""
	}
}

func (p *fieldParser) strPtr(name string) *string {
	if p.m[name] == nil {
		return nil
	}
	s := p.str(name)
	return &s
}

func (p *fieldParser) int(name string) int64 {
	v := p.m[name]
	switch t := v.(type) {
	case nil:
		return 0
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n
		}
		if f, err := t.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f)
		}
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64); err == nil {
			return n
		}
		if t == "" {
			return 0
		}
	case bool:
		// Moodle's anonymous flag sometimes arrives as a PHP bool.
		if t {
			return 1
		}
		return 0
	}
	p.fail(name, v, "an integer")
	return 0
}

func (p *fieldParser) intPtr(name string) *int64 {
	if p.m[name] == nil {
		return nil
	}
	n := p.int(name)
	return &n
}

func describe(v any) string {
	switch t := v.(type) {
	case string:
		if len(t) > 40 {
			t = t[:40] + "…"
		}
		return strconv.Quote(t)
	case json.Number:
		return t.String()
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return strconv.FormatBool(t)
	}
	return fmt.Sprintf("%T", v)
}
