package delivery

import (
	"sync"
	"time"

	"github.com/mihhub/mih"
)

// Handoff passes the deliveries ingest has just stored straight to this process's worker. Ingest
// reserves free slots of the worker before its transaction, stores those deliveries already
// leased to the worker (mih.Delivery.Lease), and gives them over once the transaction commits:
// the worker sends them without claiming them back. At a moderate load, where every ingest
// request would otherwise wake the worker for a claim of its own, that claim was one more
// transaction, with its commit, per request (docs/benchmarks.md).
//
// It changes nothing a delivery goes through. A delivery handed over is leased exactly as a
// claimed one, and the worker extends, completes and releases it the same way; if the process
// dies before it is sent, its lease runs out and any worker claims it. Order is kept: the worker
// takes deliveries from ingest only while it has free slots and knows of no due delivery it has
// not claimed yet (its last claim came back short, and nothing woke it since); otherwise new
// deliveries wait in the ledger behind the older ones, as they always did.
//
// Make one per process, before ingest and the worker, and pass it to both (like Wakeup). A nil
// *Handoff takes nothing.
type Handoff struct {
	mu      sync.Mutex
	owner   string
	lease   time.Duration
	free    int  // worker slots neither in flight, claimed, reserved nor handed over
	held    int  // slots reserved by ingest and not given yet (they outlive a worker's Run)
	open    bool // the worker takes deliveries from ingest now
	pending []*mih.Delivery
	c       chan struct{}
}

// NewHandoff returns a Handoff no worker has attached to yet: it takes nothing until one does.
func NewHandoff() *Handoff { return &Handoff{c: make(chan struct{}, 1)} }

// Reserve takes up to n of the worker's free slots for deliveries about to be stored. It returns
// the lease to store them with and how many slots it took (0, and no lease, when the worker does
// not take deliveries from ingest now). Every Reserve must be followed by one Give.
func (h *Handoff) Reserve(n int, now time.Time) (*mih.Lease, int) {
	if h == nil || n <= 0 {
		return nil, 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.open || h.free == 0 {
		return nil, 0
	}
	got := min(n, h.free)
	h.free -= got
	h.held += got
	if got < n {
		// The rest go to the ledger unleased: from now on the worker claims, oldest first.
		h.open = false
	}
	return &mih.Lease{Owner: h.owner, Until: now.Add(h.lease)}, got
}

// Give hands over ds, the deliveries of a reservation of reserved slots that the store wrote
// leased, and returns how many it took. A delivery with less than half its lease left (the
// transaction that stored it took that long) is not taken: it could otherwise be handed over and,
// once the lease runs out, claimed a second time; the worker claims it like any other. The slots
// not taken (a duplicate event, a failed transaction: ds is then empty) are freed. It never
// blocks.
func (h *Handoff) Give(ds []*mih.Delivery, reserved int) int {
	if h == nil || reserved <= 0 {
		return 0
	}
	now := time.Now()
	h.mu.Lock()
	took := 0
	for _, d := range ds {
		if d.Lease == nil || d.Lease.Until.Sub(now) < h.lease/2 {
			continue
		}
		h.pending = append(h.pending, d)
		took++
	}
	h.free += reserved - took
	h.held -= reserved
	h.mu.Unlock()
	if took > 0 {
		select {
		case h.c <- struct{}{}:
		default:
		}
	}
	return took
}

// attach makes the worker that runs as owner, with slots in all, the receiver. Deliveries
// handed over before (to the same owner, by a Run that has ended) are received by this one.
func (h *Handoff) attach(owner string, lease time.Duration, slots int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.owner, h.lease, h.free, h.open = owner, lease, max(0, slots-len(h.pending)-h.held), false
	if len(h.pending) > 0 {
		select {
		case h.c <- struct{}{}:
		default:
		}
	}
}

// detach stops taking deliveries and returns those handed over but not received yet.
func (h *Handoff) detach() []*mih.Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open, h.free = false, 0
	ds := h.pending
	h.pending = nil
	return ds
}

// receive returns the deliveries handed over since the last call.
func (h *Handoff) receive() []*mih.Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	ds := h.pending
	h.pending = nil
	return ds
}

// available is how many slots are free for a claim.
func (h *Handoff) available() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.free
}

// take reserves up to n free slots for a claim and returns how many it took.
func (h *Handoff) take(n int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := min(n, h.free)
	h.free -= got
	return got
}

// put frees n slots: deliveries done, or a claim that came back short.
func (h *Handoff) put(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.free += n
}

// setOpen says whether the worker takes deliveries from ingest now.
func (h *Handoff) setOpen(open bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open = open
}
