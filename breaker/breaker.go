// Package breaker is the circuit breaker of every service (docs/operations.md, Circuit breakers),
// shared by all the processes of one store.
//
// A circuit closes, opens and half-opens as the contract says: failure_threshold consecutive
// retryable failures within window_s open it; after cooldown_s exactly one call, the probe, goes
// through; its success closes the circuit and resumes the paused deliveries, oldest first; its
// failure opens the circuit again. Only retryable failures count: a 4xx means the service is up
// and answering, so it counts as a success here (and goes to the DLQ in the ledger).
//
// The state lives in the store (mih.CircuitStore), not in memory, because several `mih serve`
// processes on one PostgreSQL must agree on it: every change of state is a compare-and-set on
// the circuit's version, so exactly one process opens a circuit, takes the probe or closes it.
// Each process keeps a view of the circuits, refreshed every SyncInterval and after each of its
// own writes, so that the hot path (a call on a closed circuit with no failures) takes a mutex
// and a map lookup and never touches the database.
//
// Why not github.com/sony/gobreaker: its TwoStepCircuitBreaker keeps its state in process
// memory with no way to set it from outside, so it could neither follow an opening or a reset
// made by another process nor hand out one probe across processes; its distributed breaker
// holds a shared lock around each request. Once the store's compare-and-set is the authority,
// what remains of a library is a counter, and the paused-delivery semantics (a probe taken from
// the waiting deliveries, a failed probe put back without using up an attempt) are ours anyway.
package breaker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
)

// Store is where the breaker keeps the circuits.
type Store interface {
	mih.CircuitStore
}

// Ledger is what the breaker asks to pause a service's waiting deliveries when its circuit opens
// and to resume them (or one, the probe) when it closes or its cooldown ends; *ops.Ledger
// implements it and wakes the delivery workers. The breaker writes no delivery rows itself.
type Ledger interface {
	PauseDeliveries(ctx context.Context, service string, now time.Time) (int, error)
	ResumeDeliveries(ctx context.Context, service string, limit int, now time.Time) (int, error)
}

// Options tunes a Breaker. The zero value is usable.
type Options struct {
	// Owner names this process in probe ids, for the logs (default: random).
	Owner string
	// SyncInterval is how often Run rereads the circuits, so that an opening or a reset made by
	// another process is seen within it (default 1 s).
	SyncInterval time.Duration
	// ProbeGrace is added to the service's timeout to bound a probe's claim: a process that dies
	// while probing holds the circuit half-open at most that long (default 10 s).
	ProbeGrace time.Duration
	// Ledger pauses and resumes deliveries (nil: circuits change without touching deliveries,
	// as for a process that only calls services, such as `mih sync run`).
	Ledger Ledger
	Logger *slog.Logger
	Now    func() time.Time
}

var _ gateway.Guard = (*Breaker)(nil)

// Breaker implements gateway.Guard over the circuits in a store.
type Breaker struct {
	store Store
	opts  Options

	mu sync.Mutex
	// view is this process's copy of the stored circuits; a service absent from it is closed.
	view map[string]mih.Circuit
	// probed remembers when this process last resumed a delivery as a probe, and the circuit's
	// version then, so that it does not resume one per sync while that delivery waits for a
	// worker, but does resume the next as soon as the last one was taken.
	probed map[string]probeMark
	// answered is when each service last answered a call of this process; written records when
	// this process last stored it (see SuccessEvery).
	answered map[string]time.Time
	written  map[string]time.Time
	// transitions counts the changes of state this process made, for the metrics.
	transitions map[transition]int
	// closedElsewhere holds the services whose circuit this process saw closed by another
	// process, with the number of syncs left in which to resume their paused deliveries. Until
	// this process rereads the circuit its view still says open, so its workers pause what they
	// claim; resuming once more on the next sync catches the results committed just after it.
	closedElsewhere map[string]int
}

type transition struct{ service, to string }

type probeMark struct {
	at      time.Time
	version int64
}

// SuccessEvery is how often at most one process writes a closed circuit's last success to the
// store: the successes of a busy service cost one write per SuccessEvery, not one per call.
const SuccessEvery = 5 * time.Second

// MinProbeInterval is the shortest wait between probes of an open circuit (unless cooldown_s is
// shorter still).
const MinProbeInterval = time.Second

// ProbeInterval is the wait before the next probe of a circuit that has been open for open: 1 %
// of the outage so far, at least MinProbeInterval and at most the service's cooldown_s. A short
// outage is noticed within about a second; a 10-minute one within 6 s; only after 50 minutes
// (with the default cooldown_s of 30) do probes slow to one every cooldown_s.
func ProbeInterval(svc *mih.Service, open time.Duration) time.Duration {
	return min(svc.Circuit.Cooldown(), max(MinProbeInterval, open/100))
}

// New returns a Breaker over store. Call Sync once, or run Run, to load the stored circuits.
func New(store Store, opts Options) *Breaker {
	if opts.Owner == "" {
		opts.Owner = randomID()
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = time.Second
	}
	if opts.ProbeGrace <= 0 {
		opts.ProbeGrace = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Breaker{store: store, opts: opts, view: map[string]mih.Circuit{}, probed: map[string]probeMark{},
		answered: map[string]time.Time{}, written: map[string]time.Time{}, transitions: map[transition]int{},
		closedElsewhere: map[string]int{}}
}

// State returns a service's circuit state: closed, open or halfopen.
func (b *Breaker) State(service string) string {
	return b.Circuit(service).State
}

// Circuit returns this process's view of a service's circuit.
func (b *Breaker) Circuit(service string) mih.Circuit {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.circuit(service)
}

// Circuits returns this process's view of every circuit that is not closed and fresh.
func (b *Breaker) Circuits() []mih.Circuit {
	b.mu.Lock()
	defer b.mu.Unlock()
	cs := make([]mih.Circuit, 0, len(b.view))
	for _, c := range b.view {
		cs = append(cs, c)
	}
	return cs
}

// circuit must be called with b.mu held.
func (b *Breaker) circuit(service string) mih.Circuit {
	c, ok := b.view[service]
	if !ok {
		return mih.Circuit{Service: service, State: mih.CircuitClosed}
	}
	return c
}

// remember stores c in the view unless the view already holds a newer version (a concurrent
// sync read past our write).
func (b *Breaker) remember(c mih.Circuit) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.view[c.Service]; ok && old.Version > c.Version {
		return
	}
	b.view[c.Service] = c
}

// Allow lets a call go, refuses it, or lets it go as the probe (gateway.Guard). On a closed
// circuit it does not touch the store; on an open one whose cooldown has passed it tries to take
// the probe, and only the process and call that win the compare-and-set go through.
func (b *Breaker) Allow(ctx context.Context, svc *mih.Service) gateway.Decision {
	now := b.opts.Now()
	c := b.Circuit(svc.Name)
	switch {
	case c.State == mih.CircuitClosed || c.State == "":
		return gateway.Decision{Verdict: gateway.Allowed, Record: b.closedRecord(ctx, svc)}
	case c.State == mih.CircuitOpen && now.Before(c.RetryAt),
		c.State == mih.CircuitHalfOpen && now.Before(c.ProbeUntil):
		return refuse(svc.Name, c, now)
	}
	// The cooldown is over (or the probe's claim lapsed): try to be the probe.
	probe := c
	probe.State = mih.CircuitHalfOpen
	probe.ProbeID = b.opts.Owner + "-" + randomID()
	probe.ProbeUntil = now.Add(svc.Timeout() + b.opts.ProbeGrace)
	won, err := b.store.SwapCircuit(ctx, &probe)
	if err != nil {
		// Without the store we cannot know who probes; refusing keeps the deliveries paused
		// and their attempts intact.
		b.opts.Logger.WarnContext(ctx, "circuit: cannot take the probe", "service", svc.Name, "error", err)
		return refuse(svc.Name, c, now)
	}
	if !won {
		fresh, err := b.reload(ctx, svc.Name)
		if err == nil && fresh.State == mih.CircuitClosed {
			// reset or closed meanwhile
			return gateway.Decision{Verdict: gateway.Allowed, Record: b.closedRecord(ctx, svc)}
		}
		return refuse(svc.Name, fresh, now)
	}
	b.remember(probe)
	b.changed(svc.Name, c.State, mih.CircuitHalfOpen)
	b.opts.Logger.InfoContext(ctx, "circuit half-open: probing", "service", svc.Name, "probe", probe.ProbeID)
	return gateway.Decision{Verdict: gateway.Probe, Record: b.probeRecord(ctx, svc, probe)}
}

// refuse is the Decision of a refused call.
func refuse(service string, c mih.Circuit, now time.Time) gateway.Decision {
	return gateway.Decision{Verdict: gateway.Refused, Refusal: refusal(service, c, now)}
}

// outcome is what a call's result means to the breaker.
type outcome int

const (
	neutral outcome = iota // nothing learnt: the caller gave up, or nothing was sent
	success                // the service answered, even if with a 4xx
	failure                // a retryable failure: network, timeout, 408/425/429/5xx, nack
)

func classify(err error) outcome {
	if err == nil {
		return success
	}
	if errors.Is(err, context.Canceled) {
		return neutral
	}
	se, ok := errors.AsType[*mih.SendError](err)
	switch {
	case !ok:
		return failure // our own transient fault around the call: treat like a network error
	case se.Code == mih.ErrRequest || se.Code == mih.ErrPayload:
		return neutral
	case se.Retryable:
		return failure
	default:
		return success
	}
}

// closedRecord counts the outcome of a call on a closed circuit.
func (b *Breaker) closedRecord(ctx context.Context, svc *mih.Service) func(error) {
	return func(err error) {
		switch classify(err) {
		case success:
			failures, write := b.answer(svc.Name)
			if failures || write {
				b.update(ctx, svc, func(c *mih.Circuit, now time.Time) bool {
					if c.State != mih.CircuitClosed || c.Failures == 0 && !write {
						return false
					}
					c.Failures, c.FailingSince = 0, time.Time{}
					c.LastSuccessAt = now
					return true
				})
			}
		case failure:
			b.update(ctx, svc, func(c *mih.Circuit, now time.Time) bool {
				if c.State != mih.CircuitClosed {
					return false // opened meanwhile: a late failure changes nothing
				}
				if c.Failures == 0 || now.Sub(c.FailingSince) > svc.Circuit.Window() {
					c.Failures, c.FailingSince = 0, now
				}
				c.Failures++
				if c.Failures >= svc.Circuit.FailureThreshold {
					open(svc, c, now)
				}
				return true
			})
		}
	}
}

// probeRecord settles the probe: success closes the circuit, failure opens it again, and a call
// that taught nothing hands the probe back at once.
func (b *Breaker) probeRecord(ctx context.Context, svc *mih.Service, probe mih.Circuit) func(error) {
	return func(err error) {
		o := classify(err)
		mine := func(c *mih.Circuit) bool { return c.State == mih.CircuitHalfOpen && c.ProbeID == probe.ProbeID }
		b.update(ctx, svc, func(c *mih.Circuit, now time.Time) bool {
			if !mine(c) {
				return false // reset, or our claim lapsed and another process probes
			}
			c.ProbeID, c.ProbeUntil = "", time.Time{}
			switch o {
			case success:
				*c = mih.Circuit{Service: c.Service, State: mih.CircuitClosed, Version: c.Version, LastSuccessAt: now}
			case failure:
				c.State, c.RetryAt = mih.CircuitOpen, now.Add(ProbeInterval(svc, now.Sub(c.OpenedAt)))
			default:
				c.State, c.RetryAt = mih.CircuitOpen, now
			}
			return true
		})
	}
}

// open opens a closed circuit: the outage starts now, and the first probe goes after
// MinProbeInterval.
func open(svc *mih.Service, c *mih.Circuit, now time.Time) {
	c.State, c.Failures, c.FailingSince = mih.CircuitOpen, 0, time.Time{}
	c.OpenedAt, c.RetryAt = now, now.Add(ProbeInterval(svc, 0))
}

// answer notes that the service answered a call now. It reports whether the stored circuit
// has failures to clear, and whether this process should write the last success (not done for
// SuccessEvery, by this process or, as far as it knows, another).
func (b *Breaker) answer(service string) (failures, write bool) {
	now := b.opts.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.answered[service] = now
	c := b.circuit(service)
	if now.Sub(c.LastSuccessAt) >= SuccessEvery && now.Sub(b.written[service]) >= SuccessEvery {
		b.written[service] = now
		write = true
	}
	return c.Failures > 0, write
}

// LastSuccess is when the service last answered a call, in this process or (to within
// SuccessEvery and a sync) in any process sharing the store; zero when not known.
func (b *Breaker) LastSuccess(service string) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.answered[service]
	if c := b.circuit(service); c.LastSuccessAt.After(t) {
		t = c.LastSuccessAt
	}
	return t
}

// Trip opens a closed circuit at once: the ledger calls it when a delivery ran out of attempts
// while the service answered nothing since its first one, that is, the service is down. The
// service's waiting deliveries are paused and the probes begin. It does nothing to a circuit
// that is already open or half-open.
func (b *Breaker) Trip(ctx context.Context, svc *mih.Service) {
	b.update(ctx, svc, func(c *mih.Circuit, now time.Time) bool {
		if c.State != mih.CircuitClosed {
			return false
		}
		open(svc, c, now)
		return true
	})
}

// update applies change to the stored circuit with compare-and-set, rereading and retrying when
// another writer came first, and then acts on the transition it made. The call's own context
// may be ending (shutdown); the write still gets a few seconds of its own.
func (b *Breaker) update(ctx context.Context, svc *mih.Service, change func(c *mih.Circuit, now time.Time) bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c := b.Circuit(svc.Name)
	for range 5 {
		from := c.State
		next := c
		if !change(&next, b.opts.Now()) {
			return
		}
		won, err := b.store.SwapCircuit(ctx, &next)
		if err != nil {
			b.opts.Logger.WarnContext(ctx, "circuit: cannot record an outcome", "service", svc.Name, "error", err)
			return
		}
		if won {
			b.remember(next)
			if next.State != from {
				b.transitioned(ctx, svc.Name, from, next.State)
			}
			return
		}
		if c, err = b.reload(ctx, svc.Name); err != nil {
			b.opts.Logger.WarnContext(ctx, "circuit: cannot reread", "service", svc.Name, "error", err)
			return
		}
	}
	b.opts.Logger.WarnContext(ctx, "circuit: outcome not recorded, too much contention", "service", svc.Name)
}

// transitioned acts on a change of state this process made: an opening pauses the service's
// waiting deliveries at once (so the queue shows them paused rather than retrying into a wall),
// a closing resumes them.
func (b *Breaker) transitioned(ctx context.Context, service, from, to string) {
	b.changed(service, from, to)
	now := b.opts.Now()
	switch to {
	case mih.CircuitOpen:
		n, err := b.pause(ctx, service, now)
		if err != nil {
			b.opts.Logger.WarnContext(ctx, "circuit open: cannot pause deliveries", "service", service, "error", err)
		}
		if from == mih.CircuitClosed {
			b.opts.Logger.WarnContext(ctx, "circuit open", "service", service, "paused", n)
		} else {
			b.opts.Logger.InfoContext(ctx, "circuit open again: the probe failed", "service", service, "paused", n)
		}
	case mih.CircuitClosed:
		b.resume(ctx, service, now, "circuit closed")
	}
}

func (b *Breaker) changed(service, _, to string) {
	b.mu.Lock()
	b.transitions[transition{service, to}]++
	b.mu.Unlock()
}

func (b *Breaker) resume(ctx context.Context, service string, now time.Time, why string) {
	b.mu.Lock()
	delete(b.probed, service)
	b.mu.Unlock()
	n, err := b.resumeDeliveries(ctx, service, 0, now)
	if err != nil {
		b.opts.Logger.WarnContext(ctx, why+": cannot resume deliveries", "service", service, "error", err)
		return
	}
	b.opts.Logger.InfoContext(ctx, why, "service", service, "resumed", n)
}

func (b *Breaker) pause(ctx context.Context, service string, now time.Time) (int, error) {
	if b.opts.Ledger == nil {
		return 0, nil
	}
	return b.opts.Ledger.PauseDeliveries(ctx, service, now)
}

func (b *Breaker) resumeDeliveries(ctx context.Context, service string, limit int, now time.Time) (int, error) {
	if b.opts.Ledger == nil {
		return 0, nil
	}
	return b.opts.Ledger.ResumeDeliveries(ctx, service, limit, now)
}

// reload reads one circuit from the store into the view; none stored means closed.
func (b *Breaker) reload(ctx context.Context, service string) (mih.Circuit, error) {
	c, err := b.store.FindCircuit(ctx, service)
	switch {
	case mih.ErrorCode(err) == mih.CodeNotFound:
		fresh := mih.Circuit{Service: service, State: mih.CircuitClosed}
		b.mu.Lock()
		delete(b.view, service)
		b.mu.Unlock()
		return fresh, nil
	case err != nil:
		return b.Circuit(service), err
	}
	b.mu.Lock()
	b.view[service] = *c
	b.mu.Unlock()
	return *c, nil
}

// Reset closes one service's circuit and resumes its paused deliveries. Resetting a closed
// circuit clears its failure count.
func (b *Breaker) Reset(ctx context.Context, service string) error {
	for range 5 {
		c, err := b.reload(ctx, service)
		if err != nil {
			return fmt.Errorf("reset circuit of %s: %w", service, err)
		}
		if c.Version == 0 {
			return nil // nothing stored: closed and clean
		}
		from := c.State
		closed := mih.Circuit{Service: service, State: mih.CircuitClosed, Version: c.Version, LastSuccessAt: c.LastSuccessAt}
		won, err := b.store.SwapCircuit(ctx, &closed)
		if err != nil {
			return fmt.Errorf("reset circuit of %s: %w", service, err)
		}
		if won {
			b.remember(closed)
			if from != mih.CircuitClosed {
				b.changed(service, from, mih.CircuitClosed)
				b.resume(ctx, service, b.opts.Now(), "circuit reset")
			}
			return nil
		}
	}
	return mih.Errorf(mih.CodeConflict, "the circuit of %s keeps changing; try again", service)
}

// ResetAll closes every circuit that is not closed and returns how many it closed.
func (b *Breaker) ResetAll(ctx context.Context) (int, error) {
	cs, err := b.store.FindCircuits(ctx)
	if err != nil {
		return 0, fmt.Errorf("reset circuits: %w", err)
	}
	var (
		n    int
		errs []error
	)
	for _, c := range cs {
		if c.State == mih.CircuitClosed {
			continue
		}
		if err := b.Reset(ctx, c.Service); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Sync rereads every circuit, and for each open circuit whose cooldown is over resumes one paused
// delivery, the oldest, to be the probe: without it a circuit whose deliveries all wait paused
// would never be tried again.
func (b *Breaker) Sync(ctx context.Context) error {
	cs, err := b.store.FindCircuits(ctx)
	if err != nil {
		return fmt.Errorf("sync circuits: %w", err)
	}
	now := b.opts.Now()
	view := make(map[string]mih.Circuit, len(cs))
	var due []string
	b.mu.Lock()
	for _, c := range cs {
		old, had := b.view[c.Service]
		if had && old.Version > c.Version {
			view[c.Service] = old // our own write, newer than this read
		} else {
			view[c.Service] = *c
		}
		v := view[c.Service]
		if had && old.State != mih.CircuitClosed && v.State == mih.CircuitClosed {
			b.closedElsewhere[c.Service] = 2
		}
		ready := v.State == mih.CircuitOpen && !now.Before(v.RetryAt) ||
			v.State == mih.CircuitHalfOpen && !now.Before(v.ProbeUntil)
		// A probe delivery resumed earlier may still wait for a worker: another is resumed only
		// once that one was taken (the circuit moved on) or after probeEvery.
		p := b.probed[c.Service]
		if ready && (p.version != v.Version || now.Sub(p.at) >= b.probeEvery()) {
			b.probed[c.Service] = probeMark{at: now, version: v.Version}
			due = append(due, c.Service)
		}
	}
	for service := range b.view {
		if _, ok := view[service]; !ok && b.view[service].State != mih.CircuitClosed {
			b.closedElsewhere[service] = 2 // deleted: reset to nothing stored
		}
	}
	b.view = view
	settle := make([]string, 0, len(b.closedElsewhere))
	for service, left := range b.closedElsewhere {
		settle = append(settle, service)
		if left <= 1 {
			delete(b.closedElsewhere, service)
		} else {
			b.closedElsewhere[service] = left - 1
		}
	}
	b.mu.Unlock()

	var errs []error
	for _, service := range settle {
		n, err := b.resumeDeliveries(ctx, service, 0, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("resume deliveries of %s, closed by another process: %w", service, err))
			continue
		}
		if n > 0 {
			b.opts.Logger.InfoContext(ctx, "circuit closed by another process: paused deliveries resumed", "service", service, "resumed", n)
		}
	}
	for _, service := range due {
		n, err := b.resumeDeliveries(ctx, service, 1, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("resume a probe delivery of %s: %w", service, err))
			continue
		}
		if n > 0 {
			b.opts.Logger.DebugContext(ctx, "circuit cooldown over: one paused delivery resumed as the probe", "service", service)
		}
	}
	return errors.Join(errs...)
}

// probeEvery is how long a probe delivery resumed by this process may wait for a worker before
// another is resumed.
func (b *Breaker) probeEvery() time.Duration {
	return 5 * b.opts.SyncInterval
}

// Run calls Sync every SyncInterval until ctx ends. A failing round is logged and retried.
func (b *Breaker) Run(ctx context.Context) error {
	t := time.NewTicker(b.opts.SyncInterval)
	defer t.Stop()
	for {
		if err := b.Sync(ctx); err != nil && ctx.Err() == nil {
			b.opts.Logger.WarnContext(ctx, "circuit sync failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// refusal is the CodeCircuitOpen error of a refused call.
func refusal(service string, c mih.Circuit, now time.Time) error {
	msg := fmt.Sprintf("the circuit of %s is %s", service, c.State)
	if c.State == mih.CircuitOpen && c.RetryAt.After(now) {
		msg += fmt.Sprintf("; next probe in %s", c.RetryAt.Sub(now).Round(time.Second))
	}
	var after time.Duration
	if c.State == mih.CircuitOpen {
		after = max(c.RetryAt.Sub(now), 0)
	}
	return &RefusedError{Service: service, RetryAt: c.RetryAt, after: after, err: mih.Errorf(mih.CodeCircuitOpen, "%s", msg)}
}

// RefusedError is a call the breaker did not let through; RetryAt says when the next probe may go
// (zero when unknown), for a Retry-After header.
type RefusedError struct {
	Service string
	RetryAt time.Time
	after   time.Duration
	err     *mih.Error
}

// RetryAfter is how long until the next probe may go, from the moment of the refusal (zero when
// a probe is already out), for a Retry-After header.
func (e *RefusedError) RetryAfter() time.Duration { return e.after }

func (e *RefusedError) Error() string { return e.err.Error() }
func (e *RefusedError) Unwrap() error { return e.err }

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
