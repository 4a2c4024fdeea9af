package mih

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Request is one call to a service, independent of its transport.
type Request struct {
	Method         string
	Path           string // REST: appended to base_url; SOAP: operation; AMQP: routing key
	Headers        map[string]string
	Body           json.RawMessage
	IdempotencyKey string
}

// Response is what a transport got back. Transports return it alongside an error when the
// service answered with a failure, so that the status and body are kept for the log and the DLQ.
type Response struct {
	Status         int
	Headers        http.Header
	Body           []byte
	Truncated      bool // Body was cut at the transport's limit
	Latency        time.Duration
	URL            string            // where the request went, without credentials
	RequestHeaders map[string]string // as sent, secrets masked
}

// Transport sends requests of one service type. Send must honour ctx's deadline.
type Transport interface {
	Send(ctx context.Context, s *Service, r *Request) (*Response, error)
}

// Transport error codes, as the gateway API reports them.
const (
	ErrHTTP      = "http_error"
	ErrTimeout   = "timeout"
	ErrNetwork   = "network"
	ErrSOAPFault = "soap_fault"
	ErrAMQPNack  = "amqp_nack"
	ErrRequest   = "invalid_request" // the request cannot be built or sent as given
	ErrPayload   = "payload"         // the payload cannot be rendered
	ErrEnrich    = "enrichment"      // a Moodle lookup for the payload failed (retried)
	ErrSkipped   = "skipped"         // the rule's format does not wrap the event: nothing to send
)

// SendError is a failed call, classified once by the transport so that retries, the circuit
// breaker and the DLQ agree on what it means.
type SendError struct {
	Code       string
	Message    string
	Status     int
	Retryable  bool
	RetryAfter time.Duration // from Retry-After on 429/503, zero when absent
	Err        error
}

func (e *SendError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: %s (status %d)", e.Code, e.Message, e.Status)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *SendError) Unwrap() error { return e.Err }

// RetryableStatus reports whether an HTTP status is worth another attempt:
// 408, 425, 429 and every 5xx.
func RetryableStatus(code int) bool {
	return code == 408 || code == 425 || code == 429 || code >= 500
}

// Levels of a CheckResult.
const (
	CheckOK   = "ok"
	CheckWarn = "warn"
	CheckBad  = "bad"
)

// CheckResult is what a connection test of a service found, worded for the administrator. It
// never quotes a secret of the service.
type CheckResult struct {
	Level   string // CheckOK, CheckWarn or CheckBad
	Summary string
	Detail  string
	Status  int           // the status of the answer, when a request was made
	Latency time.Duration // zero when nothing answered
	Body    string        // an excerpt of the answer
}

// Checker is what a transport may offer to test a service's connection: found by interface
// assertion, asked by the "Test connection" of the UI instead of a plain call. A check must not
// deliver anything a consumer would see (an AMQP check connects and looks, it does not publish).
type Checker interface {
	Check(ctx context.Context, s *Service) CheckResult
}
