package http

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/webhook"
)

const (
	inboundSecret = "whsec_c2lzLXNpZ25pbmcta2V5LTAxMjM0NTY3ODk="
	inboundToken  = "sis-bearer-0123456789"
)

func TestInbound_API(t *testing.T) {
	h := newTestHub(t)
	h.do("POST", "/api/v1/sites", mainSite()).want(http.StatusCreated)

	// Endpoints: secrets and token are write-only.
	ep := map[string]any{"name": "sis", "secrets": []string{inboundSecret}, "token": inboundToken}
	r := h.do("POST", "/api/v1/inbound-endpoints", ep).want(http.StatusCreated)
	if strings.Contains(string(r.Body), inboundToken) || strings.Contains(string(r.Body), "c2lzLXNpZ25pbmc") {
		t.Fatalf("answer leaks a secret: %s", r.Body)
	}
	h.do("POST", "/api/v1/inbound-endpoints", map[string]any{"name": "bad", "secrets": []string{"whsec_%%%"}}).wantError(http.StatusBadRequest, "invalid")
	h.do("POST", "/api/v1/inbound-endpoints", map[string]any{"name": "open"}).wantError(http.StatusBadRequest, "invalid")
	// Writing back what was read keeps the secrets.
	got := h.do("GET", "/api/v1/inbound-endpoints/sis", nil).want(http.StatusOK).obj()
	got["description"] = "student records"
	h.do("PUT", "/api/v1/inbound-endpoints/sis", got).want(http.StatusOK)
	if e, _ := h.store.FindInboundEndpoint(t.Context(), "sis"); e.Token != inboundToken || e.Secrets[0] != inboundSecret || e.Description != "student records" {
		t.Fatalf("stored endpoint %+v", e)
	}

	rule := map[string]any{"endpoint": "sis", "name": "create", "site": "main", "function": "core_user_create_users",
		"filter": `action == "created"`, "template": `{"users": [{"username": {{username}}, "createpassword": 1}]}`}
	h.do("POST", "/api/v1/inbound-rules", rule).want(http.StatusCreated)
	bad := map[string]any{"endpoint": "sis", "site": "nope", "function": "core_user_create_users"}
	h.do("POST", "/api/v1/inbound-rules", bad).wantError(http.StatusBadRequest, "invalid")
	bad = map[string]any{"endpoint": "sis", "site": "main", "function": "core_user_create_users", "template": `{"x": {{}`}
	h.do("POST", "/api/v1/inbound-rules", bad).wantError(http.StatusBadRequest, "invalid")

	pv := h.do("POST", "/api/v1/inbound-rules/preview", map[string]any{"rule": rule, "message": map[string]any{"action": "created", "username": "ada"}}).want(http.StatusOK).obj()
	if pv["matched"] != true || !strings.Contains(pv["form"].(string), "users%5B0%5D%5Busername%5D=ada") {
		t.Errorf("preview %v", pv)
	}

	// Receiving: signed, with the token, or refused; 202 before any call.
	body := []byte(`{"action": "created", "username": "ada"}`)
	ts := h.clock.Now().Unix()
	sig, _ := webhook.Sign(inboundSecret, "msg_1", ts, body)
	signed := map[string]string{"webhook-id": "msg_1", "webhook-timestamp": fmt.Sprint(ts), "webhook-signature": sig}
	res := h.doWith("POST", "/api/v1/inbound/sis", body, signed).want(http.StatusAccepted).obj()
	if res["calls"] != 1.0 || res["duplicate"] != false {
		t.Errorf("result %v", res)
	}
	res = h.doWith("POST", "/api/v1/inbound/sis", body, signed).want(http.StatusAccepted).obj()
	if res["duplicate"] != true || res["calls"] != 0.0 {
		t.Errorf("duplicate %v", res)
	}
	ds, _, _ := h.store.FindDeliveries(t.Context(), mih.DeliveryFilter{})
	if len(ds) != 1 || ds[0].Service != "moodle:main" || ds[0].Endpoint != "core_user_create_users" || ds[0].State != mih.DeliveryPending {
		t.Fatalf("deliveries %+v", ds)
	}
	h.doWith("POST", "/api/v1/inbound/sis", body, map[string]string{"Authorization": "Bearer " + inboundToken}).want(http.StatusAccepted)
	h.doWith("POST", "/api/v1/inbound/sis", body, map[string]string{"Authorization": "Bearer " + testToken}).wantError(http.StatusUnauthorized, "unauthorized")
	h.doWith("POST", "/api/v1/inbound/sis", body, nil).wantError(http.StatusUnauthorized, "unauthorized")
	tampered := map[string]string{"webhook-id": "msg_2", "webhook-timestamp": fmt.Sprint(ts), "webhook-signature": sig}
	h.doWith("POST", "/api/v1/inbound/sis", body, tampered).wantError(http.StatusUnauthorized, "unauthorized")
	h.doWith("POST", "/api/v1/inbound/nope", body, signed).wantError(http.StatusNotFound, "not_found")
	sig2, _ := webhook.Sign(inboundSecret, "msg_3", ts, []byte(`[1]`))
	h.doWith("POST", "/api/v1/inbound/sis", []byte(`[1]`), map[string]string{"webhook-id": "msg_3", "webhook-timestamp": fmt.Sprint(ts), "webhook-signature": sig2}).
		wantError(http.StatusBadRequest, "invalid")

	h.do("DELETE", "/api/v1/inbound-endpoints/sis", nil).want(http.StatusNoContent)
	if l := h.do("GET", "/api/v1/inbound-rules", nil).want(http.StatusOK).obj()["items"].([]any); len(l) != 0 {
		t.Errorf("rules after the endpoint was deleted: %v", l)
	}
}
