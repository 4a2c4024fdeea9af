package http

import (
	"context"
	"time"

	"github.com/mihhub/mih"
)

// mockStore is a mih.Store whose methods are function fields, for faults the real store cannot
// be made to show on demand. Only the fields a test sets may be called; the embedded nil
// interface makes any other call panic, which the server turns into a 500.
type mockStore struct {
	mih.Store
	ConfigVersionFn   func(ctx context.Context) (int64, error)
	FindTokenByHashFn func(ctx context.Context, hash string) (*mih.Token, error)
	TouchTokenFn      func(ctx context.Context, id int64, at time.Time) error
	FindServicesFn    func(ctx context.Context) ([]*mih.Service, error)
}

var _ mih.Store = (*mockStore)(nil)

func (m *mockStore) ConfigVersion(ctx context.Context) (int64, error) { return m.ConfigVersionFn(ctx) }

func (m *mockStore) FindTokenByHash(ctx context.Context, hash string) (*mih.Token, error) {
	return m.FindTokenByHashFn(ctx, hash)
}

func (m *mockStore) TouchToken(ctx context.Context, id int64, at time.Time) error {
	return m.TouchTokenFn(ctx, id, at)
}

func (m *mockStore) FindServices(ctx context.Context) ([]*mih.Service, error) {
	return m.FindServicesFn(ctx)
}
