package http

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/transport/rest"
)

// The gateway's added latency over calling the same loopback REST service directly, one call
// at a time, as p50 and p99 of per-call durations:
//
//	direct      net/http POST to the service
//	call        gateway.Gateway.Call in process (service lookup excluded), real REST transport
//	api/*       POST /api/v1/gateway/{service} through a real HTTP server: token check, service
//	            read, gateway.Do, one request-log write on SQLite (FULL: the default; NORMAL)
//	refused/*   the fail-fast path when the circuit breaker refuses: Call, and the API's 503
//
// go test -run '^$' -bench Gateway -benchtime 5000x ./http/
func BenchmarkGateway(b *testing.B) {
	payload := []byte(`{"id": 42, "username": "jdoe", "email": "jdoe@example.edu", "course": 7}`)
	answer := []byte(`{"ok": true, "id": 42}`)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	defer upstream.Close()

	b.Run("direct", func(b *testing.B) {
		hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		defer hc.CloseIdleConnections()
		measure(b, func() {
			resp, err := hc.Post(upstream.URL+"/v1/users", "application/json", bytes.NewReader(payload))
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		})
	})

	svc := mih.NewService()
	svc.Name, svc.BaseURL = "crm", upstream.URL+"/v1"
	svc.Auth = mih.Auth{Type: mih.AuthBearer, Token: "upstream-token"}
	tr := rest.New(rest.Options{})
	defer tr.Close()
	transports := map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}
	req := &mih.Request{Method: "POST", Path: "/users", Body: payload}

	b.Run("call", func(b *testing.B) {
		gw := gateway.New(transports, gateway.Options{})
		ctx := context.Background()
		measure(b, func() {
			if _, err := gw.Call(ctx, svc, req); err != nil {
				b.Fatal(err)
			}
		})
	})

	body := []byte(`{"path": "/users", "payload": ` + string(payload) + `}`)
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run("api/sqlite-"+sync, func(b *testing.B) {
			api := benchAPI(b, sync, svc, gateway.New(transports, gateway.Options{}))
			measure(b, func() { api.post(b, body, http.StatusOK) })
		})
	}

	refuse := benchGuard{}
	b.Run("refused/call", func(b *testing.B) {
		gw := gateway.New(transports, gateway.Options{Guard: refuse})
		ctx := context.Background()
		measure(b, func() {
			if _, err := gw.Call(ctx, svc, req); mih.ErrorCode(err) != mih.CodeCircuitOpen {
				b.Fatalf("got %v, want circuit_open", err)
			}
		})
	})
	b.Run("refused/api", func(b *testing.B) {
		api := benchAPI(b, "FULL", svc, gateway.New(transports, gateway.Options{Guard: refuse}))
		measure(b, func() { api.post(b, body, http.StatusServiceUnavailable) })
	})
}

// benchGuard refuses every call, as an open circuit does.
type benchGuard struct{}

func (benchGuard) Allow(context.Context, *mih.Service) gateway.Decision {
	return gateway.Decision{Verdict: gateway.Refused, Refusal: mih.Errorf(mih.CodeCircuitOpen, "the circuit of the service is open")}
}

// benchHub is the API on a real HTTP server over a SQLite store in a temporary folder.
type benchHub struct {
	url string
	hc  *http.Client
}

func benchAPI(b *testing.B, synchronous string, svc *mih.Service, gw Gateway) *benchHub {
	b.Helper()
	ctx := context.Background()
	box, err := secret.NewBox(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "mih.db"), box, sqlite.WithSynchronous(synchronous))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.CreateToken(ctx, &mih.Token{Name: "bench", Hash: secret.HashToken(testToken)}); err != nil {
		b.Fatal(err)
	}
	s := *svc
	if err := st.CreateService(ctx, &s); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(NewServer(Config{Store: st, Gateway: gw}).Handler())
	b.Cleanup(srv.Close)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.Cleanup(hc.CloseIdleConnections)
	return &benchHub{url: srv.URL + "/api/v1/gateway/" + svc.Name, hc: hc}
}

func (h *benchHub) post(b *testing.B, body []byte, want int) {
	req, err := http.NewRequest("POST", h.url, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("status %d, want %d", resp.StatusCode, want)
	}
}

// measure runs op once per iteration and reports the p50 and p99 of its durations in
// microseconds beside the mean (ns/op).
func measure(b *testing.B, op func()) {
	b.Helper()
	op() // warm up: connections, prepared statements
	durs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		op()
		durs = append(durs, time.Since(start))
	}
	b.StopTimer()
	if len(durs) == 0 {
		return
	}
	slices.Sort(durs)
	pct := func(p float64) float64 {
		i := min(len(durs)-1, int(p*float64(len(durs))))
		return float64(durs[i]) / float64(time.Microsecond)
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
