package web

import (
	"context"
	"net/http"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/template"
)

// deliveryReplay sends a dead delivery again with a fresh attempt budget and the same
// idempotency key; with "re-render" ticked, the payload is built again from the stored event
// with the rule as it is now. Only dead deliveries can be replayed, as in the API.
func (h *Handler) deliveryReplay(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.store.FindDeliveryByID(ctx, id)
	if err != nil {
		return err
	}
	if d.State != mih.DeliveryDead {
		return mih.Errorf(mih.CodeConflict, "Delivery %d is %s; only dead deliveries can be replayed.", id, d.State)
	}
	if r.PostFormValue("rerender") != "" {
		if err := h.rerender(ctx, d); err != nil {
			return err
		}
	}
	n, err := h.store.ReplayDeliveries(ctx, mih.DeliveryFilter{IDs: []int64{id}, State: mih.DeliveryDead}, h.now().UTC())
	if err != nil {
		return err
	}
	if n == 0 {
		return mih.Errorf(mih.CodeConflict, "Delivery %d is no longer dead: it was replayed or deleted meanwhile.", id)
	}
	h.cfg.Notify()
	return h.redirect(w, r, "/deliveries/"+itoa(id), "ok", "Delivery %d replayed: it is pending again.", id)
}

// rerender builds a dead delivery's request again from its stored event with the current rule,
// as POST /api/v1/deliveries/{id}/replay {"rerender": true} does. The rule must still send to
// the same service.
func (h *Handler) rerender(ctx context.Context, d *mih.Delivery) error {
	if d.RuleID == 0 || d.EventID == "" {
		return mih.Errorf(mih.CodeConflict, "Delivery %d did not come from a rule and an event, so it cannot be re-rendered; replay it as sent.", d.ID)
	}
	ru, err := findOptional(ctx, d.RuleID, h.store.FindRuleByID)
	if err != nil {
		return err
	}
	if ru == nil {
		return mih.Errorf(mih.CodeConflict, "Rule %d of delivery %d was deleted, so it cannot be re-rendered; replay it as sent.", d.RuleID, d.ID)
	}
	if ru.Service != d.Service {
		return mih.Errorf(mih.CodeConflict, "Rule %d now sends to service %s, delivery %d belongs to %s; replay it as sent.", ru.ID, ru.Service, d.ID, d.Service)
	}
	ev, err := findOptional(ctx, d.EventID, h.store.FindEventByID)
	if err != nil {
		return err
	}
	if ev == nil {
		return mih.Errorf(mih.CodeConflict, "Event %s of delivery %d is gone, so it cannot be re-rendered; replay it as sent.", d.EventID, d.ID)
	}
	c, err := rule.Compile(ru)
	if err != nil {
		return mih.Errorf(mih.CodeConflict, "Rule %d does not compile any more: %s", ru.ID, mih.ErrorMessage(err))
	}
	data, err := ev.Data()
	if err != nil {
		return err
	}
	if c.Wants(data).Any() {
		// The rule needs Moodle data: the request is cleared, and the worker renders it again
		// with fresh lookups when the replay goes out.
		return h.store.SetDeliveryPayload(ctx, d.ID, ru.Method, "", nil)
	}
	method, endpoint, payload, err := c.Render(template.Scope{Event: data})
	if err != nil {
		return mih.Errorf(mih.CodeConflict, "Re-rendering delivery %d with rule %d failed: %v", d.ID, ru.ID, err)
	}
	return h.store.SetDeliveryPayload(ctx, d.ID, method, endpoint, payload)
}

// deliveryDelete deletes one delivery with its attempts; one being sent right now is kept.
func (h *Handler) deliveryDelete(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := h.store.FindDeliveryByID(ctx, id); err != nil {
		return err
	}
	n, err := h.store.DeleteDeliveries(ctx, mih.DeliveryFilter{IDs: []int64{id}})
	if err != nil {
		return err
	}
	if n == 0 {
		return mih.Errorf(mih.CodeConflict, "Delivery %d is being sent right now; try again when the attempt has ended.", id)
	}
	return h.redirect(w, r, back(r, "/queue"), "ok", "Delivery %d deleted.", id)
}
