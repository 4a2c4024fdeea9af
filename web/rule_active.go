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
	ru, err := h.store.FindRuleByID(ctx, id)
	if err != nil {
		return err
	}
	on := r.PostFormValue("active") == "true"
	if ru.Active != on {
		ru.Active = on
		if err := h.store.UpdateRule(ctx, ru); err != nil {
			return err
		}
		h.cfg.Rules.Invalidate()
	}
	word := "deactivated"
	if on {
		word = "activated"
	}
	return h.redirect(w, r, back(r, "/rules"), "ok", "Rule %d %s.", id, word)
}
