package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/mihhub/mih"
)

// ServiceSource finds a service by name; mih.ServiceStore satisfies it. Services come back with
// their secrets in clear: they go to the transport and nowhere else.
type ServiceSource interface {
	FindServiceByName(ctx context.Context, name string) (*mih.Service, error)
}

// ServiceCache keeps services for a short time so that each delivery does not read the
// database: with a TTL of a second, a change (disabling a service, a new token) reaches the
// workers within a second. "Not found" is cached too, and concurrent misses for one name share a
// single read. Other errors are not cached.
//
// Services it returns are shared between callers and must not be modified.
type ServiceCache struct {
	src ServiceSource
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	ready chan struct{} // closed when svc and err are set
	at    time.Time
	svc   *mih.Service
	err   error
}

var _ ServiceSource = (*ServiceCache)(nil)

// NewServiceCache wraps src with a cache of ttl (at least 1 ms); now is the clock (nil:
// time.Now).
func NewServiceCache(src ServiceSource, ttl time.Duration, now func() time.Time) *ServiceCache {
	if now == nil {
		now = time.Now
	}
	return &ServiceCache{src: src, ttl: max(ttl, time.Millisecond), now: now, entries: map[string]*cacheEntry{}}
}

// FindServiceByName returns the cached service, reading it from the source when it is older
// than the TTL.
func (c *ServiceCache) FindServiceByName(ctx context.Context, name string) (*mih.Service, error) {
	c.mu.Lock()
	e := c.entries[name]
	if e == nil || c.stale(e) {
		e = &cacheEntry{ready: make(chan struct{})}
		c.entries[name] = e
		c.mu.Unlock()
		c.load(ctx, name, e)
	} else {
		c.mu.Unlock()
	}
	select {
	case <-e.ready:
		return e.svc, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Forget drops a name so that its next read goes to the source (after the API changed it).
func (c *ServiceCache) Forget(name string) {
	c.mu.Lock()
	delete(c.entries, name)
	c.mu.Unlock()
}

// stale reports whether a loaded entry has expired; an entry still loading is never stale.
// Called with mu held.
func (c *ServiceCache) stale(e *cacheEntry) bool {
	select {
	case <-e.ready:
		return c.now().Sub(e.at) >= c.ttl
	default:
		return false
	}
}

func (c *ServiceCache) load(ctx context.Context, name string, e *cacheEntry) {
	svc, err := c.src.FindServiceByName(ctx, name)
	if err != nil && mih.ErrorCode(err) != mih.CodeNotFound {
		// A failed read (the database is busy, ctx ended) must not stick for a whole TTL.
		c.mu.Lock()
		if c.entries[name] == e {
			delete(c.entries, name)
		}
		c.mu.Unlock()
	}
	e.svc, e.err, e.at = svc, err, c.now()
	close(e.ready)
}
