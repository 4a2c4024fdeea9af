package web

import (
	"net/http"
)

// serviceEnable turns a service on or off. A disabled service's deliveries wait (paused) instead
// of being sent; turning it on again wakes the workers.
func (h *Handler) serviceEnable(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	s, err := h.store.FindServiceByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	on := r.PostFormValue("enabled") == "true"
	if s.Enabled != on {
		s.Enabled = on
		if err := h.store.UpdateService(ctx, s); err != nil {
			return err
		}
		h.cfg.Rules.Invalidate()
		if on {
			h.cfg.Notify()
		}
	}
	word := "disabled: its deliveries wait until it is enabled again"
	if on {
		word = "enabled"
	}
	return h.redirect(w, r, back(r, "/services"), "ok", "Service %s %s.", s.Name, word)
}

// circuitReset closes a service's circuit, for when the service is known to be back before the
// cooldown ends; its paused deliveries go at once.
func (h *Handler) circuitReset(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	if _, err := h.store.FindServiceByName(ctx, name); err != nil {
		return err
	}
	if err := h.cfg.Circuits.Reset(ctx, name); err != nil {
		return err
	}
	h.cfg.Notify()
	return h.redirect(w, r, back(r, "/"), "ok", "Circuit of %s reset: it is %s.", name, circuitBadge(h.cfg.Circuits.State(name)).Label)
}

// circuitResetAll closes every circuit.
func (h *Handler) circuitResetAll(w http.ResponseWriter, r *http.Request) error {
	n, err := h.cfg.Circuits.ResetAll(r.Context())
	if err != nil {
		return err
	}
	if n > 0 {
		h.cfg.Notify()
	}
	return h.redirect(w, r, back(r, "/"), "ok", "%s reset.", capitalize(plural(n, "circuit")))
}
