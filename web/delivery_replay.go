package web

import (
	"net/http"
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
	if _, err := h.ops.ReplayDelivery(ctx, id, r.PostFormValue("rerender") != ""); err != nil {
		return err
	}
	return h.redirect(w, r, "/deliveries/"+itoa(id), "ok", "Delivery %d replayed: it is pending again.", id)
}

// deliveryDelete deletes one delivery with its attempts; one being sent right now is kept.
func (h *Handler) deliveryDelete(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := h.ops.DeleteDelivery(ctx, id); err != nil {
		return err
	}
	return h.redirect(w, r, back(r, "/queue"), "ok", "Delivery %d deleted.", id)
}
