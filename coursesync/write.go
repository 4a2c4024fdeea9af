package coursesync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
)

// Defaults of a job's settings for its calls to Moodle (SyncJob.TimeoutS, BatchMax,
// WriteParallel, ReadParallel).
const (
	DefaultTimeout       = 60 * time.Second
	DefaultBatchMax      = 100
	DefaultWriteParallel = 4
	// firstBatch is the size of a phase's first call: small enough to answer well within any
	// timeout, it is then grown (or shrunk) by how long Moodle took.
	firstBatch = 10
	// unknownAttempts is how many times a batch whose outcome was unknown (a timeout, an
	// answer lost, a database error) is settled and sent again before the run stops.
	unknownAttempts = 6
)

// tuning is how an apply talks to Moodle: the job's settings with the defaults filled in.
type tuning struct {
	timeout       time.Duration
	batchMax      int
	writeParallel int
	readParallel  int
	// target is how long a write call should take: batches are sized to it. A sixth of the
	// timeout leaves room for a Moodle that slows down between two calls.
	target time.Duration
	// settleWait is how long to wait, after a call timed out, for Moodle to finish it before
	// its outcome is read: PHP carries on when the client has gone, and the transaction's
	// changes are not visible until it commits.
	settleWait time.Duration
}

func (r *Runner) tuning(job *mih.SyncJob) tuning {
	t := tuning{timeout: r.timeout, batchMax: r.batch, writeParallel: r.writeParallel, readParallel: r.parallel}
	if job.TimeoutS > 0 {
		t.timeout = time.Duration(job.TimeoutS * float64(time.Second))
	}
	if job.BatchMax > 0 {
		t.batchMax = job.BatchMax
	}
	if job.WriteParallel > 0 {
		t.writeParallel = job.WriteParallel
	}
	if job.ReadParallel > 0 {
		t.readParallel = job.ReadParallel
	}
	t.target = t.timeout / 6
	t.settleWait = t.timeout
	return t
}

// pacer sizes a phase's batches and bounds its calls in flight by how long Moodle takes: a call
// that took longer than the target shrinks the next batches to what fits in it and halves the
// calls in flight; a quick one doubles the batch (up to the maximum) and lets one more call go
// at once (up to the job's write_parallel). A timeout cuts the batch to a quarter and the calls
// in flight to one.
type pacer struct {
	target   time.Duration
	max      int
	parallel int

	mu       sync.Mutex
	cond     *sync.Cond
	size     int
	limit    int // calls allowed in flight
	inFlight int
	// serial counts the answers to wait before calls may go in parallel again, after the
	// database refused concurrent writes (a deadlock between two calls).
	serial int
}

func newPacer(t tuning, maxSize int) *pacer {
	p := &pacer{target: t.target, max: max(1, min(maxSize, t.batchMax)), parallel: max(1, t.writeParallel), limit: 1}
	p.size = min(firstBatch, p.max)
	p.cond = sync.NewCond(&p.mu)
	return p
}

// batchSize is the size of the next batch.
func (p *pacer) batchSize() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.size
}

// acquire waits for a call slot; release gives it back.
func (p *pacer) acquire(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.inFlight >= p.limit {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.cond.Wait()
	}
	p.inFlight++
	return nil
}

func (p *pacer) release() {
	p.mu.Lock()
	p.inFlight--
	p.mu.Unlock()
	p.cond.Broadcast()
}

// answered records a call of n items that Moodle answered after d.
func (p *pacer) answered(n int, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	perItem := d / time.Duration(max(1, n))
	fits := p.max
	if perItem > 0 {
		fits = int(p.target / perItem)
	}
	if p.serial > 0 {
		p.serial--
	}
	switch {
	case d > p.target:
		p.size = max(1, min(p.size, fits))
		p.limit = max(1, p.limit/2)
	case d < p.target/2:
		p.size = max(1, min(p.max, 2*p.size, max(fits, p.size)))
		if p.serial == 0 {
			p.limit = min(p.parallel, p.limit+1)
		}
	}
}

// contended records a database error under concurrent writes (on PostgreSQL, parallel
// enrolment calls deadlock now and then): one call at a time for the next 50 answers.
func (p *pacer) contended() {
	p.mu.Lock()
	p.limit, p.serial = 1, 50
	p.mu.Unlock()
}

// timedOut records a call of n items that got no answer in time.
func (p *pacer) timedOut(n int) {
	p.mu.Lock()
	p.size = max(1, min(p.size, n/4))
	p.limit = 1
	p.mu.Unlock()
}

// outcome is how a failed write call is settled.
type outcome int

const (
	// stop: the call failed as a whole and nothing tells that another try would do better (the
	// token, the token's functions, a request Moodle cannot take): the run stops.
	stop outcome = iota
	// unknown: Moodle may or may not have carried the call out (no answer in time, the
	// connection lost, a proxy's 502/504, a PHP error page, a database error): read what the
	// batch meant to change, and send the rest again.
	unknown
	// refused: Moodle raised an exception that may concern one item — or came after the
	// changes were committed, like a welcome message that could not be sent. Read what the
	// batch meant to change; split what is not done until the refused items are alone.
	refused
)

func classify(err error) outcome {
	e, ok := errors.AsType[*moodle.Error](err)
	if !ok {
		return stop
	}
	switch e.Kind {
	case moodle.KindTimeout, moodle.KindNetwork, moodle.KindBadAnswer:
		return unknown
	case moodle.KindHTTP:
		if e.Status >= http.StatusInternalServerError || e.Retryable() {
			return unknown
		}
		return stop
	case moodle.KindException:
		if e.Retryable() {
			return unknown
		}
		if e.MihCode() == mih.CodeUnauthorized || e.ErrorCode == moodle.CodeAccessException ||
			e.ErrorCode == "servicerequireslogin" || e.ErrorCode == "usernotfullysetup" || e.ErrorCode == "requireloginerror" {
			return stop
		}
		if e.ErrorCode == moodle.CodeInvalidRecord && strings.Contains(e.Message, "external_functions") {
			return stop
		}
		return refused
	}
	return stop
}

// writer sends one phase's items to Moodle in batches sized by the pacer, several at a time
// when Moodle keeps up, and settles every failed call by reading Moodle's state: nothing is
// sent twice that Moodle has done, nothing done is reported as failed, and only the items
// Moodle still refuses on their own are reported.
type writer[T any] struct {
	phase string
	items []T
	// param is the call's parameter the items go in, to count their form fields against the
	// site's max_input_vars (empty: one item per call).
	param      string
	client     *moodle.Client
	pacer      *pacer
	settleWait time.Duration
	progress   func(done int)
	// wire is an item as the call sends it, to count its form fields (nil: the item itself).
	wire func(item T) any
	// call sends items in one call.
	call func(ctx context.Context, part []T) error
	// settle reads Moodle's state for items and reports which are done: in the state the
	// batch meant them to be in. Nil: the call may be repeated as it is (it changes nothing
	// the second time) and a refused batch is split without reading first.
	settle func(ctx context.Context, part []T) ([]bool, error)
	// done is told each item Moodle carried out; fail each item it refused on its own.
	done func(item T)
	fail func(item T, err *moodle.Error)

	costs  []int
	budget int

	mu       sync.Mutex
	finished int
}

// run sends every item and returns the first error that stops the phase.
func (w *writer[T]) run(ctx context.Context) error {
	if len(w.items) == 0 {
		return nil
	}
	w.budget = -1
	if mv := w.client.MaxInputVars(); mv > 0 && w.param != "" {
		w.budget = mv - 3 // wstoken, wsfunction, moodlewsrestformat
	}
	w.costs = make([]int, len(w.items))
	for i, it := range w.items {
		if w.param == "" {
			continue
		}
		var x any = it
		if w.wire != nil {
			x = w.wire(it)
		}
		n, err := moodle.Fields(w.param, x)
		if err != nil {
			return fmt.Errorf("%s: item %d: %w", w.phase, i, err)
		}
		if w.budget >= 0 && n > w.budget {
			return mih.Errorf(mih.CodeInvalid, "%s: item %d alone has %d form fields, over the site's max_input_vars (%d)", w.phase, i, n, w.client.MaxInputVars())
		}
		w.costs[i] = n
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	failed := func(err error) {
		once.Do(func() { first = err; cancel() })
	}
	next := 0
	for next < len(w.items) {
		if err := w.pacer.acquire(ctx); err != nil {
			break
		}
		if ctx.Err() != nil {
			w.pacer.release()
			break
		}
		hi := w.cut(next, w.pacer.batchSize())
		part := indexes(next, hi)
		next = hi
		wg.Go(func() {
			defer w.pacer.release()
			if err := w.send(ctx, part, 1); err != nil {
				failed(err)
			}
		})
	}
	wg.Wait()
	w.pacer.cond.Broadcast()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return mih.WrapError(mih.CodeUnavailable, err, "%s: interrupted", w.phase)
	}
	return nil
}

// cut returns the end of the batch that starts at lo: at most size items, within the budget.
func (w *writer[T]) cut(lo, size int) int {
	if w.param == "" {
		return lo + 1
	}
	hi, used := lo, 0
	for hi < len(w.items) && hi-lo < size && (w.budget < 0 || used+w.costs[hi] <= w.budget) {
		used += w.costs[hi]
		hi++
	}
	return hi
}

func indexes(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

func (w *writer[T]) pick(idx []int) []T {
	out := make([]T, len(idx))
	for i, x := range idx {
		out[i] = w.items[x]
	}
	return out
}

func (w *writer[T]) markDone(idx []int) {
	for _, i := range idx {
		w.done(w.items[i])
	}
	w.mu.Lock()
	w.finished += len(idx)
	n := w.finished
	w.mu.Unlock()
	w.progress(n)
}

func (w *writer[T]) markFailed(i int, err *moodle.Error) {
	w.fail(w.items[i], err)
	w.mu.Lock()
	w.finished++
	n := w.finished
	w.mu.Unlock()
	w.progress(n)
}

// send sends the items idx in one call and settles its outcome; attempt counts the tries of
// items whose outcome was unknown.
func (w *writer[T]) send(ctx context.Context, idx []int, attempt int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	err := w.call(ctx, w.pick(idx))
	took := time.Since(start)
	if err == nil {
		w.pacer.answered(len(idx), took)
		w.markDone(idx)
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	how := classify(err)
	if how == stop {
		return moodleError(w.phase, err)
	}
	me, _ := errors.AsType[*moodle.Error](err)
	switch {
	case me.Kind == moodle.KindTimeout:
		w.pacer.timedOut(len(idx))
	case how == unknown && me.Kind == moodle.KindException:
		w.pacer.contended()
	default:
		w.pacer.answered(len(idx), took)
	}

	rest, err2 := w.unsettled(ctx, idx, me.Kind == moodle.KindTimeout)
	if err2 != nil {
		return err2
	}
	if len(rest) == 0 {
		return nil
	}
	if how == unknown {
		if attempt >= unknownAttempts {
			return moodleError(fmt.Sprintf("%s (%d tries)", w.phase, attempt), err)
		}
		// Sent again, after a pause that grows with the tries, in batches of the (now smaller)
		// size.
		pause := min(time.Duration(attempt)*500*time.Millisecond, w.pacer.target/2)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		for lo := 0; lo < len(rest); {
			hi := min(len(rest), lo+w.pacer.batchSize())
			if err := w.send(ctx, rest[lo:hi], attempt+1); err != nil {
				return err
			}
			lo = hi
		}
		return nil
	}
	// Refused: what is left is split until each refused item is alone.
	if len(rest) == 1 {
		w.markFailed(rest[0], me)
		return nil
	}
	mid := len(rest) / 2
	if err := w.send(ctx, rest[:mid], attempt); err != nil {
		return err
	}
	return w.send(ctx, rest[mid:], attempt)
}

// unsettled reads Moodle's state for the items idx of a failed call, marks those done, and
// returns the others. After a timeout, items not done yet are read again after a wait, as
// Moodle may still be carrying the call out.
func (w *writer[T]) unsettled(ctx context.Context, idx []int, timedOut bool) ([]int, error) {
	if w.settle == nil {
		return idx, nil
	}
	wait := time.Duration(0)
	for round := 0; ; round++ {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		ok, err := w.settle(ctx, w.pick(idx))
		if err != nil {
			return nil, moodleError(w.phase+": read what a failed call did", err)
		}
		var done, rest []int
		for i, x := range idx {
			if ok[i] {
				done = append(done, x)
			} else {
				rest = append(rest, x)
			}
		}
		if len(done) > 0 {
			w.markDone(done)
		}
		idx = rest
		if len(idx) == 0 || !timedOut || round >= 2 {
			return idx, nil
		}
		// Two more looks, spread over settleWait.
		wait = max(10*time.Millisecond, w.settleWait/2)
	}
}
