package http

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/ops"
)

// fakeCircuits keeps circuit states in a map, as the breaker keeps them in the store.
type fakeCircuits struct {
	mu     sync.Mutex
	states map[string]string
	resets []string
	err    error
}

var _ ops.Circuits = (*fakeCircuits)(nil)

func (f *fakeCircuits) State(service string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.states[service]; ok {
		return s
	}
	return mih.CircuitClosed
}

func (f *fakeCircuits) Reset(_ context.Context, service string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.resets = append(f.resets, service)
	delete(f.states, service)
	return nil
}

func (f *fakeCircuits) ResetAll(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return 0, f.err
	}
	n := 0
	for _, s := range f.states {
		if s != mih.CircuitClosed {
			n++
		}
	}
	f.states = map[string]string{}
	return n, nil
}

func (f *fakeCircuits) set(service, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[service] = state
}

func TestCircuits(t *testing.T) {
	fc := &fakeCircuits{states: map[string]string{}}
	h := newTestHub(t, func(c *ops.Config) { c.Circuits = fc })
	h.createService("crm")
	h.createService("lms")
	h.createService("erp")
	fc.set("crm", mih.CircuitOpen)
	fc.set("lms", mih.CircuitHalfOpen)

	t.Run("reads report the state", func(t *testing.T) {
		var s mih.Service
		h.do("GET", "/api/v1/services/crm", nil).want(http.StatusOK).decode(&s)
		if s.CircuitState != mih.CircuitOpen {
			t.Errorf("service circuit_state %q, want open", s.CircuitState)
		}
		var l list[*mih.Service]
		h.do("GET", "/api/v1/services", nil).want(http.StatusOK).decode(&l)
		got := map[string]string{}
		for _, s := range l.Items {
			got[s.Name] = s.CircuitState
		}
		if got["crm"] != "open" || got["lms"] != "halfopen" || got["erp"] != "closed" {
			t.Errorf("list states %v", got)
		}
		var st statsBody
		h.do("GET", "/api/v1/stats", nil).want(http.StatusOK).decode(&st)
		got = map[string]string{}
		for _, r := range st.Services {
			got[r.Name] = r.CircuitState
		}
		if got["crm"] != "open" || got["lms"] != "halfopen" || got["erp"] != "closed" {
			t.Errorf("stats states %v", got)
		}
	})
	t.Run("reset one", func(t *testing.T) {
		// Waking the workers is the breaker's, through the ledger, when it resumes deliveries.
		var b circuitBody
		h.do("POST", "/api/v1/services/crm/circuit/reset", nil).want(http.StatusOK).decode(&b)
		if b.Service != "crm" || b.CircuitState != mih.CircuitClosed {
			t.Errorf("answer %+v", b)
		}
		if fc.State("crm") != mih.CircuitClosed || fc.State("lms") != mih.CircuitHalfOpen {
			t.Errorf("crm %s, lms %s: want only crm reset", fc.State("crm"), fc.State("lms"))
		}
	})
	t.Run("reset unknown service", func(t *testing.T) {
		h.do("POST", "/api/v1/services/nope/circuit/reset", nil).wantError(http.StatusNotFound, "not_found")
		if len(fc.resets) != 1 {
			t.Errorf("resets %v, want only crm's", fc.resets)
		}
	})
	t.Run("reset all", func(t *testing.T) {
		fc.set("erp", mih.CircuitOpen)
		var b resetBody
		h.do("POST", "/api/v1/circuits/reset", nil).want(http.StatusOK).decode(&b)
		if b.Reset != 2 {
			t.Errorf("reset %d, want 2 (lms and erp)", b.Reset)
		}
		for _, s := range []string{"crm", "lms", "erp"} {
			if fc.State(s) != mih.CircuitClosed {
				t.Errorf("%s is %s after reset all", s, fc.State(s))
			}
		}
	})
	t.Run("breaker failure", func(t *testing.T) {
		fc.mu.Lock()
		fc.err = mih.Errorf(mih.CodeUnavailable, "the store does not answer")
		fc.mu.Unlock()
		h.do("POST", "/api/v1/services/crm/circuit/reset", nil).wantError(http.StatusServiceUnavailable, "unavailable")
		h.do("POST", "/api/v1/circuits/reset", nil).wantError(http.StatusServiceUnavailable, "unavailable")
	})
	t.Run("token required", func(t *testing.T) {
		h.doWith("POST", "/api/v1/circuits/reset", nil, nil).wantError(http.StatusUnauthorized, "unauthorized")
		h.doWith("POST", "/api/v1/services/crm/circuit/reset", nil, nil).wantError(http.StatusUnauthorized, "unauthorized")
	})
}

// Without a breaker every circuit reads closed and resets succeed with nothing to do.
func TestCircuits_NoBreaker(t *testing.T) {
	h := newTestHub(t)
	h.createService("crm")
	var b circuitBody
	h.do("POST", "/api/v1/services/crm/circuit/reset", nil).want(http.StatusOK).decode(&b)
	if b.Service != "crm" || b.CircuitState != mih.CircuitClosed {
		t.Errorf("answer %+v", b)
	}
	var all resetBody
	r := h.do("POST", "/api/v1/circuits/reset", nil).want(http.StatusOK)
	r.decode(&all)
	if all.Reset != 0 || string(r.Body) != "{\"reset\":0}\n" {
		t.Errorf("answer %s, want {\"reset\":0}", r.Body)
	}
	h.do("POST", "/api/v1/services/nope/circuit/reset", nil).wantError(http.StatusNotFound, "not_found")
}
