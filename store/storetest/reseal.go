package storetest

import (
	"context"
	"testing"

	"github.com/mihhub/mih"
)

var resealTests = []test{
	{"RewritesEverySealedValue", testReseal},
}

// resealer is what a store offers for a key rotation.
type resealer interface {
	Reseal(ctx context.Context, reseal func(sealed []byte) ([]byte, bool, error)) (int, int, error)
}

// testReseal: every sealed value of services, sites and inbound endpoints passes through the callback once; what it
// rewrites is stored, and the records read back the same.
func testReseal(t *testing.T, s mih.Store) {
	rs, ok := s.(resealer)
	if !ok {
		t.Skip("the store does not re-seal")
	}
	ctx := t.Context()
	ok2(t, s.CreateService(ctx, NewService("a")))
	site := &mih.Site{Name: "main", URL: "https://moodle.example.edu", Token: "ws-token-0123", Prefix: "mdl_", TailFrom: "latest"}
	ok2(t, s.CreateSite(ctx, site))
	ep := mih.NewInboundEndpoint()
	ep.Name, ep.Token = "sis", "sis-token-0123456789"
	ok2(t, s.CreateInboundEndpoint(ctx, ep))
	seen := map[string]bool{}
	n, kept, err := rs.Reseal(ctx, func(sealed []byte) ([]byte, bool, error) {
		seen[string(sealed)] = true
		return append([]byte{}, sealed...), true, nil
	})
	if err != nil || n != 3 || kept != 0 || len(seen) != 3 {
		t.Fatalf("reseal: %d rewritten, %d kept, %d seen, %v; want 3 rewritten", n, kept, len(seen), err)
	}
	n, kept, err = rs.Reseal(ctx, func([]byte) ([]byte, bool, error) { return nil, false, nil })
	if err != nil || n != 0 || kept != 3 {
		t.Fatalf("second pass: %d rewritten, %d kept, %v", n, kept, err)
	}
	svc, err := s.FindServiceByName(ctx, "a")
	if err != nil || svc.Auth.Token != SecretToken {
		t.Fatalf("service after reseal: %v", err)
	}
	got, err := s.FindSiteByName(ctx, "main")
	if err != nil || got.Token != "ws-token-0123" {
		t.Fatalf("site after reseal: %v", err)
	}
	if e, err := s.FindInboundEndpoint(ctx, "sis"); err != nil || e.Token != "sis-token-0123456789" {
		t.Fatalf("inbound endpoint after reseal: %v", err)
	}
}

func ok2(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
