package rule

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mihhub/mih"
)

// configStore is the part of a store a Set reads: the active rules and the config version,
// which another process sharing the store may change at any time.
type configStore struct {
	mih.Store // nil: a Set calls nothing else

	mu       sync.Mutex
	version  int64
	rules    []*mih.Rule
	versions int // ConfigVersion calls
}

func (s *configStore) ConfigVersion(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions++
	return s.version, nil
}

func (s *configStore) FindRules(context.Context, mih.RuleFilter) ([]*mih.Rule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*mih.Rule(nil), s.rules...), nil
}

// change is another process writing a rule: the rules change and the version rises.
func (s *configStore) change(rules ...*mih.Rule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = rules
	s.version++
}

func (s *configStore) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.versions
}

// A change made by another process is seen within checkEvery, not before (the hot path does not
// ask the store), and not later. The clock is the bubble's: the thresholds are exact.
func TestSet_SeesOtherProcessesWithinCheckEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &configStore{rules: []*mih.Rule{{ID: 1, Event: "*", Service: "crm", Active: true}}}
		s := NewSet(st, slog.New(slog.DiscardHandler), time.Second)
		ctx := context.Background()
		matched := func() []int64 {
			t.Helper()
			cs, err := s.Match(ctx, `\core\event\user_created`)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, c := range cs {
				ids = append(ids, c.Rule.ID)
			}
			return ids
		}
		if got := matched(); len(got) != 1 || got[0] != 1 {
			t.Fatalf("first match: %v, want [1]", got)
		}
		calls := st.calls()

		st.change(&mih.Rule{ID: 2, Event: `\core\event\user_created`, Service: "crm", Active: true})
		time.Sleep(time.Second - time.Nanosecond)
		for range 100 {
			if got := matched(); len(got) != 1 || got[0] != 1 {
				t.Fatalf("within check_every: %v, want the rules as loaded, [1]", got)
			}
		}
		if st.calls() != calls {
			t.Errorf("%d version checks within check_every, want none", st.calls()-calls)
		}

		time.Sleep(time.Nanosecond)
		if got := matched(); len(got) != 1 || got[0] != 2 {
			t.Fatalf("after check_every: %v, want the other process's rule, [2]", got)
		}
		// Unchanged version: one check per period, and the rules stay loaded.
		calls = st.calls()
		for range 10 {
			time.Sleep(time.Second)
			matched()
		}
		if got := st.calls() - calls; got != 10 {
			t.Errorf("%d version checks over 10 periods, want 10", got)
		}
	})
}

// Invalidate, after this process changed rules, reloads at the next match whatever the clock.
func TestSet_Invalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &configStore{rules: []*mih.Rule{{ID: 1, Event: "*", Service: "crm", Active: true}}}
		s := NewSet(st, slog.New(slog.DiscardHandler), time.Hour)
		if _, err := s.Match(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
		st.change()
		s.Invalidate()
		if cs, err := s.Match(context.Background(), "x"); err != nil || len(cs) != 0 {
			t.Fatalf("after Invalidate: %d rules, %v; want none", len(cs), err)
		}
	})
}
