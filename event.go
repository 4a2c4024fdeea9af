package mih

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is one Moodle event as the hub stores it: the fields of \core\event\base::get_data(),
// the request's ip/origin/realuserid, a source-unique id (for dedupe) and the Moodle site it came
// from. Nullable Moodle fields are pointers so that null survives a round trip.
type Event struct {
	ID                string          `json:"id"`
	Site              string          `json:"site,omitempty"`
	EventName         string          `json:"eventname"`
	Component         string          `json:"component"`
	Action            string          `json:"action"`
	Target            string          `json:"target"`
	ObjectTable       *string         `json:"objecttable"`
	ObjectID          *int64          `json:"objectid"`
	CRUD              string          `json:"crud"`
	EduLevel          int64           `json:"edulevel"`
	ContextID         int64           `json:"contextid"`
	ContextLevel      int64           `json:"contextlevel"`
	ContextInstanceID int64           `json:"contextinstanceid"`
	UserID            int64           `json:"userid"`
	CourseID          int64           `json:"courseid"`
	RelatedUserID     *int64          `json:"relateduserid"`
	Anonymous         int64           `json:"anonymous"`
	Other             json.RawMessage `json:"other"`
	TimeCreated       int64           `json:"timecreated"`
	IP                string          `json:"ip,omitempty"`
	Origin            string          `json:"origin,omitempty"`
	RealUserID        *int64          `json:"realuserid,omitempty"`
	ReceivedAt        time.Time       `json:"received_at"`
}

// Data returns the event as the generic map that templates and rule filters read. Numbers stay
// json.Number so that they render exactly as received.
//
// The map is what decoding the event's JSON (with UseNumber) gives, field for field, but built
// directly: ingest calls it for every event, and a JSON round trip of the whole event cost more
// than rendering its payload.
func (e *Event) Data() (map[string]any, error) {
	received, err := e.ReceivedAt.MarshalText()
	if err != nil {
		return nil, fmt.Errorf("received_at: %w", err)
	}
	other, err := decodeOther(e.Other)
	if err != nil {
		return nil, fmt.Errorf("other: %w", err)
	}
	m := make(map[string]any, 24)
	m["id"] = jsonString(e.ID)
	if e.Site != "" {
		m["site"] = jsonString(e.Site)
	}
	m["eventname"] = jsonString(e.EventName)
	m["component"] = jsonString(e.Component)
	m["action"] = jsonString(e.Action)
	m["target"] = jsonString(e.Target)
	m["objecttable"] = nil
	if e.ObjectTable != nil {
		m["objecttable"] = jsonString(*e.ObjectTable)
	}
	m["objectid"] = jsonIntPtr(e.ObjectID)
	m["crud"] = jsonString(e.CRUD)
	m["edulevel"] = jsonInt(e.EduLevel)
	m["contextid"] = jsonInt(e.ContextID)
	m["contextlevel"] = jsonInt(e.ContextLevel)
	m["contextinstanceid"] = jsonInt(e.ContextInstanceID)
	m["userid"] = jsonInt(e.UserID)
	m["courseid"] = jsonInt(e.CourseID)
	m["relateduserid"] = jsonIntPtr(e.RelatedUserID)
	m["anonymous"] = jsonInt(e.Anonymous)
	m["other"] = other
	m["timecreated"] = jsonInt(e.TimeCreated)
	if e.IP != "" {
		m["ip"] = jsonString(e.IP)
	}
	if e.Origin != "" {
		m["origin"] = jsonString(e.Origin)
	}
	if e.RealUserID != nil {
		m["realuserid"] = jsonInt(*e.RealUserID)
	}
	m["received_at"] = string(received)
	return m, nil
}

// decodeOther decodes the other field as encoding/json would after marshalling it: empty is
// null, anything but one JSON value is an error.
func decodeOther(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: more than one value")
	}
	return v, nil
}

func jsonInt(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

func jsonIntPtr(p *int64) any {
	if p == nil {
		return nil
	}
	return jsonInt(*p)
}

// jsonString is s as it reads back from JSON: encoding/json writes each byte of invalid UTF-8 as
// U+FFFD.
func jsonString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // utf8.RuneError for an invalid byte, with size 1
		i += size
	}
	return b.String()
}

// EventFilter selects events for listing, newest first.
type EventFilter struct {
	EventName string // exact name
	Site      string
	UserID    *int64
	CourseID  *int64
	Since     time.Time // received at or after
	Limit     int
	Cursor    string
}

// DeliveryBrief is what an event listing shows of each of the event's deliveries.
type DeliveryBrief struct {
	ID      int64         `json:"id"`
	RuleID  int64         `json:"rule_id"`
	Service string        `json:"service"`
	State   DeliveryState `json:"state"`
}

// EventRecord is an event with the states of its deliveries.
type EventRecord struct {
	*Event
	Deliveries []DeliveryBrief `json:"deliveries"`
}

// IngestItem is one event with the deliveries the rules produced for it. The store writes both in
// one transaction; when the event id is already known, neither is written (idempotent ingest).
type IngestItem struct {
	Event      *Event
	Deliveries []*Delivery
}

// IngestResult counts what an ingest call wrote.
type IngestResult struct {
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	Deliveries int `json:"-"`
}
