// Package amqpsource feeds inbound endpoints from broker queues (an endpoint's source), over
// github.com/rabbitmq/amqp091-go. It is apart from package inbound so that the API and the web
// UI, which use inbound, do not depend on a broker driver.
package amqpsource

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/inbound"
)

// Consumer feeds one endpoint from a broker queue (the endpoint's Source). It consumes with
// manual acknowledgements and a prefetch window, and acknowledges a message only once Receive
// has committed it with its calls: a hub that dies in between gets the message again from the
// broker, and the message id drops the second copy. A message Receive refuses (not a JSON
// object) is rejected without requeue, to the queue's dead-letter exchange when it has one; a
// failure of our own store puts the message back and pauses. A lost connection is redialled
// with a backoff of 250 ms doubling to 30 s.
//
// The message id is the AMQP message_id; without one it is the SHA-256 of the body, so that a
// redelivered message is still dropped (senders that mean to send one body twice set
// message_id).
type Consumer struct {
	recv *inbound.Receiver
	ep   *mih.InboundEndpoint
	log  *slog.Logger
}

// NewConsumer returns the consumer of an endpoint with a Source.
func NewConsumer(recv *inbound.Receiver, ep *mih.InboundEndpoint, logger *slog.Logger) *Consumer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Consumer{recv: recv, ep: ep, log: logger.With("endpoint", ep.Name, "source", mih.RedactURL(ep.Source))}
}

// DefaultPrefetch is the prefetch window without a prefetch parameter.
const DefaultPrefetch = 16

// dialTimeout bounds a connection's TCP, TLS and AMQP handshakes.
const dialTimeout = 10 * time.Second

func parseSource(s string) (dial, queue string, prefetch int, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", 0, fmt.Errorf("source: not a URL")
	}
	q := u.Query()
	queue, prefetch = q.Get("queue"), DefaultPrefetch
	if p := q.Get("prefetch"); p != "" {
		if prefetch, err = strconv.Atoi(p); err != nil {
			return "", "", 0, fmt.Errorf("source: prefetch is not a number")
		}
	}
	u.RawQuery = ""
	return u.String(), queue, prefetch, nil
}

// Run consumes until ctx is done.
func (c *Consumer) Run(ctx context.Context) error {
	dial, queue, prefetch, err := parseSource(c.ep.Source)
	if err != nil {
		return err
	}
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		started := time.Now()
		err := c.session(ctx, dial, queue, prefetch)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > time.Minute {
			backoff = 250 * time.Millisecond // it ran a while: a fresh failure, not a loop
		}
		c.log.WarnContext(ctx, "inbound queue consumer stopped; reconnecting", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	return nil
}

// session is one connection's life: dial, consume, handle until the connection or ctx ends.
func (c *Consumer) session(ctx context.Context, dial, queue string, prefetch int) error {
	conn, err := amqp091.DialConfig(dial, amqp091.Config{
		Heartbeat:  10 * time.Second,
		Properties: amqp091.Table{"connection_name": "mih inbound " + c.ep.Name},
		// Dialled under ctx, so that a shutdown does not wait for a broker that does not
		// answer; the deadline bounds the handshakes and is cleared once AMQP is open.
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: dialTimeout}
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := nc.SetDeadline(time.Now().Add(dialTimeout)); err != nil {
				nc.Close()
				return nil, err
			}
			// A handshake under way ends at once when ctx does.
			context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
			return nc, nil
		},
	})
	if err != nil {
		return fmt.Errorf("dial: %s", mih.RedactURL(err.Error()))
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	msgs, err := ch.ConsumeWithContext(ctx, queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", queue, err)
	}
	c.log.InfoContext(ctx, "inbound queue consumer started", "queue", queue, "prefetch", prefetch)
	closed := conn.NotifyClose(make(chan *amqp091.Error, 1))
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-closed:
			if e == nil {
				return errors.New("connection closed")
			}
			return e
		case d, ok := <-msgs:
			if !ok {
				return errors.New("the broker ended the consumer")
			}
			if err := c.handle(ctx, d); err != nil {
				return err
			}
		}
	}
}

// handle stores one message and settles it with the broker.
func (c *Consumer) handle(ctx context.Context, d amqp091.Delivery) error {
	id := d.MessageId
	if id == "" {
		sum := sha256.Sum256(d.Body)
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	res, err := c.recv.Receive(ctx, c.ep, id, d.Body, "amqp")
	switch code := mih.ErrorCode(err); {
	case err == nil:
		c.log.DebugContext(ctx, "inbound message", "message_id", id, "calls", res.Calls, "duplicate", res.Duplicate)
		return d.Ack(false)
	case code == mih.CodeInvalid:
		c.log.WarnContext(ctx, "inbound message refused; rejected without requeue", "message_id", id, "error", mih.ErrorMessage(err))
		return d.Reject(false)
	default:
		// Our store failed: the message goes back to the queue and we pause, rather than take
		// the next one and fail again.
		c.log.ErrorContext(ctx, "store inbound message; requeued", "message_id", id, "error", err)
		if nerr := d.Nack(false, true); nerr != nil {
			return nerr
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		return nil
	}
}

// Consumers runs one Consumer per active endpoint with a Source, and follows changes: every
// Interval it reads the endpoints and starts, restarts (source changed) or stops consumers.
type Consumers struct {
	Store interface {
		FindInboundEndpoints(context.Context) ([]*mih.InboundEndpoint, error)
	}
	Receiver *inbound.Receiver
	Logger   *slog.Logger
	Interval time.Duration

	mu      sync.Mutex
	running map[string]*running
}

type running struct {
	source string
	cancel context.CancelFunc
	done   chan struct{}
}

// Run supervises the consumers until ctx is done, then stops them all.
func (cs *Consumers) Run(ctx context.Context) error {
	if cs.Interval <= 0 {
		cs.Interval = 5 * time.Second
	}
	if cs.Logger == nil {
		cs.Logger = slog.New(slog.DiscardHandler)
	}
	cs.mu.Lock()
	cs.running = map[string]*running{}
	cs.mu.Unlock()
	t := time.NewTicker(cs.Interval)
	defer t.Stop()
	for {
		cs.sync(ctx)
		select {
		case <-ctx.Done():
			cs.stopAll()
			return nil
		case <-t.C:
		}
	}
}

func (cs *Consumers) sync(ctx context.Context) {
	eps, err := cs.Store.FindInboundEndpoints(ctx)
	if err != nil {
		if ctx.Err() == nil {
			cs.Logger.ErrorContext(ctx, "read inbound endpoints", "error", err)
		}
		return
	}
	want := map[string]*mih.InboundEndpoint{}
	for _, ep := range eps {
		if ep.Active && ep.Source != "" {
			want[ep.Name] = ep
		}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for name, r := range cs.running {
		if ep, ok := want[name]; !ok || ep.Source != r.source {
			r.cancel()
			<-r.done
			delete(cs.running, name)
		}
	}
	for name, ep := range want {
		if _, ok := cs.running[name]; ok {
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		r := &running{source: ep.Source, cancel: cancel, done: make(chan struct{})}
		cs.running[name] = r
		go func() {
			defer close(r.done)
			_ = NewConsumer(cs.Receiver, ep, cs.Logger).Run(cctx)
		}()
	}
}

func (cs *Consumers) stopAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for name, r := range cs.running {
		r.cancel()
		<-r.done
		delete(cs.running, name)
	}
}
