package web

import (
	"net/http"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/rule"
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
		if err := rule.Rerender(ctx, h.store, d); err != nil {
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
