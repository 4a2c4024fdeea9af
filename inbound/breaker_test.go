package inbound_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/breaker"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/inbound"
	"github.com/mihhub/mih/moodle/moodletest"
	"github.com/mihhub/mih/transport/moodlews"
)

// A site that keeps failing opens its own circuit, moodle:main, like a service's: its calls
// wait paused instead of using up their attempts.
func TestSiteCircuit(t *testing.T) {
	h := newHub(t)
	cb := breaker.New(h.st, breaker.Options{})
	gw := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceMoodle: moodlews.New(moodlews.Options{})}, gateway.Options{Guard: cb})
	fast := func(s *mih.Service) { s.InitialBackoffS, s.MaxBackoffS, s.Circuit.FailureThreshold = 0.01, 0.02, 3 }
	h.worker = delivery.New(h.st, &inbound.Services{Services: h.st, Sites: h.st, Tune: fast}, gw, delivery.Config{
		Owner: "test", PollInterval: 20 * time.Millisecond})
	h.moodle.FailNext("", 1000, moodletest.Failure{Status: http.StatusServiceUnavailable, Body: "<html>down</html>", ContentType: "text/html"})
	left := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"action": "student.left", "student": {"username": "u%d"}}`, i))
	}
	for i := range 5 {
		h.send(t, signed(t, secretOld, fmt.Sprint("m", i), time.Now(), left(i)), left(i))
	}
	h.run(t, func() bool { return cb.State("moodle:main") == mih.CircuitOpen && count(t, h, mih.DeliveryPaused) > 0 })
	if n := count(t, h, mih.DeliveryDead); n != 0 {
		t.Errorf("%d calls in the DLQ while the circuit is open, want 0", n)
	}
}

func count(t *testing.T, h *hub, state mih.DeliveryState) int {
	ds, _, err := h.st.FindDeliveries(context.Background(), mih.DeliveryFilter{State: state})
	if err != nil {
		t.Fatal(err)
	}
	return len(ds)
}
