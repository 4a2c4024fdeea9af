package tracing

import (
	"context"
	"testing"
)

func TestEventIDs_StableAndDistinct(t *testing.T) {
	t1, s1 := EventIDs("e1")
	t2, s2 := EventIDs("e1")
	t3, _ := EventIDs("e2")
	if t1 != t2 || s1 != s2 || !t1.IsValid() || !s1.IsValid() {
		t.Errorf("the ids of one event differ or are invalid: %s %s, %s %s", t1, s1, t2, s2)
	}
	if t1 == t3 {
		t.Errorf("two events share a trace")
	}
	if TraceID("e1") != t1.String() {
		t.Errorf("TraceID %s, want %s", TraceID("e1"), t1)
	}
	// The generator gives a marked root the event's ids, anything else random ones.
	var g IDGenerator
	if tid, sid := g.NewIDs(EventRoot(context.Background(), "e1")); tid != t1 || sid != s1 {
		t.Errorf("root ids %s %s, want %s %s", tid, sid, t1, s1)
	}
	if tid, sid := g.NewIDs(context.Background()); tid == t1 || !tid.IsValid() || !sid.IsValid() {
		t.Errorf("random ids %s %s", tid, sid)
	}
}

func TestEventOfKey(t *testing.T) {
	tests := []struct {
		key   string
		event string
		rule  int64
		ok    bool
	}{
		{"sha256:abc:12", "sha256:abc", 12, true},
		{"e1:3", "e1", 3, true},
		{"e1", "", 0, false},
		{":3", "", 0, false},
		{"e1:x", "", 0, false},
	}
	for _, tc := range tests {
		ev, rule, ok := EventOfKey(tc.key)
		if ev != tc.event || rule != tc.rule || ok != tc.ok {
			t.Errorf("EventOfKey(%q) = %q %d %v", tc.key, ev, rule, ok)
		}
	}
}
