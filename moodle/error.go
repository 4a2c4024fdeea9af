package moodle

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mihhub/mih"
)

// Kind says how a call failed.
type Kind string

// Kinds of failure.
const (
	KindException Kind = "exception"  // Moodle answered with an exception (HTTP 200, JSON body)
	KindHTTP      Kind = "http"       // a status other than 200, redirects included
	KindTimeout   Kind = "timeout"    // no complete answer within the timeout
	KindNetwork   Kind = "network"    // no answer at all: connection refused or reset, DNS, TLS, canceled
	KindTooLarge  Kind = "too_large"  // an answer over Options.MaxResponseBytes
	KindBadAnswer Kind = "bad_answer" // HTTP 200 but not JSON: HTML, XML, empty
	KindDecode    Kind = "decode"     // JSON that does not fit the expected result
	KindRequest   Kind = "request"    // the call could not be built; nothing was sent
)

// Moodle error codes a caller may want to tell apart. Moodle has many more; Error.ErrorCode
// carries whichever it sent.
const (
	CodeInvalidToken        = "invalidtoken"
	CodeAccessException     = "accessexception"
	CodeInvalidParameter    = "invalidparameter"
	CodeInvalidRecord       = "invalidrecord"
	CodeNoInstance          = "wsnoinstance"
	CodeUserCannotAssign    = "wsusercannotassign"
	CodeShortNameTaken      = "shortnametaken"
	CodeCourseIDNumberTaken = "courseidnumbertaken"
	CodeSiteMaintenance     = "sitemaintenance"
	// CodeMessageNotSent is the errorcode of the exception a message that could not be sent
	// raises (a welcome e-mail on a site whose mail fails), after the enrolment was committed.
	CodeMessageNotSent = "Message was not sent."
)

// transientCodes are exceptions that say "not now" rather than "never": the site is in
// maintenance or upgrading, or its database failed for a moment.
var transientCodes = map[string]bool{
	CodeSiteMaintenance: true, "upgraderunning": true, "dmlreadexception": true,
	"dmlwriteexception": true, "dbconnectionfailed": true, "dmltransactionexception": true,
}

var forbiddenCodes = map[string]bool{
	CodeAccessException: true, "nopermissions": true, "requireloginerror": true,
	CodeUserCannotAssign: true, "restrictedcontextexception": true, "wscannotenrol": true,
	"wscannotunenrol": true, "servicerequireslogin": true, "usernotfullysetup": true,
}

var conflictCodes = map[string]bool{
	CodeShortNameTaken: true, CodeCourseIDNumberTaken: true, "usernameexists": true,
	"idnumbertaken": true, "categoryidnumbertaken": true,
}

// Error is a failed web service call. Every method of Client returns one (or a *BatchError
// of them) when a call fails; Kind says how. Nothing in it carries the token: Moodle's text
// is scrubbed of it before it gets here.
//
// Besides its own fields, an Error unwraps to a *mih.Error whose code classifies it for the
// rest of the hub (see mih.ErrorCode): CodeUnavailable for what may succeed later (network,
// timeout, 5xx, 429, HTML instead of JSON, maintenance), CodeUnauthorized for a refused
// token, CodeForbidden for a function or action the token may not use, CodeConflict for a
// short name or ID number already taken, CodeTooLarge, and CodeInvalid for the rest.
type Error struct {
	Function  string // the wsfunction called
	Kind      Kind
	Exception string // Moodle's exception class, like moodle_exception (KindException)
	ErrorCode string // Moodle's errorcode, like invalidtoken (KindException)
	Message   string // Moodle's message, or what went wrong
	DebugInfo string // Moodle's debuginfo, sent only when the site has debugging on
	Status    int    // the HTTP status, 0 without an answer
	Err       error  // the cause, for errors.Is (context.DeadlineExceeded, …)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("moodle")
	if e.Function != "" {
		b.WriteString(" ")
		b.WriteString(e.Function)
	}
	b.WriteString(": ")
	switch e.Kind {
	case KindException:
		fmt.Fprintf(&b, "%s: %s", e.ErrorCode, e.Message)
		if e.DebugInfo != "" {
			fmt.Fprintf(&b, " (%s)", e.DebugInfo)
		}
	case KindHTTP:
		fmt.Fprintf(&b, "HTTP %d %s", e.Status, http.StatusText(e.Status))
		if e.Message != "" {
			fmt.Fprintf(&b, ": %s", e.Message)
		}
	default:
		b.WriteString(e.Message)
	}
	if e.Err != nil && e.Kind != KindException {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the cause and the error's classification as a *mih.Error.
func (e *Error) Unwrap() []error {
	c := &mih.Error{Code: e.MihCode(), Message: e.safeMessage()}
	if e.Err != nil {
		return []error{e.Err, c}
	}
	return []error{c}
}

// Code returns Moodle's errorcode ("" when Moodle sent no exception).
func (e *Error) Code() string { return e.ErrorCode }

// Retryable reports whether the same call may succeed later: network failures, timeouts,
// 408/425/429/5xx, answers that are not JSON (Moodle answers HTML while it upgrades or after a
// PHP fatal error), and the exceptions that mean "not now" (maintenance, database errors).
// Everything else — a refused token, a function the token may not use, invalid parameters,
// a record that does not exist — fails again until someone changes something.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case KindTimeout, KindNetwork, KindBadAnswer:
		return true
	case KindHTTP:
		return mih.RetryableStatus(e.Status)
	case KindException:
		return transientCodes[e.ErrorCode]
	}
	return false
}

// MihCode classifies the error for the hub; see Error.
func (e *Error) MihCode() mih.Code {
	switch {
	case e.Retryable():
		return mih.CodeUnavailable
	case e.Kind == KindTooLarge:
		return mih.CodeTooLarge
	case e.Kind == KindException && e.ErrorCode == CodeInvalidToken,
		e.Kind == KindHTTP && e.Status == http.StatusUnauthorized:
		return mih.CodeUnauthorized
	case e.Kind == KindException && forbiddenCodes[e.ErrorCode],
		e.Kind == KindHTTP && e.Status == http.StatusForbidden:
		return mih.CodeForbidden
	case e.Kind == KindException && conflictCodes[e.ErrorCode]:
		return mih.CodeConflict
	}
	return mih.CodeInvalid
}

// safeMessage is the text shown to an administrator: Moodle's message and code, or what went
// wrong, without debug details.
func (e *Error) safeMessage() string {
	switch e.Kind {
	case KindException:
		return fmt.Sprintf("Moodle %s: %s (%s)", e.Function, e.Message, e.ErrorCode)
	case KindHTTP:
		msg := fmt.Sprintf("Moodle %s: HTTP %d %s", e.Function, e.Status, http.StatusText(e.Status))
		if e.Message != "" {
			msg += ": " + e.Message
		}
		return msg
	}
	return fmt.Sprintf("Moodle %s: %s", e.Function, e.Message)
}

// ErrorCode returns Moodle's errorcode of the first *Error in err's chain, "" when there is
// none or Moodle sent no exception.
func ErrorCode(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.ErrorCode
	}
	return ""
}

// IsInvalidToken reports whether Moodle refused the token (unknown, expired, or restricted to
// other addresses).
func IsInvalidToken(err error) bool { return ErrorCode(err) == CodeInvalidToken }

// IsAccessException reports whether the token's external service does not list the function,
// or the token's user may not use it.
func IsAccessException(err error) bool { return ErrorCode(err) == CodeAccessException }

// Retryable reports whether err is a failed call that may succeed later; see Error.Retryable.
// It is false for nil and for errors that are not from a call.
func Retryable(err error) bool {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Retryable()
	}
	return false
}

// BatchError reports the items of a batched call that Moodle refused one by one, while the
// other items went through; see the package documentation on batches.
type BatchError struct {
	Function string
	Items    []ItemError // in input order
}

// ItemError is one refused item: its index in the caller's slice and Moodle's error.
type ItemError struct {
	Index int
	Err   *Error
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "moodle %s: %d item(s) refused", e.Function, len(e.Items))
	for i, it := range e.Items {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Items)-3)
			break
		}
		fmt.Fprintf(&b, "; #%d: %s: %s", it.Index, it.Err.ErrorCode, it.Err.Message)
	}
	return b.String()
}

// Unwrap returns the items' errors, so that errors.AsType finds the first of them.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Items))
	for i, it := range e.Items {
		errs[i] = it.Err
	}
	return errs
}
