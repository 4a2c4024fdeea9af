package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Call is a gateway call being built: Send(service), then To, With, Method, Header,
// IdempotencyKey and Timeout in any order, then Do (or Async().Do). A Call is not safe for
// concurrent use; build one per call.
type Call struct {
	c       *Client
	service string
	path    string
	method  string
	payload any
	headers map[string]string
	key     string
	timeout time.Duration
}

// Send starts a call to the service registered in the hub under this name.
func (c *Client) Send(service string) *Call {
	return &Call{c: c, service: service}
}

// To sets the path: appended to a REST service's base URL (a query string may follow), the
// operation of a SOAP service, the routing key of an AMQP one.
func (b *Call) To(path string) *Call { b.path = path; return b }

// With sets the payload: any value that encodes to JSON; json.RawMessage and []byte are sent as
// they are. Without it the hub sends {}.
func (b *Call) With(payload any) *Call { b.payload = payload; return b }

// Method sets the HTTP method: GET, POST (the default), PUT, PATCH or DELETE. GET and DELETE
// send the payload's fields as the query string.
func (b *Call) Method(method string) *Call { b.method = method; return b }

// Header adds a header to the request, beside the service's own headers and credentials.
func (b *Call) Header(name, value string) *Call {
	if b.headers == nil {
		b.headers = map[string]string{}
	}
	b.headers[name] = value
	return b
}

// IdempotencyKey sets the key every attempt carries as Idempotency-Key, so that the service
// can drop a duplicate; without it the hub makes up a fresh one per call.
func (b *Call) IdempotencyKey(key string) *Call { b.key = key; return b }

// Timeout bounds the whole synchronous call in the hub, retries and the waits between them
// included (the hub's default is 30 s, its maximum 5 min); each attempt is also bounded by the
// service's own timeout. The ctx given to Do bounds the wait on the client's side.
func (b *Call) Timeout(d time.Duration) *Call { b.timeout = d; return b }

// gatewayRequest is the body of POST /api/v1/gateway/{service}.
type gatewayRequest struct {
	Path     string            `json:"path,omitempty"`
	Method   string            `json:"method,omitempty"`
	Payload  json.RawMessage   `json:"payload,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Async    bool              `json:"async,omitempty"`
	TimeoutS float64           `json:"timeout_s,omitempty"`
}

// send posts the call and decodes the answer into out when the status is ok.
func (b *Call) send(ctx context.Context, async bool, out any, ok int) error {
	if b.service == "" {
		return errors.New("mih client: no service to call")
	}
	req := gatewayRequest{Path: b.path, Method: b.method, Headers: b.headers, Async: async}
	if b.payload != nil {
		p, err := encodeJSON(b.payload)
		if err != nil {
			return fmt.Errorf("mih client: payload: %w", err)
		}
		req.Payload = p
	}
	if !async && b.timeout > 0 {
		req.TimeoutS = b.timeout.Seconds()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("mih client: encode the call: %w", err)
	}
	var h http.Header
	if b.key != "" {
		h = http.Header{"Idempotency-Key": {b.key}}
	}
	return b.c.post(ctx, "/api/v1/gateway/"+url.PathEscape(b.service), body, h, out, ok)
}

// Do makes the call and waits for its outcome. The error is nil whenever the hub made the call,
// whatever the service answered (see Response); it is an *Error when the hub refused (unknown
// or disabled service, open circuit, bad request), and another error when the hub could not be
// reached or ctx ended.
func (b *Call) Do(ctx context.Context) (*Response, error) {
	var w wireResponse
	if err := b.send(ctx, false, &w, http.StatusOK); err != nil {
		return nil, err
	}
	if w.OK == nil || w.Attempts < 1 {
		return nil, &Error{Status: http.StatusOK, Code: CodeUnexpectedResponse, Message: "the answer is not a gateway outcome (no ok or attempts)"}
	}
	r := &Response{
		OK:           *w.OK,
		Status:       w.Status,
		Headers:      make(http.Header, len(w.Headers)),
		BodyEncoding: w.BodyEncoding,
		Attempts:     w.Attempts,
		Latency:      time.Duration(w.LatencyMS * float64(time.Millisecond)),
		Err:          w.Error,
	}
	for k, v := range w.Headers {
		r.Headers.Set(k, v)
	}
	if b := bytes.TrimSpace(w.Body); len(b) > 0 && string(b) != "null" {
		r.Body = w.Body
	}
	return r, nil
}

// Async turns the call into a queued one: the hub stores it as a delivery and its workers send
// it with the same retries and circuit breaker. Timeout does not apply.
func (b *Call) Async() *AsyncCall { return &AsyncCall{call: b} }

// AsyncCall is a call to be queued.
type AsyncCall struct{ call *Call }

// Queued is a call the hub has stored as a delivery; GET /api/v1/deliveries/{id} follows it.
type Queued struct {
	DeliveryID     int64  `json:"delivery_id"`
	IdempotencyKey string `json:"idempotency_key"`
}

// Do queues the call and returns once the hub has stored it. A disabled service takes it too:
// the delivery waits until the service is enabled.
func (a *AsyncCall) Do(ctx context.Context) (*Queued, error) {
	var q Queued
	if err := a.call.send(ctx, true, &q, http.StatusAccepted); err != nil {
		return nil, err
	}
	if q.DeliveryID == 0 {
		return nil, &Error{Status: http.StatusAccepted, Code: CodeUnexpectedResponse, Message: "the answer names no delivery"}
	}
	return &q, nil
}

// wireResponse is the hub's answer to a synchronous call.
type wireResponse struct {
	OK           *bool             `json:"ok"`
	Status       int               `json:"status"`
	Headers      map[string]string `json:"headers"`
	Body         json.RawMessage   `json:"body"`
	BodyEncoding string            `json:"body_encoding"`
	Attempts     int               `json:"attempts"`
	LatencyMS    float64           `json:"latency_ms"`
	Error        *CallError        `json:"error"`
}

// Response is the outcome of a call the hub made.
type Response struct {
	// OK reports whether the last attempt succeeded.
	OK bool
	// Status is the last attempt's HTTP status, 0 when no response came (timeout, network).
	Status int
	// Headers are the service's response headers.
	Headers http.Header
	// Body is the service's answer as JSON: its JSON (a SOAP body parsed to JSON), or a JSON
	// string holding its text; nil when it sent no body. With BodyEncoding "base64" it is a
	// JSON string of the base64 of a body that was not text.
	Body         json.RawMessage
	BodyEncoding string
	// Attempts is how many tries the hub made; Latency the time from the first to the outcome.
	Attempts int
	Latency  time.Duration
	// Err says why the call failed; nil when OK.
	Err *CallError
}

// CallError is why a call failed: Code is http_error, timeout, network, soap_fault, amqp_nack or
// invalid_request; Message says more.
type CallError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *CallError) Error() string { return e.Code + ": " + e.Message }

// Failure returns the call's failure as an error, nil when it succeeded. Use it rather than
// assigning Err to an error variable, which would not be nil when Err is.
func (r *Response) Failure() error {
	if r.Err == nil {
		return nil
	}
	return r.Err
}

// Decode reads the body's JSON into v.
func (r *Response) Decode(v any) error {
	if len(r.Body) == 0 {
		return errors.New("mih client: the response has no body")
	}
	if r.BodyEncoding != "" {
		return fmt.Errorf("mih client: the body is %s-encoded binary, not JSON; use Bytes", r.BodyEncoding)
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("mih client: decode the body: %w", err)
	}
	return nil
}

// Bytes returns the body as the service sent it: the text of a text body, the decoded bytes of
// a binary one, the JSON of a JSON one (as the hub re-encoded it: same value, possibly other
// spacing); nil when there was none.
func (r *Response) Bytes() ([]byte, error) {
	b := bytes.TrimSpace(r.Body)
	if len(b) == 0 {
		return nil, nil
	}
	if b[0] != '"' {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("mih client: decode the body: %w", err)
	}
	if r.BodyEncoding == "base64" {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("mih client: decode the base64 body: %w", err)
		}
		return raw, nil
	}
	return []byte(s), nil
}

// Text is Bytes as a string, "" when the body cannot be read.
func (r *Response) Text() string {
	b, _ := r.Bytes()
	return string(b)
}
