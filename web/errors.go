package web

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"

	"github.com/mihhub/mih"
)

// codeTooManyAttempts is the UI's own code for a client that failed to sign in too often.
const codeTooManyAttempts mih.Code = "too_many_attempts"

var (
	errPageNotFound = mih.Errorf(mih.CodeNotFound, "There is no such page.")
	errCrossOrigin  = mih.Errorf(mih.CodeForbidden, "This form was sent from another site, so it was refused.")
	errFormToken    = mih.Errorf(mih.CodeForbidden, "This form has expired or did not come from this page. Go back, reload the page and try again.")
	errBadForm      = mih.Errorf(mih.CodeInvalid, "The form could not be read (forms are limited to 1 MiB).")
)

// status maps an error code to the HTTP status: the domain's one table (mih.Code.HTTPStatus), plus the UI's own code.
func status(code mih.Code) int {
	if code == codeTooManyAttempts {
		return http.StatusTooManyRequests
	}
	if s, ok := code.HTTPStatus(); ok {
		return s
	}
	return http.StatusInternalServerError
}

type errorData struct {
	Status    int
	Heading   string
	Message   string
	Reference string
}

// renderError shows the error page (or the 404 page) for err. Internal errors are logged with a
// reference the page shows, and their text never reaches the browser.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, err error) {
	code := mih.ErrorCode(err)
	st := status(code)
	d := errorData{Status: st, Heading: http.StatusText(st), Message: mih.ErrorMessage(err)}
	if code == mih.CodeInternal || st == http.StatusInternalServerError {
		b := make([]byte, 6)
		rand.Read(b)
		d.Reference = hex.EncodeToString(b)
		d.Message = "Something went wrong on our side. The hub's log has the details under the reference below."
		h.log.LogAttrs(r.Context(), slog.LevelError, "web page failed",
			slog.String("reference", d.Reference),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("err", err.Error()))
	}
	name := "error"
	if code == mih.CodeNotFound {
		name = "notfound"
	}
	if rerr := h.render(w, r, st, name, d.Heading, "", d); rerr != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "render the error page", slog.String("err", rerr.Error()))
		http.Error(w, d.Message, st)
	}
}
