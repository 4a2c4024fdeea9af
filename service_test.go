package mih_test

import (
	"testing"

	"github.com/mihhub/mih"
)

func TestService_MaskedHeaders(t *testing.T) {
	s := mih.NewService()
	s.Headers = map[string]string{"X-Api-Key": "k-123", "X-Tenant": "42", "Idempotency-Key": "e1:1", "X-Session-Token": "st"}
	m := s.Masked()
	want := map[string]string{"X-Api-Key": mih.Masked, "X-Tenant": "42", "Idempotency-Key": "e1:1", "X-Session-Token": mih.Masked}
	for k, v := range want {
		if m.Headers[k] != v {
			t.Errorf("%s: got %q, want %q", k, m.Headers[k], v)
		}
	}
	if s.Headers["X-Api-Key"] != "k-123" {
		t.Error("Masked changed the original")
	}
	// Writing the masked copy back keeps the stored credential.
	m.Headers["X-Tenant"] = "43"
	m.KeepSecrets(s)
	if m.Headers["X-Api-Key"] != "k-123" || m.Headers["X-Tenant"] != "43" {
		t.Errorf("after KeepSecrets: %v", m.Headers)
	}
}
