package mih

import (
	"slices"
	"strings"
	"time"
)

// Token is an API token. Only its SHA-256 hash is stored.
type Token struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Hash       string     `json:"-"`
	Scope      string     `json:"scope"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Token scopes. A token is given the least it needs: Moodle (local_mih without a signing
// secret, backend_sync) only posts events, so a leaked plugin configuration cannot read the
// hub's data or change where deliveries go; a dashboard or a monitoring job only reads.
const (
	// ScopeAdmin may do everything the API offers.
	ScopeAdmin = "admin"
	// ScopeIngest may only post events (POST /api/v1/events and the backend_sync routes).
	ScopeIngest = "ingest"
	// ScopeGateway may post events and call services through the gateway: what local_mih's
	// token needs for its gateway calls (its events are signed and need no token).
	ScopeGateway = "gateway"
	// ScopeRead may only read: every GET of the API, and /metrics.
	ScopeRead = "read"
)

// TokenScopes lists the scopes, widest first.
func TokenScopes() []string { return []string{ScopeAdmin, ScopeGateway, ScopeIngest, ScopeRead} }

// RouteClass says which scopes besides admin may call an API route.
type RouteClass string

// Route classes.
const (
	RouteDefault   RouteClass = ""        // read scope for GET and HEAD, admin for the rest
	RouteIngest    RouteClass = "ingest"  // posts events: ingest and gateway scopes
	RouteGateway   RouteClass = "gateway" // calls a service: gateway scope
	RouteAdminOnly RouteClass = "admin"   // admin only, whatever the method (profiles)
)

// MinAdminTokenLen is the shortest admin token accepted from outside (MIH_ADMIN_TOKEN): an admin
// token guards everything, and 32 characters of a random alphabet are beyond guessing. Tokens
// the hub makes are 47 characters.
const MinAdminTokenLen = 32

// Validate checks a token's name and scope; an empty scope means admin, what tokens were
// before scopes.
func (t *Token) Validate() error {
	if t.Scope == "" {
		t.Scope = ScopeAdmin
	}
	if !slices.Contains(TokenScopes(), t.Scope) {
		return Errorf(CodeInvalid, "scope %q: want one of %s", t.Scope, strings.Join(TokenScopes(), ", "))
	}
	if t.Name == "" || len(t.Name) > 100 || strings.ContainsFunc(t.Name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return Errorf(CodeInvalid, "name: want 1 to 100 printable characters")
	}
	return nil
}

// Permits reports whether the token may make a request with the HTTP method to a route of the
// class.
func (t *Token) Permits(method string, class RouteClass) bool {
	switch t.Scope {
	case ScopeAdmin, "":
		return true
	case ScopeIngest:
		return class == RouteIngest
	case ScopeGateway:
		return class == RouteIngest || class == RouteGateway
	case ScopeRead:
		return class == RouteDefault && (method == "GET" || method == "HEAD")
	}
	return false
}
