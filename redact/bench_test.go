package redact

import (
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

// BenchmarkGatewayRedaction is what the gateway adds to every call: the service's secrets listed
// and an answer of 1 KiB with headers scanned for them.
func BenchmarkGatewayRedaction(b *testing.B) {
	svc := &mih.Service{BaseURL: "https://crm.example.com/api", Auth: mih.Auth{Type: mih.AuthBearer, Token: "tok-0123456789abcdef"},
		Headers: map[string]string{"X-Api-Key": "key-0123456789", "X-Tenant": "42"}, SigningSecret: "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng=="}
	body := []byte(`{"id":42,"status":"created","links":{"self":"https://crm.example.com/api/users/42"},"note":"` + strings.Repeat("x", 900) + `"}`)
	b.ReportAllocs()
	for b.Loop() {
		resp := &mih.Response{Body: body, URL: "https://crm.example.com/api/users", Headers: map[string][]string{"Content-Type": {"application/json"}, "Date": {"Mon"}},
			RequestHeaders: map[string]string{"Authorization": mih.Masked, "Idempotency-Key": "e1:1"}}
		s := Service(svc)
		s.Response(resp)
	}
}
