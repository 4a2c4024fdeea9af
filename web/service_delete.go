package web

import (
	"net/http"

	"github.com/mihhub/mih"
)

type serviceDeleteData struct {
	Name    string
	Rules   []*mih.Rule
	Waiting int
	Dead    int
}

// serviceDeleteConfirm says what deleting the service takes along before anything happens: its
// rules, its request log and circuit, and its waiting deliveries, which go to the DLQ.
func (h *Handler) serviceDeleteConfirm(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s, err := h.store.FindServiceByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	rules, err := h.store.FindRules(ctx, mih.RuleFilter{Service: s.Name})
	if err != nil {
		return err
	}
	counts, err := h.store.CountDeliveries(ctx)
	if err != nil {
		return err
	}
	d := serviceDeleteData{Name: s.Name, Rules: rules}
	for _, c := range counts {
		if c.Service != s.Name {
			continue
		}
		switch c.State {
		case mih.DeliveryPending, mih.DeliveryRetrying, mih.DeliveryPaused:
			d.Waiting += c.Count
		case mih.DeliveryDead:
			d.Dead += c.Count
		}
	}
	return h.render(w, r, http.StatusOK, "service_delete", "Delete service "+s.Name, "services", d)
}

// serviceDelete deletes the service once confirmed on serviceDeleteConfirm's page.
func (h *Handler) serviceDelete(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if r.PostFormValue("confirm") != "yes" {
		return mih.Errorf(mih.CodeConfirm, "Deleting service %s needs confirmation: use the Delete button of its confirmation page.", name)
	}
	del, err := h.ops.DeleteService(r.Context(), name)
	if err != nil {
		return err
	}
	return h.redirect(w, r, "/services", "ok",
		"Service %s deleted with %s and %s; %s moved to the dead-letter queue.",
		name, plural(del.Rules, "rule"), plural(del.Logs, "log entry"), plural(del.Deliveries, "waiting delivery"))
}
