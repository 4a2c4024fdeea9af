package http

import (
	"net/http"
	"testing"

	"github.com/mihhub/mih"
)

// logsHub has crm with one delivery that succeeded and lms with one that went to the DLQ.
func logsHub(t *testing.T) *testHub {
	h := newTestHub(t)
	h.createService("crm")
	h.createService("lms")
	h.createService("idle")
	h.createRule("crm", `\core\event\user_created`, "")
	h.do("POST", "/api/v1/events", testEvent("e1", `\core\event\user_created`, 2)).want(http.StatusAccepted)
	h.finish(mih.DeliverySucceeded, 200, 10)
	h.createRule("lms", `\core\event\user_created`, "")
	h.do("POST", "/api/v1/events", testEvent("e2", `\core\event\user_created`, 3)).want(http.StatusAccepted)
	h.clock.Add(1e9)
	ds := h.finish(mih.DeliveryDead, 400, 30)
	if len(ds) != 2 {
		t.Fatalf("claimed %d deliveries, want 2", len(ds))
	}
	return h
}

func TestLogs_List(t *testing.T) {
	h := logsHub(t)
	tests := []struct {
		query string
		want  int
	}{
		{"", 3},
		{"?service=crm", 2},
		{"?success=false", 2},
		{"?success=true&service=crm", 1},
		{"?since=2026-03-02T10:00:01Z", 2},
		{"?limit=1", 1},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			var l list[*mih.LogEntry]
			h.do("GET", "/api/v1/logs"+tc.query, nil).want(http.StatusOK).decode(&l)
			if len(l.Items) != tc.want {
				t.Errorf("got %d entries, want %d", len(l.Items), tc.want)
			}
		})
	}
	var l list[*mih.LogEntry]
	h.do("GET", "/api/v1/logs?limit=1", nil).want(http.StatusOK).decode(&l)
	if e := l.Items[0]; e.Success || e.Status != 400 || e.Error == "" || e.LatencyMS != 30 || l.Next == "" {
		t.Errorf("newest entry %+v next %q, want the failed call and a cursor", e, l.Next)
	}
	h.do("GET", "/api/v1/logs?success=maybe", nil).wantError(400, "invalid")
}

func TestStats(t *testing.T) {
	h := logsHub(t)
	var s statsBody
	h.do("GET", "/api/v1/stats", nil).want(http.StatusOK).decode(&s)
	if s.StatusDistribution != (statusDistribution{Success: 1, Failure: 2}) {
		t.Errorf("status distribution %+v, want 1 success and 2 failures", s.StatusDistribution)
	}
	if len(s.LatencyTrend) != 3 || s.LatencyTrend[0].LatencyMS != 10 || s.LatencyTrend[2].LatencyMS != 30 {
		t.Errorf("latency trend %+v, want 3 points oldest first", s.LatencyTrend)
	}
	want := map[mih.DeliveryState]int{mih.DeliveryPending: 0, mih.DeliveryRetrying: 0, mih.DeliveryPaused: 0, mih.DeliveryDead: 2, mih.DeliverySucceeded: 1}
	for st, n := range want {
		if got, ok := s.Queue[st]; !ok || got != n {
			t.Errorf("queue[%s] = %d (present %v), want %d", st, got, ok, n)
		}
	}
	if len(s.Services) != 3 {
		t.Fatalf("services %+v, want crm, idle and lms", s.Services)
	}
	rows := map[string]serviceRow{}
	for _, r := range s.Services {
		rows[r.Name] = r
		if r.CircuitState != mih.CircuitClosed {
			t.Errorf("%s circuit %q, want closed", r.Name, r.CircuitState)
		}
	}
	if r := rows["crm"]; r.Requests != 2 || r.Errors != 1 || r.AvgLatencyMS != 20 || r.LastUsed == nil || r.Dead != 1 {
		t.Errorf("crm row %+v", r)
	}
	if r := rows["idle"]; r.Requests != 0 || r.LastUsed != nil || r.Waiting != 0 {
		t.Errorf("idle row %+v", r)
	}
}

// A fresh hub answers every list and the stats with empty arrays, never null.
func TestEmptyAnswers(t *testing.T) {
	h := newTestHub(t)
	for _, p := range []string{"/api/v1/events", "/api/v1/services", "/api/v1/rules", "/api/v1/deliveries", "/api/v1/logs"} {
		if got := string(h.do("GET", p, nil).want(http.StatusOK).Body); got != "{\"items\":[],\"next\":\"\"}\n" {
			t.Errorf("%s = %s", p, got)
		}
	}
	m := h.do("GET", "/api/v1/stats", nil).want(http.StatusOK).obj()
	for _, k := range []string{"latency_trend", "services"} {
		if _, ok := m[k].([]any); !ok {
			t.Errorf("stats %s = %v, want an array", k, m[k])
		}
	}
}
