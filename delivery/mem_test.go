package delivery_test

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
)

// ledger is what the worker tests need of a store: the worker's and maintainer's interfaces plus
// the calls a test makes to set up and inspect. The in-memory memStore and the real stores
// satisfy it.
type ledger interface {
	delivery.Store
	delivery.MaintenanceStore
	delivery.ServiceSource
	delivery.DeliveryCounter
	CreateService(ctx context.Context, s *mih.Service) error
	UpdateService(ctx context.Context, s *mih.Service) error
	CreateDeliveries(ctx context.Context, ds []*mih.Delivery) error
	FindDeliveryByID(ctx context.Context, id int64) (*mih.Delivery, error)
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

// memStore is an in-memory ledger with the semantics mih.DeliveryStore documents (exclusive
// leased claims, results applied only by the lease owner). It stands in until the SQLite store
// is available, and keeps the worker's unit tests fast.
type memStore struct {
	mu         sync.Mutex
	services   map[string]*mih.Service
	deliveries map[int64]*memDelivery
	logs       []*mih.LogEntry
	nextID     int64
}

type memDelivery struct {
	d          mih.Delivery
	owner      string
	leaseUntil time.Time
	attempts   []*mih.Attempt
	finishedAt time.Time
}

var _ ledger = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{services: map[string]*mih.Service{}, deliveries: map[int64]*memDelivery{}}
}

func notFound(what string) error { return mih.Errorf(mih.CodeNotFound, "%s not found", what) }

func (m *memStore) FindServiceByName(ctx context.Context, name string) (*mih.Service, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.services[name]
	if !ok {
		return nil, notFound("service " + name)
	}
	c := *s
	return &c, nil
}

func (m *memStore) FindServices(ctx context.Context) ([]*mih.Service, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*mih.Service
	for _, k := range slices.Sorted(maps.Keys(m.services)) {
		c := *m.services[k]
		out = append(out, &c)
	}
	return out, nil
}

func (m *memStore) CreateService(ctx context.Context, s *mih.Service) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *s
	m.services[s.Name] = &c
	return nil
}

func (m *memStore) UpdateService(ctx context.Context, s *mih.Service) error {
	return m.CreateService(ctx, s)
}

func (m *memStore) CreateDeliveries(ctx context.Context, ds []*mih.Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now().UTC()
	for _, d := range ds {
		m.nextID++
		d.ID = m.nextID
		d.State = mih.DeliveryPending
		if d.CreatedAt.IsZero() {
			d.CreatedAt = now
		}
		if d.NextAttemptAt.IsZero() {
			d.NextAttemptAt = d.CreatedAt
		}
		m.deliveries[d.ID] = &memDelivery{d: *d}
	}
	return nil
}

func (m *memStore) FindDeliveryByID(ctx context.Context, id int64) (*mih.Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	md, ok := m.deliveries[id]
	if !ok {
		return nil, notFound("delivery")
	}
	c := md.d
	return &c, nil
}

func (m *memStore) FindAttempts(ctx context.Context, id int64) ([]*mih.Attempt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	md, ok := m.deliveries[id]
	if !ok {
		return nil, notFound("delivery")
	}
	return slices.Clone(md.attempts), nil
}

func (m *memStore) FindLogs(ctx context.Context, f mih.LogFilter) ([]*mih.LogEntry, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*mih.LogEntry
	for _, e := range slices.Backward(m.logs) {
		if f.Service == "" || e.Service == f.Service {
			out = append(out, e)
		}
	}
	return out, "", nil
}

func (m *memStore) CountDeliveries(ctx context.Context) ([]mih.DeliveryCount, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type key struct {
		s  string
		st mih.DeliveryState
	}
	n := map[key]int{}
	for _, md := range m.deliveries {
		n[key{md.d.Service, md.d.State}]++
	}
	var out []mih.DeliveryCount
	for k, c := range n {
		out = append(out, mih.DeliveryCount{Service: k.s, State: k.st, Count: c})
	}
	return out, nil
}

func (m *memStore) ClaimDeliveries(ctx context.Context, p mih.ClaimParams) ([]*mih.Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []*memDelivery
	for _, md := range m.deliveries {
		if (md.d.State == mih.DeliveryPending || md.d.State == mih.DeliveryRetrying) &&
			!md.d.NextAttemptAt.After(p.Now) && !md.leaseUntil.After(p.Now) {
			due = append(due, md)
		}
	}
	slices.SortFunc(due, func(a, b *memDelivery) int {
		return cmp.Or(a.d.NextAttemptAt.Compare(b.d.NextAttemptAt), cmp.Compare(a.d.ID, b.d.ID))
	})
	var out []*mih.Delivery
	for _, md := range due[:min(len(due), p.Limit)] {
		md.owner, md.leaseUntil = p.Owner, p.Now.Add(p.Lease)
		c := md.d
		out = append(out, &c)
	}
	return out, nil
}

func (m *memStore) CompleteDeliveries(ctx context.Context, owner string, rs []mih.DeliveryResult) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range rs {
		md, ok := m.deliveries[r.ID]
		if !ok || md.owner != owner {
			continue
		}
		n++
		md.owner, md.leaseUntil = "", time.Time{}
		d := &md.d
		d.State, d.NextAttemptAt, d.LastStatus, d.LastError, d.DeadReason = r.State, r.NextAttemptAt, r.LastStatus, r.LastError, r.DeadReason
		d.UpdatedAt = r.Now
		if r.CountAttempt {
			d.Attempts++
		}
		if r.State == mih.DeliverySucceeded {
			t := r.Now
			d.DeliveredAt = &t
		}
		if r.State == mih.DeliverySucceeded || r.State == mih.DeliveryDead {
			md.finishedAt = r.Now
		}
		if r.Attempt != nil {
			a := *r.Attempt
			a.ID = int64(len(md.attempts) + 1)
			md.attempts = append(md.attempts, &a)
		}
		if r.Log != nil {
			e := *r.Log
			e.ID = int64(len(m.logs) + 1)
			m.logs = append(m.logs, &e)
		}
	}
	return n, nil
}

func (m *memStore) ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if md, ok := m.deliveries[id]; ok && md.owner == owner {
			md.leaseUntil = until
		}
	}
	return nil
}

func (m *memStore) ReleaseDeliveries(ctx context.Context, owner string, ids []int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		if md, ok := m.deliveries[id]; ok && md.owner == owner {
			md.owner, md.leaseUntil = "", time.Time{}
		}
	}
	return nil
}

func (m *memStore) PauseDeliveries(ctx context.Context, service string, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, md := range m.deliveries {
		if md.d.Service == service && (md.d.State == mih.DeliveryPending || md.d.State == mih.DeliveryRetrying) && !md.leaseUntil.After(now) {
			md.d.State = mih.DeliveryPaused
			n++
		}
	}
	return n, nil
}

func (m *memStore) ResumeDeliveries(ctx context.Context, service string, limit int, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, id := range slices.Sorted(maps.Keys(m.deliveries)) {
		md := m.deliveries[id]
		if limit > 0 && n == limit {
			break
		}
		if md.d.Service == service && md.d.State == mih.DeliveryPaused {
			md.d.State, md.d.NextAttemptAt = mih.DeliveryPending, now
			if md.d.Attempts > 0 {
				md.d.State = mih.DeliveryRetrying
			}
			n++
		}
	}
	return n, nil
}

func (m *memStore) ExpireDeliveries(ctx context.Context, service string, createdBefore, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, md := range m.deliveries {
		s := md.d.State
		if md.d.Service == service && (s == mih.DeliveryPending || s == mih.DeliveryRetrying || s == mih.DeliveryPaused) &&
			md.d.CreatedAt.Before(createdBefore) && !md.leaseUntil.After(now) {
			md.d.State, md.d.DeadReason = mih.DeliveryDead, mih.ReasonExpired
			n++
		}
	}
	return n, nil
}

func (m *memStore) PruneDeliveries(ctx context.Context, before time.Time, keep int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ok []*memDelivery
	for _, md := range m.deliveries {
		if md.d.State == mih.DeliverySucceeded {
			ok = append(ok, md)
		}
	}
	slices.SortFunc(ok, func(a, b *memDelivery) int { return b.finishedAt.Compare(a.finishedAt) })
	n := 0
	for i, md := range ok {
		if i >= keep || md.finishedAt.Before(before) {
			delete(m.deliveries, md.d.ID)
			n++
		}
	}
	return n, nil
}

func (m *memStore) PruneEvents(ctx context.Context, before time.Time) (int, error) { return 0, nil }

func (m *memStore) PruneLogs(ctx context.Context, before time.Time, keep int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var kept []*mih.LogEntry
	for i, e := range slices.Backward(m.logs) {
		if len(m.logs)-1-i < keep && !e.Time.Before(before) {
			kept = append(kept, e)
		}
	}
	slices.Reverse(kept)
	n := len(m.logs) - len(kept)
	m.logs = kept
	return n, nil
}
