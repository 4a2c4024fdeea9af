package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Error codes of the hub's answers (its error table), and CodeUnexpectedResponse for answers
// the hub does not send.
const (
	CodeInvalid          = "invalid"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeTooLarge         = "too_large"
	CodeUnavailable      = "unavailable"
	CodeCircuitOpen      = "circuit_open"
	CodeInternal         = "internal"
	// CodeUnexpectedResponse is an answer that is not the hub's JSON: a proxy's error page, a
	// body cut short, a shape the client does not know.
	CodeUnexpectedResponse = "unexpected_response"
)

// Error is the hub refusing a request, or answering something the client cannot read. Check for
// it with errors.AsType[*client.Error].
type Error struct {
	// Status is the HTTP status of the answer.
	Status int
	// Code is the hub's error code (CodeNotFound, CodeCircuitOpen …).
	Code string
	// Message says what is wrong; it is safe to show.
	Message string
	// RequestID is the hub's X-Request-Id of the request, to quote when reporting a 500.
	RequestID string
	// RetryAfter is the hub's Retry-After (an open circuit's remaining cooldown), 0 when absent.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("mih: %d %s: %s", e.Status, e.Code, e.Message)
}

// IsCircuitOpen reports whether err is the hub saying it did not call the service because its
// circuit is open. Nothing was sent; try again after the error's RetryAfter.
func IsCircuitOpen(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Code == CodeCircuitOpen
}

// IsNotFound reports whether err is the hub saying the named service (or record) does not exist.
func IsNotFound(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Code == CodeNotFound
}

// hubError reads an error answer: the hub's {"error":{"code","message"}}, or anything else as
// CodeUnexpectedResponse with the start of its text.
func hubError(resp *http.Response, body []byte) *Error {
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code == "" {
		msg := fmt.Sprintf("the hub answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if s := snippet(body); s != "" {
			msg += ": " + s
		}
		return unexpected(resp, msg)
	}
	e := &Error{
		Status:    resp.StatusCode,
		Code:      eb.Error.Code,
		Message:   eb.Error.Message,
		RequestID: resp.Header.Get("X-Request-Id"),
	}
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func unexpected(resp *http.Response, msg string) *Error {
	return &Error{
		Status:    resp.StatusCode,
		Code:      CodeUnexpectedResponse,
		Message:   msg,
		RequestID: resp.Header.Get("X-Request-Id"),
	}
}

// snippet is the start of a body as one line of printable text, for an error message.
func snippet(b []byte) string {
	const n = 200
	s := strings.ToValidUTF8(string(b[:min(len(b), 4*n)]), "")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}
