package web

import (
	"net/http"
)

// ruleActivate turns a rule on or off without deleting it.
func (h *Handler) ruleActivate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	on := r.PostFormValue("active") == "true"
	if _, err := h.ops.SetRuleActive(ctx, id, on); err != nil {
		return err
	}
	word := "deactivated"
	if on {
		word = "activated"
	}
	return h.redirect(w, r, back(r, "/rules"), "ok", "Rule %d %s.", id, word)
}
