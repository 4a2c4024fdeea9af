package web

import (
	"net/http"
)

// serviceEnable turns a service on or off. A disabled service's deliveries wait (paused) instead
// of being sent; turning it on again wakes the workers.
func (h *Handler) serviceEnable(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	on := r.PostFormValue("enabled") == "true"
	if _, err := h.ops.SetServiceEnabled(ctx, name, on); err != nil {
		return err
	}
	word := "disabled: its deliveries wait until it is enabled again"
	if on {
		word = "enabled"
	}
	return h.redirect(w, r, back(r, "/services"), "ok", "Service %s %s.", name, word)
}

// circuitReset closes a service's circuit, for when the service is known to be back before the
// cooldown ends; its paused deliveries go at once.
func (h *Handler) circuitReset(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	if err := h.ops.ResetCircuit(ctx, name); err != nil {
		return err
	}
	return h.redirect(w, r, back(r, "/"), "ok", "Circuit of %s reset: it is %s.", name, circuitBadge(h.ops.CircuitState(name)).Label)
}

// circuitResetAll closes every circuit.
func (h *Handler) circuitResetAll(w http.ResponseWriter, r *http.Request) error {
	n, err := h.ops.ResetCircuits(r.Context())
	if err != nil {
		return err
	}
	return h.redirect(w, r, back(r, "/"), "ok", "%s reset.", capitalize(plural(n, "circuit")))
}
