package delivery_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/gateway"
)

func TestNext(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	svc := func(mut func(*mih.Service)) *mih.Service {
		s := mih.NewService()
		s.Name, s.BaseURL = "svc", "https://example.com"
		s.InitialBackoffS, s.MaxBackoffS, s.MaxRetries = 1, 10, 3
		if mut != nil {
			mut(s)
		}
		return s
	}
	httpErr := func(status int, retryAfter time.Duration) error {
		return &mih.SendError{Code: mih.ErrHTTP, Status: status, Message: "upstream answered", Retryable: mih.RetryableStatus(status), RetryAfter: retryAfter}
	}
	resp := func(status int, body string) *mih.Response {
		return &mih.Response{Status: status, Body: []byte(body), Latency: 20 * time.Millisecond, URL: "https://example.com/x",
			RequestHeaders: map[string]string{"Authorization": mih.Masked}, Headers: http.Header{"Content-Type": {"text/plain"}}}
	}
	network := &mih.SendError{Code: mih.ErrNetwork, Message: "cannot connect", Retryable: true}

	tests := []struct {
		name      string
		svc       *mih.Service
		attempts  int // made before this one
		resp      *mih.Response
		err       error
		verdict   gateway.Verdict
		rnd       float64
		state     mih.DeliveryState
		reason    string
		next      time.Duration // after now, for retrying
		counted   bool
		noAttempt bool
		outcome   string
	}{
		{name: "success", svc: svc(nil), resp: resp(200, "ok"), rnd: .5, state: mih.DeliverySucceeded, counted: true, outcome: mih.OutcomeSuccess},
		{name: "5xx first", svc: svc(nil), resp: resp(500, ""), err: httpErr(500, 0), rnd: .5, state: mih.DeliveryRetrying, next: time.Second, counted: true, outcome: mih.OutcomeRetry},
		{name: "5xx third doubles", svc: svc(nil), attempts: 2, resp: resp(502, ""), err: httpErr(502, 0), rnd: .5, state: mih.DeliveryRetrying, next: 4 * time.Second, counted: true, outcome: mih.OutcomeRetry},
		{name: "5xx last", svc: svc(nil), attempts: 3, resp: resp(500, ""), err: httpErr(500, 0), rnd: .5, state: mih.DeliveryDead, reason: mih.ReasonExhausted, counted: true, outcome: mih.OutcomeDead},
		{name: "no retries", svc: svc(func(s *mih.Service) { s.MaxRetries = 0 }), resp: resp(503, ""), err: httpErr(503, 0), rnd: .5, state: mih.DeliveryDead, reason: mih.ReasonExhausted, counted: true, outcome: mih.OutcomeDead},
		{name: "jitter low", svc: svc(nil), attempts: 1, err: network, rnd: 0, state: mih.DeliveryRetrying, next: 1600 * time.Millisecond, counted: true, outcome: mih.OutcomeRetry},
		{name: "jitter high", svc: svc(nil), attempts: 1, err: network, rnd: .75, state: mih.DeliveryRetrying, next: 2200 * time.Millisecond, counted: true, outcome: mih.OutcomeRetry},
		{name: "capped", svc: svc(func(s *mih.Service) { s.MaxRetries = 20 }), attempts: 10, err: network, rnd: .5, state: mih.DeliveryRetrying, next: 10 * time.Second, counted: true, outcome: mih.OutcomeRetry},
		{name: "retry-after", svc: svc(nil), resp: resp(429, ""), err: httpErr(429, 5*time.Second), rnd: .5, state: mih.DeliveryRetrying, next: 5 * time.Second, counted: true, outcome: mih.OutcomeRetry},
		{name: "retry-after bounded", svc: svc(nil), resp: resp(503, ""), err: httpErr(503, time.Hour), rnd: .5, state: mih.DeliveryRetrying, next: 10 * time.Second, counted: true, outcome: mih.OutcomeRetry},
		{name: "timeout", svc: svc(nil), err: &mih.SendError{Code: mih.ErrTimeout, Retryable: true}, rnd: .5, state: mih.DeliveryRetrying, next: time.Second, counted: true, outcome: mih.OutcomeRetry},
		{name: "4xx final", svc: svc(nil), resp: resp(400, "field x is required"), err: httpErr(400, 0), rnd: .5, state: mih.DeliveryDead, reason: mih.ReasonFailed, counted: true, outcome: mih.OutcomeDead},
		{name: "invalid request", svc: svc(nil), err: &mih.SendError{Code: mih.ErrRequest, Message: "bad method"}, rnd: .5, state: mih.DeliveryDead, reason: mih.ReasonFailed, counted: true, outcome: mih.OutcomeDead},
		{name: "payload", svc: svc(nil), err: &mih.SendError{Code: mih.ErrPayload, Message: "not JSON"}, rnd: .5, state: mih.DeliveryDead, reason: mih.ReasonPayload, counted: true, outcome: mih.OutcomeDead},
		{name: "internal fault retried", svc: svc(nil), err: errors.New("boom"), rnd: .5, state: mih.DeliveryRetrying, next: time.Second, counted: true, outcome: mih.OutcomeRetry},
		{name: "disabled", svc: svc(func(s *mih.Service) { s.Enabled = false }), attempts: 1, state: mih.DeliveryPaused, noAttempt: true},
		{name: "circuit open", svc: svc(nil), attempts: 1, err: mih.Errorf(mih.CodeCircuitOpen, "circuit open"), verdict: gateway.Refused, state: mih.DeliveryPaused, noAttempt: true},
		{name: "probe failed", svc: svc(nil), attempts: 2, resp: resp(503, "down"), err: httpErr(503, 0), verdict: gateway.Probe, rnd: .5, state: mih.DeliveryPaused, outcome: mih.OutcomePaused},
		{name: "probe answered 4xx", svc: svc(nil), attempts: 2, resp: resp(400, "no"), err: httpErr(400, 0), verdict: gateway.Probe, rnd: .5, state: mih.DeliveryDead, reason: mih.ReasonFailed, counted: true, outcome: mih.OutcomeDead},
		{name: "probe succeeded", svc: svc(nil), attempts: 2, resp: resp(200, "ok"), verdict: gateway.Probe, rnd: .5, state: mih.DeliverySucceeded, counted: true, outcome: mih.OutcomeSuccess},
		{name: "service deleted", svc: nil, state: mih.DeliveryDead, reason: mih.ReasonServiceDeleted, noAttempt: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &mih.Delivery{ID: 9, Service: "svc", Method: "POST", Endpoint: "/x", Attempts: tc.attempts, LastStatus: 503, LastError: "earlier"}
			r := delivery.Next(tc.svc, d, gateway.Outcome{Response: tc.resp, Err: tc.err, Verdict: tc.verdict}, now, func() float64 { return tc.rnd })
			if r.ID != 9 || r.State != tc.state || r.DeadReason != tc.reason || r.CountAttempt != tc.counted || !r.Now.Equal(now) {
				t.Fatalf("got id %d state %s reason %q counted %v, want 9 %s %q %v", r.ID, r.State, r.DeadReason, r.CountAttempt, tc.state, tc.reason, tc.counted)
			}
			if tc.state == mih.DeliveryRetrying {
				if got := r.NextAttemptAt.Sub(now); got != tc.next {
					t.Errorf("next attempt: got now+%v, want now+%v", got, tc.next)
				}
			}
			if tc.noAttempt {
				if r.Attempt != nil || r.Log != nil {
					t.Errorf("got attempt %+v, log %+v, want none: no call was made", r.Attempt, r.Log)
				}
				return
			}
			a, l := r.Attempt, r.Log
			if a == nil || l == nil {
				t.Fatal("got no attempt or log entry")
			}
			if a.Outcome != tc.outcome || a.DeliveryID != 9 {
				t.Errorf("attempt: got outcome %s, want %s", a.Outcome, tc.outcome)
			}
			if l.Attempts != tc.attempts+1 || l.Source != "delivery" || l.DeliveryID != 9 || l.Success != (tc.err == nil) || l.Endpoint != "/x" || l.Method != "POST" {
				t.Errorf("log: got %+v, want attempt %d of delivery 9 from source delivery", l, tc.attempts+1)
			}
			if (tc.err == nil) != (r.LastError == "") || r.LastError != a.Error {
				t.Errorf("errors: got last error %q, attempt error %q", r.LastError, a.Error)
			}
			if tc.resp != nil {
				if a.Status != tc.resp.Status || r.LastStatus != tc.resp.Status || a.ResponseBody != string(tc.resp.Body) ||
					a.RequestURL != tc.resp.URL || a.RequestHeaders["Authorization"] != mih.Masked || a.LatencyMS != 20 ||
					!a.StartedAt.Equal(now.Add(-20*time.Millisecond)) {
					t.Errorf("attempt: got %+v, want the response recorded", a)
				}
			} else if r.LastStatus != 0 {
				t.Errorf("last status: got %d, want 0 without a response", r.LastStatus)
			}
		})
	}
}

func TestNext_AttemptBody(t *testing.T) {
	svc := mih.NewService()
	svc.Name = "svc"
	body := strings.Repeat("é", delivery.MaxAttemptBody) // two bytes each: cut mid-rune
	resp := &mih.Response{Status: 400, Body: append([]byte("a\x00b\xff"), body...), Headers: http.Header{"Set-Cookie": {"session=secret"}}}
	r := delivery.Next(svc, &mih.Delivery{ID: 1}, gateway.Outcome{Response: resp, Err: &mih.SendError{Code: mih.ErrHTTP, Status: 400}}, time.Now(), func() float64 { return .5 })
	got := r.Attempt.ResponseBody
	if len(got) > delivery.MaxAttemptBody+8 || strings.ContainsRune(got, 0) || !strings.HasPrefix(got, "a\uFFFDb\uFFFD") || !utf8Valid(got) {
		t.Errorf("body: got %d bytes starting %q, want at most 64 KiB of valid UTF-8 without NULs", len(got), got[:8])
	}
	if r.Attempt.ResponseHeaders["Set-Cookie"] != mih.Masked {
		t.Errorf("Set-Cookie: got %q, want it masked", r.Attempt.ResponseHeaders["Set-Cookie"])
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "!") == s }

// HoldForOutage turns only an exhausted delivery into a paused one, and only when the service
// answered nobody since the delivery's first attempt; the last attempt is given back.
func TestHoldForOutage(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	first := now.Add(-time.Hour)
	svc := mih.NewService()
	svc.Name, svc.BaseURL, svc.MaxRetries = "svc", "https://example.com", 2
	d := &mih.Delivery{ID: 7, Service: "svc", Attempts: 2}
	e503 := &mih.SendError{Code: mih.ErrHTTP, Status: 503, Message: "unavailable", Retryable: true}
	e400 := &mih.SendError{Code: mih.ErrHTTP, Status: 400, Message: "bad"}
	for _, tc := range []struct {
		name        string
		attempts    int
		err         error
		lastSuccess time.Time
		held        bool
	}{
		{"exhausted, nobody answered since the first attempt", 2, e503, first.Add(-time.Minute), true},
		{"exhausted, the service never answered", 2, e503, time.Time{}, true},
		{"exhausted, the service answered others since", 2, e503, first.Add(time.Minute), false},
		{"attempts left: retried anyway", 1, e503, time.Time{}, false},
		{"a 400 is the delivery's own", 2, e400, time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dd := *d
			dd.Attempts = tc.attempts
			o := gateway.Outcome{Response: &mih.Response{Status: tc.err.(*mih.SendError).Status}, Err: tc.err}
			r := delivery.Next(svc, &dd, o, now, func() float64 { return .5 })
			before := r.State
			held := delivery.HoldForOutage(&r, first, tc.lastSuccess)
			if held != tc.held {
				t.Fatalf("held %v, want %v (state was %s)", held, tc.held, before)
			}
			if !held {
				if r.State != before {
					t.Errorf("state changed to %s without a hold", r.State)
				}
				return
			}
			if r.State != mih.DeliveryPaused || r.DeadReason != "" || r.CountAttempt || !r.NextAttemptAt.Equal(now) {
				t.Errorf("held result %+v: want paused, due now, no attempt counted", r)
			}
			if r.Attempt == nil || r.Attempt.Outcome != mih.OutcomePaused || r.Attempt.Status != 503 {
				t.Errorf("the call is kept on record as paused: %+v", r.Attempt)
			}
		})
	}
}
