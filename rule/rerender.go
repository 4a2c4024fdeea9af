package rule

import (
	"context"

	"github.com/mihhub/mih"
)

// RerenderStore is what Rerender reads and writes.
type RerenderStore interface {
	FindRuleByID(ctx context.Context, id int64) (*mih.Rule, error)
	FindEventByID(ctx context.Context, id string) (*mih.Event, error)
	SetDeliveryPayload(ctx context.Context, id int64, method, endpoint string, payload []byte) error
}

// Rerender builds a dead delivery's request again from its stored event with the rule as it is
// now, and stores it for a replay (the API's and the web UI's "replay with re-render"). The rule
// must still send to the delivery's service. A rule that needs Moodle data gets its request
// cleared instead, so that the delivery worker renders it with fresh lookups when the replay goes
// out. Every refusal is CodeConflict with a message that says to replay as sent.
func Rerender(ctx context.Context, st RerenderStore, d *mih.Delivery) error {
	if d.RuleID == 0 || d.EventID == "" {
		return mih.Errorf(mih.CodeConflict, "delivery %d did not come from a rule and an event, so it cannot be re-rendered; replay it as sent", d.ID)
	}
	ru, err := st.FindRuleByID(ctx, d.RuleID)
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return mih.Errorf(mih.CodeConflict, "rule %d of delivery %d was deleted, so it cannot be re-rendered; replay it as sent", d.RuleID, d.ID)
	} else if err != nil {
		return err
	}
	if ru.Service != d.Service {
		return mih.Errorf(mih.CodeConflict, "rule %d now sends to service %q, delivery %d belongs to %q; replay it as sent", ru.ID, ru.Service, d.ID, d.Service)
	}
	ev, err := st.FindEventByID(ctx, d.EventID)
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return mih.Errorf(mih.CodeConflict, "event %q of delivery %d is gone, so it cannot be re-rendered; replay it as sent", d.EventID, d.ID)
	} else if err != nil {
		return err
	}
	c, err := Compile(ru)
	if err != nil {
		return mih.Errorf(mih.CodeConflict, "rule %d does not compile any more: %s", ru.ID, mih.ErrorMessage(err))
	}
	req, err := c.Build(ctx, ev, nil, nil)
	if err != nil {
		return mih.Errorf(mih.CodeConflict, "re-render delivery %d with rule %d: %s", d.ID, ru.ID, buildMessage(err))
	}
	if req.Deferred {
		return st.SetDeliveryPayload(ctx, d.ID, req.Method, "", nil)
	}
	return st.SetDeliveryPayload(ctx, d.ID, req.Method, req.Endpoint, req.Payload)
}

// buildMessage is a Build failure as a person reads it.
func buildMessage(err error) string {
	if se, ok := err.(*mih.SendError); ok {
		return se.Message
	}
	return mih.ErrorMessage(err)
}
