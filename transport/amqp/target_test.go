package amqp

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/mihhub/mih"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		name, url string
		auth      mih.Auth
		want      target // redacted and server are checked separately
	}{
		{"defaults", "amqp://broker",
			mih.Auth{}, target{scheme: "amqp", host: "broker", port: 5672, username: "guest", password: "guest", vhost: "/"}},
		{"root path", "amqp://u:p@broker/",
			mih.Auth{}, target{scheme: "amqp", host: "broker", port: 5672, username: "u", password: "p", vhost: "/"}},
		{"encoded slash vhost", "amqp://u:p@broker:5673/%2F",
			mih.Auth{}, target{scheme: "amqp", host: "broker", port: 5673, username: "u", password: "p", vhost: "/"}},
		{"named vhost", "amqp://u:p@broker/moodle%2Fprod%20x",
			mih.Auth{}, target{scheme: "amqp", host: "broker", port: 5672, username: "u", password: "p", vhost: "moodle/prod x"}},
		{"amqps port", "amqps://u:p@broker/v",
			mih.Auth{}, target{scheme: "amqps", host: "broker", port: 5671, username: "u", password: "p", vhost: "v"}},
		{"ipv6", "amqp://u:p@[::1]:5999/v",
			mih.Auth{}, target{scheme: "amqp", host: "::1", port: 5999, username: "u", password: "p", vhost: "v"}},
		{"encoded password", "amqp://u:p%40ss%3Aw@broker/v",
			mih.Auth{}, target{scheme: "amqp", host: "broker", port: 5672, username: "u", password: "p@ss:w", vhost: "v"}},
		{"basic auth", "amqp://broker/v",
			mih.Auth{Type: mih.AuthBasic, Username: "a", Password: "b"}, target{scheme: "amqp", host: "broker", port: 5672, username: "a", password: "b", vhost: "v"}},
		{"url wins over basic auth", "amqp://u:p@broker/v",
			mih.Auth{Type: mih.AuthBasic, Username: "a", Password: "b"}, target{scheme: "amqp", host: "broker", port: 5672, username: "u", password: "p", vhost: "v"}},
		{"query", "amqp://u:p@broker/v?exchange=ex&routing_key=a.b&queue_declare=q&dlq=q.dead",
			mih.Auth{}, target{scheme: "amqp", host: "broker", port: 5672, username: "u", password: "p", vhost: "v",
				exchange: "ex", routingKey: "a.b", queue: "q", dlq: "q.dead"}},
		{"empty exchange", "amqp://broker/?exchange=&routing_key=k",
			mih.Auth{}, target{scheme: "amqp", host: "broker", port: 5672, username: "guest", password: "guest", vhost: "/", routingKey: "k"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTarget(tc.url, tc.auth)
			if err != nil {
				t.Fatal(err)
			}
			got.redacted, got.server = "", ""
			if *got != tc.want {
				t.Errorf("got %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestParseTarget_RedactsPassword(t *testing.T) {
	tg, err := parseTarget("amqp://user:s3cr%40t@broker:5672/%2F?exchange=x", mih.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{tg.redacted, tg.server} {
		if strings.Contains(s, "s3cr") {
			t.Errorf("%q shows the password", s)
		}
	}
	if want := "amqp://user@broker:5672/%2F"; tg.server != want {
		t.Errorf("server: got %q, want %q", tg.server, want)
	}
	if !strings.Contains(tg.redacted, mih.Masked) || !strings.Contains(tg.redacted, "exchange=x") {
		t.Errorf("redacted: got %q, want the URL with the password masked", tg.redacted)
	}
	// The connection's identity includes the credentials: another password is another connection.
	other, _ := parseTarget("amqp://user:other@broker:5672/%2F?exchange=y", mih.Auth{})
	same, _ := parseTarget("amqp://user:s3cr%40t@broker:5672/%2F?routing_key=z", mih.Auth{})
	if tg.connKey() == other.connKey() || tg.connKey() != same.connKey() {
		t.Error("connKey: want one key per URL without its query")
	}
}

func TestParseTarget_Invalid(t *testing.T) {
	tests := []struct{ name, url string }{
		{"not a url", "amqp://user:pa ss@broker:x/"},
		{"bad escape in password", "amqp://user:s3cret%zz@broker/"},
		{"scheme", "http://s3cret@broker/"},
		{"no host", "amqp:///vhost"},
		{"bad port", "amqp://u:s3cret@broker:99999/"},
		{"two segments", "amqp://u:s3cret@broker/a/b"},
		{"unknown parameter", "amqp://u:s3cret@broker/?routingkey=x"},
		{"certfile parameter", "amqp://u:s3cret@broker/?certfile=/etc/shadow"},
		{"repeated parameter", "amqp://u:s3cret@broker/?exchange=a&exchange=b"},
		{"dlq without queue", "amqp://u:s3cret@broker/?dlq=d"},
		{"dlq is the queue", "amqp://u:s3cret@broker/?queue_declare=q&dlq=q"},
		{"reserved queue", "amqp://u:s3cret@broker/?queue_declare=amq.x"},
		{"long name", "amqp://u:s3cret@broker/?exchange=" + strings.Repeat("x", 256)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseTarget(tc.url, mih.Auth{})
			se := sendError(t, err)
			if se.Code != mih.ErrRequest || se.Retryable {
				t.Errorf("got %v, want a final invalid_request", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestRoutingKeyFor(t *testing.T) {
	tests := []struct {
		name, url, path, want string
	}{
		{"default key", "amqp://b/?routing_key=k", "", "k"},
		{"path overrides", "amqp://b/?routing_key=k", "orders.created", "orders.created"},
		{"one leading slash dropped", "amqp://b/?routing_key=k", "/orders.created", "orders.created"},
		{"only one slash dropped", "amqp://b/?routing_key=k", "//x", "/x"},
		{"verbatim otherwise", "amqp://b/?routing_key=k", "a/b c.{x}", "a/b c.{x}"},
		{"slash alone keeps the default", "amqp://b/?routing_key=k", "/", "k"},
		{"queue on the default exchange", "amqp://b/?queue_declare=q", "", "q"},
		{"named exchange may have no key", "amqp://b/?exchange=fan", "", ""},
		{"named exchange does not fall back to the queue", "amqp://b/?exchange=fan&queue_declare=q", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := parseTarget(tc.url, mih.Auth{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := tg.routingKeyFor(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	tg, _ := parseTarget("amqp://b/", mih.Auth{})
	for _, path := range []string{"", "/", strings.Repeat("k", 256)} {
		_, err := tg.routingKeyFor(path)
		if se := sendError(t, err); se.Code != mih.ErrRequest || se.Retryable {
			t.Errorf("path %.20q: got %v, want a final invalid_request", path, err)
		}
	}
}

func TestRedialDelay(t *testing.T) {
	ms := time.Millisecond
	want := []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}
	for i, w := range want {
		if got := redialDelay(i + 1); got != w {
			t.Errorf("redialDelay(%d): got %v, want %v", i+1, got, w)
		}
	}
}

func TestClassify(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	bg := context.Background()
	server := func(code int, reason string) error {
		return &amqp091.Error{Code: code, Reason: reason, Server: true}
	}
	tests := []struct {
		name      string
		ctx       context.Context
		err       error
		code      string
		retryable bool
		status    int
	}{
		{"deadline", expired, errors.New("whatever"), mih.ErrTimeout, true, 0},
		{"canceled", bg, context.Canceled, mih.ErrNetwork, true, 0},
		{"refused", bg, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, mih.ErrNetwork, true, 0},
		{"eof", bg, io.EOF, mih.ErrNetwork, true, 0},
		{"access refused", bg, server(403, "ACCESS_REFUSED - Login was refused"), mih.ErrAMQPNack, false, 403},
		{"not found", bg, server(404, "NOT_FOUND - no exchange 'x' in vhost '/'"), mih.ErrAMQPNack, false, 404},
		{"precondition", bg, server(406, "PRECONDITION_FAILED - inequivalent arg"), mih.ErrAMQPNack, false, 406},
		{"vhost", bg, server(530, "NOT_ALLOWED - vhost v not found"), mih.ErrAMQPNack, false, 530},
		{"locked", bg, server(405, "RESOURCE_LOCKED"), mih.ErrAMQPNack, true, 405},
		{"broker shutdown", bg, server(320, "CONNECTION_FORCED - broker forced connection closure"), mih.ErrNetwork, true, 320},
		{"library closed", bg, amqp091.ErrClosed, mih.ErrNetwork, true, 0},
		{"credentials confirmed", bg, amqp091.ErrCredentials, mih.ErrAMQPNack, false, 403},
		{"wrapped", bg, errors.Join(errors.New("channel shutdown"), server(404, "NOT_FOUND")), mih.ErrAMQPNack, false, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.ctx, tc.err, "publish")
			if got.Code != tc.code || got.Retryable != tc.retryable || got.Status != tc.status {
				t.Errorf("got %s retryable=%v status=%d, want %s retryable=%v status=%d (%v)",
					got.Code, got.Retryable, got.Status, tc.code, tc.retryable, tc.status, got)
			}
		})
	}
}

// sendError asserts that err is a *mih.SendError.
func sendError(t *testing.T, err error) *mih.SendError {
	t.Helper()
	se, ok := errors.AsType[*mih.SendError](err)
	if !ok {
		t.Fatalf("got %T %v, want a *mih.SendError", err, err)
	}
	return se
}
