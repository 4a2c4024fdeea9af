package amqp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/mihhub/mih"
)

// AMQP reply codes used as Response.Status and SendError.Status (AMQP 0-9-1 section 1.4.2;
// they were chosen to echo HTTP's).
const (
	StatusOK      = 200 // reply-success: the broker confirmed the publish
	StatusNoRoute = 312 // no-route: a mandatory message matched no queue
)

// classify turns an error of the client library or the network into a *mih.SendError. ctx is the
// context the failing step ran under: its deadline makes a timeout whatever layer reported it.
// what names the step ("connect", "publish") for the message.
func classify(ctx context.Context, err error, what string) *mih.SendError {
	if se, ok := errors.AsType[*mih.SendError](err); ok {
		return se
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &mih.SendError{Code: mih.ErrTimeout, Message: what + ": no answer from the broker within the timeout", Retryable: true, Err: err}
	case errors.Is(err, context.Canceled):
		// The caller gave up (shutdown); say so, and let the caller decide what it means.
		return &mih.SendError{Code: mih.ErrNetwork, Message: "call canceled", Retryable: true, Err: context.Canceled}
	}
	if ae, ok := errors.AsType[*amqp091.Error](err); ok {
		return brokerError(ae, what)
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return &mih.SendError{Code: mih.ErrTimeout, Message: what + ": no answer from the broker within the timeout", Retryable: true, Err: err}
	}
	return &mih.SendError{Code: mih.ErrNetwork, Message: what + ": " + networkMessage(err), Retryable: true, Err: err}
}

// brokerError classifies an AMQP exception. The broker's own refusals that no retry can cure
// (access refused, not found, precondition failed, not allowed, content too large) are final
// amqp_nack errors with the reply code as Status: the service's configuration or the broker's
// topology must change first. Everything else (the broker closing the connection as it shuts
// down, a dead connection, a channel error of the library) is a retryable network error.
func brokerError(ae *amqp091.Error, what string) *mih.SendError {
	if !ae.Server {
		switch ae {
		case amqp091.ErrSASL:
			return &mih.SendError{Code: mih.ErrAMQPNack, Message: what + ": the broker offers no PLAIN authentication", Status: amqp091.AccessRefused, Err: ae}
		case amqp091.ErrCredentials, amqp091.ErrVhost:
			// dial confirmed it by a second attempt (see Transport.dial).
			return &mih.SendError{Code: mih.ErrAMQPNack, Message: what + ": access refused: " + ae.Reason, Status: amqp091.AccessRefused, Err: ae}
		}
		return &mih.SendError{Code: mih.ErrNetwork, Message: what + ": connection to the broker lost (" + ae.Reason + ")", Retryable: true, Err: ae}
	}
	e := &mih.SendError{Code: mih.ErrAMQPNack, Status: ae.Code, Err: ae}
	switch ae.Code {
	case amqp091.AccessRefused:
		e.Message = what + ": access refused: " + ae.Reason
	case amqp091.NotFound:
		e.Message = what + ": not found: " + ae.Reason
	case amqp091.PreconditionFailed:
		e.Message = what + ": precondition failed (a queue or exchange exists with other settings): " + ae.Reason
	case amqp091.NotAllowed:
		e.Message = what + ": not allowed: " + ae.Reason
	case amqp091.ContentTooLarge:
		e.Message = what + ": message too large for the broker: " + ae.Reason
	case amqp091.ResourceLocked:
		e.Message, e.Retryable = what+": resource locked: "+ae.Reason, true
	default:
		e.Code, e.Retryable = mih.ErrNetwork, true
		e.Message = fmt.Sprintf("%s: the broker closed the connection or channel: %s", what, ae.Reason)
	}
	return e
}

// networkMessage describes a connection failure briefly.
func networkMessage(err error) string {
	var (
		opErr   *net.OpError
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &dnsErr):
		return "cannot resolve host " + dnsErr.Name
	case errors.As(err, &certErr):
		return "TLS certificate not trusted: " + certErr.Err.Error()
	case errors.As(err, &opErr) && opErr.Op == "dial":
		if sc, ok := errors.AsType[*os.SyscallError](opErr.Err); ok {
			return "cannot connect: " + sc.Err.Error()
		}
		return "cannot connect: " + opErr.Err.Error()
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the broker"
	}
	return err.Error()
}
