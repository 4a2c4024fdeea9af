package amqp

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/mihhub/mih"
)

// conn is the one connection to a broker (per distinct URL without its query), redialled on
// demand after it is lost, with its pool of confirm-mode channels.
//
// A channel carries one publish at a time: it is taken from the pool for a Send and put back
// when the broker has confirmed, so that a returned (unroutable) message on it can only be that
// Send's. A channel that failed in any way, or was abandoned by a Send that timed out, is closed
// instead of pooled.
type conn struct {
	t      *Transport
	server string        // for logs: no password
	slots  chan struct{} // bounds the channels in use at once (Options.MaxChannels)

	mu       sync.Mutex
	c        *amqp091.Connection // nil or closed when there is no live connection
	gen      uint64              // bumped at each successful dial
	idle     []*channel          // confirm-mode channels of generation gen, ready for a publish
	declared map[string]bool     // queue_declare/dlq pairs declared on this generation
	dialing  chan struct{}       // non-nil while a dial is under way; closed when it ends
	failures int                 // consecutive failed dials
	retryAt  time.Time           // no new dial before this after a failure
	lastErr  *mih.SendError      // the last failed dial's outcome, returned until retryAt
	lastUsed time.Time
	busy     int // Sends using this connection now

	blocked atomic.Pointer[string] // the broker's reason while it blocks publishers
}

// channel is a confirm-mode AMQP channel with its notifications.
type channel struct {
	ch      *amqp091.Channel
	gen     uint64
	closes  chan *amqp091.Error
	returns chan amqp091.Return
}

// Redial backoff after failed dials: a Send within the window gets the last failure at once
// instead of hammering a broker that is down; the window doubles up to maxRedialDelay, which
// also bounds how long a broker that is back waits for the next dial.
const (
	minRedialDelay = 50 * time.Millisecond
	maxRedialDelay = time.Second
	// finalRedialDelay is the window after a final failure (access refused, unknown vhost):
	// those do not heal by themselves, and RabbitMQ answers a refused login only after 3 s.
	finalRedialDelay = 5 * time.Second
)

func redialDelay(failures int) time.Duration {
	d := minRedialDelay
	for i := 1; i < failures && d < maxRedialDelay; i++ {
		d *= 2
	}
	return min(d, maxRedialDelay)
}

// live returns the live connection and its generation, dialling when there is none. Concurrent
// callers share one dial; a caller waits for it no longer than its ctx.
func (cn *conn) live(ctx context.Context, tg *target) (*amqp091.Connection, uint64, error) {
	for {
		cn.mu.Lock()
		if cn.c != nil && !cn.c.IsClosed() {
			c, gen := cn.c, cn.gen
			cn.mu.Unlock()
			return c, gen, nil
		}
		if cn.dialing != nil {
			wait := cn.dialing
			cn.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, 0, classify(ctx, ctx.Err(), "connect")
			}
		}
		if time.Now().Before(cn.retryAt) && cn.lastErr != nil {
			e := *cn.lastErr
			cn.mu.Unlock()
			return nil, 0, &e
		}
		done := make(chan struct{})
		cn.dialing = done
		cn.mu.Unlock()

		c, err := cn.t.dial(ctx, tg)

		cn.mu.Lock()
		cn.dialing = nil
		close(done)
		if err != nil && ctx.Err() != nil {
			// This caller gave up or ran out of time: that says little about the broker, so other
			// callers are not made to wait for a redial.
			cn.mu.Unlock()
			return nil, 0, classify(ctx, err, "connect")
		}
		if err != nil {
			cn.failures++
			cn.lastErr = classify(ctx, err, "connect")
			delay := redialDelay(cn.failures)
			if !cn.lastErr.Retryable {
				delay = finalRedialDelay
			}
			cn.retryAt = time.Now().Add(delay)
			e := *cn.lastErr
			cn.mu.Unlock()
			return nil, 0, &e
		}
		if cn.t.closing.Load() {
			// Close ran during the dial and did not see this connection.
			cn.mu.Unlock()
			c.Close()
			return nil, 0, errClosed()
		}
		cn.failures, cn.lastErr = 0, nil
		cn.c = c
		cn.gen++
		cn.idle = nil
		cn.declared = map[string]bool{}
		gen := cn.gen
		cn.blocked.Store(nil)
		cn.mu.Unlock()

		cn.t.dials.Add(1)
		cn.t.log.Info("amqp connected", "server", cn.server)
		go cn.watch(c, gen)
		return c, gen, nil
	}
}

// watch follows a connection until it closes: it records the broker blocking publishers (a
// resource alarm) and, when the connection is lost, drops it and its channels so that the next
// Send redials.
func (cn *conn) watch(c *amqp091.Connection, gen uint64) {
	closes := c.NotifyClose(make(chan *amqp091.Error, 1))
	blocks := c.NotifyBlocked(make(chan amqp091.Blocking, 1))
	for {
		select {
		case b, ok := <-blocks:
			if !ok {
				blocks = nil
				continue
			}
			if b.Active {
				reason := b.Reason
				cn.blocked.Store(&reason)
				cn.t.log.Warn("amqp broker blocks publishing", "server", cn.server, "reason", b.Reason)
			} else {
				cn.blocked.Store(nil)
				cn.t.log.Info("amqp broker unblocked publishing", "server", cn.server)
			}
		case e := <-closes:
			cn.mu.Lock()
			if cn.gen == gen {
				cn.c = nil
				cn.idle = nil
				cn.declared = nil
			}
			cn.mu.Unlock()
			if e != nil {
				cn.t.log.Warn("amqp connection lost", "server", cn.server, "error", e.Error())
			}
			return
		}
	}
}

// take returns a confirm-mode channel: an idle one of the live generation, or a new one. It
// makes RPCs on the connection that ctx cannot interrupt, so it runs in the Send's worker
// goroutine (see Transport.Send).
func (cn *conn) take(c *amqp091.Connection, gen uint64) (*channel, error) {
	cn.mu.Lock()
	for len(cn.idle) > 0 {
		ch := cn.idle[len(cn.idle)-1]
		cn.idle = cn.idle[:len(cn.idle)-1]
		if ch.gen == gen && !ch.ch.IsClosed() {
			cn.mu.Unlock()
			return ch, nil
		}
		go ch.ch.Close()
	}
	cn.mu.Unlock()

	ac, err := c.Channel()
	if err != nil {
		return nil, err
	}
	if err := ac.Confirm(false); err != nil {
		go ac.Close()
		return nil, err
	}
	cn.t.channels.Add(1)
	return &channel{
		ch:      ac,
		gen:     gen,
		closes:  ac.NotifyClose(make(chan *amqp091.Error, 1)),
		returns: ac.NotifyReturn(make(chan amqp091.Return, 4)),
	}, nil
}

// put gives a channel back to the pool after a Send that ended cleanly, or closes it.
func (cn *conn) put(ch *channel, ok bool) {
	if ok && !ch.ch.IsClosed() {
		cn.mu.Lock()
		if ch.gen == cn.gen && cn.c != nil && len(cn.idle) < cn.t.maxIdle {
			cn.idle = append(cn.idle, ch)
			cn.mu.Unlock()
			return
		}
		cn.mu.Unlock()
	}
	// Close sends channel.close and waits for the broker's answer: never on the caller's path.
	go ch.ch.Close()
}

// isDeclared and markDeclared keep the queue declarations made on a connection generation.
func (cn *conn) isDeclared(gen uint64, key string) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.gen == gen && cn.declared[key]
}

func (cn *conn) markDeclared(gen uint64, key string, ok bool) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.gen == gen && cn.declared != nil {
		if ok {
			cn.declared[key] = true
		} else {
			delete(cn.declared, key)
		}
	}
}

// enter and leave count the Sends on a connection, so that an idle one can be closed.
func (cn *conn) enter() {
	cn.mu.Lock()
	cn.busy++
	cn.lastUsed = time.Now()
	cn.mu.Unlock()
}

func (cn *conn) leave() {
	cn.mu.Lock()
	cn.busy--
	cn.lastUsed = time.Now()
	cn.mu.Unlock()
}

// idleSince reports whether the connection has had no Send since before t.
func (cn *conn) idleSince(t time.Time) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.busy == 0 && cn.dialing == nil && cn.lastUsed.Before(t)
}

// close closes the connection (and so its channels), waiting at most until deadline for the
// broker's answer.
func (cn *conn) close(deadline time.Time) error {
	cn.mu.Lock()
	c := cn.c
	cn.c, cn.idle, cn.declared = nil, nil, nil
	cn.gen++ // channels still in use are closed when they come back
	cn.mu.Unlock()
	if c == nil || c.IsClosed() {
		return nil
	}
	cn.t.log.Debug("amqp closing connection", slog.String("server", cn.server))
	return c.CloseDeadline(deadline)
}
