package httpheader

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"

	"github.com/mihhub/mih"
)

// Classify turns an error of the HTTP client into a SendError, its message starting with prefix
// (say "fetching the WSDL: "). ctx is the call's context: its deadline makes a timeout whatever
// layer reported it. The message never carries the URL, whose query may hold credentials.
func Classify(ctx context.Context, err error, prefix string) *mih.SendError {
	cause := err
	if ue, ok := errors.AsType[*url.Error](err); ok {
		cause = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &mih.SendError{Code: mih.ErrTimeout, Message: prefix + "no answer within the timeout", Retryable: true, Err: cause}
	case errors.Is(err, context.Canceled):
		// The caller gave up (shutdown); say so, and let the caller decide what it means.
		return &mih.SendError{Code: mih.ErrNetwork, Message: prefix + "call canceled", Retryable: true, Err: context.Canceled}
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return &mih.SendError{Code: mih.ErrTimeout, Message: prefix + "no answer within the timeout", Retryable: true, Err: cause}
	}
	return &mih.SendError{Code: mih.ErrNetwork, Message: prefix + networkMessage(cause), Retryable: true, Err: cause}
}

// networkMessage describes a connection failure briefly, without addresses where it can.
func networkMessage(err error) string {
	var (
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &dnsErr):
		return "cannot resolve host " + dnsErr.Name
	case errors.As(err, &certErr):
		return "TLS certificate not trusted: " + certErr.Err.Error()
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "cannot connect: " + opErr.Err.Error()
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the server"
	}
	return err.Error()
}
