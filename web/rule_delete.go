package web

import (
	"net/http"

	"github.com/mihhub/mih"
)

// ruleDeleteConfirm asks before a rule is deleted. Its deliveries stay, so the queue and the DLQ
// keep what they hold.
func (h *Handler) ruleDeleteConfirm(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ru, err := h.store.FindRuleByID(r.Context(), id)
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "rule_delete", "Delete rule", "rules", ru)
}

// ruleDelete deletes a rule once confirmed.
func (h *Handler) ruleDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		return mih.Errorf(mih.CodeConfirm, "Deleting rule %d needs confirmation: use the Delete button of its confirmation page.", id)
	}
	if err := h.ops.DeleteRule(r.Context(), id); err != nil {
		return err
	}
	return h.redirect(w, r, "/rules", "ok", "Rule %d deleted. Its deliveries stay in the queue.", id)
}
