package http

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

func TestServices_CRUD(t *testing.T) {
	h := newTestHub(t)
	ctx := context.Background()
	const secretToken = "s3cr3t-upstream-token"
	create := map[string]any{
		"name": "notification-api", "type": "rest", "base_url": "https://api.example.com/v1",
		"auth":           map[string]any{"type": "bearer", "token": secretToken},
		"signing_secret": "whsec_c2VjcmV0LXNpZ25pbmcta2V5",
		"headers":        map[string]string{"X-Tenant": "42"},
	}
	stored := func() *mih.Service {
		t.Helper()
		s, err := h.store.FindServiceByName(ctx, "notification-api")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	noSecrets := func(r *response) {
		t.Helper()
		if strings.Contains(string(r.Body), secretToken) || strings.Contains(string(r.Body), "c2VjcmV0") {
			t.Fatalf("answer leaks a secret: %s", r.Body)
		}
	}

	t.Run("create", func(t *testing.T) {
		r := h.do("POST", "/api/v1/services", create).want(http.StatusCreated)
		noSecrets(r)
		var s mih.Service
		r.decode(&s)
		if s.Auth.Token != mih.Masked || s.SigningSecret != mih.Masked {
			t.Errorf("token %q, signing secret %q; want both masked", s.Auth.Token, s.SigningSecret)
		}
		def := mih.NewService()
		if s.TimeoutS != def.TimeoutS || s.MaxRetries != def.MaxRetries || !s.Enabled || s.Circuit.FailureThreshold != def.Circuit.FailureThreshold {
			t.Errorf("defaults not applied: %+v", s)
		}
		if s.CircuitState != mih.CircuitClosed || s.CreatedAt.IsZero() {
			t.Errorf("circuit_state %q, created_at %v", s.CircuitState, s.CreatedAt)
		}
		if loc := r.Header.Get("Location"); loc != "/api/v1/services/notification-api" {
			t.Errorf("Location %q", loc)
		}
		if got := stored().Auth.Token; got != secretToken {
			t.Errorf("stored token %q, want the secret", got)
		}
	})
	t.Run("get and list mask secrets", func(t *testing.T) {
		r := h.do("GET", "/api/v1/services/notification-api", nil).want(http.StatusOK)
		noSecrets(r)
		if r.obj()["auth"].(map[string]any)["token"] != mih.Masked {
			t.Errorf("token not masked: %s", r.Body)
		}
		r = h.do("GET", "/api/v1/services", nil).want(http.StatusOK)
		noSecrets(r)
		var l list[*mih.Service]
		r.decode(&l)
		if len(l.Items) != 1 || l.Items[0].Auth.Token != mih.Masked || l.Next != "" {
			t.Errorf("list = %s", r.Body)
		}
	})
	t.Run("put without secrets keeps them", func(t *testing.T) {
		r := h.do("PUT", "/api/v1/services/notification-api", map[string]any{
			"type": "rest", "base_url": "https://api.example.com/v2", "auth": map[string]any{"type": "bearer"}, "timeout_s": 9,
		}).want(http.StatusOK)
		noSecrets(r)
		s := stored()
		if s.Auth.Token != secretToken || s.SigningSecret != create["signing_secret"] {
			t.Errorf("stored token %q, signing secret %q; want the originals kept", s.Auth.Token, s.SigningSecret)
		}
		if s.BaseURL != "https://api.example.com/v2" || s.TimeoutS != 9 {
			t.Errorf("update not applied: %+v", s)
		}
	})
	t.Run("secrets do not follow a new host", func(t *testing.T) {
		for _, base := range []string{"https://collector.example.net/v1", "http://api.example.com/v1", "https://api.example.com:8443/v1"} {
			r := h.do("PUT", "/api/v1/services/notification-api", map[string]any{
				"type": "rest", "base_url": base, "auth": map[string]any{"type": "bearer", "token": mih.Masked},
			}).want(http.StatusUnprocessableEntity)
			if m := r.obj()["error"].(map[string]any); m["code"] != "secrets_required" ||
				!strings.Contains(m["message"].(string), "auth.token, signing_secret") {
				t.Errorf("%s: %s", base, r.Body)
			}
			if s := stored(); s.BaseURL != "https://api.example.com/v2" {
				t.Errorf("%s: the service changed: %s", base, s.BaseURL)
			}
		}
		// Typed again, the secrets go with the service.
		h.do("PUT", "/api/v1/services/notification-api", map[string]any{
			"type": "rest", "base_url": "https://collector.example.net/v1", "auth": map[string]any{"type": "bearer", "token": "tok-typed-again"},
			"signing_secret": create["signing_secret"],
		}).want(http.StatusOK)
		h.do("PUT", "/api/v1/services/notification-api", map[string]any{
			"type": "rest", "base_url": "https://api.example.com/v1", "auth": map[string]any{"type": "bearer", "token": secretToken},
			"signing_secret": create["signing_secret"],
		}).want(http.StatusOK)
	})
	t.Run("put with masked secret keeps it", func(t *testing.T) {
		h.do("PUT", "/api/v1/services/notification-api", map[string]any{
			"base_url": "https://api.example.com/v1", "auth": map[string]any{"type": "bearer", "token": mih.Masked},
		}).want(http.StatusOK)
		if got := stored().Auth.Token; got != secretToken {
			t.Errorf("stored token %q, want it kept", got)
		}
	})
	t.Run("put with a new secret replaces it", func(t *testing.T) {
		h.do("PUT", "/api/v1/services/notification-api", map[string]any{
			"base_url": "https://api.example.com/v1", "auth": map[string]any{"type": "bearer", "token": "new-token"},
		}).want(http.StatusOK)
		if got := stored().Auth.Token; got != "new-token" {
			t.Errorf("stored token %q, want new-token", got)
		}
	})

	bad := []struct {
		name    string
		method  string
		path    string
		body    any
		status  int
		code    string
		mention string
	}{
		{"duplicate name", "POST", "/api/v1/services", create, 409, "conflict", ""},
		{"bad name", "POST", "/api/v1/services", map[string]any{"name": "Bad Name", "base_url": "https://x.example"}, 400, "invalid", "name"},
		{"bad type", "POST", "/api/v1/services", map[string]any{"name": "x", "type": "ftp", "base_url": "https://x.example"}, 400, "invalid", "type"},
		{"no base_url", "POST", "/api/v1/services", map[string]any{"name": "x"}, 400, "invalid", "base_url"},
		{"bearer without token", "POST", "/api/v1/services", map[string]any{"name": "x", "base_url": "https://x.example", "auth": map[string]any{"type": "bearer"}}, 400, "invalid", "auth.token"},
		{"masked token on create", "POST", "/api/v1/services", map[string]any{"name": "x", "base_url": "https://x.example", "auth": map[string]any{"type": "bearer", "token": mih.Masked}}, 400, "invalid", "auth.token"},
		{"unknown field", "POST", "/api/v1/services", map[string]any{"name": "x", "base_url": "https://x.example", "colour": "red"}, 400, "invalid", "colour"},
		{"wrong field type", "POST", "/api/v1/services", map[string]any{"name": "x", "base_url": "https://x.example", "timeout_s": "5"}, 400, "invalid", "timeout_s"},
		{"two JSON values", "POST", "/api/v1/services", `{"name":"x","base_url":"https://x.example"} {}`, 400, "invalid", "after"},
		{"empty body", "POST", "/api/v1/services", nil, 400, "invalid", "body"},
		{"rename", "PUT", "/api/v1/services/notification-api", map[string]any{"name": "other", "base_url": "https://x.example"}, 400, "invalid", "renamed"},
		{"put unknown", "PUT", "/api/v1/services/nope", map[string]any{"base_url": "https://x.example"}, 404, "not_found", ""},
		{"get unknown", "GET", "/api/v1/services/nope", nil, 404, "not_found", ""},
		{"delete unknown", "DELETE", "/api/v1/services/nope?confirm=true", nil, 404, "not_found", ""},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.path, tc.body).wantError(tc.status, tc.code)
			if !strings.Contains(r.errMessage(), tc.mention) {
				t.Errorf("message %q does not mention %q", r.errMessage(), tc.mention)
			}
		})
	}
	if svcs, _ := h.store.FindServices(ctx); len(svcs) != 1 {
		t.Errorf("got %d services stored, want 1", len(svcs))
	}
}

func TestServices_ListPages(t *testing.T) {
	h := newTestHub(t)
	for _, n := range []string{"a", "b", "c"} {
		h.createService(n)
		h.clock.Add(1e9)
	}
	var names []string
	next := ""
	for range 3 {
		var l list[*mih.Service]
		h.do("GET", "/api/v1/services?limit=2&cursor="+next, nil).want(http.StatusOK).decode(&l)
		for _, s := range l.Items {
			names = append(names, s.Name)
		}
		if next = l.Next; next == "" {
			break
		}
	}
	if got := strings.Join(names, ","); got != "c,b,a" {
		t.Errorf("pages gave %s, want c,b,a (newest first)", got)
	}
}

func TestServices_DeleteConfirm(t *testing.T) {
	h := newTestHub(t)
	h.createService("crm")
	h.createRule("crm", `\core\event\user_created`, "")
	h.do("POST", "/api/v1/events", testEvent("e1", `\core\event\user_created`, 2)).want(http.StatusAccepted)

	r := h.do("DELETE", "/api/v1/services/crm", nil).wantError(409, "confirm")
	msg := r.errMessage()
	for _, want := range []string{"1 rule", "1 waiting delivery", "confirm=true"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not mention %q", msg, want)
		}
	}
	h.do("GET", "/api/v1/services/crm", nil).want(http.StatusOK)

	var del mih.ServiceDeletion
	h.do("DELETE", "/api/v1/services/crm?confirm=true", nil).want(http.StatusOK).decode(&del)
	if del.Rules != 1 || del.Deliveries != 1 {
		t.Errorf("deletion %+v, want 1 rule and 1 delivery moved to the DLQ", del)
	}
	h.do("GET", "/api/v1/services/crm", nil).wantError(404, "not_found")
	var rules list[*mih.Rule]
	h.do("GET", "/api/v1/rules", nil).want(http.StatusOK).decode(&rules)
	if len(rules.Items) != 0 {
		t.Errorf("got %d rules after deleting their service, want 0", len(rules.Items))
	}
	var dead list[*mih.Delivery]
	h.do("GET", "/api/v1/deliveries?status=dead", nil).want(http.StatusOK).decode(&dead)
	if len(dead.Items) != 1 || dead.Items[0].DeadReason != mih.ReasonServiceDeleted {
		t.Errorf("dead deliveries %+v, want one with reason service_deleted", dead.Items)
	}
}
