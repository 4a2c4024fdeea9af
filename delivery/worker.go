// Package delivery runs the workers of the delivery ledger (docs/operations.md, Delivery
// semantics): a Worker claims due deliveries under a lease, sends them through the gateway, and
// group-commits their results; a Maintainer pauses, resumes, expires and prunes on a slower beat.
//
// Delivery is at least once. A claimed delivery is leased to one worker, which extends the lease
// while its call runs (heartbeat); a worker that dies simply lets its leases run out and another
// claims the deliveries again. Receivers drop duplicates by the Idempotency-Key.
//
// One Worker makes a handful of statements per batch, not per delivery: one claim for up to
// BatchSize deliveries, one CompleteDeliveries for every result that finished within
// FlushInterval — which also makes the next claim when slots are free (CompleteAndClaim: one
// commit for both) — and one ExtendLeases per heartbeat for everything in flight. Sends run on
// Concurrency long-lived goroutines.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/tracing"
)

// Store is the part of the ledger a Worker uses; mih.DeliveryStore satisfies it.
type Store interface {
	ClaimDeliveries(ctx context.Context, p mih.ClaimParams) ([]*mih.Delivery, error)
	CompleteDeliveries(ctx context.Context, owner string, rs []mih.DeliveryResult) (int, error)
	ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) error
	ReleaseDeliveries(ctx context.Context, owner string, ids []int64) error
}

// CompleteClaimer is a Store that can commit results and lease the next deliveries in one
// transaction (the SQLite and PostgreSQL stores can); a worker uses it when its store is one.
type CompleteClaimer interface {
	CompleteAndClaim(ctx context.Context, owner string, rs []mih.DeliveryResult, p mih.ClaimParams) (int, []*mih.Delivery, error)
}

// Caller makes one attempt at a service; *gateway.Gateway satisfies it. The outcome carries a
// *mih.SendError for a failed call, and the circuit breaker's verdict (refused: no call made).
type Caller interface {
	Send(ctx context.Context, svc *mih.Service, req *mih.Request) gateway.Outcome
}

// Renderer builds the request of a delivery that ingest left unrendered because its rule needs
// enrichment (mih.Delivery.Unrendered); package enrich implements it. It returns a
// *mih.SendError: retryable when a lookup failed (Moodle down), ErrPayload when the request can
// never be built.
type Renderer interface {
	Render(ctx context.Context, d *mih.Delivery) (*mih.Rendered, error)
}

// Health is what a Worker asks before it gives up on a delivery that ran out of attempts:
// whether the service has answered anyone since, and, when it has not, to open its circuit.
// *breaker.Breaker implements it.
type Health interface {
	// LastSuccess is when the service last answered a call (zero when not known).
	LastSuccess(service string) time.Time
	// Trip opens the service's circuit: it is down.
	Trip(ctx context.Context, svc *mih.Service)
}

// FirstAttempts is implemented by stores that can tell when a delivery's current attempts began
// (the store package's does); without it a Worker takes the delivery's creation time, which can
// only make it give up sooner.
type FirstAttempts interface {
	// FirstAttemptAt returns when the first of the delivery's last n counted attempts started
	// (zero when none is recorded).
	FirstAttemptAt(ctx context.Context, id int64, n int) (time.Time, error)
}

// Config tunes a Worker. Zero fields take the defaults below.
type Config struct {
	// Owner names this worker in leases; it must be unique per process (host name and pid, or a
	// random id). Required.
	Owner string
	// Concurrency is how many sends may be in flight at once (default 64).
	Concurrency int
	// BatchSize is the most deliveries one claim takes (default 100).
	BatchSize int
	// Lease is how long a claim or a heartbeat holds a delivery (default 30 s); the heartbeat
	// runs every Lease/3.
	Lease time.Duration
	// PollInterval is how often the worker looks for due deliveries when nobody calls Notify
	// (default 1 s): retries that come due, and work of other processes.
	PollInterval time.Duration
	// FlushInterval is the longest a finished result waits to be committed (default 5 ms);
	// FlushSize results are committed at once without waiting (default BatchSize).
	FlushInterval time.Duration
	FlushSize     int
	// ShutdownTimeout is how long in-flight sends may finish once Run's context is done
	// (default 10 s); sends still running then are canceled and their deliveries released
	// without counting an attempt.
	ShutdownTimeout time.Duration
	// ServiceTTL is how long a service read is reused (default 1 s).
	ServiceTTL time.Duration
	Logger     *slog.Logger
	Metrics    *Metrics
	// Renderer renders deliveries that need enrichment; without one they go to the DLQ.
	Renderer Renderer
	// Health, when set, keeps deliveries out of the DLQ while their service is down for
	// everyone (see HoldForOutage); without it max_retries alone decides.
	Health Health
	// Wakeup is the signal that makes the worker claim at once (default: a new one, reached
	// through Worker.Notify). Pass the one that ingest and the breaker signal.
	Wakeup *Wakeup
	// Handoff is where ingest hands this worker the deliveries it has just stored, leased to it
	// (default: a new one, which nothing gives to). Pass the one ingest has.
	Handoff *Handoff
	// Now is the clock for claims, results and next_attempt_at (default time.Now).
	Now func() time.Time
	// Rand returns a number in [0, 1) for backoff jitter (default math/rand/v2.Float64).
	Rand func() float64
}

// abandonAfter is how long canceled sends get to return before shutdown goes on without them.
const abandonAfter = 5 * time.Second

// Defaults of Config.
const (
	DefaultConcurrency     = 64
	DefaultBatchSize       = 100
	DefaultLease           = 30 * time.Second
	DefaultPollInterval    = time.Second
	DefaultFlushInterval   = 5 * time.Millisecond
	DefaultShutdownTimeout = 10 * time.Second
	DefaultServiceTTL      = time.Second
)

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushSize <= 0 {
		c.FlushSize = c.BatchSize
	}
	def(&c.Lease, DefaultLease)
	def(&c.PollInterval, DefaultPollInterval)
	def(&c.FlushInterval, DefaultFlushInterval)
	def(&c.ShutdownTimeout, DefaultShutdownTimeout)
	def(&c.ServiceTTL, DefaultServiceTTL)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Wakeup == nil {
		c.Wakeup = NewWakeup()
	}
	if c.Handoff == nil {
		c.Handoff = NewHandoff()
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}

// Worker delivers claimed deliveries. Run it once per process; scale with Concurrency, or with
// more processes on a shared PostgreSQL store.
type Worker struct {
	store    Store
	services ServiceSource
	caller   Caller
	cfg      Config
	log      *slog.Logger
	wake     *Wakeup
	handoff  *Handoff
	running  atomic.Bool
}

// New returns a Worker. services is wrapped in a ServiceCache of cfg.ServiceTTL.
func New(store Store, services ServiceSource, caller Caller, cfg Config) *Worker {
	cfg = cfg.withDefaults()
	if _, cached := services.(*ServiceCache); !cached {
		services = NewServiceCache(services, cfg.ServiceTTL, cfg.Now)
	}
	return &Worker{
		store:    store,
		services: services,
		caller:   caller,
		cfg:      cfg,
		log:      cfg.Logger.With("owner", cfg.Owner),
		wake:     cfg.Wakeup,
		handoff:  cfg.Handoff,
	}
}

// Notify wakes the worker to claim at once, as a signal on its Wakeup does (ingest and the ledger
// signal the Wakeup, which exists before the worker). It never blocks.
func (w *Worker) Notify() { w.wake.Notify() }

// sent is a delivery's round, as a sender hands it back to the loop.
type sent struct {
	d       *mih.Delivery
	result  mih.DeliveryResult
	release bool // put back untouched, without an attempt (canceled at shutdown, service unreadable)
}

// Run claims, sends and commits until ctx is done, then shuts down gracefully: it stops
// claiming, lets in-flight sends finish for up to ShutdownTimeout, cancels the rest and releases
// their leases, and commits every finished result before it returns. It returns an error only
// when that last commit or release failed (those deliveries are sent again once their leases
// run out) or when it is already running.
func (w *Worker) Run(ctx context.Context) error {
	if w.cfg.Owner == "" {
		return mih.Errorf(mih.CodeInvalid, "delivery worker: owner is required")
	}
	if !w.running.CompareAndSwap(false, true) {
		return mih.Errorf(mih.CodeConflict, "delivery worker %s is already running", w.cfg.Owner)
	}
	defer w.running.Store(false)

	// Sends outlive ctx by up to ShutdownTimeout, so they hang off a context of their own.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	l := &loop{
		w:        w,
		sendCtx:  sendCtx,
		dbCtx:    context.WithoutCancel(ctx),
		results:  make(chan sent, w.cfg.Concurrency),
		jobs:     make(chan *mih.Delivery, w.cfg.Concurrency),
		inflight: map[int64]*mih.Delivery{},
		more:     true,
	}
	l.both, _ = w.store.(CompleteClaimer)
	defer close(l.jobs) // the senders' end
	w.handoff.attach(w.cfg.Owner, w.cfg.Lease, w.cfg.Concurrency)
	w.log.InfoContext(ctx, "delivery worker started", "concurrency", w.cfg.Concurrency, "batch", w.cfg.BatchSize)
	l.run(ctx, cancelSends)
	err := l.finish()
	w.log.InfoContext(l.dbCtx, "delivery worker stopped", "error", err)
	return err
}

// loop is the state of one Run. Only Run's goroutine touches it; senders talk to it through
// results.
type loop struct {
	w        *Worker
	sendCtx  context.Context
	dbCtx    context.Context // store calls finish even when Run's ctx is done
	results  chan sent
	jobs     chan *mih.Delivery // to the senders
	senders  int
	both     CompleteClaimer // the store, when it commits a flush and a claim at once; else nil
	inflight map[int64]*mih.Delivery
	done     []sent  // finished, not yet committed
	released []int64 // put back untouched, to release
	more     bool    // the last claim was full: more may be due right now
	stopping bool    // no more claims: shutting down

	flushC   <-chan time.Time
	flushT   *time.Timer
	retryT   *time.Timer
	retryAt  time.Time
	failures int // consecutive failed commits, for backoff
}

func (l *loop) run(ctx context.Context, cancelSends context.CancelFunc) {
	cfg := l.w.cfg
	poll := time.NewTicker(cfg.PollInterval)
	defer poll.Stop()
	heartbeat := time.NewTicker(cfg.Lease / 3)
	defer heartbeat.Stop()
	l.retryT = time.NewTimer(time.Hour)
	l.retryT.Stop()
	defer l.retryT.Stop()
	defer func() {
		if l.flushT != nil {
			l.flushT.Stop()
		}
	}()

	stop := ctx.Done()
	var (
		shutdown, abandon <-chan time.Time
		stopping          bool
	)
	for {
		if !stopping && l.more {
			l.claim(ctx)
		}
		// Ingest may hand over new deliveries only while no due one waits unclaimed, and, as for
		// claims, not while a full batch of results waits to be committed.
		l.w.handoff.setOpen(!stopping && !l.more && len(l.done) < l.w.cfg.FlushSize)
		if stopping && len(l.inflight) == 0 {
			return
		}
		select {
		case <-stop:
			stop, stopping = nil, true
			l.stopping = true
			l.putBack(l.w.handoff.detach())
			t := time.NewTimer(cfg.ShutdownTimeout)
			defer t.Stop()
			shutdown = t.C
			l.w.log.InfoContext(l.dbCtx, "delivery worker stopping", "inflight", len(l.inflight))
		case <-shutdown:
			shutdown = nil
			l.w.log.WarnContext(l.dbCtx, "delivery worker: shutdown timeout, canceling sends", "inflight", len(l.inflight))
			cancelSends()
			// A transport that ignores cancellation must not hold shutdown forever: its
			// deliveries stay leased and are sent again once the lease runs out.
			t := time.NewTimer(abandonAfter)
			defer t.Stop()
			abandon = t.C
		case <-abandon:
			l.w.log.ErrorContext(l.dbCtx, "delivery worker: sends ignored cancellation; leaving their leases to run out", "inflight", len(l.inflight))
			return
		case <-l.w.wake.C():
			l.more = true
		case <-l.w.handoff.c:
			if ds := l.w.handoff.receive(); stopping {
				l.putBack(ds)
			} else {
				l.dispatch(ds)
			}
		case <-poll.C:
			l.more = true
		case <-l.retryT.C:
			l.retryAt = time.Time{}
			l.more = true
		case s := <-l.results:
			l.collect(s)
		case <-l.flushC:
			l.flushC = nil
			l.flush()
		case <-heartbeat.C:
			l.heartbeat()
		}
	}
}

// claim leases due deliveries when enough capacity is free and starts a sender for each. It does
// not claim while a full batch of results waits to be committed: a store that cannot commit
// stops the worker from taking more.
func (l *loop) claim(ctx context.Context) {
	cfg := l.w.cfg
	if len(l.done) >= cfg.FlushSize {
		return
	}
	limit := l.claimLimit()
	if limit == 0 {
		return
	}
	octx, cancel := context.WithTimeout(l.dbCtx, cfg.Lease)
	ds, err := l.w.store.ClaimDeliveries(octx, mih.ClaimParams{Owner: cfg.Owner, Limit: limit, Lease: cfg.Lease, Now: cfg.Now()})
	cancel()
	if err != nil {
		l.w.handoff.put(limit)
		l.more = false // try again on the next poll
		if ctx.Err() == nil {
			l.w.log.ErrorContext(ctx, "claim deliveries", "error", err)
		}
		return
	}
	l.start(ds, limit)
}

// claimLimit takes the slots for a claim now (the caller gives back what the claim leaves
// unused, start does): none while too few are free. Claims go in batches rather than one
// delivery per freed slot: a busy worker claims once a quarter of its slots are free, an idle one
// at once. Slots are counted by the Handoff, which ingest takes from too.
func (l *loop) claimLimit() int {
	cfg := l.w.cfg
	free := l.w.handoff.available()
	if l.stopping || free <= 0 || (free < max(1, min(cfg.BatchSize, cfg.Concurrency)/4) && len(l.inflight) > 0) {
		return 0
	}
	return l.w.handoff.take(min(free, cfg.BatchSize))
}

// start hands claimed deliveries to the senders. Senders live as long as Run rather than one
// goroutine per delivery: a new goroutine's stack is grown (copied) on every send to the depth
// of an HTTP round trip, which cost more CPU than the hand-off. There are as many as the most
// deliveries ever in flight at once (at most Concurrency, started as needed), so jobs never
// blocks.
func (l *loop) start(ds []*mih.Delivery, limit int) {
	l.more = len(ds) == limit
	l.w.handoff.put(limit - len(ds))
	l.dispatch(ds)
}

// dispatch puts deliveries leased to this worker (claimed, or handed over by ingest) in flight.
// One already in flight is left alone (it would be sent twice) and its slot given back: a claim
// never returns one, but a hand-over that arrived after its lease ran out could.
func (l *loop) dispatch(ds []*mih.Delivery) {
	n := 0
	for _, d := range ds {
		if _, dup := l.inflight[d.ID]; dup {
			l.w.handoff.put(1)
			continue
		}
		n++
		l.inflight[d.ID] = d
		for l.senders < len(l.inflight) {
			l.senders++
			go func() {
				for d := range l.jobs {
					l.w.send(l.sendCtx, d, l.results)
				}
			}()
		}
		l.jobs <- d
	}
	l.w.cfg.Metrics.addInflight(n)
}

// collect takes a sender's outcome and commits the batch when it is full.
func (l *loop) collect(s sent) {
	delete(l.inflight, s.d.ID)
	l.w.handoff.put(1)
	l.w.cfg.Metrics.addInflight(-1)
	if s.release {
		l.released = append(l.released, s.d.ID)
		l.armFlush(l.w.cfg.FlushInterval)
		return
	}
	l.done = append(l.done, s)
	if len(l.done) >= l.w.cfg.FlushSize {
		l.flush()
		return
	}
	l.armFlush(l.w.cfg.FlushInterval)
}

func (l *loop) armFlush(d time.Duration) {
	if l.flushC != nil {
		return
	}
	if l.flushT == nil {
		l.flushT = time.NewTimer(d)
	} else {
		l.flushT.Reset(d)
	}
	l.flushC = l.flushT.C
}

// flush commits finished results in one transaction. On failure it keeps them and tries again
// later, backing off up to PollInterval; their leases are kept alive meanwhile by the heartbeat.
func (l *loop) flush() {
	cfg := l.w.cfg
	if err := l.release(); err != nil {
		l.w.log.ErrorContext(l.dbCtx, "release deliveries", "error", err)
		l.armFlush(cfg.PollInterval)
	}
	if len(l.done) == 0 {
		return
	}
	rs := make([]mih.DeliveryResult, len(l.done))
	for i, s := range l.done {
		rs[i] = s.result
	}
	octx, cancel := context.WithTimeout(l.dbCtx, cfg.Lease)
	var (
		n       int
		err     error
		claimed []*mih.Delivery
	)
	// The next claim rides on this commit when the store can do both at once and there are
	// slots to fill; the loop's own claim then finds nothing left to do for now.
	limit := 0
	if l.both != nil {
		limit = l.claimLimit()
	}
	claim := limit > 0
	if claim {
		n, claimed, err = l.both.CompleteAndClaim(octx, cfg.Owner, rs, mih.ClaimParams{Owner: cfg.Owner, Limit: limit, Lease: cfg.Lease, Now: cfg.Now()})
	} else {
		n, err = l.w.store.CompleteDeliveries(octx, cfg.Owner, rs)
	}
	cancel()
	if err == nil && claim {
		l.start(claimed, limit)
	}
	if err != nil {
		if claim {
			l.w.handoff.put(limit)
		}
		l.failures++
		l.w.log.ErrorContext(l.dbCtx, "complete deliveries", "results", len(rs), "error", err)
		l.armFlush(min(cfg.FlushInterval<<min(l.failures, 16), cfg.PollInterval))
		return
	}
	l.failures = 0
	if n < len(rs) {
		l.w.log.WarnContext(l.dbCtx, "deliveries taken over by another worker; their results were dropped", "results", len(rs), "applied", n)
	}
	for _, s := range l.done {
		r := &s.result
		cfg.Metrics.observe(s.d.Service, s.d.CreatedAt, r)
		l.logResult(s.d, r)
		if r.State == mih.DeliveryRetrying {
			l.wakeAt(r.NextAttemptAt)
		}
	}
	l.done = l.done[:0]
}

// putBack releases deliveries handed over by ingest that this worker will not send: it is
// stopping.
func (l *loop) putBack(ds []*mih.Delivery) {
	if len(ds) == 0 {
		return
	}
	for _, d := range ds {
		l.released = append(l.released, d.ID)
	}
	l.armFlush(l.w.cfg.FlushInterval)
}

// release drops the leases of deliveries put back untouched (their service could not be read,
// or their send was canceled at shutdown), so that they are claimed again without waiting for
// the lease to run out. On failure they stay in the list for the next try.
func (l *loop) release() error {
	if len(l.released) == 0 {
		return nil
	}
	octx, cancel := context.WithTimeout(l.dbCtx, l.w.cfg.Lease)
	err := l.w.store.ReleaseDeliveries(octx, l.w.cfg.Owner, l.released)
	cancel()
	if err != nil {
		return fmt.Errorf("release %d deliveries: %w", len(l.released), err)
	}
	l.w.log.DebugContext(l.dbCtx, "released deliveries", "deliveries", len(l.released))
	l.released = l.released[:0]
	return nil
}

// wakeAt makes the worker claim when its own earliest retry comes due, so that short backoffs
// are not stretched to PollInterval.
func (l *loop) wakeAt(t time.Time) {
	if !l.retryAt.IsZero() && !t.Before(l.retryAt) {
		return
	}
	l.retryAt = t
	// A millisecond of slack so that the claim's clock reading is surely past the due time.
	l.retryT.Reset(max(t.Sub(l.w.cfg.Now()), 0) + time.Millisecond)
}

func (l *loop) logResult(d *mih.Delivery, r *mih.DeliveryResult) {
	args := []any{"delivery", d.ID, "event", d.EventID, "trace_id", tracing.TraceID(d.EventID), "service", d.Service,
		"state", r.State, "attempts", d.Attempts + btoi(r.CountAttempt)}
	switch r.State {
	case mih.DeliveryDead:
		l.w.log.WarnContext(l.dbCtx, "delivery dead", append(args, "reason", r.DeadReason, "error", r.LastError)...)
	case mih.DeliveryRetrying:
		l.w.log.DebugContext(l.dbCtx, "delivery retrying", append(args, "next_attempt_at", r.NextAttemptAt, "error", r.LastError)...)
	default:
		l.w.log.DebugContext(l.dbCtx, "delivery "+string(r.State), args...)
	}
}

// heartbeat extends the leases of everything this worker holds: sends in flight and results not
// yet committed.
func (l *loop) heartbeat() {
	ids := slices.Collect(maps.Keys(l.inflight))
	for _, s := range l.done {
		ids = append(ids, s.d.ID)
	}
	if len(ids) == 0 {
		return
	}
	cfg := l.w.cfg
	octx, cancel := context.WithTimeout(l.dbCtx, cfg.Lease/3)
	defer cancel()
	if err := l.w.store.ExtendLeases(octx, cfg.Owner, ids, cfg.Now().Add(cfg.Lease)); err != nil {
		l.w.log.ErrorContext(l.dbCtx, "extend leases", "deliveries", len(ids), "error", err)
	}
}

// finish commits what is left and releases what was abandoned. A commit that fails is tried a
// few times, since results lost here mean deliveries sent twice.
func (l *loop) finish() error {
	l.putBack(l.w.handoff.detach())
	var errs []error
	for i := 0; len(l.done) > 0 && i < 3; i++ {
		if i > 0 {
			time.Sleep(time.Duration(i) * 100 * time.Millisecond)
		}
		l.flush()
	}
	if len(l.done) > 0 {
		errs = append(errs, fmt.Errorf("commit %d delivery results at shutdown: leases will run out and they will be sent again", len(l.done)))
	}
	if err := l.release(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// send makes one round of a delivery and hands the outcome back. It always sends exactly one
// value on out (which has room for every in-flight delivery, so it never blocks).
func (w *Worker) send(ctx context.Context, d *mih.Delivery, out chan<- sent) {
	s := sent{d: d}
	var svc *mih.Service
	defer func() {
		if p := recover(); p != nil {
			// A panicking transport must not take the process down with every lease it holds;
			// the round counts as a failed attempt so that a delivery that always panics ends
			// in the DLQ instead of looping.
			w.log.ErrorContext(ctx, "delivery send panicked", "delivery", d.ID, "event", d.EventID, "service", d.Service, "panic", fmt.Sprint(p))
			s.result, s.release = mih.DeliveryResult{}, svc == nil
			if svc != nil {
				s.result = Next(svc, d, gateway.Outcome{Err: errPanic}, w.cfg.Now(), w.cfg.Rand)
			}
		}
		out <- s
	}()

	svc, err := w.services.FindServiceByName(ctx, d.Service)
	if err != nil && mih.ErrorCode(err) != mih.CodeNotFound {
		// We cannot tell what to do; put it back untouched for the next claim.
		if ctx.Err() == nil {
			w.log.ErrorContext(ctx, "find service", "service", d.Service, "error", err)
		}
		s.release = true
		return
	}
	if err != nil {
		svc = nil // deleted while the delivery waited
	}

	var o gateway.Outcome
	var rendered bool
	if svc != nil && svc.Enabled && d.Unrendered() {
		req, err := w.render(ctx, d)
		if err != nil {
			if ctx.Err() != nil {
				s.release = true
				return
			}
			s.result = Next(svc, d, gateway.Outcome{Err: err}, w.cfg.Now(), w.cfg.Rand)
			return
		}
		dd := *d
		dd.Method, dd.Endpoint, dd.Headers, dd.Payload = req.Method, req.Endpoint, req.Headers, req.Payload
		if dd.Headers == nil {
			dd.Headers = map[string]string{} // replaces what an earlier render stored
		}
		d, rendered = &dd, true
	}
	if svc != nil && svc.Enabled {
		o = w.caller.Send(ctx, svc, &mih.Request{
			Method:         d.Method,
			Path:           d.Endpoint,
			Headers:        d.Headers,
			Body:           d.Payload,
			IdempotencyKey: d.IdempotencyKey,
		})
		if o.Err != nil && ctx.Err() != nil {
			// Canceled at shutdown: the attempt did not complete and must not count.
			s.release = true
			return
		}
	}
	s.result = Next(svc, d, o, w.cfg.Now(), w.cfg.Rand)
	if o.Err != nil {
		w.holdForOutage(ctx, svc, d, &s.result)
	}
	if rendered {
		// Kept whatever the outcome, so the DLQ and replays show and send what was rendered.
		s.result.Payload, s.result.Headers, s.result.Method, s.result.Endpoint = d.Payload, d.Headers, d.Method, d.Endpoint
	}
}

// holdForOutage pauses a delivery that ran out of attempts while its service answered nobody,
// and opens the service's circuit (HoldForOutage).
func (w *Worker) holdForOutage(ctx context.Context, svc *mih.Service, d *mih.Delivery, r *mih.DeliveryResult) {
	h := w.cfg.Health
	if h == nil || r.State != mih.DeliveryDead || r.DeadReason != mih.ReasonExhausted {
		return
	}
	first := d.CreatedAt
	switch fa, ok := w.store.(FirstAttempts); {
	case d.Attempts == 0 && r.Attempt != nil:
		first = r.Attempt.StartedAt // this was the first
	case ok:
		t, err := fa.FirstAttemptAt(ctx, d.ID, d.Attempts)
		if err != nil {
			w.log.WarnContext(ctx, "first attempt of an exhausted delivery", "delivery", d.ID, "error", err)
		} else if !t.IsZero() {
			first = t
		}
	}
	last := h.LastSuccess(svc.Name)
	if !HoldForOutage(r, first, last) {
		return
	}
	w.log.WarnContext(ctx, "delivery out of attempts while its service answers nobody: paused, circuit opened",
		"delivery", d.ID, "service", svc.Name, "first_attempt", first, "last_success", last)
	h.Trip(ctx, svc)
}

func (w *Worker) render(ctx context.Context, d *mih.Delivery) (*mih.Rendered, error) {
	if w.cfg.Renderer == nil {
		return nil, &mih.SendError{Code: mih.ErrPayload, Message: "the delivery needs enrichment and this hub has no renderer"}
	}
	return w.cfg.Renderer.Render(ctx, d)
}

// errPanic is the outcome of a send that panicked.
var errPanic = mih.Errorf(mih.CodeInternal, "the transport panicked")

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
