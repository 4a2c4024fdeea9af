package inbound_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/inbound/amqpsource"
)

// proxy forwards TCP to the broker and can cut every connection, as a network failure or a
// broker restart would.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, upstream string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.drop() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// The same rules fed by a RabbitMQ queue: messages are stored and acked, a duplicate message id
// makes no second call, a message that is not JSON is rejected to the dead-letter queue, and a
// cut connection is redialled.
func TestAMQPSource(t *testing.T) {
	raw := os.Getenv("MIH_TEST_AMQP_URL")
	if raw == "" {
		t.Skip("MIH_TEST_AMQP_URL is not set: start a broker with scripts/rabbitmq.sh start DIR")
	}
	bu, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	queue, dlq := fmt.Sprintf("mih.inbound.%d", time.Now().UnixNano()), fmt.Sprintf("mih.inbound.dlq.%d", time.Now().UnixNano())
	admin, err := amqp091.Dial(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ach, err := admin.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ach.QueueDeclare(dlq, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ach.QueueDeclare(queue, true, false, false, false, amqp091.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ach.QueueDelete(queue, false, false, false); ach.QueueDelete(dlq, false, false, false) })
	publish := func(id string, body []byte) {
		t.Helper()
		if err := ach.PublishWithContext(t.Context(), "", queue, false, false, amqp091.Publishing{MessageId: id, ContentType: "application/json", Body: body, DeliveryMode: amqp091.Persistent}); err != nil {
			t.Fatal(err)
		}
	}

	h := newHub(t)
	p := newProxy(t, bu.Host)
	src := *bu
	src.Host = p.ln.Addr().String()
	src.RawQuery = "queue=" + queue + "&prefetch=4"
	h.ep.Source = src.String()
	if err := h.st.UpdateInboundEndpoint(t.Context(), h.ep); err != nil {
		t.Fatal(err)
	}
	cs := &amqpsource.Consumers{Store: h.st, Receiver: h.recv, Interval: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- cs.Run(ctx) }()
	defer func() { cancel(); <-done }()

	publish("m-1", created)
	publish("m-1", created) // the same message twice: one call each rule, not two
	publish("bad", []byte(`not json`))
	h.run(t, func() bool {
		u, ok := h.moodle.UserByUsername("ada.l")
		return ok && len(h.moodle.Enrolments(h.course)) == 1 && u.ID > 0 && queueLen(t, ach, queue) == 0 && queueLen(t, ach, dlq) == 1
	})
	if n := h.moodle.Calls().ByFunction["core_user_create_users"]; n != 1 {
		t.Errorf("core_user_create_users called %d times, want 1", n)
	}

	// A cut connection: the consumer dials again and goes on.
	p.drop()
	left := []byte(`{"action": "student.left", "student": {"username": "ada.l"}}`)
	publish("m-2", left)
	h.run(t, func() bool {
		u, _ := h.moodle.UserByUsername("ada.l")
		return u.Suspended && queueLen(t, ach, queue) == 0
	})
	evs, _, _ := h.st.FindEvents(t.Context(), mih.EventFilter{})
	if len(evs) != 2 {
		t.Errorf("%d messages stored, want 2", len(evs))
	}
}

func queueLen(t *testing.T, ch *amqp091.Channel, q string) int {
	t.Helper()
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st.Messages
}

// A broker that accepts connections but never answers does not hold up a shutdown.
func TestAMQPSourceStopsWhileDialling(t *testing.T) {
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
			defer c.Close() // held open, silent
		}
	}()
	h := newHub(t)
	h.ep.Source = "amqp://guest:guest@" + ln.Addr().String() + "/?queue=q"
	if err := h.st.UpdateInboundEndpoint(t.Context(), h.ep); err != nil {
		t.Fatal(err)
	}
	cs := &amqpsource.Consumers{Store: h.st, Receiver: h.recv, Interval: time.Hour}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- cs.Run(ctx) }()
	time.Sleep(200 * time.Millisecond) // the consumer is in its AMQP handshake
	start := time.Now()
	cancel()
	select {
	case <-done:
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("stopped after %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the consumers did not stop within 5 s")
	}
}
