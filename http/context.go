package http

import (
	"context"

	"github.com/mihhub/mih"
)

// The request context carries only the request's identity: its id, and the API token it used or
// the site whose plugin signed it.
type contextKey int

const (
	requestIDKey contextKey = iota
	tokenKey
	signedSiteKey
)

// RequestID returns the id of the request ctx belongs to, "" outside a request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// TokenFrom returns the API token that authenticated the request, nil for public routes.
func TokenFrom(ctx context.Context) *mih.Token {
	t, _ := ctx.Value(tokenKey).(*mih.Token)
	return t
}

func withToken(ctx context.Context, t *mih.Token) context.Context {
	return context.WithValue(ctx, tokenKey, t)
}

// signedSite returns the site whose plugin_secret signed the request, "" when an API token
// authenticated it.
func signedSite(ctx context.Context) string {
	s, _ := ctx.Value(signedSiteKey).(string)
	return s
}

func withSignedSite(ctx context.Context, site string) context.Context {
	return context.WithValue(ctx, signedSiteKey, site)
}
