package rule

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mihhub/mih"
)

// Set is the compiled set of active rules. Ingest reads it on every event, so it is built once
// and swapped whole; it notices changes made by other processes sharing the store through the
// store's config version, checked at most once per CheckEvery.
type Set struct {
	store      mih.Store
	logger     *slog.Logger
	checkEvery time.Duration
	now        func() time.Time

	mu        sync.RWMutex
	exact     map[string][]*Compiled
	globs     []*Compiled
	version   int64
	checked   time.Time
	loaded    bool
	reloading sync.Mutex
}

// NewSet returns an empty set; call Load or let Match load it.
func NewSet(store mih.Store, logger *slog.Logger, checkEvery time.Duration) *Set {
	if checkEvery <= 0 {
		checkEvery = time.Second
	}
	return &Set{store: store, logger: logger, checkEvery: checkEvery, now: time.Now}
}

// Load compiles every active rule. A stored rule that no longer compiles (it was valid when
// saved, so this means a changed engine) is skipped with an error log rather than stopping ingest.
func (s *Set) Load(ctx context.Context) error {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	version, err := s.store.ConfigVersion(ctx)
	if err != nil {
		return fmt.Errorf("load rules: %w", err)
	}
	active := true
	rules, err := s.store.FindRules(ctx, mih.RuleFilter{Active: &active})
	if err != nil {
		return fmt.Errorf("load rules: %w", err)
	}
	exact := map[string][]*Compiled{}
	var globs []*Compiled
	for _, r := range rules {
		c, err := Compile(r)
		if err != nil {
			s.logger.Error("rule does not compile; skipped", "rule", r.ID, "err", err)
			continue
		}
		if c.glob != nil {
			globs = append(globs, c)
		} else {
			exact[r.Event] = append(exact[r.Event], c)
		}
	}
	s.mu.Lock()
	s.exact, s.globs, s.version, s.checked, s.loaded = exact, globs, version, s.now(), true
	s.mu.Unlock()
	return nil
}

// Invalidate makes the next Match reload, after this process changed rules or services.
func (s *Set) Invalidate() {
	s.mu.Lock()
	s.loaded = false
	s.mu.Unlock()
}

// Match returns the active rules whose event pattern covers name, in rule id order.
func (s *Set) Match(ctx context.Context, name string) ([]*Compiled, error) {
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := append([]*Compiled(nil), s.exact[name]...)
	for _, c := range s.globs {
		if c.MatchesName(name) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Compiled) int { return cmp.Compare(a.Rule.ID, b.Rule.ID) })
	return out, nil
}

func (s *Set) refresh(ctx context.Context) error {
	s.mu.RLock()
	loaded, stale := s.loaded, s.now().Sub(s.checked) >= s.checkEvery
	version := s.version
	s.mu.RUnlock()
	if !loaded {
		return s.Load(ctx)
	}
	if !stale {
		return nil
	}
	v, err := s.store.ConfigVersion(ctx)
	if err != nil {
		return fmt.Errorf("check rules version: %w", err)
	}
	if v != version {
		return s.Load(ctx)
	}
	s.mu.Lock()
	s.checked = s.now()
	s.mu.Unlock()
	return nil
}
