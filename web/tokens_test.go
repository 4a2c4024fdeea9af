package web

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
)

// TestTokens_CreateShowOnceRevoke: the tokens page makes a scoped token and shows it on that
// answer only; the store keeps its hash; revoking deletes it.
func TestTokens_CreateShowOnceRevoke(t *testing.T) {
	u := newTestUI(t)
	u.login()
	r := u.post("/tokens", url.Values{"name": {"moodle-prod"}, "scope": {"ingest"}})
	must(t, r, http.StatusOK, "Copy it now")
	tok := regexp.MustCompile(`id="new-token">(mih_[A-Za-z0-9_-]+)<`).FindStringSubmatch(r.body)
	if tok == nil {
		t.Fatalf("no token on the page:\n%s", excerpt(r.body, 3000))
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("the page with the token may be cached: %q", r.header.Get("Cache-Control"))
	}
	stored, err := u.store.FindTokenByHash(t.Context(), secret.HashToken(tok[1]))
	if err != nil || stored.Scope != mih.ScopeIngest || stored.Name != "moodle-prod" {
		t.Fatalf("stored token: %+v %v", stored, err)
	}
	list := u.get("/tokens")
	must(t, list, http.StatusOK, "moodle-prod", "ingest", "admin")
	u.bodies = u.bodies[len(u.bodies)-1:]
	u.noSecrets(tok[1])

	must(t, u.post("/tokens", url.Values{"name": {"x"}, "scope": {"root"}}), http.StatusBadRequest, "want one of admin, gateway, ingest, read")
	must(t, u.post("/tokens", url.Values{"name": {"moodle-prod"}, "scope": {"read"}}), http.StatusBadRequest, "moodle-prod")

	r = u.post("/tokens/"+itoa(stored.ID)+"/revoke", nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.status)
	}
	if _, err := u.store.FindTokenByHash(t.Context(), secret.HashToken(tok[1])); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("after revoke: %v", err)
	}
}

// TestLogin_NarrowTokenNamedAdmin: only the admin token of scope admin signs in, not a read token
// that took its name after it was revoked.
func TestLogin_NarrowTokenNamedAdmin(t *testing.T) {
	u := newTestUI(t)
	toks, _ := u.store.FindTokens(t.Context())
	for _, tk := range toks {
		u.store.DeleteToken(t.Context(), tk.ID)
	}
	const read = "mih_read-token-named-admin-0123456789abcdef"
	if err := u.store.CreateToken(t.Context(), &mih.Token{Name: adminTokenName, Scope: mih.ScopeRead, Hash: secret.HashToken(read)}); err != nil {
		t.Fatal(err)
	}
	must(t, u.postRaw(u.client, "/login", url.Values{"secret": {read}}, nil), http.StatusUnauthorized)
}
