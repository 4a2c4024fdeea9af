package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/transport/rest"
)

// transport is a function-field mock of mih.Transport.
type transport struct {
	SendFn func(ctx context.Context, s *mih.Service, r *mih.Request) (*mih.Response, error)
}

var _ mih.Transport = (*transport)(nil)

func (t *transport) Send(ctx context.Context, s *mih.Service, r *mih.Request) (*mih.Response, error) {
	return t.SendFn(ctx, s, r)
}

// guard is a function-field mock of gateway.Guard.
type guard struct {
	AllowFn func(ctx context.Context, svc *mih.Service) gateway.Decision
}

var _ gateway.Guard = (*guard)(nil)

func (g *guard) Allow(ctx context.Context, svc *mih.Service) gateway.Decision {
	return g.AllowFn(ctx, svc)
}

func service() *mih.Service {
	s := mih.NewService()
	s.Name = "svc"
	s.BaseURL = "http://127.0.0.1:1"
	s.InitialBackoffS = 0.01
	s.MaxBackoffS = 1
	return s
}

// sequence answers each call with the next status; 0 is a network error.
func sequence(statuses ...int) (*transport, *atomic.Int32) {
	var n atomic.Int32
	return &transport{SendFn: func(ctx context.Context, s *mih.Service, r *mih.Request) (*mih.Response, error) {
		i := int(n.Add(1)) - 1
		st := statuses[min(i, len(statuses)-1)]
		if st == 0 {
			return &mih.Response{}, &mih.SendError{Code: mih.ErrNetwork, Message: "refused", Retryable: true}
		}
		resp := &mih.Response{Status: st}
		if st >= 300 {
			return resp, &mih.SendError{Code: mih.ErrHTTP, Status: st, Retryable: mih.RetryableStatus(st)}
		}
		return resp, nil
	}}, &n
}

// instant replaces the timer so that retries do not sleep; it records the waits asked for.
func instant(waits *[]time.Duration) func(time.Duration) (<-chan time.Time, func() bool) {
	return func(d time.Duration) (<-chan time.Time, func() bool) {
		*waits = append(*waits, d)
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c, func() bool { return false }
	}
}

func TestGateway_Call(t *testing.T) {
	t.Run("UnknownType", func(t *testing.T) {
		g := gateway.New(nil, gateway.Options{})
		_, err := g.Call(context.Background(), service(), &mih.Request{})
		if se, ok := errors.AsType[*mih.SendError](err); !ok || se.Code != mih.ErrRequest || se.Retryable {
			t.Errorf("got %v, want a final invalid_request", err)
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		// In a bubble the clock stands still while the call runs: exactly the timeout is left.
		synctest.Test(t, func(t *testing.T) {
			var left time.Duration
			tr := &transport{SendFn: func(ctx context.Context, s *mih.Service, r *mih.Request) (*mih.Response, error) {
				dl, ok := ctx.Deadline()
				if !ok {
					t.Error("got no deadline, want the service's timeout")
				}
				left = time.Until(dl)
				return &mih.Response{Status: 200}, nil
			}}
			svc := service()
			svc.TimeoutS = 2
			g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{})
			if _, err := g.Call(context.Background(), svc, &mih.Request{}); err != nil {
				t.Fatal(err)
			}
			if left != 2*time.Second {
				t.Errorf("deadline: got %v left, want the service's 2 s", left)
			}
		})
	})
	t.Run("GuardRefuses", func(t *testing.T) {
		tr, n := sequence(200)
		refuse := &guard{AllowFn: func(context.Context, *mih.Service) gateway.Decision {
			return gateway.Decision{Verdict: gateway.Refused, Refusal: mih.Errorf(mih.CodeCircuitOpen, "circuit open")}
		}}
		g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{Guard: refuse})
		_, err := g.Call(context.Background(), service(), &mih.Request{})
		if mih.ErrorCode(err) != mih.CodeCircuitOpen || n.Load() != 0 {
			t.Errorf("got %v after %d calls, want circuit_open without a call", err, n.Load())
		}
	})
	t.Run("GuardRecords", func(t *testing.T) {
		tr, _ := sequence(503)
		var got []error
		rec := &guard{AllowFn: func(context.Context, *mih.Service) gateway.Decision {
			return gateway.Decision{Verdict: gateway.Probe, Record: func(err error) { got = append(got, err) }}
		}}
		g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{Guard: rec})
		_, err := g.Call(context.Background(), service(), &mih.Request{})
		if len(got) != 1 || got[0] != err {
			t.Errorf("recorded %v, want exactly the call's error %v", got, err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		got = nil
		g.Call(ctx, service(), &mih.Request{})
		if len(got) != 1 || !errors.Is(got[0], context.Canceled) {
			t.Errorf("canceled call recorded %v, want context.Canceled", got)
		}
	})
	t.Run("Verdict", func(t *testing.T) {
		// The verdict comes back beside the call's own outcome, which the guard never rewrites.
		for _, v := range []gateway.Verdict{gateway.Allowed, gateway.Probe, gateway.Refused} {
			tr, n := sequence(503)
			gd := &guard{AllowFn: func(context.Context, *mih.Service) gateway.Decision {
				return gateway.Decision{Verdict: v, Record: func(error) {}, Refusal: mih.Errorf(mih.CodeCircuitOpen, "open")}
			}}
			g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{Guard: gd})
			o := g.Send(context.Background(), service(), &mih.Request{})
			se, isSend := errors.AsType[*mih.SendError](o.Err)
			switch {
			case o.Verdict != v:
				t.Errorf("%s: got verdict %s", v, o.Verdict)
			case v == gateway.Refused && (n.Load() != 0 || mih.ErrorCode(o.Err) != mih.CodeCircuitOpen):
				t.Errorf("refused: %d calls, err %v; want none and circuit_open", n.Load(), o.Err)
			case v != gateway.Refused && (!isSend || se.Status != 503 || mih.ErrorCode(o.Err) == mih.CodeCircuitOpen):
				t.Errorf("%s: got %v, want the service's 503 as it is", v, o.Err)
			}
		}
	})
	t.Run("UnbuildableNeverAsksTheGuard", func(t *testing.T) {
		asked := 0
		gd := &guard{AllowFn: func(context.Context, *mih.Service) gateway.Decision {
			asked++
			return gateway.Decision{Verdict: gateway.Probe, Record: func(error) {}}
		}}
		tr := &transport{SendFn: func(context.Context, *mih.Service, *mih.Request) (*mih.Response, error) {
			t.Error("sent a request its transport refused to build")
			return nil, nil
		}}
		g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: &checked{tr}}, gateway.Options{Guard: gd})
		o := g.Send(context.Background(), service(), &mih.Request{Headers: map[string]string{"X": "a\nb"}})
		if se, ok := errors.AsType[*mih.SendError](o.Err); !ok || se.Code != mih.ErrRequest || asked != 0 {
			t.Errorf("got %v with the guard asked %d times, want invalid_request and no probe taken", o.Err, asked)
		}
	})
}

// checked is a transport that validates requests before they are sent.
type checked struct{ *transport }

func (c *checked) Validate(_ *mih.Service, r *mih.Request) error {
	for _, v := range r.Headers {
		if strings.ContainsAny(v, "\r\n") {
			return &mih.SendError{Code: mih.ErrRequest, Message: "invalid header value"}
		}
	}
	return nil
}

func TestGateway_Do(t *testing.T) {
	tests := []struct {
		name         string
		statuses     []int
		maxRetries   int
		wantAttempts int
		wantOK       bool
	}{
		{"success", []int{200}, 3, 1, true},
		{"two failures then success", []int{500, 0, 200}, 3, 3, true},
		{"final failure", []int{400}, 3, 1, false},
		{"exhausted", []int{503}, 2, 3, false},
		{"no retries", []int{500}, 0, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, n := sequence(tc.statuses...)
			var waits []time.Duration
			g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{
				After: instant(&waits), Rand: func() float64 { return 0.5 },
			})
			svc := service()
			svc.MaxRetries = tc.maxRetries
			res, err := g.Do(context.Background(), svc, &mih.Request{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != tc.wantAttempts || int(n.Load()) != tc.wantAttempts || res.OK() != tc.wantOK {
				t.Errorf("got %d attempts (%d calls), ok %v, want %d, ok %v", res.Attempts, n.Load(), res.OK(), tc.wantAttempts, tc.wantOK)
			}
			for i, w := range waits {
				if want := svc.Backoff(i + 1); w != want {
					t.Errorf("wait %d: got %v, want %v", i+1, w, want)
				}
			}
		})
	}
}

func TestGateway_Do_NoCall(t *testing.T) {
	g := gateway.New(nil, gateway.Options{})
	if res, err := g.Do(context.Background(), service(), &mih.Request{}); err == nil || res != nil {
		t.Errorf("unknown type: got %v, %v, want an error and no result", res, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tr, n := sequence(200)
	g = gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{})
	if _, err := g.Do(ctx, service(), &mih.Request{}); err == nil || n.Load() != 0 {
		t.Errorf("canceled: got %v after %d calls, want an error without a call", err, n.Load())
	}
}

func TestGateway_Do_CircuitOpensBetweenAttempts(t *testing.T) {
	tr, _ := sequence(500)
	var allowed int
	gd := &guard{AllowFn: func(context.Context, *mih.Service) gateway.Decision {
		if allowed++; allowed > 1 {
			return gateway.Decision{Verdict: gateway.Refused, Refusal: mih.Errorf(mih.CodeCircuitOpen, "circuit open")}
		}
		return gateway.Decision{Verdict: gateway.Allowed, Record: func(error) {}}
	}}
	var waits []time.Duration
	g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{Guard: gd, After: instant(&waits)})
	res, err := g.Do(context.Background(), service(), &mih.Request{})
	if err != nil || res.Attempts != 1 || res.Response.Status != 500 {
		t.Errorf("got %+v, %v, want the first attempt's 500", res, err)
	}
}

// A retry whose backoff would end past the caller's deadline is not waited for: Do returns the
// last answer at once. One that fits is waited for, on the real timer (in a bubble, so the test
// measures the wait exactly without taking it).
func TestGateway_Do_StopsBeforeDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr, n := sequence(503)
		svc := service()
		svc.InitialBackoffS, svc.MaxBackoffS = 10, 10
		g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		res, err := g.Do(ctx, svc, &mih.Request{})
		if err != nil || res.Attempts != 1 || n.Load() != 1 || time.Since(start) != 0 {
			t.Errorf("got %+v, %v after %v, want one attempt returned at once", res, err, time.Since(start))
		}
	})
	synctest.Test(t, func(t *testing.T) {
		tr, n := sequence(503, 200)
		svc := service()
		svc.InitialBackoffS, svc.MaxBackoffS = 0.5, 0.5
		g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		res, err := g.Do(ctx, svc, &mih.Request{})
		// The backoff is 0.5 s ± 20 % jitter.
		if waited := time.Since(start); err != nil || !res.OK() || n.Load() != 2 || waited < 400*time.Millisecond || waited > 600*time.Millisecond {
			t.Errorf("got %+v, %v after %v, want the second attempt after the 0.5 s backoff", res, err, waited)
		}
	})
}

// Do over the real REST transport and a loopback receiver that fails twice.
func TestGateway_Do_REST(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	tr := rest.New(rest.Options{})
	defer tr.Close()
	g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{})
	svc := service()
	svc.BaseURL = srv.URL
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := g.Do(ctx, svc, &mih.Request{Method: "POST", Body: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Attempts != 3 || string(res.Response.Body) != `{"ok":true}` || res.Latency < 20*time.Millisecond {
		t.Errorf("got ok %v, %d attempts, body %q, latency %v, want success on the 3rd attempt after ≥ 10+20 ms of backoff", res.OK(), res.Attempts, res.Response.Body, res.Latency)
	}
}

func TestRetryDelay(t *testing.T) {
	svc := service()
	svc.InitialBackoffS, svc.MaxBackoffS = 1, 10
	retryAfter := func(d time.Duration) error {
		return &mih.SendError{Code: mih.ErrHTTP, Status: 429, Retryable: true, RetryAfter: d}
	}
	tests := []struct {
		name string
		n    int
		err  error
		rnd  float64
		want time.Duration
	}{
		{"first, no jitter", 1, nil, 0.5, time.Second},
		{"doubles", 3, nil, 0.5, 4 * time.Second},
		{"jitter low", 2, nil, 0, 1600 * time.Millisecond},
		{"jitter high", 2, nil, 1, 2400 * time.Millisecond},
		{"capped", 10, nil, 0.5, 10 * time.Second},
		{"retry-after longer", 1, retryAfter(5 * time.Second), 0.5, 5 * time.Second},
		{"retry-after shorter", 3, retryAfter(time.Second), 0.5, 4 * time.Second},
		{"retry-after bounded", 1, retryAfter(time.Hour), 0.5, 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := gateway.RetryDelay(svc, tc.n, tc.err, func() float64 { return tc.rnd }); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// Do describes every call it made, in order, with the status and error of each.
func TestGateway_Do_Tries(t *testing.T) {
	tr, _ := sequence(500, 0, 404)
	var waits []time.Duration
	g := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{After: instant(&waits)})
	res, err := g.Do(context.Background(), service(), &mih.Request{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status int
		code   string
	}{{500, mih.ErrHTTP}, {0, mih.ErrNetwork}, {404, mih.ErrHTTP}}
	if res.Attempts != len(want) || len(res.Tries) != len(want) {
		t.Fatalf("got %d attempts, %d tries, want %d of each", res.Attempts, len(res.Tries), len(want))
	}
	for i, w := range want {
		a := res.Tries[i]
		se, ok := errors.AsType[*mih.SendError](a.Err)
		if a.N != i+1 || a.Status != w.status || !ok || se.Code != w.code || a.Start.IsZero() || a.Latency < 0 {
			t.Errorf("try %d: got %+v, want N %d, status %d, code %s", i+1, a, i+1, w.status, w.code)
		}
	}
	if last := res.Tries[2]; last.Err != res.Err {
		t.Errorf("last try's error %v, want the result's %v", last.Err, res.Err)
	}

	ok, _ := sequence(200)
	g = gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: ok}, gateway.Options{})
	res, err = g.Do(context.Background(), service(), &mih.Request{})
	if err != nil || len(res.Tries) != 1 || res.Tries[0].Err != nil || res.Tries[0].Status != 200 {
		t.Errorf("success: got %+v, %v, want one try with status 200 and no error", res, err)
	}
}
