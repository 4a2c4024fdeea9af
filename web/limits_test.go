package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// TestDelivery_DeepEventIsBounded: an event nested thousands of levels (stored before ingest
// bounded nesting, or read from Moodle's log store) renders a page of bounded size, not one
// whose indentation grows with the square of the depth.
func TestDelivery_DeepEventIsBounded(t *testing.T) {
	u := newTestUI(t)
	u.login()
	u.createService(restService("crm", "https://crm.example.com/api"))
	const depth = 9990
	other := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	ev := &mih.Event{ID: "deep", EventName: `\core\event\user_created`, Other: json.RawMessage(other),
		TimeCreated: 1767000000, ReceivedAt: time.Now()}
	d := &mih.Delivery{EventID: ev.ID, RuleID: 1, Service: "crm", State: mih.DeliveryPending, Method: "POST",
		Payload: json.RawMessage(`{"other":` + other + `}`), IdempotencyKey: "deep:1", NextAttemptAt: time.Now().Add(time.Hour)}
	if _, err := u.store.CreateEvents(t.Context(), []mih.IngestItem{{Event: ev, Deliveries: []*mih.Delivery{d}}}); err != nil {
		t.Fatal(err)
	}
	r := u.get("/deliveries/" + itoa(d.ID))
	must(t, r, http.StatusOK, "deep")
	if len(r.body) > 2<<20 {
		t.Fatalf("payload viewer page is %d bytes for an event nested %d levels, want at most 2 MiB", len(r.body), depth)
	}
}
