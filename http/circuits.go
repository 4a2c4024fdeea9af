package http

import (
	"net/http"

	"github.com/mihhub/mih/ops"
)

// circuitHandler serves the circuit breaker's manual controls: closing one service's circuit,
// POST /api/v1/services/{name}/circuit/reset, or every circuit, POST /api/v1/circuits/reset. An
// operator uses them when a service is known to be back before the cooldown ends.
type circuitHandler struct {
	ops *ops.Ops
}

type circuitBody struct {
	Service      string `json:"service"`
	CircuitState string `json:"circuit_state"`
}

type resetBody struct {
	Reset int `json:"reset"`
}

// reset closes one service's circuit and answers its state afterwards.
func (h *circuitHandler) reset(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	if err := h.ops.ResetCircuit(ctx, name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, circuitBody{Service: name, CircuitState: h.ops.CircuitState(name)})
	return nil
}

// resetAll closes every circuit and answers how many were reset.
func (h *circuitHandler) resetAll(w http.ResponseWriter, r *http.Request) error {
	n, err := h.ops.ResetCircuits(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resetBody{Reset: n})
	return nil
}
