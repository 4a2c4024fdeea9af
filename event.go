package mih

import (
	"bytes"
	"encoding/json"
	"time"
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
func (e *Event) Data() (map[string]any, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
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
