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

// TestService_URLPasswordNeverShown: a password in a REST service's base_url is a secret like
// the others: the form shows its mask, a form that fails validation does not echo it, and
// saving the masked URL keeps the stored password.
func TestService_URLPasswordNeverShown(t *testing.T) {
	u := newTestUI(t)
	u.login()
	const pass = "urlpass-SECRET-77aa"
	r := u.post("/services", restForm("crm", "https://hub:"+pass+"@crm.example.com/api"))
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, excerpt(r.body, 2000))
	}
	must(t, u.get("/services/crm/edit"), http.StatusOK, "https://hub:********@crm.example.com/api")
	// A form with an error shows what was typed, the password masked.
	bad := restForm("crm2", "https://hub:"+pass+"@crm.example.com/api")
	bad.Set("timeout_s", "x")
	must(t, u.post("/services", bad), http.StatusBadRequest, "https://hub:********@crm.example.com/api")
	// Saving the page as shown keeps the password.
	f := restForm("crm", "https://hub:********@crm.example.com/api")
	f.Set("auth.token", "")
	f.Set("signing_secret", "")
	f.Set("headers", "X-Tenant: 43\nX-Api-Key: ********")
	if r := u.post("/services/crm/edit", f); r.status != http.StatusSeeOther {
		t.Fatalf("update: %d\n%s", r.status, excerpt(r.body, 2000))
	}
	s, _ := u.store.FindServiceByName(t.Context(), "crm")
	if s.BaseURL != "https://hub:"+pass+"@crm.example.com/api" {
		t.Errorf("base_url after saving the masked form: %q", s.BaseURL)
	}
	u.noSecrets(pass)
}

// TestService_SecretsDoNotFollowANewHost: saving the service form with another host and the
// secrets left as stored is refused (422) naming them; typed again, they go with it.
func TestService_SecretsDoNotFollowANewHost(t *testing.T) {
	u := newTestUI(t)
	u.login()
	if r := u.post("/services", restForm("crm", "https://crm.example.com/api")); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.status)
	}
	f := restForm("crm", "https://collector.example.net/api")
	f.Set("auth.token", "")
	f.Set("signing_secret", "")
	f.Set("headers", "X-Tenant: 42\nX-Api-Key: ********")
	must(t, u.post("/services/crm/edit", f), http.StatusUnprocessableEntity, "type them again", "auth.token", "headers.X-Api-Key", "signing_secret")
	if s, _ := u.store.FindServiceByName(t.Context(), "crm"); s.BaseURL != "https://crm.example.com/api" {
		t.Errorf("a refused move changed the service: %s", s.BaseURL)
	}
	if r := u.post("/services/crm/edit", restForm("crm", "https://collector.example.net/api")); r.status != http.StatusSeeOther {
		t.Errorf("with the secrets typed again: %d\n%s", r.status, excerpt(r.body, 2000))
	}
}
