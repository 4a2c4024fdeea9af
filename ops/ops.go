// Package ops is the hub's operations layer: every change of state an administrator, a
// configuration file or the hub itself makes goes through it, with its side effects in one place.
// A service, rule, site or sync-job write invalidates what caches it (the compiled rule set, the
// site lookups) and wakes who must act on it (the delivery workers, the maintainer); a replay
// wakes the workers; a circuit reset resumes the paused deliveries; a connection test asks the
// transport's own check when it offers one.
//
// The JSON API (package http), the web UI (package web), `mih apply`, the circuit breaker and the
// delivery maintainer all call it, so that none of them has to remember an invalidation or a
// wake-up. The front ends stay thin (parse, call ops, render) and import no transport, store
// implementation, tailer or driver: ops holds what they would need them for.
//
// Reads go straight to the store (mih.Store); only changes come here.
package ops

import (
	"context"
	"log/slog"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
)

// Waker is mih.Waker: delivery.Wakeup (the workers) and delivery.Maintainer implement it.
type Waker = mih.Waker

// Invalidator is a cache that rereads its source after a change; *rule.Set implements it.
type Invalidator interface {
	Invalidate()
}

// Forgetter is a cache keyed by name that drops one entry; *enrich.SiteLookups implements it.
type Forgetter interface {
	Forget(name string)
}

// Circuits is the services' circuit breakers; *breaker.Breaker implements it.
type Circuits interface {
	// State reports a service's circuit: mih.CircuitClosed, CircuitOpen or CircuitHalfOpen.
	State(service string) string
	// Reset closes a service's circuit and resumes its paused deliveries (through the Ledger).
	Reset(ctx context.Context, service string) error
	// ResetAll closes every circuit and reports how many it closed.
	ResetAll(ctx context.Context) (int, error)
}

// Gateway calls a service with its retries and circuit breaker; *gateway.Gateway implements it.
type Gateway interface {
	Do(ctx context.Context, svc *mih.Service, req *mih.Request) (*gateway.Result, error)
}

// TailStatus reports the log store tailer of a site when this process runs it (nil otherwise);
// *tailer.Supervisor's Status, wrapped, implements it.
type TailStatus func(site string) *mih.TailStatus

// Config wires Ops. Store is required; everything else may be nil, and then its side effect is
// skipped (a hub without a breaker reads every circuit closed).
type Config struct {
	Store mih.Store
	// Ledger applies delivery state changes and wakes the workers (default: NewLedger(Store, nil)).
	Ledger *Ledger
	// Rules is the compiled rule set, invalidated after every rule or service write.
	Rules Invalidator
	// Sites is the site lookups cache, told to forget a site after it changed.
	Sites Forgetter
	// Maintainer is woken after a service was enabled or disabled, to pause or resume its
	// deliveries at once.
	Maintainer Waker
	Circuits   Circuits
	// Gateway makes the connection tests of REST and SOAP services.
	Gateway Gateway
	// Transports are asked for their own connection check (mih.Checker) when they offer one.
	Transports map[mih.ServiceType]mih.Transport
	// Tails reports the log store tailers of this process.
	Tails  TailStatus
	Logger *slog.Logger
	Now    func() time.Time
}

// Ops is the operations layer. Build it with New.
type Ops struct {
	cfg    Config
	store  mih.Store
	ledger *Ledger
	log    *slog.Logger
	now    func() time.Time
}

// New returns Ops over cfg.
func New(cfg Config) *Ops {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Ledger == nil {
		cfg.Ledger = NewLedger(cfg.Store, nil, cfg.Now)
	}
	return &Ops{cfg: cfg, store: cfg.Store, ledger: cfg.Ledger, log: cfg.Logger, now: cfg.Now}
}

// Store is the store Ops writes to, for reads.
func (o *Ops) Store() mih.Store { return o.store }

// Ledger is the delivery ledger Ops changes deliveries through.
func (o *Ops) Ledger() *Ledger { return o.ledger }

func (o *Ops) rulesChanged() {
	if o.cfg.Rules != nil {
		o.cfg.Rules.Invalidate()
	}
}

func (o *Ops) wakeMaintainer() {
	if o.cfg.Maintainer != nil {
		o.cfg.Maintainer.Notify()
	}
}

// TailStatus reports the log store tailer of a site when this process runs it, else nil.
func (o *Ops) TailStatus(site string) *mih.TailStatus {
	if o.cfg.Tails == nil {
		return nil
	}
	return o.cfg.Tails(site)
}

// TailsKnown reports whether this process runs tailers at all (else a site's tail status is not
// known here).
func (o *Ops) TailsKnown() bool { return o.cfg.Tails != nil }
