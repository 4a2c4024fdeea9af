// Package amqp publishes to AMQP 0-9-1 brokers (RabbitMQ) for services of type amqp (docs/api.md,
// Transports), over github.com/rabbitmq/amqp091-go.
//
// # URL
//
// A service's base_url says where to connect and where to publish:
//
//	amqp://user:pass@host:5672/vhost?exchange=X&routing_key=Y&queue_declare=Z&dlq=DLQ
//	amqps://user:pass@host:5671/vhost?...
//
// The port defaults to 5672 (amqp) or 5671 (amqps). The vhost is the one path segment,
// URL-decoded: %2F is the vhost "/", which is also the vhost of a URL without a path. Without
// credentials in the URL, a service with auth type basic supplies them, else guest/guest. The
// query takes only these parameters (any other is refused, so a typo cannot go unnoticed):
//
//   - exchange: where to publish; empty or absent is the default exchange.
//   - routing_key: the default routing key. The request's Path (a rule's endpoint, the gateway
//     call's path) overrides it verbatim, except that one leading "/" is dropped, since such
//     fields are often written REST-style ("/orders.created"); a key that really starts with "/"
//     is written with two. Without either, on the default exchange, the key is the queue_declare
//     queue; the default exchange with no key at all is an invalid_request. A named exchange
//     may be given an empty key (fanout and headers exchanges ignore it).
//   - queue_declare: a queue declared durable before the first publish on each connection.
//   - dlq: the dead-letter queue of queue_declare, declared durable too; queue_declare is then
//     declared with x-dead-letter-exchange "" and x-dead-letter-routing-key = dlq, so that a
//     message a consumer rejects without requeueing (or that expires) lands in dlq.
//
// Nothing else is declared or bound: exchanges and bindings are the broker administrator's. A
// queue that already exists with other arguments makes the broker refuse the declaration
// (precondition failed), which is reported rather than worked around.
//
// # Messages and confirms
//
// Each Send publishes one message, mandatory, persistent (delivery mode 2), content type
// application/json (or the value of a Content-Type header, which becomes the property rather
// than a header), message_id = the request's idempotency key (a fresh "mih_…" id when the call
// has none), timestamp from Options.Now, app id "mih", the body as given ("{}" when empty), and
// the service's and the request's headers as AMQP headers. It is published with
// PublishWithDeferredConfirmWithContext on a channel in confirm mode, and the Send succeeds only
// when the broker confirms it (Response.Status 200, AMQP's reply-success; 0 means no answer).
// Outcomes, each a *mih.SendError:
//
//	broker ack                                   success, Status 200
//	broker nack                                  amqp_nack, retryable
//	returned as unroutable (no queue matched)    amqp_nack, final, Status 312: the topology is
//	                                             wrong and resending cannot help; the message
//	                                             was not delivered anywhere
//	access refused, vhost not allowed, exchange  amqp_nack, final, Status = the AMQP reply code
//	  not found, queue declared with other       (403, 530, 404, 406)
//	  arguments, message too large
//	no confirm within the timeout                timeout, retryable
//	connection refused, lost or closed by the    network, retryable
//	  broker (restart), TLS failure
//	bad URL, no routing key                      invalid_request, final, nothing sent
//
// A returned message when the URL declares a queue first re-declares the queues once (an
// operator may have deleted them) and publishes again; only a second return is final.
//
// The wait for the confirm ends at the earlier of ctx's deadline and Options.ConfirmTimeout
// (default: the service's timeout). A timeout is retryable: the broker may still have taken the
// message, so a retry can deliver it twice, which message_id lets consumers detect
// (at-least-once).
//
// # Connections
//
// The Transport keeps one connection per distinct URL without its query (scheme, credentials,
// host, port, vhost), and on it a pool of confirm-mode channels, each carrying one publish at a
// time. Queue declarations are made once per connection. A lost connection (broker restart,
// network) is noticed through NotifyClose and redialled lazily by the next Send; after a failed
// dial, Sends fail at once with that failure for a short, doubling window (50 ms to 1 s; 5 s
// after a final failure such as access refused) instead of hammering the broker. Connections
// unused for Options.IdleTimeout are closed. Channel open, queue declarations and the publish
// run on a worker goroutine per Send, so that Send returns at ctx's deadline even when the
// broker stops answering; the abandoned channel is closed, not reused.
//
// # TLS
//
// amqps verifies the broker's certificate against the system roots, or Options.TLSConfig's
// RootCAs for a private CA, and its host name; verification cannot be turned off (the PHP
// plugin mih replaces did: docs/architecture.md). TLS 1.2 is the minimum.
//
// Neither errors, logs nor Response.URL ever carry the password: Response.URL is the base URL
// with it masked (mih.RedactURL).
package amqp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/mihhub/mih"
)

// Defaults of Options.
const (
	DefaultMaxChannels     = 128
	DefaultMaxIdleChannels = 16
	DefaultIdleTimeout     = 10 * time.Minute
	DefaultHeartbeat       = 10 * time.Second
	// DefaultDialTimeout bounds a connection's TCP, TLS and AMQP handshakes when ctx allows more.
	DefaultDialTimeout = 30 * time.Second
)

// Options tunes a Transport. The zero value is usable.
type Options struct {
	// TLSConfig is the base of amqps connections: set RootCAs for a private CA, Certificates for
	// client certificates. It is cloned; InsecureSkipVerify is ignored (always verified),
	// ServerName defaults to the URL's host and MinVersion to TLS 1.2.
	TLSConfig *tls.Config
	// Logger receives connection events (connected, lost, blocked); default: discard.
	Logger *slog.Logger
	// Now is the clock for message timestamps (default time.Now). Backoff and idle times use
	// the monotonic clock.
	Now func() time.Time
	// ConfirmTimeout bounds the wait for the broker's confirm of a publish; default (0) the
	// service's timeout. ctx's deadline applies too.
	ConfirmTimeout time.Duration
	// MaxChannels bounds the publishes in flight on one connection (default 128); further Sends
	// wait for a free channel within their ctx.
	MaxChannels int
	// MaxIdleChannels is how many channels a connection keeps open between Sends (default 16).
	MaxIdleChannels int
	// IdleTimeout closes a connection unused for that long (default 10 minutes).
	IdleTimeout time.Duration
	// Heartbeat is the AMQP heartbeat interval proposed to the broker (default 10 s); a dead
	// connection is noticed within about twice that.
	Heartbeat time.Duration
}

// Transport is a mih.Transport for AMQP services. It is safe for concurrent use; build one per
// process, share it, and Close it at shutdown.
type Transport struct {
	tls            *tls.Config
	log            *slog.Logger
	now            func() time.Time
	confirmTimeout time.Duration
	maxChannels    int
	maxIdle        int
	idleTimeout    time.Duration
	heartbeat      time.Duration

	mu      sync.Mutex
	conns   map[string]*conn
	closing atomic.Bool // set by Close

	// Counters for tests: successful dials and channels opened.
	dials    atomic.Int64
	channels atomic.Int64
}

var _ mih.Transport = (*Transport)(nil)

// New returns a Transport. It connects lazily, on the first Send to each broker.
func New(opts Options) *Transport {
	t := &Transport{
		tls:            opts.TLSConfig,
		log:            opts.Logger,
		now:            opts.Now,
		confirmTimeout: opts.ConfirmTimeout,
		maxChannels:    opts.MaxChannels,
		maxIdle:        opts.MaxIdleChannels,
		idleTimeout:    opts.IdleTimeout,
		heartbeat:      opts.Heartbeat,
		conns:          map[string]*conn{},
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.maxChannels <= 0 {
		t.maxChannels = DefaultMaxChannels
	}
	if t.maxIdle <= 0 {
		t.maxIdle = DefaultMaxIdleChannels
	}
	if t.idleTimeout <= 0 {
		t.idleTimeout = DefaultIdleTimeout
	}
	if t.heartbeat <= 0 {
		t.heartbeat = DefaultHeartbeat
	}
	return t
}

// Close closes every connection, waiting up to 5 s for the brokers' answers. Sends after Close
// fail with a retryable network error.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closing.Store(true)
	conns := slices.Collect(maps.Values(t.conns))
	t.conns = map[string]*conn{}
	t.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	var errs []error
	for _, cn := range conns {
		if err := cn.close(deadline); err != nil && !errors.Is(err, amqp091.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Send publishes the request's body as one message and waits for the broker's confirm. It
// always returns a non-nil Response recording where the message went (URL with the password
// masked) and how (exchange, routing_key, message_id and the message properties in
// RequestHeaders); a failure comes with a *mih.SendError (see the package comment).
func (t *Transport) Send(ctx context.Context, s *mih.Service, r *mih.Request) (*mih.Response, error) {
	start := time.Now()
	resp := &mih.Response{}
	tg, err := parseTarget(s.BaseURL, s.Auth)
	if err != nil {
		// No URL then: one that does not parse cannot be redacted either.
		return resp, err
	}
	resp.URL = tg.redacted
	key, err := tg.routingKeyFor(r.Path)
	if err != nil {
		return resp, err
	}
	msg := t.message(s, r)
	resp.RequestHeaders = requestHeaders(tg, key, msg)

	if _, ok := ctx.Deadline(); !ok && s.Timeout() > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout())
		defer cancel()
	}
	confirmTimeout := t.confirmTimeout
	if confirmTimeout <= 0 {
		confirmTimeout = s.Timeout()
	}

	err = t.publish(ctx, tg, key, msg, confirmTimeout)
	resp.Latency = time.Since(start)
	if err != nil {
		if se, ok := errors.AsType[*mih.SendError](err); ok {
			resp.Status = se.Status
		}
		return resp, err
	}
	resp.Status = StatusOK
	return resp, nil
}

// message builds the AMQP message of a request.
func (t *Transport) message(s *mih.Service, r *mih.Request) amqp091.Publishing {
	body := []byte(r.Body)
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	var headers amqp091.Table
	contentType := "application/json"
	for _, layer := range []map[string]string{s.Headers, r.Headers} {
		for k, v := range layer {
			// Content-Type is a message property in AMQP, not a header: a CloudEvent in
			// structured mode says application/cloudevents+json there, as the AMQP binding asks.
			if strings.EqualFold(k, "Content-Type") {
				contentType = v
				continue
			}
			if headers == nil {
				headers = amqp091.Table{}
			}
			headers[k] = v
		}
	}
	return amqp091.Publishing{
		Headers:      headers,
		ContentType:  contentType,
		DeliveryMode: amqp091.Persistent,
		MessageId:    messageID(r),
		Timestamp:    t.now().UTC(),
		AppId:        "mih",
		Body:         body,
	}
}

// requestHeaders describes a publish for the request log and the DLQ.
func requestHeaders(tg *target, key string, msg amqp091.Publishing) map[string]string {
	h := make(map[string]string, len(msg.Headers)+6)
	for k, v := range msg.Headers {
		if s, ok := v.(string); ok {
			h[k] = s
		}
	}
	h["exchange"] = tg.exchange
	h["routing_key"] = key
	h["message_id"] = msg.MessageId
	h["content_type"] = msg.ContentType
	h["delivery_mode"] = strconv.Itoa(int(msg.DeliveryMode))
	if tg.queue != "" {
		h["queue_declare"] = tg.queue
	}
	if tg.dlq != "" {
		h["dlq"] = tg.dlq
	}
	return h
}

func errClosed() *mih.SendError {
	return &mih.SendError{Code: mih.ErrNetwork, Message: "the AMQP transport is closed (shutting down)", Retryable: true}
}

// conn returns the connection entry for a target, and closes connections left idle.
func (t *Transport) conn(tg *target) (*conn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing.Load() {
		return nil, errClosed()
	}
	idle := time.Now().Add(-t.idleTimeout)
	for k, cn := range t.conns {
		if cn.idleSince(idle) {
			delete(t.conns, k)
			go cn.close(time.Now().Add(5 * time.Second))
		}
	}
	k := tg.connKey()
	cn := t.conns[k]
	if cn == nil {
		cn = &conn{t: t, server: tg.server, slots: make(chan struct{}, t.maxChannels), lastUsed: time.Now()}
		t.conns[k] = cn
	}
	cn.enter()
	return cn, nil
}

// publish gets a live connection and a free channel slot under ctx, then publishes on a worker
// goroutine: channel open, queue declarations and the publish itself are calls of the client
// library that ctx cannot interrupt, so the Send returns at ctx's end while the worker finishes
// (bounded by the connection's heartbeat) and closes the abandoned channel.
func (t *Transport) publish(ctx context.Context, tg *target, key string, msg amqp091.Publishing, confirmTimeout time.Duration) error {
	cn, err := t.conn(tg)
	if err != nil {
		return err
	}
	defer cn.leave()

	select {
	case cn.slots <- struct{}{}:
	case <-ctx.Done():
		return classify(ctx, ctx.Err(), "wait for a free channel")
	}
	c, gen, err := cn.live(ctx, tg)
	if err != nil {
		<-cn.slots
		return err
	}

	done := make(chan error, 1)
	go func() {
		defer func() { <-cn.slots }()
		done <- cn.publishOn(ctx, c, gen, tg, key, msg, confirmTimeout)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done: // it ended just now: its outcome is the truer one
			return err
		default:
		}
		e := classify(ctx, ctx.Err(), "publish")
		if reason := cn.blocked.Load(); reason != nil && e.Code == mih.ErrTimeout {
			e.Message += " (the broker blocks publishing: " + *reason + ")"
		}
		return e
	}
}

// publishOn runs on the worker goroutine of one Send: it takes a channel, declares the queues,
// publishes and waits for the confirm.
func (cn *conn) publishOn(ctx context.Context, c *amqp091.Connection, gen uint64, tg *target, key string, msg amqp091.Publishing, confirmTimeout time.Duration) error {
	ch, err := cn.take(c, gen)
	if err != nil {
		return classify(ctx, err, "open channel")
	}
	ok := false
	defer func() { cn.put(ch, ok) }()

	declKey := tg.queue + "\x00" + tg.dlq
	for attempt := 1; ; attempt++ {
		redeclare := attempt > 1
		if tg.queue != "" && (redeclare || !cn.isDeclared(gen, declKey)) {
			if err := declare(ch.ch, tg); err != nil {
				cn.markDeclared(gen, declKey, false)
				return classify(ctx, ch.closeError(err), "declare queue "+strconv.Quote(tg.queue))
			}
			cn.markDeclared(gen, declKey, true)
		}
		ret, err := ch.publish(ctx, tg.exchange, key, msg, confirmTimeout)
		if err != nil {
			// After a nack the channel is as good as before; after anything else it is dropped.
			se, _ := errors.AsType[*mih.SendError](err)
			ok = se != nil && se.Code == mih.ErrAMQPNack && !ch.ch.IsClosed()
			return err
		}
		if ret == nil {
			ok = true
			return nil
		}
		if tg.queue == "" || attempt > 1 {
			ok = true // the channel is fine: the message was returned, not refused
			return &mih.SendError{
				Code:    mih.ErrAMQPNack,
				Status:  int(ret.ReplyCode),
				Message: unroutableMessage(tg.exchange, key, ret.ReplyText),
			}
		}
	}
}

func unroutableMessage(exchange, key, reason string) string {
	where := "the default exchange"
	if exchange != "" {
		where = "exchange " + strconv.Quote(exchange)
	}
	return "unroutable: no queue is bound to " + where + " for routing key " + strconv.Quote(key) + " (" + reason + ")"
}

// declare declares the dead-letter queue, then the queue that dead-letters into it.
func declare(ch *amqp091.Channel, tg *target) error {
	var args amqp091.Table
	if tg.dlq != "" {
		if _, err := ch.QueueDeclare(tg.dlq, true, false, false, false, nil); err != nil {
			return err
		}
		args = amqp091.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": tg.dlq}
	}
	_, err := ch.QueueDeclare(tg.queue, true, false, false, false, args)
	return err
}

// publish publishes msg mandatory and waits for the broker's confirm, at most confirmTimeout.
// It returns the Return when the broker sent the message back as unroutable (before its ack).
func (ch *channel) publish(ctx context.Context, exchange, key string, msg amqp091.Publishing, confirmTimeout time.Duration) (*amqp091.Return, error) {
	// A return left over from an earlier publish cannot be (one publish per channel, each
	// drained), but a stale one must never be taken for this message's.
	ch.drainReturns("")

	dc, err := ch.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, msg)
	if err != nil {
		return nil, classify(ctx, ch.closeError(err), "publish")
	}
	if dc == nil {
		return nil, &mih.SendError{Code: mih.ErrNetwork, Message: "publish: the channel is not in confirm mode", Retryable: true}
	}
	wctx := ctx
	if confirmTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, confirmTimeout)
		defer cancel()
	}
	acked, err := dc.WaitContext(wctx)
	if err != nil {
		return nil, classify(wctx, err, "publish")
	}
	if !acked {
		if ch.ch.IsClosed() {
			// Pending confirms resolve as not acked when the channel or connection closes.
			return nil, classify(ctx, ch.closeError(amqp091.ErrClosed), "publish")
		}
		return nil, &mih.SendError{Code: mih.ErrAMQPNack, Message: "the broker refused the message (nack)", Retryable: true}
	}
	// The broker sends basic.return before the basic.ack of the same message, and the client
	// library hands the return to ch.returns before it handles the ack: if there was one, it is
	// here now.
	return ch.drainReturns(msg.MessageId), nil
}

// drainReturns empties the channel's returns and gives back the one of message id, if any.
func (ch *channel) drainReturns(id string) *amqp091.Return {
	var found *amqp091.Return
	for {
		select {
		case r, ok := <-ch.returns:
			if !ok {
				return found
			}
			if id != "" && r.MessageId == id {
				found = &r
			}
		default:
			return found
		}
	}
}

// closeError prefers the reason the broker gave for closing the channel (a channel exception
// such as 404 NOT_FOUND, or the connection's error) over the library's generic error.
func (ch *channel) closeError(err error) error {
	select {
	case e, ok := <-ch.closes:
		if ok && e != nil {
			return e
		}
	default:
		if ch.ch.IsClosed() {
			// The library closes the channel before it notifies: give the notice a moment.
			select {
			case e, ok := <-ch.closes:
				if ok && e != nil {
					return e
				}
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return err
}

// dial opens a connection for tg within ctx (and DefaultDialTimeout): TCP, TLS and the AMQP
// handshake.
//
// amqp091 cannot tell bad credentials from a connection dropped during the login: it does not
// ask for authentication_failure_close, so RabbitMQ refuses a login by closing the socket
// without a word, deliberately about 3 s later. A broker that is starting or stopping can drop
// a connection at that step too, but at once. So a quick drop there is confirmed by one more
// attempt before it counts as a final "access refused", and a slow one is taken as it is:
// a restart is not mistaken for bad credentials, and bad credentials cost no second wait.
func (t *Transport) dial(ctx context.Context, tg *target) (*amqp091.Connection, error) {
	start := time.Now()
	c, err := t.dialOnce(ctx, tg)
	if ae, ok := errors.AsType[*amqp091.Error](err); ok && !ae.Server && (ae == amqp091.ErrCredentials || ae == amqp091.ErrVhost) &&
		time.Since(start) < time.Second {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, err
		}
		c, err = t.dialOnce(ctx, tg)
	}
	return c, err
}

func (t *Transport) dialOnce(ctx context.Context, tg *target) (*amqp091.Connection, error) {
	deadline := time.Now().Add(DefaultDialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	props := amqp091.NewConnectionProperties()
	props.SetClientConnectionName("mih")
	cfg := amqp091.Config{
		SASL:       []amqp091.Authentication{&amqp091.PlainAuth{Username: tg.username, Password: tg.password}},
		Vhost:      tg.vhost,
		Heartbeat:  t.heartbeat,
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Deadline: deadline, KeepAlive: 30 * time.Second}
			nc, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bounds the TLS and AMQP handshakes; amqp091 clears it once the connection is open.
			if err := nc.SetDeadline(deadline); err != nil {
				nc.Close()
				return nil, err
			}
			return nc, nil
		},
	}
	if tg.scheme == "amqps" {
		cfg.TLSClientConfig = t.tlsConfig(tg.host)
	}
	c, err := amqp091.DialConfig(tg.dialURL(), cfg)
	if err != nil && !time.Now().Before(deadline) {
		// The handshake ran into the deadline; amqp091 reports that as a lost connection.
		return nil, fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return c, err
}

// tlsConfig is the TLS configuration of one amqps dial: Options.TLSConfig cloned, always
// verifying the broker.
func (t *Transport) tlsConfig(host string) *tls.Config {
	c := &tls.Config{}
	if t.tls != nil {
		c = t.tls.Clone()
	}
	c.InsecureSkipVerify = false
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c
}
