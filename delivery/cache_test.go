package delivery_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
)

// sourceMock is a function-field mock of delivery.ServiceSource.
type sourceMock struct {
	FindServiceByNameFn func(ctx context.Context, name string) (*mih.Service, error)
}

var _ delivery.ServiceSource = (*sourceMock)(nil)

func (m *sourceMock) FindServiceByName(ctx context.Context, name string) (*mih.Service, error) {
	return m.FindServiceByNameFn(ctx, name)
}

// The cache runs in a synctest bubble: its clock is the bubble's, so the TTL is crossed exactly
// and the concurrent misses overlap for certain, whatever the machine's load.
func TestServiceCache(t *testing.T) {
	synctest.Test(t, testServiceCache)
}

func testServiceCache(t *testing.T) {
	var (
		reads atomic.Int32
		fail  atomic.Bool
	)
	advance := time.Sleep // the bubble's clock moves only when every goroutine waits
	src := &sourceMock{FindServiceByNameFn: func(ctx context.Context, name string) (*mih.Service, error) {
		reads.Add(1)
		time.Sleep(5 * time.Millisecond) // every concurrent miss arrives meanwhile
		switch {
		case fail.Load():
			return nil, errors.New("database is locked")
		case name == "gone":
			return nil, mih.Errorf(mih.CodeNotFound, "service not found")
		}
		return &mih.Service{Name: name}, nil
	}}
	c := delivery.NewServiceCache(src, time.Second, time.Now)
	ctx := context.Background()
	find := func(name string) (*mih.Service, error) { return c.FindServiceByName(ctx, name) }

	// Concurrent misses share one read.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if s, err := find("a"); err != nil || s.Name != "a" {
				t.Errorf("got %v, %v", s, err)
			}
		})
	}
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Errorf("concurrent misses: got %d reads, want 1", n)
	}

	// Within the TTL, counted from the end of the read: cached. After it: read again.
	advance(999 * time.Millisecond)
	find("a")
	if n := reads.Load(); n != 1 {
		t.Errorf("within TTL: got %d reads, want 1", n)
	}
	advance(time.Millisecond)
	find("a")
	if n := reads.Load(); n != 2 {
		t.Errorf("after TTL: got %d reads, want 2", n)
	}

	// Not found is cached too.
	for range 2 {
		if _, err := find("gone"); mih.ErrorCode(err) != mih.CodeNotFound {
			t.Errorf("got %v, want not found", err)
		}
	}
	if n := reads.Load(); n != 3 {
		t.Errorf("not found: got %d reads, want 3", n)
	}

	// Other errors are not.
	fail.Store(true)
	find("b")
	fail.Store(false)
	if s, err := find("b"); err != nil || s.Name != "b" {
		t.Errorf("after a failed read: got %v, %v, want the service", s, err)
	}
	if n := reads.Load(); n != 5 {
		t.Errorf("errors: got %d reads, want 5", n)
	}

	// Forget drops an entry at once.
	c.Forget("b")
	find("b")
	if n := reads.Load(); n != 6 {
		t.Errorf("forget: got %d reads, want 6", n)
	}
}
