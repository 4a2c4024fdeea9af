package amqp

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/mihhub/mih"
)

func send(t *testing.T, tr *Transport, s *mih.Service, r *mih.Request) (*mih.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout())
	defer cancel()
	resp, err := tr.Send(ctx, s, r)
	if resp == nil {
		t.Fatal("Send returned a nil Response")
	}
	return resp, err
}

func newTransport(t *testing.T, opts Options) *Transport {
	tr := New(opts)
	t.Cleanup(func() { tr.Close() })
	return tr
}

func TestTransport_PublishConfirm(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	q := name(t, "q")
	a.queue(q, nil)

	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tr := newTransport(t, Options{Now: func() time.Time { return now }})
	s := service(withURL(t, base, "", "/", "?routing_key=nowhere.default"))
	s.Headers = map[string]string{"X-Tenant": "42"}
	body := `{"user_id":5,"text":"caf\u00e9 \"quoted\""}`
	resp, err := send(t, tr, s, &mih.Request{
		Path:           "/" + q, // overrides routing_key; the leading "/" is dropped
		Body:           json.RawMessage(body),
		Headers:        map[string]string{"X-Source": "rule-7"},
		IdempotencyKey: "evt-1:7",
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != StatusOK {
		t.Errorf("status: got %d, want %d", resp.Status, StatusOK)
	}
	if resp.Latency <= 0 {
		t.Errorf("latency: got %v, want > 0", resp.Latency)
	}
	if want := mih.RedactURL(s.BaseURL); resp.URL != want || strings.Contains(resp.URL, "guest:guest") {
		t.Errorf("URL: got %q, want %q without the password", resp.URL, want)
	}
	for k, want := range map[string]string{"exchange": "", "routing_key": q, "message_id": "evt-1:7",
		"content_type": "application/json", "delivery_mode": "2", "X-Tenant": "42"} {
		if got, ok := resp.RequestHeaders[k]; !ok || got != want {
			t.Errorf("RequestHeaders[%s]: got %q, want %q", k, got, want)
		}
	}

	d := a.get(q, true)
	if string(d.Body) != body {
		t.Errorf("body: got %s, want %s", d.Body, body)
	}
	if d.DeliveryMode != amqp091.Persistent {
		t.Errorf("delivery mode: got %d, want 2 (persistent)", d.DeliveryMode)
	}
	if d.ContentType != "application/json" {
		t.Errorf("content type: got %q", d.ContentType)
	}
	if d.MessageId != "evt-1:7" {
		t.Errorf("message id: got %q, want the idempotency key", d.MessageId)
	}
	if d.RoutingKey != q || d.Exchange != "" {
		t.Errorf("routed: got exchange %q key %q, want the default exchange and %q", d.Exchange, d.RoutingKey, q)
	}
	if !d.Timestamp.Equal(now) || d.AppId != "mih" {
		t.Errorf("timestamp %v app id %q: want %v and mih", d.Timestamp, d.AppId, now)
	}
	if d.Headers["X-Tenant"] != "42" || d.Headers["X-Source"] != "rule-7" {
		t.Errorf("headers: got %v, want the service's and the request's", d.Headers)
	}

	// The URL's routing key when the request has no path; a fresh message id without a key.
	s.BaseURL = withURL(t, base, "", "/", "?routing_key="+q)
	if _, err := send(t, tr, s, &mih.Request{}); err != nil {
		t.Fatal(err)
	}
	d = a.get(q, true)
	if string(d.Body) != "{}" || !strings.HasPrefix(d.MessageId, "mih_") {
		t.Errorf("got body %s id %q, want {} and a generated mih_ id", d.Body, d.MessageId)
	}
}

func TestTransport_NamedExchange(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	ex, q := name(t, "ex"), name(t, "q")
	if err := a.ch.ExchangeDeclare(ex, "topic", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	a.queue(q, nil)
	if err := a.ch.QueueBind(q, "user.*", ex, false, nil); err != nil {
		t.Fatal(err)
	}
	tr := newTransport(t, Options{})
	s := service(withURL(t, base, "", "/%2F", "?exchange="+url.QueryEscape(ex)+"&routing_key=user.created"))

	if _, err := send(t, tr, s, &mih.Request{Body: json.RawMessage(`{"n":1}`), IdempotencyKey: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, tr, s, &mih.Request{Path: "user.deleted", Body: json.RawMessage(`{"n":2}`), IdempotencyKey: "b"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ key, id string }{{"user.created", "a"}, {"user.deleted", "b"}} {
		d := a.get(q, true)
		if d.Exchange != ex || d.RoutingKey != want.key || d.MessageId != want.id {
			t.Errorf("got exchange %q key %q id %q, want %q %q %q", d.Exchange, d.RoutingKey, d.MessageId, ex, want.key, want.id)
		}
	}

	// A key that no binding matches is returned unroutable: final, the topology is wrong.
	_, err := send(t, tr, s, &mih.Request{Path: "course.created"})
	se := sendError(t, err)
	if se.Code != mih.ErrAMQPNack || se.Retryable || se.Status != StatusNoRoute || !strings.Contains(se.Message, "unroutable") {
		t.Errorf("unbound key: got %v (retryable %v), want a final amqp_nack unroutable with status 312", err, se.Retryable)
	}

	// An exchange that does not exist: the broker closes the channel with 404, final.
	s.BaseURL = withURL(t, base, "", "/", "?exchange=mihtest.no-such-exchange&routing_key=k")
	resp, err := send(t, tr, s, &mih.Request{})
	se = sendError(t, err)
	if se.Code != mih.ErrAMQPNack || se.Retryable || se.Status != 404 || resp.Status != 404 {
		t.Errorf("missing exchange: got %v (retryable %v, response status %d), want a final amqp_nack with status 404", err, se.Retryable, resp.Status)
	}
	// The channel it closed is not reused: the next publish works.
	s.BaseURL = withURL(t, base, "", "/", "?exchange="+url.QueryEscape(ex)+"&routing_key=user.x")
	if _, err := send(t, tr, s, &mih.Request{}); err != nil {
		t.Fatalf("after a channel error: %v", err)
	}
}

func TestTransport_Unroutable(t *testing.T) {
	base := brokerURL(t)
	tr := newTransport(t, Options{})
	s := service(withURL(t, base, "", "/", "?routing_key=mihtest.no-such-queue"))
	resp, err := send(t, tr, s, &mih.Request{IdempotencyKey: "x"})
	se := sendError(t, err)
	if se.Code != mih.ErrAMQPNack || se.Retryable || se.Status != StatusNoRoute || resp.Status != StatusNoRoute {
		t.Errorf("got %v (retryable %v), want a final amqp_nack with status 312", err, se.Retryable)
	}
	if !strings.Contains(se.Message, "default exchange") || !strings.Contains(se.Message, "mihtest.no-such-queue") {
		t.Errorf("message %q: want where and which key", se.Message)
	}
}

func TestTransport_QueueDeclareDLQ(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	q, dlq := name(t, "q"), name(t, "dlq")
	a.deleteLater(q, dlq)
	tr := newTransport(t, Options{})
	// No routing_key: on the default exchange the key is the declared queue.
	s := service(withURL(t, base, "", "/", "?queue_declare="+q+"&dlq="+dlq))
	for i := range 3 {
		if _, err := send(t, tr, s, &mih.Request{Body: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), IdempotencyKey: fmt.Sprint("k", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.count(q); got != 3 {
		t.Fatalf("queue %s: got %d messages, want 3", q, got)
	}

	// Rejected without requeue, a message is dead-lettered into dlq.
	d := a.get(q, false)
	if err := d.Reject(false); err != nil {
		t.Fatal(err)
	}
	dead := a.get(dlq, true)
	if dead.MessageId != d.MessageId || string(dead.Body) != string(d.Body) {
		t.Errorf("dead-lettered: got id %q body %s, want %q %s", dead.MessageId, dead.Body, d.MessageId, d.Body)
	}
	if _, ok := dead.Headers["x-death"]; !ok {
		t.Errorf("dead-lettered message has no x-death header: %v", dead.Headers)
	}

	// Both queues are durable: a passive declare with durable=true would fail otherwise; and
	// the queue carries the dead-letter arguments (a declare with other arguments is refused).
	ch, _ := a.c.Channel()
	defer ch.Close()
	if _, err := ch.QueueDeclare(q, true, false, false, false, amqp091.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}); err != nil {
		t.Errorf("queue %s is not durable with the dead-letter arguments: %v", q, err)
	}
	if _, err := ch.QueueDeclare(dlq, true, false, false, false, nil); err != nil {
		t.Errorf("dlq %s is not a plain durable queue: %v", dlq, err)
	}

	// An operator deletes the queue: the returned message makes the transport re-declare it
	// and publish again.
	if _, err := a.ch.QueueDelete(q, false, false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, tr, s, &mih.Request{IdempotencyKey: "after-delete"}); err != nil {
		t.Fatalf("after the queue was deleted: %v", err)
	}
	if got := a.get(q, true).MessageId; got != "after-delete" {
		t.Errorf("got %q, want after-delete", got)
	}
}

func TestTransport_QueueDeclareConflict(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	q := name(t, "q")
	a.queue(q, nil) // exists without dead-lettering
	tr := newTransport(t, Options{})
	s := service(withURL(t, base, "", "/", "?queue_declare="+q+"&dlq="+q+".dead"))
	a.deleteLater(q + ".dead")
	_, err := send(t, tr, s, &mih.Request{})
	se := sendError(t, err)
	if se.Code != mih.ErrAMQPNack || se.Retryable || se.Status != 406 {
		t.Errorf("got %v (retryable %v), want a final amqp_nack with status 406", err, se.Retryable)
	}
}

func TestTransport_Vhost(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	q := name(t, "q")
	a.queue(q, nil)
	tr := newTransport(t, Options{})
	for _, path := range []string{"/%2F", "/%2f", "", "/"} {
		s := service(withURL(t, base, "", path, "?routing_key="+q))
		if _, err := send(t, tr, s, &mih.Request{IdempotencyKey: "p" + path}); err != nil {
			t.Errorf("path %q: %v", path, err)
		}
	}
	if got := a.count(q); got != 4 {
		t.Errorf("got %d messages in the vhost /, want 4", got)
	}
	if got := tr.dials.Load(); got != 1 {
		t.Errorf("got %d connections, want 1: these URLs all name the vhost /", got)
	}

	s := service(withURL(t, base, "", "/mihtest-no-such-vhost", "?routing_key=k"))
	_, err := send(t, tr, s, &mih.Request{})
	se := sendError(t, err)
	if se.Code != mih.ErrAMQPNack || se.Retryable || (se.Status != 530 && se.Status != 403) {
		t.Errorf("unknown vhost: got %v (retryable %v), want a final amqp_nack with status 530 or 403", err, se.Retryable)
	}
}

func TestTransport_BadCredentials(t *testing.T) {
	base := brokerURL(t)
	u, _ := url.Parse(base)
	u.User = url.UserPassword("guest", "wr0ng-s3cret")
	u.Path = "/"
	u.RawQuery = "routing_key=k"
	s := service(u.String())
	tr := newTransport(t, Options{})
	for i := range 2 { // the second one gets the remembered failure at once
		start := time.Now()
		resp, err := send(t, tr, s, &mih.Request{})
		se := sendError(t, err)
		if se.Code != mih.ErrAMQPNack || se.Retryable || se.Status != 403 {
			t.Errorf("attempt %d: got %v (retryable %v), want a final amqp_nack with status 403", i, err, se.Retryable)
		}
		for _, text := range []string{err.Error(), fmt.Sprint(se.Err), resp.URL, fmt.Sprint(resp.RequestHeaders)} {
			if strings.Contains(text, "wr0ng-s3cret") {
				t.Errorf("attempt %d: %q shows the password", i, text)
			}
		}
		if i == 1 && time.Since(start) > 50*time.Millisecond {
			t.Errorf("the remembered failure took %v", time.Since(start))
		}
	}
}

func TestTransport_Nack(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	q := name(t, "q")
	// A full queue that rejects publishes: the broker nacks the message.
	a.queue(q, amqp091.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"})
	tr := newTransport(t, Options{})
	s := service(withURL(t, base, "", "/", "?routing_key="+q))
	if _, err := send(t, tr, s, &mih.Request{IdempotencyKey: "1"}); err != nil {
		t.Fatal(err)
	}
	resp, err := send(t, tr, s, &mih.Request{IdempotencyKey: "2"})
	se := sendError(t, err)
	if se.Code != mih.ErrAMQPNack || !se.Retryable || resp.Status != 0 {
		t.Errorf("got %v (retryable %v, status %d), want a retryable amqp_nack with status 0", err, se.Retryable, resp.Status)
	}
	// The channel stays usable after a nack.
	a.get(q, true)
	if _, err := send(t, tr, s, &mih.Request{IdempotencyKey: "3"}); err != nil {
		t.Fatalf("after a nack: %v", err)
	}
	if got := tr.channels.Load(); got != 1 {
		t.Errorf("got %d channels opened, want 1", got)
	}
}

func TestTransport_Timeout(t *testing.T) {
	base := brokerURL(t)
	t.Run("confirm", func(t *testing.T) {
		a := newAdmin(t, base)
		q := name(t, "q")
		a.queue(q, nil)
		bu, _ := url.Parse(base)
		p := newProxy(t, bu.Host, nil)
		tr := newTransport(t, Options{ConfirmTimeout: 300 * time.Millisecond})
		s := service(withURL(t, base, p.addr(), "/", "?routing_key="+q))
		if _, err := send(t, tr, s, &mih.Request{IdempotencyKey: "warm"}); err != nil {
			t.Fatal(err)
		}
		p.frozen.Store(true) // the broker's confirms are held back
		start := time.Now()
		_, err := send(t, tr, s, &mih.Request{IdempotencyKey: "held"})
		se := sendError(t, err)
		if se.Code != mih.ErrTimeout || !se.Retryable {
			t.Errorf("got %v, want a retryable timeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the timeout took %v, want about 300 ms", d)
		}
		p.frozen.Store(false)
		// The channel that timed out is dropped; the connection carries on.
		if _, err := send(t, tr, s, &mih.Request{IdempotencyKey: "after"}); err != nil {
			t.Fatalf("after the timeout: %v", err)
		}
		if got := tr.dials.Load(); got != 1 {
			t.Errorf("got %d connections, want 1", got)
		}
	})
	t.Run("ctx", func(t *testing.T) {
		a := newAdmin(t, base)
		q := name(t, "q")
		a.queue(q, nil)
		bu, _ := url.Parse(base)
		p := newProxy(t, bu.Host, nil)
		tr := newTransport(t, Options{})
		s := service(withURL(t, base, p.addr(), "/", "?routing_key="+q))
		if _, err := send(t, tr, s, &mih.Request{}); err != nil {
			t.Fatal(err)
		}
		p.frozen.Store(true)
		defer p.frozen.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := tr.Send(ctx, s, &mih.Request{})
		if se := sendError(t, err); se.Code != mih.ErrTimeout || !se.Retryable {
			t.Errorf("got %v, want a retryable timeout", err)
		}
	})
	t.Run("handshake", func(t *testing.T) {
		// A server that accepts connections and never answers.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
		tr := newTransport(t, Options{})
		s := service("amqp://guest:guest@" + ln.Addr().String() + "/?routing_key=k")
		s.TimeoutS = 0.3
		start := time.Now()
		_, err = send(t, tr, s, &mih.Request{})
		if se := sendError(t, err); se.Code != mih.ErrTimeout || !se.Retryable {
			t.Errorf("got %v, want a retryable timeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v, want about 300 ms", d)
		}
	})
}

func TestTransport_Unreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nobody listens there now
	tr := newTransport(t, Options{})
	s := service("amqp://guest:s3cret@" + addr + "/?routing_key=k")
	_, err = send(t, tr, s, &mih.Request{})
	se := sendError(t, err)
	if se.Code != mih.ErrNetwork || !se.Retryable || !strings.Contains(se.Message, "cannot connect") {
		t.Errorf("got %v, want a retryable network error", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("%v shows the password", err)
	}
	// Invalid requests are refused before any connection.
	s.BaseURL = "amqp://guest:s3cret@" + addr + "/"
	_, err = send(t, tr, s, &mih.Request{})
	if se := sendError(t, err); se.Code != mih.ErrRequest || se.Retryable {
		t.Errorf("no routing key: got %v, want a final invalid_request", err)
	}
}

func TestTransport_Reuse(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	q1, q2 := name(t, "q1"), name(t, "q2")
	a.queue(q1, nil)
	a.queue(q2, nil)
	bu, _ := url.Parse(base)
	p := newProxy(t, bu.Host, nil)
	tr := newTransport(t, Options{MaxChannels: 4}) // 8 workers share 4 channels
	s1 := service(withURL(t, base, p.addr(), "/", "?routing_key="+q1))
	s2 := service(withURL(t, base, p.addr(), "/%2F", "?routing_key="+q2)) // same broker, other query

	for i := range 20 {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		if _, err := send(t, tr, s, &mih.Request{IdempotencyKey: fmt.Sprint("seq", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.accepted.Load(); got != 1 {
		t.Errorf("sequential: got %d TCP connections, want 1", got)
	}
	if got := tr.channels.Load(); got != 1 {
		t.Errorf("sequential: got %d channels opened, want 1 (reused)", got)
	}

	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := send(t, tr, s1, &mih.Request{IdempotencyKey: fmt.Sprintf("c%d.%d", w, i)}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := p.accepted.Load(); got != 1 {
		t.Errorf("concurrent: got %d TCP connections, want 1", got)
	}
	if got := tr.channels.Load(); got > 4 {
		t.Errorf("concurrent: got %d channels opened, want at most MaxChannels (4)", got)
	}
	if got := a.count(q1); got != 10+workers*each {
		t.Errorf("got %d messages in %s, want %d", got, q1, 10+workers*each)
	}

	// Another vhost is another connection (refused here: the vhost does not exist).
	s3 := service(withURL(t, base, p.addr(), "/mihtest-other-vhost", "?routing_key="+q1))
	if _, err := send(t, tr, s3, &mih.Request{}); err == nil {
		t.Error("unknown vhost: got no error")
	}
	if got := p.accepted.Load(); got != 2 {
		t.Errorf("other vhost: got %d TCP connections, want 2", got)
	}
}

func TestTransport_Reconnect(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	q := name(t, "q")
	a.queue(q, nil)
	bu, _ := url.Parse(base)
	p := newProxy(t, bu.Host, nil)
	tr := newTransport(t, Options{})
	s := service(withURL(t, base, p.addr(), "/", "?routing_key="+q))
	if _, err := send(t, tr, s, &mih.Request{IdempotencyKey: "before"}); err != nil {
		t.Fatal(err)
	}
	p.drop() // the connection is lost

	sent := false
	deadline := time.Now().Add(15 * time.Second)
	for tries := 0; !sent && tries < 100 && time.Now().Before(deadline); tries++ {
		_, err := send(t, tr, s, &mih.Request{IdempotencyKey: "after"})
		switch se, _ := errors.AsType[*mih.SendError](err); {
		case err == nil:
			sent = true
		case !se.Retryable:
			t.Fatalf("after the connection was lost: %v, want a retryable error", err)
		default:
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !sent {
		t.Fatal("no publish went through after the connection was lost")
	}
	if got := p.accepted.Load(); got != 2 {
		t.Errorf("got %d TCP connections, want 2 (one redial)", got)
	}
	if got := a.count(q); got != 2 {
		t.Errorf("got %d messages, want 2", got)
	}
}

func TestTransport_TLS(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	q := name(t, "q")
	a.queue(q, nil)
	cert, pool := selfSigned(t)
	bu, _ := url.Parse(base)
	p := newProxy(t, bu.Host, &tls.Config{Certificates: []tls.Certificate{cert}})
	amqps := "amqps://guest:guest@" + p.addr() + "/?routing_key=" + q

	t.Run("trusted CA", func(t *testing.T) {
		tr := newTransport(t, Options{TLSConfig: &tls.Config{RootCAs: pool}})
		if _, err := send(t, tr, service(amqps), &mih.Request{IdempotencyKey: "tls"}); err != nil {
			t.Fatal(err)
		}
		if got := a.get(q, true).MessageId; got != "tls" {
			t.Errorf("got %q, want tls", got)
		}
	})
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{
		{"system roots", nil},
		{"skip verify ignored", &tls.Config{InsecureSkipVerify: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTransport(t, Options{TLSConfig: tc.cfg})
			_, err := send(t, tr, service(amqps), &mih.Request{})
			se := sendError(t, err)
			if se.Code != mih.ErrNetwork || !strings.Contains(se.Message, "certificate") {
				t.Errorf("got %v, want a TLS certificate error", err)
			}
		})
	}
}

func TestTransport_Close(t *testing.T) {
	base := brokerURL(t)
	a := newAdmin(t, base)
	q := name(t, "q")
	a.queue(q, nil)
	tr := New(Options{})
	s := service(withURL(t, base, "", "/", "?routing_key="+q))
	if _, err := send(t, tr, s, &mih.Request{}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := send(t, tr, s, &mih.Request{})
	if se := sendError(t, err); se.Code != mih.ErrNetwork || !se.Retryable {
		t.Errorf("after Close: got %v, want a retryable network error", err)
	}
}

// TestTransport_BrokerRestart publishes from several goroutines while the broker restarts,
// retrying what fails as the delivery ledger would (retryable errors only, after a pause), and
// checks that every confirmed message is in the queue afterwards: nothing lost.
func TestTransport_BrokerRestart(t *testing.T) {
	base := brokerURL(t)
	dir := os.Getenv("MIH_TEST_RABBITMQ_DIR")
	if dir == "" {
		t.Skip("MIH_TEST_RABBITMQ_DIR is not set: it names the folder of the broker of MIH_TEST_AMQP_URL, started by scripts/rabbitmq.sh, which this test restarts")
	}
	if testing.Short() {
		t.Skip("restarts the broker")
	}
	q := name(t, "q")
	tr := newTransport(t, Options{})
	s := service(withURL(t, base, "", "/", "?queue_declare="+q))
	s.TimeoutS = 2

	const (
		workers   = 4
		perWorker = 500 // bounds the run: ~5 s of restart at one message per 10 ms per worker is far less
		before    = 40  // messages confirmed before the restart begins
		after     = 40  // and after it ended
	)
	deadline := time.Now().Add(150 * time.Second)
	var (
		mu        sync.Mutex
		confirmed []string
		failures  = map[string]int{}
		finalErr  error
	)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(confirmed) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < perWorker; i++ {
				id := fmt.Sprintf("w%d-%04d", w, i)
				for {
					select {
					case <-stop:
						return // id was never confirmed: it is not counted
					default:
					}
					if time.Now().After(deadline) {
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), s.Timeout())
					_, err := tr.Send(ctx, s, &mih.Request{Body: json.RawMessage(`{"w":1}`), IdempotencyKey: id})
					cancel()
					if err == nil {
						mu.Lock()
						confirmed = append(confirmed, id)
						mu.Unlock()
						break
					}
					se, ok := errors.AsType[*mih.SendError](err)
					mu.Lock()
					if !ok || !se.Retryable {
						finalErr = fmt.Errorf("message %s: %v is final, want every failure of a restart retryable", id, err)
						mu.Unlock()
						return
					}
					failures[se.Code+": "+se.Message]++
					mu.Unlock()
					time.Sleep(100 * time.Millisecond) // the ledger's backoff
				}
				time.Sleep(10 * time.Millisecond) // a steady trickle, so that the restart falls mid-run
			}
		})
	}
	waitFor := func(n int) bool {
		for count() < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		return count() >= n
	}

	restartErr := func() error {
		if !waitFor(before) {
			return fmt.Errorf("only %d messages confirmed before the restart", count())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "../../scripts/rabbitmq.sh", "restart", dir).CombinedOutput()
		if err != nil {
			return fmt.Errorf("scripts/rabbitmq.sh restart: %v: %s", err, out)
		}
		if n := count(); !waitFor(n + after) {
			return fmt.Errorf("no progress after the restart: %d confirmed", count())
		}
		return nil
	}()
	close(stop)
	wg.Wait()
	if restartErr != nil {
		t.Fatal(restartErr)
	}
	if finalErr != nil {
		t.Fatal(finalErr)
	}
	nfail := 0
	for k, n := range failures {
		nfail += n
		t.Logf("%4d × %s", n, k)
	}
	if nfail == 0 {
		t.Error("no publish failed: the restart did not happen during the run")
	}
	if got := tr.dials.Load(); got < 2 {
		t.Errorf("got %d connections, want a redial after the restart", got)
	}

	// Every confirmed message is in the queue (at least once: a publish that timed out may have
	// been taken too, and then sent again).
	a := newAdmin(t, base)
	a.deleteLater(q)
	seen := map[string]int{}
	for range 2 * workers * perWorker {
		d, ok, err := a.ch.Get(q, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		seen[d.MessageId]++
	}
	missing := 0
	for _, id := range confirmed {
		if seen[id] == 0 {
			missing++
		}
	}
	t.Logf("%d messages confirmed, %d retryable failures, %d distinct ids in the queue, %d connections",
		len(confirmed), nfail, len(seen), tr.dials.Load())
	if missing > 0 {
		t.Errorf("%d of %d confirmed messages are missing after the restart", missing, len(confirmed))
	}
}
