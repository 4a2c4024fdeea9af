package delivery_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
)

// ledger is what the worker tests need of a store: the worker's and maintainer's interfaces plus
// the calls a test makes to set up and inspect. The tests run on the real SQLite store, which
// passes the store contract suite (store/storetest).
type ledger interface {
	delivery.Store
	delivery.MaintenanceStore
	delivery.ServiceSource
	delivery.DeliveryCounter
	CreateService(ctx context.Context, s *mih.Service) error
	UpdateService(ctx context.Context, s *mih.Service) error
	CreateDeliveries(ctx context.Context, ds []*mih.Delivery) error
	CreateEvents(ctx context.Context, items []mih.IngestItem) (mih.IngestResult, error)
	FindDeliveryByID(ctx context.Context, id int64) (*mih.Delivery, error)
	FindDeliveries(ctx context.Context, f mih.DeliveryFilter) ([]*mih.Delivery, string, error)
	FindAttempts(ctx context.Context, deliveryID int64) ([]*mih.Attempt, error)
	FindLogs(ctx context.Context, f mih.LogFilter) ([]*mih.LogEntry, string, error)
}

// storeMock is a function-field mock of delivery.Store, for tests that inject failures into
// one call and let the others through to a ledger.
type storeMock struct {
	ClaimDeliveriesFn    func(ctx context.Context, p mih.ClaimParams) ([]*mih.Delivery, error)
	CompleteDeliveriesFn func(ctx context.Context, owner string, rs []mih.DeliveryResult) (int, error)
	ExtendLeasesFn       func(ctx context.Context, owner string, ids []int64, until time.Time) error
	ReleaseDeliveriesFn  func(ctx context.Context, owner string, ids []int64) error
}

var _ delivery.Store = (*storeMock)(nil)

// mockOf routes every call to st.
func mockOf(st delivery.Store) *storeMock {
	return &storeMock{
		ClaimDeliveriesFn:    st.ClaimDeliveries,
		CompleteDeliveriesFn: st.CompleteDeliveries,
		ExtendLeasesFn:       st.ExtendLeases,
		ReleaseDeliveriesFn:  st.ReleaseDeliveries,
	}
}

// countingClaims routes every call to st and counts the claims.
func countingClaims(st delivery.Store) (*storeMock, *atomic.Int32) {
	var n atomic.Int32
	m := mockOf(st)
	m.ClaimDeliveriesFn = func(ctx context.Context, p mih.ClaimParams) ([]*mih.Delivery, error) {
		n.Add(1)
		return st.ClaimDeliveries(ctx, p)
	}
	return m, &n
}

func (m *storeMock) ClaimDeliveries(ctx context.Context, p mih.ClaimParams) ([]*mih.Delivery, error) {
	return m.ClaimDeliveriesFn(ctx, p)
}

func (m *storeMock) CompleteDeliveries(ctx context.Context, owner string, rs []mih.DeliveryResult) (int, error) {
	return m.CompleteDeliveriesFn(ctx, owner, rs)
}

func (m *storeMock) ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) error {
	return m.ExtendLeasesFn(ctx, owner, ids, until)
}

func (m *storeMock) ReleaseDeliveries(ctx context.Context, owner string, ids []int64) error {
	return m.ReleaseDeliveriesFn(ctx, owner, ids)
}

// openSQLite opens the real SQLite store on a file in the test's temp dir. synchronous=NORMAL
// keeps the tests fast; durability is the store's own tests' concern.
func openSQLite(t testing.TB) ledger { return openSQLiteSync(t, "NORMAL") }
