// Package enrich renders the deliveries whose rules need Moodle data the event does not carry
// (docs/moodle.md, Enrichment): the user, the related user, the course. Ingest leaves such
// deliveries unrendered; the delivery worker calls Renderer.Render just before sending, so a Moodle
// that is slow or down delays those deliveries (a retryable failure) instead of slowing or failing
// ingest.
//
// Lookups go through one Lookup per Moodle site (package moodle's Directory, with its bounded
// cache); the site is the event's, or the only site when the event names none.
package enrich

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/rule"
)

// Lookup resolves Moodle records for templates (rule.Lookup).
type Lookup = rule.Lookup

// Sites gives the Lookup of a site by name; "" asks for the default site.
type Sites interface {
	Lookup(ctx context.Context, site string) (Lookup, error)
}

// Store is what the renderer reads: the event and the rule of a delivery.
type Store interface {
	FindEventByID(ctx context.Context, id string) (*mih.Event, error)
	FindRuleByID(ctx context.Context, id int64) (*mih.Rule, error)
}

// Renderer implements delivery.Renderer.
type Renderer struct {
	store Store
	sites Sites

	mu    sync.Mutex
	rules map[int64]compiled // by rule id, recompiled when the rule changes
}

type compiled struct {
	updated time.Time
	c       *rule.Compiled
}

// New returns a Renderer over store and sites.
func New(store Store, sites Sites) *Renderer {
	return &Renderer{store: store, sites: sites, rules: map[int64]compiled{}}
}

// Render looks up what the delivery's rule needs and renders its request. The rule is read as it
// is now (a rule edited while its deliveries wait applies to them), even when deactivated.
func (r *Renderer) Render(ctx context.Context, d *mih.Delivery) (method, endpoint string, payload json.RawMessage, err error) {
	ev, err := r.store.FindEventByID(ctx, d.EventID)
	if err != nil {
		return "", "", nil, r.storeErr(err, "event "+d.EventID)
	}
	c, err := r.rule(ctx, d.RuleID)
	if err != nil {
		return "", "", nil, err
	}
	req, err := c.Build(ctx, ev, nil, &eventSite{sites: r.sites, site: ev.Site})
	if err != nil {
		return "", "", nil, err
	}
	return req.Method, req.Endpoint, req.Payload, nil
}

// eventSite finds the event's site only when the rule needs a record, so that a rule that needs
// none does not depend on the site being usable.
type eventSite struct {
	sites Sites
	site  string
	lk    Lookup
}

func (s *eventSite) get(ctx context.Context) (Lookup, error) {
	if s.lk != nil {
		return s.lk, nil
	}
	lk, err := s.sites.Lookup(ctx, s.site)
	if err != nil {
		if code := mih.ErrorCode(err); code == mih.CodeNotFound || code == mih.CodeInvalid {
			return nil, &mih.SendError{Code: mih.ErrPayload, Message: "enrichment: " + mih.ErrorMessage(err)}
		}
		return nil, &mih.SendError{Code: mih.ErrEnrich, Retryable: true, Message: fmt.Sprintf("look up the site's Web Services client: %v", err), Err: err}
	}
	s.lk = lk
	return lk, nil
}

func (s *eventSite) User(ctx context.Context, id int64) (map[string]any, error) {
	lk, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	return lk.User(ctx, id)
}

func (s *eventSite) Course(ctx context.Context, id int64) (map[string]any, error) {
	lk, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	return lk.Course(ctx, id)
}

func (r *Renderer) rule(ctx context.Context, id int64) (*rule.Compiled, error) {
	ru, err := r.store.FindRuleByID(ctx, id)
	if err != nil {
		if mih.ErrorCode(err) == mih.CodeNotFound {
			return nil, &mih.SendError{Code: mih.ErrPayload, Message: fmt.Sprintf("rule %d was deleted before its delivery could be rendered", id)}
		}
		return nil, r.storeErr(err, fmt.Sprintf("rule %d", id))
	}
	r.mu.Lock()
	cached, ok := r.rules[id]
	r.mu.Unlock()
	if ok && cached.updated.Equal(ru.UpdatedAt) {
		return cached.c, nil
	}
	c, err := rule.Compile(ru)
	if err != nil {
		return nil, &mih.SendError{Code: mih.ErrPayload, Message: fmt.Sprintf("rule %d: %s", id, mih.ErrorMessage(err))}
	}
	r.mu.Lock()
	r.rules[id] = compiled{updated: ru.UpdatedAt, c: c}
	r.mu.Unlock()
	return c, nil
}

// storeErr turns a failure to read our own store into a retryable failure: the delivery is
// tried again rather than lost.
func (r *Renderer) storeErr(err error, what string) error {
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return &mih.SendError{Code: mih.ErrPayload, Message: what + " no longer exists"}
	}
	return &mih.SendError{Code: mih.ErrEnrich, Retryable: true, Message: "read " + what + ": " + mih.ErrorMessage(err), Err: err}
}
