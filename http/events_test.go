package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

func TestEvents_Ingest(t *testing.T) {
	const name = `\core\event\user_created`
	ev := func(id string) map[string]any { return testEvent(id, name, 2) }
	tests := []struct {
		name       string
		body       any
		accepted   int
		duplicates int
	}{
		{"single", ev("s1"), 1, 0},
		{"array", []any{ev("a1"), ev("a2"), ev("a3")}, 3, 0},
		{"events object", map[string]any{"events": []any{ev("o1"), ev("o2")}}, 2, 0},
		{"empty events", map[string]any{"events": []any{}}, 0, 0},
		{"duplicate in batch", []any{ev("d1"), ev("d1")}, 1, 1},
		{"duplicate of a stored event", []any{ev("s1"), ev("n1")}, 1, 1},
		{"without id", map[string]any{"eventname": name, "timecreated": 1767225600, "userid": 9}, 1, 0},
		{"same event without id again", map[string]any{"eventname": name, "timecreated": 1767225600, "userid": 9}, 0, 1},
	}
	h := newTestHub(t)
	total := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got mih.IngestResult
			h.do("POST", "/api/v1/events", tc.body).want(http.StatusAccepted).decode(&got)
			if got.Accepted != tc.accepted || got.Duplicates != tc.duplicates {
				t.Errorf("got accepted %d, duplicates %d; want %d, %d", got.Accepted, got.Duplicates, tc.accepted, tc.duplicates)
			}
			total += tc.accepted
			if n := h.countEvents(); n != total {
				t.Errorf("got %d events stored, want %d", n, total)
			}
		})
	}
}

func TestEvents_IngestRejected(t *testing.T) {
	const name = `\core\event\user_created`
	bad := testEvent("b3", name, 2)
	delete(bad, "eventname")
	big := make([]any, 0, 40)
	for i := range 40 {
		big = append(big, testEvent(fmt.Sprintf("big%d", i), name, 2))
	}
	tests := []struct {
		name    string
		body    any
		status  int
		code    string
		mention string
	}{
		{"bad JSON", `{"eventname": `, 400, "invalid", "not valid JSON"},
		{"not an event", `"hello"`, 400, "invalid", "want an event"},
		{"missing eventname at index 2", []any{testEvent("b1", name, 2), testEvent("b2", name, 2), bad}, 400, "invalid", "event 2"},
		{"missing timecreated", map[string]any{"eventname": name}, 400, "invalid", "timecreated"},
		{"bad field type", []any{map[string]any{"eventname": name, "timecreated": 1, "userid": "x"}}, 400, "invalid", "userid"},
		{"oversized body", big, 413, "too_large", "limit"},
	}
	h := newTestHub(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", "/api/v1/events", tc.body).wantError(tc.status, tc.code)
			if msg := r.errMessage(); !strings.Contains(msg, tc.mention) {
				t.Errorf("message %q does not mention %q", msg, tc.mention)
			}
			if n := h.countEvents(); n != 0 {
				t.Errorf("got %d events stored, want none", n)
			}
		})
	}
}

func TestEvents_List(t *testing.T) {
	h := newTestHub(t)
	h.createService("crm")
	h.createRule("crm", `\core\event\user_created`, "")
	e1 := testEvent("e1", `\core\event\user_created`, 2)
	e2 := testEvent("e2", `\core\event\course_viewed`, 3)
	e2["site"], e2["courseid"] = "other", 7
	e3 := testEvent("e3", `\core\event\user_created`, 3)
	h.do("POST", "/api/v1/events", []any{e1, e2, e3}).want(http.StatusAccepted)

	ids := func(path string) ([]string, list[*mih.EventRecord]) {
		t.Helper()
		var l list[*mih.EventRecord]
		h.do("GET", path, nil).want(http.StatusOK).decode(&l)
		var out []string
		for _, r := range l.Items {
			out = append(out, r.ID)
		}
		return out, l
	}
	tests := []struct {
		path string
		want string
	}{
		{"/api/v1/events", "e3,e2,e1"},
		{"/api/v1/events?eventname=" + `%5Ccore%5Cevent%5Cuser_created`, "e3,e1"},
		{"/api/v1/events?site=other", "e2"},
		{"/api/v1/events?userid=3", "e3,e2"},
		{"/api/v1/events?courseid=7", "e2"},
		{"/api/v1/events?since=2026-03-02T09:00:00Z", "e3,e2,e1"},
		{"/api/v1/events?since=2026-03-02T11:00:00Z", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, _ := ids(tc.path)
			if strings.Join(got, ",") != tc.want {
				t.Errorf("got %v, want %s", got, tc.want)
			}
		})
	}
	t.Run("deliveries' states", func(t *testing.T) {
		_, l := ids("/api/v1/events?userid=2")
		if len(l.Items) != 1 || len(l.Items[0].Deliveries) != 1 || l.Items[0].Deliveries[0].State != mih.DeliveryPending {
			t.Fatalf("got %+v, want e1 with one pending delivery", l.Items)
		}
		_, l = ids("/api/v1/events?site=other")
		if l.Items[0].Deliveries == nil {
			t.Errorf("an event without deliveries lists null, want []")
		}
	})
	t.Run("pagination", func(t *testing.T) {
		got1, l := ids("/api/v1/events?limit=2")
		if len(got1) != 2 || l.Next == "" {
			t.Fatalf("got %v next %q, want 2 items and a cursor", got1, l.Next)
		}
		got2, l := ids("/api/v1/events?limit=2&cursor=" + l.Next)
		if strings.Join(got2, ",") != "e1" || l.Next != "" {
			t.Fatalf("second page %v next %q, want [e1] and no cursor", got2, l.Next)
		}
	})
	for _, q := range []string{"userid=x", "since=yesterday", "limit=0", "limit=abc"} {
		t.Run("bad "+q, func(t *testing.T) {
			h.do("GET", "/api/v1/events?"+q, nil).wantError(400, "invalid")
		})
	}
}

// An event that matches two rules (one exact, one glob) gets two deliveries.
func TestEvents_TwoRules(t *testing.T) {
	h := newTestHub(t)
	h.createService("crm")
	h.createService("lms")
	r1 := h.createRule("crm", `\core\event\user_created`, `{"user": {{userid}}}`)
	r2 := h.createRule("lms", `\core\event\*`, `{"name": "{{eventname}}"}`)
	h.do("POST", "/api/v1/events", testEvent("two", `\core\event\user_created`, 5)).want(http.StatusAccepted)

	var l list[*mih.Delivery]
	h.do("GET", "/api/v1/deliveries?event=two", nil).want(http.StatusOK).decode(&l)
	if len(l.Items) != 2 {
		t.Fatalf("got %d deliveries, want 2: %+v", len(l.Items), l.Items)
	}
	byRule := map[int64]*mih.Delivery{}
	for _, d := range l.Items {
		byRule[d.RuleID] = d
	}
	if d := byRule[r1]; d == nil || d.Service != "crm" || string(d.Payload) != `{"user":5}` {
		t.Errorf("rule %d delivery = %+v, want crm with {\"user\":5}", r1, d)
	}
	if d := byRule[r2]; d == nil || d.Service != "lms" || !json.Valid(d.Payload) {
		t.Errorf("rule %d delivery = %+v, want lms", r2, d)
	}
	if d := byRule[r1]; d != nil && d.IdempotencyKey != mih.IdempotencyKey("two", r1) {
		t.Errorf("idempotency key %q, want %q", d.IdempotencyKey, mih.IdempotencyKey("two", r1))
	}
}
