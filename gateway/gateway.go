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
	"github.com/mihhub/mih/redact"
)

// Verdict is what a Guard decided about one call.
type Verdict int

// Verdicts.
const (
	// Allowed lets the call go on a closed circuit.
	Allowed Verdict = iota
	// Refused does not call: the circuit is open (or another process probes it).
	Refused
	// Probe lets the call go as the half-open probe: its outcome closes the circuit or opens it
	// again. A delivery whose probe failed waits again, paused, without using up an attempt.
	Probe
)

func (v Verdict) String() string {
	switch v {
	case Allowed:
		return "allowed"
	case Refused:
		return "refused"
	case Probe:
		return "probe"
	}
	return "unknown"
}

// Decision is a Guard's answer. For Allowed and Probe the gateway calls Record exactly once with
// the call's outcome: nil, a *mih.SendError, or context.Canceled when the caller gave up (which
// says nothing about the service). For Refused, Refusal says why: a *mih.Error of
// CodeCircuitOpen, which may offer RetryAfter() for a Retry-After header. The Guard never
// changes the call's own outcome: the caller sees what the service did, and the verdict.
type Decision struct {
	Verdict Verdict
	Record  func(err error)
	Refusal error
}

// Guard decides whether a service may be called now; the circuit breaker implements it.
type Guard interface {
	Allow(ctx context.Context, svc *mih.Service) Decision
}

// Validator is what a transport may offer to check a request before it is sent: an error is a
// *mih.SendError of code invalid_request (a header value with a line break, a method that is not
// a token, a URL that does not parse). The gateway asks it before the Guard, so that a request
// that can never be sent fails for good without counting against the circuit or taking its probe.
type Validator interface {
	Validate(svc *mih.Service, req *mih.Request) error
}

// Outcome is what one attempt came to: the transport's response and error, and the Guard's
// verdict. A Refused outcome made no call and carries the refusal as Err.
type Outcome struct {
	Response *mih.Response
	Err      error
	Verdict  Verdict
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

// Send makes one attempt at svc within svc.Timeout() and reports it with the Guard's verdict. A
// failed call carries a *mih.SendError (alongside the Response when the service answered, so the
// status and body are kept). A Refused outcome carries the Guard's refusal. An unknown service
// type is a final invalid_request, reported before the Guard is asked: a request that cannot be
// sent never counts against the circuit nor takes its probe.
func (g *Gateway) Send(ctx context.Context, svc *mih.Service, req *mih.Request) Outcome {
	t, ok := g.transports[svc.Type]
	if !ok || t == nil {
		return Outcome{Err: &mih.SendError{Code: mih.ErrRequest, Message: fmt.Sprintf("no transport for service type %q", svc.Type)}}
	}
	if v, ok := t.(Validator); ok {
		if err := v.Validate(svc, req); err != nil {
			return Outcome{Err: err}
		}
	}
	dec := Decision{Verdict: Allowed}
	if g.guard != nil {
		dec = g.guard.Allow(ctx, svc)
		if dec.Verdict == Refused {
			return Outcome{Err: dec.Refusal, Verdict: Refused}
		}
	}

	callCtx := ctx
	if d := svc.Timeout(); d > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	resp, err := t.Send(callCtx, svc, req)
	// Whatever the service answered may quote the credentials it was sent (an echo service, a
	// SOAP fault that repeats the request): mask them here, before anyone stores, logs or shows
	// the answer.
	secrets := redact.Service(svc)
	secrets.Response(resp)
	err = secrets.Error(err)
	if dec.Record != nil {
		outcome := err
		if err != nil && ctx.Err() != nil {
			// Our caller gave up (shutdown): the service is not to blame.
			outcome = context.Canceled
		}
		dec.Record(outcome)
	}
	return Outcome{Response: resp, Err: err, Verdict: dec.Verdict}
}

// Call is Send for callers that need no verdict: a refused call comes back as the Guard's
// *mih.Error of CodeCircuitOpen, a made call as the transport's result.
func (g *Gateway) Call(ctx context.Context, svc *mih.Service, req *mih.Request) (*mih.Response, error) {
	o := g.Send(ctx, svc, req)
	return o.Response, o.Err
}

// Result is the outcome of a synchronous call with retries.
type Result struct {
	// Response is the last attempt's; nil when no response came (network error, timeout).
	Response *mih.Response
	// Err is the last attempt's failure, nil on success: a *mih.SendError.
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
