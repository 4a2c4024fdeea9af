package tailer

import (
	"reflect"
	"testing"
	"time"
)

func ids(gs []gap) []int64 {
	out := make([]int64, len(gs))
	for i, g := range gs {
		out[i] = g.id
	}
	return out
}

func TestPosition_Holes(t *testing.T) {
	now := time.Unix(1767000000, 0)
	tests := []struct {
		name    string
		cursor  int64
		read    []int64
		limit   int
		want    []int64
		dropped int64
	}{
		{"none", 10, []int64{11, 12, 13}, 100, nil, 0},
		{"below the first row", 10, []int64{13, 14}, 100, []int64{11, 12}, 0},
		{"inside the batch", 10, []int64{11, 14, 15, 17}, 100, []int64{12, 13, 16}, 0},
		{"wide hole keeps the newest ids", 0, []int64{1000}, 3, []int64{997, 998, 999}, 996},
		{"limit over several holes", 0, []int64{3, 6, 9}, 4, []int64{4, 5, 7, 8}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := position{cursor: tc.cursor}
			got, dropped := p.holes(tc.read, now, tc.limit)
			if !reflect.DeepEqual(ids(got), tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("got %v, want %v", ids(got), tc.want)
			}
			if dropped != tc.dropped {
				t.Errorf("dropped %d, want %d", dropped, tc.dropped)
			}
		})
	}
}

func TestPosition_AdvanceSettle(t *testing.T) {
	t0 := time.Unix(1767000000, 0)
	p := position{cursor: 10}
	g, _ := p.holes([]int64{12, 15}, t0, 100) // 11, 13, 14
	if over := p.advance(15, g, 100); over != 0 {
		t.Fatalf("over %d", over)
	}
	g, _ = p.holes([]int64{17}, t0.Add(time.Minute), 100) // 16
	if over := p.advance(17, g, 3); over != 1 {
		t.Fatalf("over %d, want 1 (the oldest gap given up)", over)
	}
	if got := ids(p.gaps); !reflect.DeepEqual(got, []int64{13, 14, 16}) {
		t.Fatalf("gaps %v", got)
	}
	// 14 shows up; 13 timed out before the check began; 16 is still awaited.
	late, expired := p.settle(map[int64]bool{14: true}, t0.Add(90*time.Second), time.Minute)
	if late != 1 || expired != 1 || !reflect.DeepEqual(ids(p.gaps), []int64{16}) {
		t.Errorf("late %d, expired %d, gaps %v; want 1, 1, [16]", late, expired, ids(p.gaps))
	}
	// A gap whose deadline is exactly the check's start is still awaited once more.
	late, expired = p.settle(nil, t0.Add(2*time.Minute), time.Minute)
	if late != 0 || expired != 0 {
		t.Errorf("late %d, expired %d; want 0, 0", late, expired)
	}
}

func TestPosition_SaveLoad(t *testing.T) {
	t0 := time.Unix(1767000000, 0)
	p := position{cursor: 100, gaps: []gap{{11, t0}, {12, t0}, {13, t0}, {20, t0}, {21, t0.Add(time.Second)}}}
	s, err := p.marshal("postgres://h:5432/moodle", StartLatest)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"source":"postgres://h:5432/moodle","cursor":100,"gaps":[[11,13,1767000000],[20,20,1767000000],[21,21,1767000001]],"start":"latest"}`
	if s != want {
		t.Errorf("got  %s\nwant %s", s, want)
	}
	st, q, err := unmarshalPosition(s, 100)
	if err != nil {
		t.Fatal(err)
	}
	if st.Source != "postgres://h:5432/moodle" || st.Start != StartLatest || q.cursor != 100 || !reflect.DeepEqual(q.gaps, p.gaps) {
		t.Errorf("got %+v %+v", st, q)
	}
	for _, bad := range []string{
		`{"version":2,"cursor":1}`,
		`{"version":1,"cursor":10,"gaps":[[5,3,0]]}`,
		`{"version":1,"cursor":10,"gaps":[[5,10,0]]}`,
		`{"version":1,"cursor":10,"gaps":[[5,6,0],[6,7,0]]}`,
		`{"version":1,"cursor":1000000,"gaps":[[1,999999,0]]}`,
		`not json`,
	} {
		if _, _, err := unmarshalPosition(bad, 100); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestRetryWait(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 30 * time.Second, 60: 30 * time.Second} {
		for range 50 {
			got := retryWait(n, time.Second, 30*time.Second)
			if got < want*8/10 || got > want*12/10 {
				t.Fatalf("failure %d: waited %s, want %s ±20%%", n, got, want)
			}
		}
	}
}
