package soap

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxStaleRetry bounds how long a stale WSDL is used after a failed refresh before the next
// refresh is tried.
const maxStaleRetry = 30 * time.Second

// wsdlCache keeps parsed WSDLs for ttl. Callers of one key share one fetch. A failed fetch is
// not cached: with no document yet, the next call fetches again; with an expired one, the
// expired document keeps serving (the service's operations rarely change, and the WSDL host
// may be briefly down) and the refresh is retried after min(ttl, 30 s).
type wsdlCache struct {
	ttl time.Duration
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	doc     *wsdlDoc
	expires time.Time
	flight  *flight // the fetch under way, nil when none
}

// flight is one fetch that concurrent callers wait for.
type flight struct {
	done chan struct{}
	doc  *wsdlDoc // the document to use: fresh, or stale after a failed refresh
	err  error    // set only when there is no document to use
}

func newWSDLCache(ttl time.Duration, now func() time.Time, log *slog.Logger) *wsdlCache {
	return &wsdlCache{ttl: ttl, now: now, log: log, entries: map[string]*cacheEntry{}}
}

// get returns the document of key, calling fetch when there is none or it has expired. fetch
// runs in its own goroutine, detached from ctx, so that a caller who gives up does not fail
// the others; it must bound its own duration. get returns ctx's error when ctx ends first.
// label names the document in logs (the WSDL URL, without credentials).
func (c *wsdlCache) get(ctx context.Context, key, label string, fetch func() (*wsdlDoc, error)) (*wsdlDoc, error) {
	c.mu.Lock()
	e := c.entries[key]
	if e != nil && e.doc != nil && c.now().Before(e.expires) {
		c.mu.Unlock()
		return e.doc, nil
	}
	if e == nil {
		e = &cacheEntry{}
		c.entries[key] = e
	}
	f := e.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		e.flight = f
		go c.run(key, label, e, f, fetch)
	}
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.doc, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *wsdlCache) run(key, label string, e *cacheEntry, f *flight, fetch func() (*wsdlDoc, error)) {
	doc, err := fetch()

	c.mu.Lock()
	defer c.mu.Unlock()
	defer close(f.done)
	e.flight = nil
	now := c.now()
	switch {
	case err == nil:
		e.doc, e.expires = doc, now.Add(c.ttl)
		f.doc = doc
		c.log.Debug("fetched WSDL", "url", label, "operations", len(doc.ops))
	case e.doc != nil:
		e.expires = now.Add(min(c.ttl, maxStaleRetry))
		f.doc = e.doc
		c.log.Warn("WSDL refresh failed; using the previous copy", "url", label, "error", err)
	default:
		f.err = err
		delete(c.entries, key)
	}
	// Drop documents nobody asked for since they expired a full ttl ago (an old URL or an old
	// set of credentials).
	for k, o := range c.entries {
		if o.flight == nil && o.doc != nil && now.After(o.expires.Add(c.ttl)) {
			delete(c.entries, k)
		}
	}
}
