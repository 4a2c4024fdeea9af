package mih

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an error for callers: the HTTP layer maps each code to a status in one table,
// the CLI maps it to an exit code. Adapters translate their driver errors into these codes.
type Code string

// Error codes.
const (
	CodeInvalid      Code = "invalid"      // bad input; the message says what and where
	CodeNotFound     Code = "not_found"    // the named thing does not exist
	CodeConflict     Code = "conflict"     // already exists, or a state that forbids the change
	CodeUnauthorized Code = "unauthorized" // no or bad credentials
	CodeForbidden    Code = "forbidden"    // credentials fine, action refused
	CodeTooLarge     Code = "too_large"    // a body over the configured limit
	CodeUnavailable  Code = "unavailable"  // a dependency is down or a circuit is open
	CodeInternal     Code = "internal"     // our own fault; logged, never detailed to users
	CodeCircuitOpen  Code = "circuit_open" // the gateway did not call because the circuit is open
	CodeConfirm      Code = "confirm"      // a destructive action that needs explicit confirmation
)

// Error is the one error type of the domain. Message is safe to show a user; Err is for logs.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted, user-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError builds an *Error that keeps the cause for the logs.
func WrapError(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode reports the code of the first *Error in err's chain, CodeInternal for any other error
// and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage reports the user-safe message of err. Internal errors never leak their text.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok && e.Code != CodeInternal {
		return e.Message
	}
	return "internal error"
}

// httpStatus is the one map from error codes to HTTP statuses, shared by the two front ends (the
// JSON API and the web UI). Nothing else in the hub picks a status for an error.
var httpStatus = map[Code]int{
	CodeInvalid:         http.StatusBadRequest,
	CodeUnauthorized:    http.StatusUnauthorized,
	CodeForbidden:       http.StatusForbidden,
	CodeNotFound:        http.StatusNotFound,
	CodeConflict:        http.StatusConflict,
	CodeConfirm:         http.StatusConflict,
	CodeSecretsRequired: http.StatusUnprocessableEntity,
	CodeTooLarge:        http.StatusRequestEntityTooLarge,
	CodeUnavailable:     http.StatusServiceUnavailable,
	CodeCircuitOpen:     http.StatusServiceUnavailable,
	CodeInternal:        http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status of a code, and false for a code the table does not know
// (answered as an internal error).
func (c Code) HTTPStatus() (int, bool) {
	s, ok := httpStatus[c]
	return s, ok
}
