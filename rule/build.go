package rule

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/template"
)

// Lookup resolves the Moodle records a template may need. A record that does not exist is a
// *mih.Error of CodeNotFound (the template renders null); a *mih.SendError is taken as it is (a
// site that cannot be used is a final payload failure); any other error is a failed lookup, to
// be retried.
type Lookup interface {
	User(ctx context.Context, id int64) (map[string]any, error)
	Course(ctx context.Context, id int64) (map[string]any, error)
}

// Request is a delivery's request as its rule renders it for one event.
type Request struct {
	Method   string
	Endpoint string
	Payload  json.RawMessage
	// Deferred is true when the rule needs Moodle records and Build was given no Lookup: the
	// request is built later, by the delivery worker, with fresh lookups. Only Method is set.
	Deferred bool
}

// Build is the one render path: it turns a rule, an event and the Moodle records it needs into
// the request of a delivery. Ingest calls it without a Lookup (deliveries that need Moodle data
// are deferred to the worker, so that ingest never waits for Moodle), the worker's enrichment
// with one, and a replay's re-render without one.
//
// data is ev.Data() when the caller has it already (nil: Build reads it). A request that cannot
// be built is a *mih.SendError of code payload, final: the delivery is dead and no call is made,
// so it never counts against a circuit nor takes its probe. A failed lookup is a retryable
// *mih.SendError of code enrichment.
func (c *Compiled) Build(ctx context.Context, ev *mih.Event, data map[string]any, lk Lookup) (Request, error) {
	if data == nil {
		var err error
		if data, err = ev.Data(); err != nil {
			return Request{}, payloadError("event %s: %v", ev.ID, err)
		}
	}
	scope := template.Scope{Event: data}
	if wants := c.Wants(data); wants.Any() {
		if lk == nil {
			return Request{Method: c.Rule.Method, Deferred: true}, nil
		}
		var err error
		if wants.User && ev.UserID > 0 {
			if scope.User, err = find(ctx, lk.User, ev.UserID); err != nil {
				return Request{}, lookupError(err, fmt.Sprintf("user %d", ev.UserID))
			}
		}
		if wants.RelatedUser && ev.RelatedUserID != nil && *ev.RelatedUserID > 0 {
			if scope.RelatedUser, err = find(ctx, lk.User, *ev.RelatedUserID); err != nil {
				return Request{}, lookupError(err, fmt.Sprintf("related user %d", *ev.RelatedUserID))
			}
		}
		// Course 1 is the site's front page, not a course anyone enrols in.
		if wants.Course && ev.CourseID > 1 {
			if scope.Course, err = find(ctx, lk.Course, ev.CourseID); err != nil {
				return Request{}, lookupError(err, fmt.Sprintf("course %d", ev.CourseID))
			}
		}
	}
	method, endpoint, payload, err := c.Render(scope)
	if err != nil {
		return Request{}, &mih.SendError{Code: mih.ErrPayload, Message: err.Error()}
	}
	return Request{Method: method, Endpoint: endpoint, Payload: payload}, nil
}

// find returns the record, or nil for one that does not exist.
func find(ctx context.Context, get func(context.Context, int64) (map[string]any, error), id int64) (map[string]any, error) {
	m, err := get(ctx, id)
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return nil, nil
	}
	return m, err
}

// lookupError is a failed Moodle lookup: retried with the delivery's backoff. The message is the
// error's user-safe text; the Web Services token never appears in it.
func lookupError(err error, what string) error {
	if se, ok := err.(*mih.SendError); ok {
		return se
	}
	return &mih.SendError{Code: mih.ErrEnrich, Retryable: true, Message: fmt.Sprintf("look up %s: %v", what, err), Err: err}
}

func payloadError(format string, args ...any) *mih.SendError {
	return &mih.SendError{Code: mih.ErrPayload, Message: fmt.Sprintf(format, args...)}
}
