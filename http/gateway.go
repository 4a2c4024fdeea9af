package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/ops"
)

// Bounds of a gateway request.
const (
	// DefaultGatewayTimeout bounds a synchronous call, every attempt and wait between attempts
	// included, when the request sets no timeout_s. Each attempt is also bounded by the
	// service's own timeout_s. Without an overall bound a service with many retries and long
	// backoffs would hold the caller's connection for hours.
	DefaultGatewayTimeout = 30 * time.Second
	// MaxGatewayTimeout is the largest timeout_s a request may ask for.
	MaxGatewayTimeout = 5 * time.Minute

	maxGatewayHeaders    = 64
	maxGatewayPath       = 2048
	maxIdempotencyKeyLen = 255
	// logWriteTimeout bounds the request-log write that follows a call; it runs even when the
	// caller has gone away, since the call was made.
	logWriteTimeout = 5 * time.Second
)

// GatewayLogSource marks the request-log entries of synchronous gateway calls.
const GatewayLogSource = "gateway"

// gatewayStore is the part of the store the gateway API uses.
type gatewayStore interface {
	FindServiceByName(ctx context.Context, name string) (*mih.Service, error)
}

// gatewayHandler serves POST /api/v1/gateway/{service}: a call to a registered service through
// the same retries and circuit breaker as the Event Bridge, synchronous or queued.
type gatewayHandler struct {
	store   gatewayStore
	gateway Gateway
	ops     *ops.Ops
	logger  *slog.Logger
}

// gatewayRequest is the body of a gateway call.
type gatewayRequest struct {
	// Path is appended to a REST service's base_url; for SOAP it names the operation, for AMQP
	// it overrides the routing key.
	Path string `json:"path"`
	// Method is GET, POST (the default), PUT, PATCH or DELETE; SOAP and AMQP ignore it.
	Method string `json:"method"`
	// Payload is any JSON (default {}); GET and DELETE send an object's fields as the query.
	Payload json.RawMessage `json:"payload"`
	// Headers are added to the service's own; credentials come from the service's auth.
	Headers map[string]string `json:"headers"`
	// Async queues the call as a delivery and answers 202 at once.
	Async bool `json:"async"`
	// TimeoutS bounds a synchronous call, retries included (default DefaultGatewayTimeout).
	TimeoutS *float64 `json:"timeout_s"`
}

// gatewayAnswer is the answer to a synchronous call that was made, whatever the service said.
type gatewayAnswer struct {
	OK bool `json:"ok"`
	// Status is the last attempt's HTTP status, 0 when no response came.
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	// Body is JSON when the service sent JSON (or SOAP, parsed), a string otherwise, null when
	// there was no body; BodyEncoding is "base64" when the body is not UTF-8 text.
	Body         any    `json:"body"`
	BodyEncoding string `json:"body_encoding,omitempty"`
	// BodyTruncated says the body was longer than the transport's limit and is cut (so never
	// JSON).
	BodyTruncated bool       `json:"body_truncated,omitempty"`
	Attempts      int        `json:"attempts"`
	LatencyMS     float64    `json:"latency_ms"`
	Error         *callError `json:"error,omitempty"`
}

// callError says why a call failed: a transport error code (http_error, timeout, network,
// soap_fault, amqp_nack, invalid_request) and a message safe to show.
type callError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// queuedAnswer is the answer to an asynchronous call.
type queuedAnswer struct {
	DeliveryID     int64  `json:"delivery_id"`
	IdempotencyKey string `json:"idempotency_key"`
}

// call serves one gateway request. The order of checks gives every fault its own status: 404
// for an unknown service, 400 for a bad request, 409 for a disabled service (synchronous only),
// 503 circuit_open when the breaker refused without calling; once a call was made, 200.
func (h *gatewayHandler) call(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	svc, err := h.store.FindServiceByName(ctx, r.PathValue("service"))
	if err != nil {
		return err
	}
	var body gatewayRequest
	if err := decodeJSON(r, &body, false); err != nil {
		return err
	}
	key, err := idempotencyKey(r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	req, err := body.request(svc, key)
	if err != nil {
		return err
	}
	if body.Async {
		return h.enqueue(w, r, svc, req)
	}

	if !svc.Enabled {
		return mih.Errorf(mih.CodeConflict, "service %q is disabled; enable it to call it (asynchronous calls are accepted and wait)", svc.Name)
	}
	if h.gateway == nil {
		return mih.Errorf(mih.CodeUnavailable, "the gateway is not running in this process")
	}
	timeout := DefaultGatewayTimeout
	if body.TimeoutS != nil {
		timeout = time.Duration(*body.TimeoutS * float64(time.Second))
	}
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := h.gateway.Do(callCtx, svc, req)
	if err != nil {
		return h.notCalled(w, svc, err)
	}
	h.writeLog(ctx, svc, req, res)
	writeJSON(w, http.StatusOK, answer(svc, res))
	return nil
}

// notCalled turns the error of a call that was never made into the API's answer: circuit_open
// (503, with Retry-After), a request the transport cannot build (400), or the error as it is.
func (h *gatewayHandler) notCalled(w http.ResponseWriter, svc *mih.Service, err error) error {
	if mih.ErrorCode(err) == mih.CodeCircuitOpen {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(svc, err)))
		return err
	}
	if se, ok := errors.AsType[*mih.SendError](err); ok && se.Code == mih.ErrRequest {
		return mih.WrapError(mih.CodeInvalid, se, "%s", se.Message)
	}
	return err
}

// retryAfterer is what a circuit breaker's refusal may offer: how long until it lets a call
// through again.
type retryAfterer interface {
	error
	RetryAfter() time.Duration
}

// retryAfterSeconds is the Retry-After of a circuit_open answer: what the refusal says when it
// says it, else the service's cooldown, which an open circuit never outlasts before it lets a
// probe through. At least one second.
func retryAfterSeconds(svc *mih.Service, err error) int {
	d := time.Duration(svc.Circuit.CooldownS * float64(time.Second))
	if ra, ok := errors.AsType[retryAfterer](err); ok && ra.RetryAfter() > 0 {
		d = ra.RetryAfter()
	}
	return max(1, int(math.Ceil(d.Seconds())))
}

// enqueue stores an asynchronous call as a delivery without an event; the delivery workers send
// it with the same retries and circuit breaker. A disabled service takes it too: its deliveries
// wait, paused, until it is enabled.
func (h *gatewayHandler) enqueue(w http.ResponseWriter, r *http.Request, svc *mih.Service, req *mih.Request) error {
	if name := credentialHeader(svc, req.Headers); name != "" {
		return mih.Errorf(mih.CodeInvalid,
			"headers: %s carries a credential; an asynchronous call is stored until it is sent, so credentials belong in the service's auth", name)
	}
	d := &mih.Delivery{
		Service:        svc.Name,
		State:          mih.DeliveryPending,
		Method:         req.Method,
		Endpoint:       req.Path,
		Headers:        req.Headers,
		Payload:        req.Body,
		IdempotencyKey: req.IdempotencyKey,
	}
	if err := h.ops.Enqueue(r.Context(), d); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/deliveries/"+strconv.FormatInt(d.ID, 10))
	writeJSON(w, http.StatusAccepted, queuedAnswer{DeliveryID: d.ID, IdempotencyKey: d.IdempotencyKey})
	return nil
}

// credentialHeaders are header names that carry credentials whatever the service.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "X-Api-Key", "Cookie"}

// credentialHeader returns the first header of hs that carries a credential, "" when none does.
func credentialHeader(svc *mih.Service, hs map[string]string) string {
	for _, k := range slices.Sorted(maps.Keys(hs)) {
		ck := http.CanonicalHeaderKey(k)
		if slices.Contains(credentialHeaders, ck) || svc.Auth.Type == mih.AuthHeader && ck == http.CanonicalHeaderKey(svc.Auth.Name) {
			return k
		}
	}
	return ""
}

// writeLog records every attempt of a call in the request log, in one write. The call was made
// whatever happens here, so a failure is logged rather than turned into an error answer, and
// the write goes on when the caller has gone away.
func (h *gatewayHandler) writeLog(ctx context.Context, svc *mih.Service, req *mih.Request, res *gateway.Result) {
	if len(res.Tries) == 0 {
		return
	}
	entries := make([]*mih.LogEntry, len(res.Tries))
	for i, t := range res.Tries {
		entries[i] = &mih.LogEntry{
			Time:      t.Start.Add(t.Latency),
			Service:   svc.Name,
			Endpoint:  req.Path,
			Method:    req.Method,
			Status:    t.Status,
			LatencyMS: float64(t.Latency) / float64(time.Millisecond),
			Attempts:  t.N,
			Success:   t.Err == nil,
			Error:     errorText(t.Err),
			Source:    GatewayLogSource,
		}
	}
	logCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logWriteTimeout)
	defer cancel()
	if err := h.ops.RecordCalls(logCtx, entries); err != nil {
		h.logger.LogAttrs(ctx, slog.LevelError, "write gateway request log",
			slog.String("request_id", RequestID(ctx)),
			slog.String("service", svc.Name),
			slog.Int("entries", len(entries)),
			slog.String("err", err.Error()))
	}
}

// errorText is a call's error as the request log keeps it: a SendError's text is built by the
// transports from safe parts; anything else is reduced to its user-safe message.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	if se, ok := errors.AsType[*mih.SendError](err); ok {
		return se.Error()
	}
	return mih.ErrorMessage(err)
}

// answer builds the API's answer from the outcome of a call that was made.
func answer(svc *mih.Service, res *gateway.Result) gatewayAnswer {
	a := gatewayAnswer{
		OK:        res.OK(),
		Headers:   map[string]string{},
		Attempts:  res.Attempts,
		LatencyMS: float64(res.Latency) / float64(time.Millisecond),
	}
	if resp := res.Response; resp != nil {
		a.Status = resp.Status
		for k, v := range resp.Headers {
			a.Headers[k] = strings.Join(v, ", ")
		}
		a.Body, a.BodyEncoding = answerBody(svc, resp)
		a.BodyTruncated = resp.Truncated
	}
	if res.Err != nil {
		a.Error = &callError{Code: string(mih.CodeInternal), Message: mih.ErrorMessage(res.Err)}
		if se, ok := errors.AsType[*mih.SendError](res.Err); ok {
			a.Error = &callError{Code: se.Code, Message: se.Message}
			if a.Status == 0 {
				a.Status = se.Status
			}
		} else if e, ok := errors.AsType[*mih.Error](res.Err); ok {
			a.Error.Code = string(e.Code)
		}
	}
	return a
}

// answerBody returns the response body as the answer carries it: JSON as JSON when the service
// sent JSON (a REST service saying so in Content-Type, or a SOAP or AMQP transport, which
// hand over JSON already), text as a string, anything else base64-encoded; nil for no body.
func answerBody(svc *mih.Service, resp *mih.Response) (any, string) {
	b := resp.Body
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, ""
	}
	isJSON := svc.Type != mih.ServiceREST || jsonMediaType(resp.Headers.Get("Content-Type"))
	if isJSON && json.Valid(b) {
		return json.RawMessage(b), ""
	}
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// jsonMediaType reports whether a Content-Type names JSON: application/json or any +json type.
func jsonMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// gatewayMethods are the methods a call may use, as for rules.
var gatewayMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// hubHeaders are headers that frame or route the request: the transport sets them, a caller
// may not.
var hubHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
	"Te", "Trailer", "Upgrade", "Proxy-Connection"}

// request checks a gateway request against its service and builds the transport request. Every
// fault is a 400 naming the field; an asynchronous call is checked as strictly as a synchronous
// one, so that it cannot end in the DLQ for a fault visible now.
func (g *gatewayRequest) request(svc *mih.Service, key string) (*mih.Request, error) {
	method := strings.ToUpper(strings.TrimSpace(g.Method))
	if method == "" {
		method = http.MethodPost
	}
	if !slices.Contains(gatewayMethods, method) {
		return nil, mih.Errorf(mih.CodeInvalid, "method %q: want GET, POST, PUT, PATCH or DELETE", g.Method)
	}
	if err := checkPath(svc.Type, g.Path); err != nil {
		return nil, err
	}
	if err := checkHeaders(g.Headers); err != nil {
		return nil, err
	}
	payload := g.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	if err := checkPayload(svc.Type, method, payload); err != nil {
		return nil, err
	}
	if g.TimeoutS != nil && (*g.TimeoutS <= 0 || *g.TimeoutS > MaxGatewayTimeout.Seconds()) {
		return nil, mih.Errorf(mih.CodeInvalid, "timeout_s: want more than 0 and at most %g", MaxGatewayTimeout.Seconds())
	}
	if g.Async && g.TimeoutS != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "timeout_s: only synchronous calls take one; an asynchronous call follows the service's retries")
	}
	return &mih.Request{Method: method, Path: g.Path, Headers: g.Headers, Body: payload, IdempotencyKey: key}, nil
}

// checkPath refuses control characters, and for REST services ".." segments (escaped or not):
// a call stays under the service's base_url. A SOAP call must name its operation.
func checkPath(t mih.ServiceType, p string) error {
	if len(p) > maxGatewayPath {
		return mih.Errorf(mih.CodeInvalid, "path: longer than %d bytes", maxGatewayPath)
	}
	if i := strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		return mih.Errorf(mih.CodeInvalid, "path: control character at byte %d", i)
	}
	switch t {
	case mih.ServiceREST:
		raw, _, _ := strings.Cut(p, "?")
		raw, _, _ = strings.Cut(raw, "#")
		dec, err := url.PathUnescape(raw)
		if err != nil {
			return mih.Errorf(mih.CodeInvalid, "path %q: not a valid URL path", p)
		}
		for seg := range strings.FieldsFuncSeq(dec, func(r rune) bool { return r == '/' || r == '\\' }) {
			if seg == ".." {
				return mih.Errorf(mih.CodeInvalid, "path %q: \"..\" segments are not allowed; a call stays under the service's base_url", p)
			}
		}
	case mih.ServiceSOAP:
		if strings.TrimSpace(p) == "" {
			return mih.Errorf(mih.CodeInvalid, "path: required for a SOAP service: the operation to call")
		}
	}
	return nil
}

// checkHeaders refuses header names that are not HTTP tokens, values with line breaks, and the
// headers that frame the request.
func checkHeaders(hs map[string]string) error {
	if len(hs) > maxGatewayHeaders {
		return mih.Errorf(mih.CodeInvalid, "headers: at most %d", maxGatewayHeaders)
	}
	for _, k := range slices.Sorted(maps.Keys(hs)) {
		if !validHeaderName(k) {
			return mih.Errorf(mih.CodeInvalid, "headers: %q is not a valid header name", k)
		}
		if strings.ContainsAny(hs[k], "\r\n\x00") {
			return mih.Errorf(mih.CodeInvalid, "headers: the value of %s contains a line break or NUL", k)
		}
		if slices.Contains(hubHeaders, http.CanonicalHeaderKey(k)) {
			return mih.Errorf(mih.CodeInvalid, "headers: %s is set by the hub", k)
		}
	}
	return nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// checkPayload refuses payloads the transport could never send: a REST GET or DELETE carries an
// object's fields in the query, and a SOAP request element is built from an object.
func checkPayload(t mih.ServiceType, method string, p json.RawMessage) error {
	needObject := t == mih.ServiceSOAP || t == mih.ServiceREST && (method == http.MethodGet || method == http.MethodDelete)
	if !needObject {
		return nil
	}
	b := bytes.TrimSpace(p)
	if string(b) == "null" || len(b) > 0 && b[0] == '{' {
		return nil
	}
	if t == mih.ServiceSOAP {
		return mih.Errorf(mih.CodeInvalid, "payload: a SOAP call takes a JSON object (the request element's children)")
	}
	return mih.Errorf(mih.CodeInvalid, "payload: a %s carries its payload in the query string, so it must be a JSON object", method)
}

// idempotencyKey returns the client's Idempotency-Key, or a fresh random one. Every attempt of
// a call carries the same key, so a receiver can drop the duplicate of a retried call.
func idempotencyKey(h string) (string, error) {
	if h == "" {
		return newKey(), nil
	}
	if len(h) > maxIdempotencyKeyLen {
		return "", mih.Errorf(mih.CodeInvalid, "Idempotency-Key: longer than %d characters", maxIdempotencyKeyLen)
	}
	for i := 0; i < len(h); i++ {
		if h[i] <= ' ' || h[i] > '~' {
			return "", mih.Errorf(mih.CodeInvalid, "Idempotency-Key: want printable ASCII without spaces")
		}
	}
	return h, nil
}

// newKey returns a random UUID (version 4).
func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
