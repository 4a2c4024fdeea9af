package delivery

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
)

// MaxAttemptBody bounds the response body kept with each attempt (64 KiB): enough to show why a
// receiver refused a delivery, small enough that a DLQ full of HTML error pages stays cheap.
const MaxAttemptBody = 64 << 10

// LogSource marks request-log entries written by delivery workers.
const LogSource = "delivery"

// Next maps the outcome of one round of a claimed delivery to its next state (docs/operations.md).
// It is the only place where that decision is made, and every result is one of the worker's
// transitions defined beside it in the domain (mih.Succeed, mih.RetryAt, mih.Kill, mih.Pause),
// which the store applies only from the states a claim takes and only while the worker holds the
// lease:
//
//	service deleted (svc nil)          dead, service_deleted, no attempt counted
//	service disabled                   paused, no attempt counted
//	circuit open (verdict Refused)     paused, no attempt counted
//	half-open probe failed (retryable) paused, no attempt counted, the call kept in attempts and log
//	success                            succeeded
//	final failure                      dead, failed (payload when the payload cannot be built)
//	retryable, attempts left           retrying after gateway.RetryDelay (backoff ±20 %, Retry-After)
//	retryable, no attempts left        dead, exhausted (see HoldForOutage, which the worker applies)
//
// A delivery has 1 + svc.MaxRetries attempts in all; d.Attempts counts the ones already made.
// An error that is neither a *mih.SendError nor a *mih.Error of CodeInvalid is our own transient
// fault (a panic in a transport, say) and is retried like a network error.
//
// o is what the gateway's Send returned (zero when no call was made, an error alone when the
// request could not be built); now is when the call ended; rnd returns a number in [0, 1) for
// jitter. The result carries the attempt and the request-log entry for every call that was made.
func Next(svc *mih.Service, d *mih.Delivery, o gateway.Outcome, now time.Time, rnd func() float64) mih.DeliveryResult {
	resp, err := o.Response, o.Err
	r := mih.DeliveryResult{ID: d.ID, Now: now, LastStatus: d.LastStatus, LastError: d.LastError}
	switch {
	case svc == nil:
		r.State, r.DeadReason = mih.DeliveryDead, mih.ReasonServiceDeleted
		r.LastError = "service " + d.Service + " no longer exists"
		return r
	case !svc.Enabled:
		r.State, r.NextAttemptAt = mih.DeliveryPaused, now
		return r
	case o.Verdict == gateway.Refused:
		r.State, r.NextAttemptAt = mih.DeliveryPaused, now
		return r
	case o.Verdict == gateway.Probe && gateway.Retryable(err):
		// The breaker's probe: a real call failed and reopened the circuit. It goes back to
		// wait with its attempts intact, but the call is on record like any other.
		se, _ := errors.AsType[*mih.SendError](err)
		r.State, r.NextAttemptAt = mih.DeliveryPaused, now
		r.LastStatus, r.LastError = se.Status, errorText(se)
		if resp != nil && resp.Status != 0 {
			r.LastStatus = resp.Status
		}
		r.Attempt = attempt(d, resp, se, se.Code, r.State, now)
		r.Log = logEntry(d, r, d.Attempts+1, false)
		return r
	}

	n := d.Attempts + 1
	r.CountAttempt = true
	r.LastStatus, r.LastError = 0, ""
	if resp != nil {
		r.LastStatus = resp.Status
	}
	code, retryable := classify(err)
	switch {
	case err == nil:
		r.State = mih.DeliverySucceeded
	case !retryable:
		r.State, r.DeadReason = mih.DeliveryDead, mih.ReasonFailed
		switch code {
		case mih.ErrPayload:
			r.DeadReason = mih.ReasonPayload
		case mih.ErrSkipped:
			r.DeadReason = mih.ReasonSkipped
		}
	case n >= 1+svc.MaxRetries:
		r.State, r.DeadReason = mih.DeliveryDead, mih.ReasonExhausted
	default:
		r.State = mih.DeliveryRetrying
		r.NextAttemptAt = now.Add(gateway.RetryDelay(svc, n, err, rnd))
	}
	if err != nil {
		r.LastError = errorText(err)
	}
	r.Attempt = attempt(d, resp, err, code, r.State, now)
	r.Log = logEntry(d, r, n, err == nil)
	return r
}

// HoldForOutage keeps a delivery out of the DLQ while its service is down for everyone. When r
// would send the delivery dead for running out of attempts (ReasonExhausted) and the service has
// answered nothing since the delivery's first attempt (lastSuccess not after firstAttempt), the
// failures are the service's, not the delivery's: r becomes paused, due now, and the last
// attempt is given back (it stays on record with the outcome paused). The caller then opens the
// service's circuit, whose probes resume the delivery when the service answers again; if it
// then fails while others succeed, it goes dead as usual. It reports whether it changed r.
func HoldForOutage(r *mih.DeliveryResult, firstAttempt, lastSuccess time.Time) bool {
	if r.State != mih.DeliveryDead || r.DeadReason != mih.ReasonExhausted || lastSuccess.After(firstAttempt) {
		return false
	}
	r.State, r.DeadReason, r.NextAttemptAt, r.CountAttempt = mih.DeliveryPaused, "", r.Now, false
	if r.Attempt != nil {
		r.Attempt.Outcome = mih.OutcomePaused
	}
	return true
}

// logEntry is the request-log line of the call behind r, the delivery's n-th.
func logEntry(d *mih.Delivery, r mih.DeliveryResult, n int, success bool) *mih.LogEntry {
	return &mih.LogEntry{
		Time:       r.Now,
		Service:    d.Service,
		Endpoint:   d.Endpoint,
		Method:     d.Method,
		Status:     r.LastStatus,
		LatencyMS:  r.Attempt.LatencyMS,
		Attempts:   n,
		Success:    success,
		Error:      r.LastError,
		DeliveryID: d.ID,
		Source:     LogSource,
	}
}

// classify reads the error code and whether another attempt may help.
func classify(err error) (code string, retryable bool) {
	if err == nil {
		return "", false
	}
	if se, ok := errors.AsType[*mih.SendError](err); ok {
		return se.Code, se.Retryable
	}
	if e, ok := errors.AsType[*mih.Error](err); ok && e.Code == mih.CodeInvalid {
		return mih.ErrRequest, false
	}
	return string(mih.CodeInternal), true
}

// errorText is an error as the ledger and the log keep it. A SendError's text is built by our
// transports from safe parts; anything else is reduced to its user-safe message, since its
// chain may quote a request.
func errorText(err error) string {
	if se, ok := errors.AsType[*mih.SendError](err); ok {
		return se.Error()
	}
	return mih.ErrorMessage(err)
}

// attempt records one call: what was sent (headers already masked by the transport) and what
// came back, with the body cut to MaxAttemptBody and made valid UTF-8 without NULs so that both
// stores can keep it as text.
func attempt(d *mih.Delivery, resp *mih.Response, err error, code string, state mih.DeliveryState, now time.Time) *mih.Attempt {
	a := &mih.Attempt{DeliveryID: d.ID, StartedAt: now, Outcome: outcome(state), ErrorCode: code}
	if err != nil {
		a.Error = errorText(err)
	}
	if resp == nil {
		return a
	}
	a.StartedAt = now.Add(-resp.Latency)
	a.LatencyMS = float64(resp.Latency) / float64(time.Millisecond)
	a.Status = resp.Status
	a.RequestURL = resp.URL
	a.RequestHeaders = resp.RequestHeaders
	a.ResponseHeaders = flatten(resp.Headers)
	a.ResponseBody = text(resp.Body, MaxAttemptBody)
	return a
}

func outcome(s mih.DeliveryState) string {
	switch s {
	case mih.DeliverySucceeded:
		return mih.OutcomeSuccess
	case mih.DeliveryRetrying:
		return mih.OutcomeRetry
	case mih.DeliveryPaused:
		return mih.OutcomePaused
	}
	return mih.OutcomeDead
}

// flatten keeps one line per response header; cookies the receiver sets are not ours to keep.
func flatten(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = strings.Join(v, ", ")
	}
	if _, ok := out["Set-Cookie"]; ok {
		out["Set-Cookie"] = mih.Masked
	}
	return out
}

// text cuts b to at most max bytes and makes it storable text.
func text(b []byte, max int) string {
	if len(b) > max {
		b = b[:max]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}
