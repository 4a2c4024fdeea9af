package ops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mihhub/mih"
)

// The "Test connection" of a service makes one call of the stored service:
//
//   - a transport that offers a check (mih.Checker) is asked for it: AMQP connects and looks for
//     its exchange and queue without publishing;
//   - otherwise (REST, SOAP) a GET of the base URL, or of the WSDL, goes through the gateway
//     with the service's auth, headers, timeout and circuit breaker, and no retries. Any HTTP
//     answer proves the service is reachable; 2xx and 3xx read as success, other statuses as a
//     warning (many APIs answer 404 or 401 on their root).

// maxShownBody bounds the response excerpt a test shows.
const maxShownBody = 2048

// TestService tests the stored service's connection and returns it with what the test found.
// The result may quote the service's URL or answer; the caller masks its secrets before showing
// it.
func (o *Ops) TestService(ctx context.Context, name string) (*mih.Service, mih.CheckResult, error) {
	s, err := o.store.FindServiceByName(ctx, name)
	if err != nil {
		return nil, mih.CheckResult{}, err
	}
	timeout := min(max(s.Timeout(), time.Second), time.Minute)
	ctx, cancel := context.WithTimeout(ctx, timeout+2*time.Second)
	defer cancel()
	if c, ok := o.cfg.Transports[s.Type].(mih.Checker); ok {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return s, c.Check(cctx, s), nil
	}
	return s, o.checkHTTP(ctx, s), nil
}

// checkHTTP makes the GET of a REST service's base URL or a SOAP service's WSDL.
func (o *Ops) checkHTTP(ctx context.Context, s *mih.Service) mih.CheckResult {
	if o.cfg.Gateway == nil {
		return mih.CheckResult{Level: mih.CheckBad, Summary: "Testing is not available: this hub runs without a gateway."}
	}
	c := *s
	c.MaxRetries = 0
	what := "GET " + s.Masked().BaseURL
	if s.Type == mih.ServiceSOAP {
		// The REST transport makes the plain GET of the WSDL URL, with the service's auth and
		// headers; signing is for REST payloads only.
		c.Type, c.SigningSecret = mih.ServiceREST, ""
		what = "the WSDL at " + s.Masked().BaseURL
	}
	res, err := o.cfg.Gateway.Do(ctx, &c, &mih.Request{Method: http.MethodGet})
	if err != nil {
		out := mih.CheckResult{Level: mih.CheckBad, Summary: "The hub did not call " + what + "."}
		if e, ok := errors.AsType[*mih.Error](err); ok && e.Code == mih.CodeCircuitOpen {
			out.Detail = "The circuit is open, so the hub is not calling this service now. Reset the circuit to test at once."
		} else if se, ok := errors.AsType[*mih.SendError](err); ok {
			out.Detail = se.Message
		} else {
			out.Detail = mih.ErrorMessage(err)
		}
		return out
	}
	out := mih.CheckResult{Latency: res.Latency}
	if res.Response != nil {
		out.Status = res.Response.Status
		out.Body = excerpt(string(res.Response.Body), maxShownBody)
	}
	switch {
	case out.Status == 0:
		out.Level = mih.CheckBad
		out.Summary = "Could not reach " + what + "."
		if se, ok := errors.AsType[*mih.SendError](res.Err); ok {
			out.Detail = se.Code + ": " + se.Message
		} else if res.Err != nil {
			out.Detail = mih.ErrorMessage(res.Err)
		}
	case out.Status >= 200 && out.Status < 400:
		out.Level = mih.CheckOK
		out.Summary = fmt.Sprintf("Connected: %s answered %d %s.", what, out.Status, http.StatusText(out.Status))
		if s.Type == mih.ServiceSOAP && !looksLikeWSDL(res.Response.Body) {
			out.Level = mih.CheckWarn
			out.Detail = "The answer does not look like a WSDL (no definitions or description element)."
		}
	default:
		out.Level = mih.CheckWarn
		out.Summary = fmt.Sprintf("The service is reachable, but %s answered %d %s.", what, out.Status, http.StatusText(out.Status))
		switch out.Status {
		case http.StatusUnauthorized, http.StatusForbidden:
			out.Detail = "Check the authentication settings."
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			if s.Type == mih.ServiceREST {
				out.Detail = "Many APIs have nothing at their root; rules append their endpoint to the base URL."
			}
		}
	}
	return out
}

func looksLikeWSDL(b []byte) bool {
	head := string(b[:min(len(b), 4096)])
	return strings.Contains(head, "definitions") || strings.Contains(head, "description")
}

// excerpt cuts text to at most n bytes on a character boundary, saying so when it did.
func excerpt(text string, n int) string {
	if len(text) <= n {
		return text
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + fmt.Sprintf("\n… (%d more bytes)", len(text)-cut)
}
