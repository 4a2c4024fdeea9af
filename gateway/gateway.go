// Package gateway is the one resilience layer between the hub and external services: the Event
// Bridge's delivery workers and the synchronous gateway API both call services through it.
//
// Call makes one attempt: it picks the transport by service type, asks the Guard (the seam where
// the circuit breaker goes) whether the call may go, applies the service's timeout and reports
// the outcome back to the Guard. Do makes up to 1+max_retries attempts for synchronous callers,
// with the same backoff policy the delivery ledger uses (RetryDelay).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/mihhub/mih"
)

// Guard decides whether a service may be called now; the circuit breaker implements it.
//
// Allow returns a nil error to let the call go, and then a record function that the gateway
// calls exactly once with the call's outcome: nil, a *mih.SendError, or context.Canceled when the
// caller gave up (which says nothing about the service). A Guard refuses with a *mih.Error of
// CodeCircuitOpen; the gateway returns that error as it is, without calling.
//
// record returns nil, or the error the caller should see instead of the call's own: a failed
// half-open probe comes back as a *mih.Error of CodeCircuitOpen wrapping the *mih.SendError, so
// that the delivery ledger puts the probe back to paused without using up an attempt while the
// call's status and error stay reachable with errors.AsType.
type Guard interface {
	Allow(ctx context.Context, svc *mih.Service) (record func(err error) error, err error)
}

// Options tunes a Gateway. The zero value is usable.
type Options struct {
	// Guard, when set, is asked before every call (the circuit breaker); nil lets every call go.
	Guard  Guard
	Logger *slog.Logger
	// Rand returns a number in [0, 1) for backoff jitter (default math/rand/v2.Float64).
	Rand func() float64
	// Now is the clock for latencies and deadlines (default time.Now).
	Now func() time.Time
	// After waits for d; tests may replace it (default time.NewTimer).
	After func(d time.Duration) (<-chan time.Time, func() bool)
}

// Gateway calls services through their transports.
type Gateway struct {
	transports map[mih.ServiceType]mih.Transport
	guard      Guard
	log        *slog.Logger
	rand       func() float64
	now        func() time.Time
	after      func(time.Duration) (<-chan time.Time, func() bool)
}

// New returns a Gateway over one transport per service type.
func New(transports map[mih.ServiceType]mih.Transport, opts Options) *Gateway {
	g := &Gateway{
		transports: transports,
		guard:      opts.Guard,
		log:        opts.Logger,
		rand:       opts.Rand,
		now:        opts.Now,
		after:      opts.After,
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.rand == nil {
		g.rand = rand.Float64
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.after == nil {
		g.after = func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		}
	}
	return g
}

// Call makes one attempt at svc within svc.Timeout(). It returns the transport's result: a
// Response (possibly alongside an error, so the status and body are kept) and a *mih.SendError
// on failure. A *mih.Error means the gateway did not call at all: CodeCircuitOpen from the
// Guard. An unknown service type is a final invalid_request.
func (g *Gateway) Call(ctx context.Context, svc *mih.Service, req *mih.Request) (*mih.Response, error) {
	t, ok := g.transports[svc.Type]
	if !ok || t == nil {
		return nil, &mih.SendError{Code: mih.ErrRequest, Message: fmt.Sprintf("no transport for service type %q", svc.Type)}
	}
	record := func(error) error { return nil }
	if g.guard != nil {
		r, err := g.guard.Allow(ctx, svc)
		if err != nil {
			return nil, err
		}
		record = r
	}

	callCtx := ctx
	if d := svc.Timeout(); d > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	resp, err := t.Send(callCtx, svc, req)
	outcome := err
	if err != nil && ctx.Err() != nil {
		// Our caller gave up (shutdown): the service is not to blame.
		outcome = context.Canceled
	}
	if replaced := record(outcome); replaced != nil {
		err = replaced
	}
	return resp, err
}

// Result is the outcome of a synchronous call with retries.
type Result struct {
	// Response is the last attempt's; nil when no response came (network error, timeout).
	Response *mih.Response
	// Err is the last attempt's failure, nil on success: a *mih.SendError, or a *mih.Error of
	// CodeCircuitOpen wrapping one when a failed half-open probe reopened the circuit.
	Err error
	// Attempts is how many calls were made.
	Attempts int
	// Latency is the wall time from the first attempt to the last outcome, waits included.
	Latency time.Duration
	// Tries describes every call made, in order (len(Tries) == Attempts), so that a caller can
	// write one request-log entry per attempt without running the retry loop itself.
	Tries []AttemptInfo
}

// AttemptInfo is one call that Do made.
type AttemptInfo struct {
	// N numbers the attempt from 1.
	N int
	// Start is when the attempt began; Latency how long it took (the Guard's check included).
	Start   time.Time
	Latency time.Duration
	// Status is the response's status, 0 when no response came (network error, timeout).
	Status int
	// Err is the attempt's failure as Call returned it, nil on success.
	Err error
}

// OK reports whether the last attempt succeeded.
func (r *Result) OK() bool { return r.Err == nil }

// Do calls svc up to 1+svc.MaxRetries times, waiting RetryDelay between attempts, until a
// success, a final failure or the end of ctx. It returns an error only when no call was made: a *mih.Error
// (the circuit is open, ctx was already done) or a *mih.SendError with code invalid_request (the
// request cannot be built: unknown service type, bad URL or method); every outcome of a call,
// failures included, is in the Result. When the next wait would outlast ctx's deadline, Do stops
// and returns what it has rather than sleeping into a timeout.
func (g *Gateway) Do(ctx context.Context, svc *mih.Service, req *mih.Request) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, mih.WrapError(mih.CodeUnavailable, err, "the call was canceled before it started")
	}
	start := g.now()
	res := &Result{}
	for {
		t0 := g.now()
		resp, err := g.Call(ctx, svc, req)
		if !called(err) {
			if res.Attempts == 0 {
				return nil, err
			}
			break // the circuit opened between attempts: keep the last outcome
		}
		res.Attempts++
		res.Response, res.Err = resp, err
		info := AttemptInfo{N: res.Attempts, Start: t0, Latency: g.now().Sub(t0), Err: err}
		if resp != nil {
			info.Status = resp.Status
		}
		res.Tries = append(res.Tries, info)
		if err == nil || !Retryable(err) || res.Attempts >= 1+svc.MaxRetries {
			break
		}
		d := RetryDelay(svc, res.Attempts, err, g.rand)
		if dl, ok := ctx.Deadline(); ok && g.now().Add(d).After(dl) {
			break
		}
		c, stop := g.after(d)
		select {
		case <-ctx.Done():
			stop()
			res.Latency = g.now().Sub(start)
			return res, nil
		case <-c:
		}
		g.log.DebugContext(ctx, "gateway retry", "service", svc.Name, "attempt", res.Attempts+1, "error", err)
	}
	res.Latency = g.now().Sub(start)
	return res, nil
}

// called reports whether an outcome of Call means a request went out: success or a SendError
// other than invalid_request (which the transport returns before sending anything).
func called(err error) bool {
	if err == nil {
		return true
	}
	se, ok := errors.AsType[*mih.SendError](err)
	return ok && se.Code != mih.ErrRequest
}
