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
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/format"
	"github.com/mihhub/mih/rule"
)

// Lookup resolves Moodle records for templates (rule.Lookup).
type Lookup = rule.Lookup

// ModuleLookup is a Lookup that also finds course modules by id (for the xapi format's names and
// module URLs): the cm of core_course_get_course_module, with name and modname.
type ModuleLookup interface {
	CourseModule(ctx context.Context, cmid int64) (map[string]any, error)
}

// GradeLookup is a Lookup that also finds a user's grade item in a course (for the xapi format's
// scores): grademin, grademax, itemname, itemmodule and cmid.
type GradeLookup interface {
	GradeItem(ctx context.Context, courseID, userID, itemID int64) (map[string]any, error)
}

// Sites gives the Lookup of a site by name; "" asks for the default site.
type Sites interface {
	Lookup(ctx context.Context, site string) (Lookup, error)
	// Site returns the site itself, for its URL.
	Site(ctx context.Context, site string) (*mih.Site, error)
}

// Store is what the renderer reads: the event, the rule and the rule's service of a delivery.
type Store interface {
	FindEventByID(ctx context.Context, id string) (*mih.Event, error)
	FindRuleByID(ctx context.Context, id int64) (*mih.Rule, error)
	FindServiceByName(ctx context.Context, name string) (*mih.Service, error)
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
// is now (a rule edited while its deliveries wait applies to them), even when deactivated. A rule
// with a format other than template gets its payload wrapped (package format) with the site's
// URL and the Moodle records the format wants.
func (r *Renderer) Render(ctx context.Context, d *mih.Delivery) (*mih.Rendered, error) {
	ev, err := r.store.FindEventByID(ctx, d.EventID)
	if err != nil {
		return nil, r.storeErr(err, "event "+d.EventID)
	}
	c, err := r.rule(ctx, d.RuleID)
	if err != nil {
		return nil, err
	}
	data, err := ev.Data()
	if err != nil {
		return nil, &mih.SendError{Code: mih.ErrPayload, Message: fmt.Sprintf("event %s: %v", ev.ID, err)}
	}
	req, err := c.Build(ctx, ev, data, &eventSite{sites: r.sites, site: ev.Site})
	if err != nil {
		return nil, err
	}
	out := &mih.Rendered{Method: req.Method, Endpoint: req.Endpoint, Payload: req.Payload}
	if f := c.Rule.Format; f != "" && f != mih.FormatTemplate {
		env, err := r.envelope(ctx, d, c, ev, data, req.Payload)
		if err != nil {
			return nil, err
		}
		out.Headers, out.Payload = env.Headers, env.Payload
	}
	return out, nil
}

// envelope wraps a rendered payload in the rule's format.
func (r *Renderer) envelope(ctx context.Context, d *mih.Delivery, c *rule.Compiled, ev *mih.Event, data map[string]any, payload json.RawMessage) (format.Output, error) {
	fw := c.Wants(data).Format
	site := format.Site{Name: ev.Site}
	if fw.Site {
		s, err := r.sites.Site(ctx, ev.Site)
		switch {
		case err == nil:
			site = format.Site{Name: s.Name, URL: s.URL}
		case mih.ErrorCode(err) == mih.CodeNotFound:
			// An event posted without a known site: the format names it without a URL (a
			// CloudEvent's source) or refuses (an xAPI actor needs the URL).
		default:
			return format.Output{}, r.storeErr(err, "site "+ev.Site)
		}
	}
	// The format's records are names and scores that improve a statement: they are left out
	// when the site has no Web Services token; a Moodle that fails to answer is retried.
	var recs format.Records
	if fw.User || fw.RelatedUser || fw.Course || fw.Module || fw.GradeItem {
		lk, err := r.sites.Lookup(ctx, ev.Site)
		if code := mih.ErrorCode(err); err != nil && code != mih.CodeNotFound && code != mih.CodeInvalid {
			return format.Output{}, lookupErr(err, "the site's Web Services client")
		}
		if err == nil {
			if recs, err = lookUp(ctx, lk, ev, fw); err != nil {
				return format.Output{}, err
			}
		}
	}
	svc, err := r.store.FindServiceByName(ctx, d.Service)
	if err != nil {
		return format.Output{}, r.storeErr(err, "service "+d.Service)
	}
	env, err := format.Apply(format.Input{Format: c.Rule.Format, Event: data, Site: site, Body: payload, Transport: svc.Type, Records: recs})
	if se, ok := errors.AsType[*format.SkipError](err); ok {
		return format.Output{}, &mih.SendError{Code: mih.ErrSkipped, Message: fmt.Sprintf("format %s: %s", c.Rule.Format, se.Reason)}
	} else if err != nil {
		return format.Output{}, &mih.SendError{Code: mih.ErrPayload, Message: err.Error()}
	}
	return env, nil
}

// lookUp fetches the records a format wants.
func lookUp(ctx context.Context, lk Lookup, ev *mih.Event, fw format.Needs) (format.Records, error) {
	var recs format.Records
	var err error
	if fw.User && ev.UserID > 0 {
		if recs.User, err = find(ctx, lk.User, ev.UserID); err != nil {
			return recs, lookupErr(err, fmt.Sprintf("user %d", ev.UserID))
		}
	}
	if fw.RelatedUser && ev.RelatedUserID != nil && *ev.RelatedUserID > 0 {
		if recs.RelatedUser, err = find(ctx, lk.User, *ev.RelatedUserID); err != nil {
			return recs, lookupErr(err, fmt.Sprintf("related user %d", *ev.RelatedUserID))
		}
	}
	// Course 1 is the site's front page, not a course anyone enrols in.
	if fw.Course && ev.CourseID > 1 {
		if recs.Course, err = find(ctx, lk.Course, ev.CourseID); err != nil {
			return recs, lookupErr(err, fmt.Sprintf("course %d", ev.CourseID))
		}
	}
	if ml, ok := lk.(ModuleLookup); ok && fw.Module && ev.ContextLevel == 70 && ev.ContextInstanceID > 0 {
		if recs.Module, err = find(ctx, ml.CourseModule, ev.ContextInstanceID); err != nil {
			return recs, lookupErr(err, fmt.Sprintf("course module %d", ev.ContextInstanceID))
		}
	}
	if gl, ok := lk.(GradeLookup); ok && fw.GradeItem && ev.RelatedUserID != nil && ev.CourseID > 1 {
		var other struct {
			ItemID json.Number `json:"itemid"`
		}
		_ = json.Unmarshal(ev.Other, &other)
		if item, perr := other.ItemID.Int64(); perr == nil && item > 0 {
			get := func(ctx context.Context, id int64) (map[string]any, error) {
				return gl.GradeItem(ctx, ev.CourseID, *ev.RelatedUserID, id)
			}
			if recs.GradeItem, err = find(ctx, get, item); err != nil {
				return recs, lookupErr(err, fmt.Sprintf("grade item %d", item))
			}
		}
	}
	return recs, nil
}

// find returns the record, or nil for one that does not exist.
func find(ctx context.Context, get func(context.Context, int64) (map[string]any, error), id int64) (map[string]any, error) {
	m, err := get(ctx, id)
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return nil, nil
	}
	return m, err
}

// lookupErr is a failed Moodle lookup: retried with the delivery's backoff. The message is the
// error's user-safe text; the Web Services token never appears in it.
func lookupErr(err error, what string) error {
	if se, ok := err.(*mih.SendError); ok {
		return se
	}
	return &mih.SendError{Code: mih.ErrEnrich, Retryable: true, Message: fmt.Sprintf("look up %s: %v", what, err), Err: err}
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
