package http

import (
	"log/slog"
	"net/http"

	"github.com/mihhub/mih"
)

// codeMethodNotAllowed is the HTTP layer's own code for a known path asked with the wrong method.
const codeMethodNotAllowed mih.Code = "method_not_allowed"

// ErrorStatus returns the HTTP status of an error code; unknown codes are internal errors.
// The table is the domain's (mih.Code.HTTPStatus), shared with the web UI; the API adds its own
// code for a wrong method.
func ErrorStatus(code mih.Code) int {
	if code == codeMethodNotAllowed {
		return http.StatusMethodNotAllowed
	}
	if s, ok := code.HTTPStatus(); ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON shape of every API error: {"error":{"code":"...","message":"..."}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    mih.Code `json:"code"`
	Message string   `json:"message"`
}

// writeError answers with err as a JSON error. Only internal errors are logged (with the request
// id), and their text never reaches the client.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := mih.ErrorCode(err)
	if _, ok := code.HTTPStatus(); !ok && code != codeMethodNotAllowed {
		code = mih.CodeInternal
	}
	msg := mih.ErrorMessage(err)
	if code == mih.CodeInternal {
		msg = "internal error"
		logger.LogAttrs(r.Context(), slog.LevelError, "internal error",
			slog.String("request_id", RequestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("err", err.Error()))
	}
	writeJSON(w, ErrorStatus(code), errorBody{Error: errorDetail{Code: code, Message: msg}})
}
