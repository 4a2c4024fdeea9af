package rest

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/transport/httpheader"
)

// The Standard Webhooks specification's test vector.
func TestSign_StandardWebhooksVector(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := Sign("whsec_not*base64", "id", 1, nil); mih.ErrorCode(err) == "" || strings.Contains(err.Error(), "not*base64") {
		t.Errorf("bad secret: got %v, want an error that does not quote the secret", err)
	}
}

func TestJoinURL(t *testing.T) {
	tests := []struct {
		name, base, path, want string
	}{
		{"plain", "https://api.example.com/v1", "/users", "https://api.example.com/v1/users"},
		{"both slashes", "https://api.example.com/v1/", "/users", "https://api.example.com/v1/users"},
		{"no slashes", "https://api.example.com/v1", "users", "https://api.example.com/v1/users"},
		{"root base", "https://api.example.com", "users", "https://api.example.com/users"},
		{"empty path", "https://api.example.com/v1?x=1", "", "https://api.example.com/v1?x=1"},
		{"queries merged", "https://api.example.com/v1?x=1", "/users?y=2", "https://api.example.com/v1/users?x=1&y=2"},
		{"escaped kept", "https://api.example.com", "/users/a%2Fb", "https://api.example.com/users/a%2Fb"},
		{"fragment dropped", "https://api.example.com/#frag", "/a#b", "https://api.example.com/a"},
		{"port", "http://127.0.0.1:8080", "/a", "http://127.0.0.1:8080/a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := joinURL(tc.base, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "api.example.com/v1", "ftp://x/y", "http://"} {
		if _, err := joinURL(bad, "/a"); sendCode(err) != mih.ErrRequest {
			t.Errorf("joinURL(%q): got %v, want invalid_request", bad, err)
		}
	}
}

func TestPayloadQuery(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"empty", ``, ""},
		{"null", `null`, ""},
		{"scalars", `{"b":true,"n":1.50,"s":"a b","z":null}`, "b=true&n=1.50&s=a+b"},
		{"array", `{"id":[1,"x"]}`, "id=1&id=x"},
		{"nested", `{"o":{"a": 1},"l":[{"a":1}]}`, "l=%5B%7B%22a%22%3A1%7D%5D&o=%7B%22a%22%3A1%7D"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := payloadQuery(json.RawMessage(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := payloadQuery(json.RawMessage(`[1]`)); sendCode(err) != mih.ErrRequest {
		t.Errorf("array payload: got %v, want invalid_request", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 0 ", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999999999999", 365 * 24 * time.Hour},
	}
	for _, tc := range tests {
		if got := httpheader.ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

// seen is what the receiver got.
type seen struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// receiver is a loopback server that records each request and answers with the handler's
// status, headers and body.
func receiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, chan seen) {
	t.Helper()
	got := make(chan seen, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), b}
		if answer != nil {
			answer(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func restService(base string) *mih.Service {
	s := mih.NewService()
	s.Name = "svc"
	s.BaseURL = base
	return s
}

func TestTransport_Send_POST(t *testing.T) {
	srv, got := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"ok":true}`)
	})
	now := time.Unix(1700000000, 0)
	tr := New(Options{Version: "1.2.3", Now: func() time.Time { return now }})
	defer tr.Close()

	s := restService(srv.URL + "/v1?tenant=7")
	s.Auth = mih.Auth{Type: mih.AuthBearer, Token: "tok-secret"}
	s.Headers = map[string]string{"X-Tenant": "42", "X-Override": "service"}
	s.SigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := `{"user_id": 5}`
	resp, err := tr.Send(context.Background(), s, &mih.Request{
		Method: "post", Path: "/users", Body: json.RawMessage(body), IdempotencyKey: "ev1:7",
		Headers: map[string]string{"X-Override": "request", "Authorization": "Bearer forged"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	checks := []struct{ name, got, want string }{
		{"method", r.method, "POST"},
		{"path", r.path, "/v1/users"},
		{"query", r.query, "tenant=7"},
		{"body", string(r.body), body},
		{"content-type", r.header.Get("Content-Type"), "application/json"},
		{"authorization", r.header.Get("Authorization"), "Bearer tok-secret"},
		{"service header", r.header.Get("X-Tenant"), "42"},
		{"request header wins", r.header.Get("X-Override"), "request"},
		{"user agent", r.header.Get("User-Agent"), "mih/1.2.3"},
		{"idempotency", r.header.Get("Idempotency-Key"), "ev1:7"},
		{"webhook-id", r.header.Get("Webhook-Id"), "ev1:7"},
		{"webhook-timestamp", r.header.Get("Webhook-Timestamp"), "1700000000"},
		{"response status", http.StatusText(resp.Status), "Created"},
		{"response body", string(resp.Body), `{"ok":true}`},
		{"response URL", resp.URL, srv.URL + "/v1/users?tenant=7"},
		{"masked authorization", resp.RequestHeaders["Authorization"], mih.Masked},
		{"masked signature", resp.RequestHeaders["Webhook-Signature"], mih.Masked},
		{"visible header", resp.RequestHeaders["X-Tenant"], "42"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	want, _ := Sign(s.SigningSecret, "ev1:7", now.Unix(), []byte(body))
	if sig := r.header.Get("Webhook-Signature"); sig != want {
		t.Errorf("signature: got %s, want %s", sig, want)
	}
	if resp.Latency <= 0 {
		t.Errorf("latency: got %v, want > 0", resp.Latency)
	}
}

func TestTransport_Send_Auth(t *testing.T) {
	srv, got := receiver(t, nil)
	tr := New(Options{})
	defer tr.Close()
	tests := []struct {
		name       string
		auth       mih.Auth
		header     string
		want       string
		maskedName string
	}{
		{"none", mih.Auth{Type: mih.AuthNone}, "Authorization", "", ""},
		{"bearer", mih.Auth{Type: mih.AuthBearer, Token: "s1"}, "Authorization", "Bearer s1", "Authorization"},
		{"apikey", mih.Auth{Type: mih.AuthAPIKey, Token: "s2"}, "X-API-Key", "s2", "X-Api-Key"},
		{"basic", mih.Auth{Type: mih.AuthBasic, Username: "u", Password: "s3"}, "Authorization", "Basic dTpzMw==", "Authorization"},
		{"header", mih.Auth{Type: mih.AuthHeader, Name: "x-secret-token", Value: "s4"}, "X-Secret-Token", "s4", "X-Secret-Token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := restService(srv.URL)
			s.Auth = tc.auth
			resp, err := tr.Send(context.Background(), s, &mih.Request{Method: "PUT", Path: "/x"})
			if err != nil {
				t.Fatal(err)
			}
			r := <-got
			if v := r.header.Get(tc.header); v != tc.want {
				t.Errorf("%s: got %q, want %q", tc.header, v, tc.want)
			}
			if string(r.body) != "{}" {
				t.Errorf("empty payload: got body %q, want {}", r.body)
			}
			if tc.maskedName != "" && resp.RequestHeaders[tc.maskedName] != mih.Masked {
				t.Errorf("request headers: got %q for %s, want it masked", resp.RequestHeaders[tc.maskedName], tc.maskedName)
			}
			for k, v := range resp.RequestHeaders {
				if strings.Contains(v, "s1") || strings.Contains(v, "s2") || strings.Contains(v, "s4") || strings.Contains(v, "dTpzMw") {
					t.Errorf("request headers: %s leaks a secret: %q", k, v)
				}
			}
		})
	}
}

func TestTransport_Send_GETQuery(t *testing.T) {
	srv, got := receiver(t, nil)
	tr := New(Options{})
	defer tr.Close()
	for _, m := range []string{"GET", "DELETE"} {
		_, err := tr.Send(context.Background(), restService(srv.URL+"/api?k=v"), &mih.Request{
			Method: m, Path: "/users?active=1", Body: json.RawMessage(`{"id":5,"name":"a&b"}`),
		})
		if err != nil {
			t.Fatal(err)
		}
		r := <-got
		if r.method != m || r.query != "k=v&active=1&id=5&name=a%26b" || len(r.body) != 0 || r.header.Get("Content-Type") != "" {
			t.Errorf("%s: got %s ?%s body %q content-type %q, want the payload in the query and no body", m, r.method, r.query, r.body, r.header.Get("Content-Type"))
		}
	}
}

func TestTransport_Send_Status(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		wantErr    bool
		retryable  bool
		wantAfter  time.Duration
	}{
		{200, "", false, false, 0},
		{204, "", false, false, 0},
		{302, "", true, false, 0},
		{400, "", true, false, 0},
		{404, "", true, false, 0},
		{408, "", true, true, 0},
		{425, "", true, true, 0},
		{429, "3", true, true, 3 * time.Second},
		{500, "3", true, true, 0}, // Retry-After counts on 429 and 503 only
		{503, "2", true, true, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
				w.WriteHeader(tc.status)
				io.WriteString(w, "why: details")
			})
			tr := New(Options{})
			defer tr.Close()
			resp, err := tr.Send(context.Background(), restService(srv.URL), &mih.Request{Method: "POST", Body: json.RawMessage(`{}`)})
			if resp == nil || resp.Status != tc.status {
				t.Fatalf("got response %+v, want status %d", resp, tc.status)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			se, ok := errors.AsType[*mih.SendError](err)
			if !ok {
				t.Fatalf("got %v, want *mih.SendError", err)
			}
			if se.Code != mih.ErrHTTP || se.Status != tc.status || se.Retryable != tc.retryable || se.RetryAfter != tc.wantAfter {
				t.Errorf("got %+v, want http_error status %d retryable %v retry-after %v", se, tc.status, tc.retryable, tc.wantAfter)
			}
			if tc.status != 204 && string(resp.Body) != "why: details" {
				t.Errorf("body: got %q, want it kept", resp.Body)
			}
		})
	}
}

func TestTransport_Send_Timeout(t *testing.T) {
	release := make(chan struct{})
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	defer close(release)
	tr := New(Options{})
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := tr.Send(ctx, restService(srv.URL), &mih.Request{Method: "POST"})
	if se, ok := errors.AsType[*mih.SendError](err); !ok || se.Code != mih.ErrTimeout || !se.Retryable {
		t.Errorf("got %v, want a retryable timeout", err)
	}
}

func TestTransport_Send_Network(t *testing.T) {
	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tr := New(Options{})
	defer tr.Close()
	resp, err := tr.Send(context.Background(), restService("http://user:pw-secret@"+addr), &mih.Request{Method: "POST"})
	se, ok := errors.AsType[*mih.SendError](err)
	if !ok || se.Code != mih.ErrNetwork || !se.Retryable || se.Status != 0 {
		t.Fatalf("got %v, want a retryable network error", err)
	}
	if strings.Contains(err.Error(), "pw-secret") || strings.Contains(resp.URL, "pw-secret") || strings.Contains(resp.URL, "user") {
		t.Errorf("credentials leak: error %q, URL %q", err, resp.URL)
	}
}

func TestTransport_Send_Invalid(t *testing.T) {
	srv, got := receiver(t, nil)
	tr := New(Options{})
	defer tr.Close()
	bad := restService(srv.URL)
	bad.SigningSecret = "whsec_!!!secret!!!"
	tests := []struct {
		name string
		svc  *mih.Service
		req  *mih.Request
	}{
		{"base url", restService("not a url"), &mih.Request{Method: "POST"}},
		{"method", restService(srv.URL), &mih.Request{Method: "PO ST"}},
		{"GET array", restService(srv.URL), &mih.Request{Method: "GET", Body: json.RawMessage(`[1,2]`)}},
		{"path escape", restService(srv.URL), &mih.Request{Method: "POST", Path: "/a%zz"}},
		{"signing secret", bad, &mih.Request{Method: "POST"}},
		{"header value", restService(srv.URL), &mih.Request{Method: "POST", Headers: map[string]string{"X-Trace": "a\r\nX-Evil: 1"}}},
		{"header name", restService(srv.URL), &mih.Request{Method: "POST", Headers: map[string]string{"X Trace": "a"}}},
		// A header no request may carry is the request's fault, not the network's: retrying it
		// would fail forever and count against the service's circuit.
		{"idempotency key with CRLF", restService(srv.URL), &mih.Request{Method: "POST", IdempotencyKey: "a\r\nX-Injected: 1:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A service's signing secret is checked when the service is saved, not per request.
			if err := tr.Validate(tc.svc, tc.req); err == nil && tc.name != "signing secret" {
				t.Errorf("Validate: got nil, want the refusal Send makes")
			}
			resp, err := tr.Send(context.Background(), tc.svc, tc.req)
			se, ok := errors.AsType[*mih.SendError](err)
			if !ok || se.Code != mih.ErrRequest || se.Retryable {
				t.Fatalf("got %v, want a final invalid_request", err)
			}
			if resp == nil {
				t.Fatal("got a nil response, want one recording the attempt")
			}
			if strings.Contains(err.Error(), "!!!secret!!!") {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
	select {
	case r := <-got:
		t.Errorf("receiver got %s %s, want no request", r.method, r.path)
	default:
	}
}

func TestTransport_Send_BodyCap(t *testing.T) {
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100))
	})
	tr := New(Options{MaxResponseBody: 10})
	defer tr.Close()
	resp, err := tr.Send(context.Background(), restService(srv.URL), &mih.Request{Method: "POST"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Body) != 10 || !resp.Truncated {
		t.Errorf("body: got %d bytes, truncated %v; want 10, truncated", len(resp.Body), resp.Truncated)
	}
	// Exactly at the limit is whole.
	srv2, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, strings.Repeat("y", 10)) })
	resp, err = tr.Send(context.Background(), restService(srv2.URL), &mih.Request{Method: "POST"})
	if err != nil || len(resp.Body) != 10 || resp.Truncated {
		t.Errorf("body at the limit: %d bytes, truncated %v, %v", len(resp.Body), resp.Truncated, err)
	}
}

func TestTransport_Send_TLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()

	tr := New(Options{})
	defer tr.Close()
	_, err := tr.Send(context.Background(), restService(srv.URL), &mih.Request{Method: "POST"})
	if se, ok := errors.AsType[*mih.SendError](err); !ok || se.Code != mih.ErrNetwork {
		t.Fatalf("untrusted certificate: got %v, want a network error", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	trusted := New(Options{RootCAs: pool})
	defer trusted.Close()
	if _, err := trusted.Send(context.Background(), restService(srv.URL), &mih.Request{Method: "POST"}); err != nil {
		t.Fatalf("custom CA: got %v, want success", err)
	}
}

func sendCode(err error) string {
	if se, ok := errors.AsType[*mih.SendError](err); ok {
		return se.Code
	}
	return ""
}
