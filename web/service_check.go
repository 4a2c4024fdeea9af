package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/mihhub/mih"
)

// The "Test connection" button makes one call of the stored service and shows what happened:
//
//   - REST: GET on the base URL through the gateway — the service's auth, headers, timeout and
//     circuit breaker, no retries. Any HTTP answer proves the service is reachable; 2xx and 3xx
//     read as success, other statuses as a warning with the status (many APIs answer 404 or 401
//     on their root).
//   - SOAP: the WSDL fetch, as a GET of the WSDL URL through the gateway with the service's auth
//     and headers; the answer must look like a WSDL.
//   - AMQP: a connection check instead of a publish, which would put a test message in front of
//     real consumers: it connects and logs in with the URL's credentials, opens a channel and
//     checks passively that the exchange and the queue to declare exist. It does not go
//     through the gateway, so it neither counts towards nor waits for the circuit.

// testOutcome is the result shown on the service's page.
type testOutcome struct {
	Level   string // "ok", "warn" or "bad"
	Summary string
	Detail  string
	Status  int
	Latency string
	Body    string
}

// maxShownBody bounds the response excerpt a test shows.
const maxShownBody = 2048

// serviceTest tests the stored service and shows the outcome on its page.
func (h *Handler) serviceTest(w http.ResponseWriter, r *http.Request) error {
	s, err := h.store.FindServiceByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	timeout := min(max(s.Timeout(), time.Second), time.Minute)
	ctx, cancel := context.WithTimeout(r.Context(), timeout+2*time.Second)
	defer cancel()
	var out *testOutcome
	switch s.Type {
	case mih.ServiceAMQP:
		out = checkAMQP(ctx, s, timeout)
	default:
		out = h.checkHTTP(ctx, s)
	}
	rd := secretsOf(s)
	out.Summary, out.Detail, out.Body = rd.apply(out.Summary), rd.apply(out.Detail), rd.apply(out.Body)
	f := newServiceForm(s, false)
	f.Test = out
	return h.renderServiceForm(w, r, http.StatusOK, f)
}

// checkHTTP makes the GET of a REST service's base URL or a SOAP service's WSDL.
func (h *Handler) checkHTTP(ctx context.Context, s *mih.Service) *testOutcome {
	if h.cfg.Gateway == nil {
		return &testOutcome{Level: "bad", Summary: "Testing is not available: this hub runs without a gateway."}
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
	res, err := h.cfg.Gateway.Do(ctx, &c, &mih.Request{Method: http.MethodGet})
	if err != nil {
		out := &testOutcome{Level: "bad", Summary: "The hub did not call " + what + "."}
		if e, ok := errors.AsType[*mih.Error](err); ok && e.Code == mih.CodeCircuitOpen {
			out.Detail = "The circuit is open, so the hub is not calling this service now. Reset the circuit to test at once."
		} else if se, ok := errors.AsType[*mih.SendError](err); ok {
			out.Detail = se.Message
		} else {
			out.Detail = mih.ErrorMessage(err)
		}
		return out
	}
	out := &testOutcome{Latency: formatMS(float64(res.Latency) / float64(time.Millisecond))}
	if res.Response != nil {
		out.Status = res.Response.Status
		out.Body = excerpt(string(res.Response.Body), maxShownBody)
	}
	switch {
	case out.Status == 0:
		out.Level = "bad"
		out.Summary = "Could not reach " + what + "."
		if se, ok := errors.AsType[*mih.SendError](res.Err); ok {
			out.Detail = se.Code + ": " + se.Message
		} else if res.Err != nil {
			out.Detail = mih.ErrorMessage(res.Err)
		}
	case out.Status >= 200 && out.Status < 400:
		out.Level = "ok"
		out.Summary = fmt.Sprintf("Connected: %s answered %d %s.", what, out.Status, http.StatusText(out.Status))
		if s.Type == mih.ServiceSOAP && !looksLikeWSDL(res.Response.Body) {
			out.Level = "warn"
			out.Detail = "The answer does not look like a WSDL (no definitions or description element)."
		}
	default:
		out.Level = "warn"
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

// checkAMQP connects to the broker as the transport would and checks the exchange and queue.
func checkAMQP(ctx context.Context, s *mih.Service, timeout time.Duration) *testOutcome {
	p, err := splitAMQP(s.BaseURL)
	if err != nil {
		return &testOutcome{Level: "bad", Summary: "The service's URL cannot be read.", Detail: err.Error()}
	}
	user, pass := p.User, p.Password
	if user == "" && s.Auth.Type == mih.AuthBasic {
		user, pass = s.Auth.Username, s.Auth.Password
	}
	if user == "" {
		user, pass = "guest", "guest"
	}
	scheme := "amqp"
	if p.TLS {
		scheme = "amqps"
	}
	addr := net.JoinHostPort(p.Host, p.Port)
	where := scheme + "://" + addr + " (vhost " + strconv.Quote(p.VHost) + ")"
	deadline := time.Now().Add(timeout)
	cfg := amqp091.Config{
		SASL:   []amqp091.Authentication{&amqp091.PlainAuth{Username: user, Password: pass}},
		Vhost:  p.VHost,
		Locale: "en_US",
		Dial: func(network, a string) (net.Conn, error) {
			d := net.Dialer{Deadline: deadline}
			nc, err := d.DialContext(ctx, network, a)
			if err != nil {
				return nil, err
			}
			if err := nc.SetDeadline(deadline); err != nil {
				nc.Close()
				return nil, err
			}
			return nc, nil
		},
	}
	if p.TLS {
		// Verification stays on, as in the transport (docs/api.md, Transports).
		cfg.TLSClientConfig = &tls.Config{ServerName: p.Host, MinVersion: tls.VersionTLS12}
	}
	start := time.Now()
	conn, err := amqp091.DialConfig(scheme+"://"+addr+"/", cfg)
	if err != nil {
		return &testOutcome{Level: "bad", Summary: "Could not connect to " + where + ".", Detail: amqpReason(err)}
	}
	defer conn.Close()
	out := &testOutcome{Level: "ok", Latency: formatMS(float64(time.Since(start)) / float64(time.Millisecond))}
	ch, err := conn.Channel()
	if err != nil {
		return &testOutcome{Level: "bad", Summary: "Connected to " + where + ", but could not open a channel.", Detail: amqpReason(err)}
	}
	defer ch.Close()
	var notes []string
	if p.Exchange != "" {
		if err := ch.ExchangeDeclarePassive(p.Exchange, "topic", true, false, false, false, nil); err != nil {
			if ae, ok := errors.AsType[*amqp091.Error](err); ok && ae.Code == amqp091.NotFound {
				return &testOutcome{Level: "bad", Summary: "Connected to " + where + ", but the exchange " + strconv.Quote(p.Exchange) + " does not exist.",
					Detail: "The hub publishes to it and does not declare exchanges; ask the broker's administrator to create it.", Latency: out.Latency}
			}
			// A passive declare of an existing exchange of another kind is refused too; that
			// still proves it exists.
			if ch, err = conn.Channel(); err != nil {
				return &testOutcome{Level: "bad", Summary: "Connected to " + where + ", but could not open a channel.", Detail: amqpReason(err)}
			}
			defer ch.Close()
		}
		notes = append(notes, "exchange "+strconv.Quote(p.Exchange)+" exists")
	}
	if p.Queue != "" {
		if _, err := ch.QueueDeclarePassive(p.Queue, true, false, false, false, nil); err != nil {
			notes = append(notes, "queue "+strconv.Quote(p.Queue)+" does not exist yet: the hub declares it before its first publish")
		} else {
			notes = append(notes, "queue "+strconv.Quote(p.Queue)+" exists")
		}
	}
	out.Summary = "Connected to " + where + " and logged in as " + strconv.Quote(user) + "."
	if len(notes) > 0 {
		out.Detail = capitalize(strings.Join(notes, "; ")) + "."
	}
	return out
}

// amqpReason explains a broker refusal in words, else gives the error.
func amqpReason(err error) string {
	if ae, ok := errors.AsType[*amqp091.Error](err); ok {
		switch ae.Code {
		case amqp091.AccessRefused:
			return "The broker refused the user name or password (" + ae.Reason + ")."
		case amqp091.NotAllowed:
			return "The user may not use this vhost (" + ae.Reason + ")."
		}
		return ae.Reason
	}
	if errors.Is(err, amqp091.ErrCredentials) {
		return "The broker refused the user name or password."
	}
	if errors.Is(err, amqp091.ErrVhost) {
		return "The vhost does not exist or the user may not use it."
	}
	return err.Error()
}
