// Package soap calls SOAP services (docs/api.md, Transports): the service's base_url is its WSDL,
// the request's path (the rule's endpoint, the gateway's path) names the operation, and the JSON
// payload becomes the operation's request element.
//
// # Supported
//
//   - WSDL 1.1 with document/literal bindings (the "wrapped" style most stacks generate),
//     SOAP 1.1 (soap:binding) and SOAP 1.2 (soap12:binding). When several ports offer an
//     operation, the first SOAP port in the WSDL's service section is used, with its
//     soap:address location (relative locations resolve against the WSDL URL) and the
//     operation's soapAction.
//   - XML Schema inlined in wsdl:types, any number of schemas: global and local elements,
//     named and inline complex types, ref="…", sequence / all / choice (nested, repeated),
//     named groups, complexContent extension and restriction, simpleContent, attributes,
//     minOccurs / maxOccurs, nillable, elementFormDefault and form, xsd:any.
//   - Responses and faults of either version, in UTF-8, ISO-8859-1 or windows-1252.
//
// # Not supported
//
//   - rpc style and encoded use (rpc/encoded, rpc/literal): the WSDL loads, but calling such an
//     operation fails with a final invalid_request saying so.
//   - External schemas (xsd:import / xsd:include with schemaLocation) and wsdl:import are not
//     fetched. A WSDL whose bindings are all imported is refused with a final invalid_request. A call whose request element or one of its types is defined only there fails
//     with a final invalid_request naming the missing component and the schemaLocation; serve a
//     WSDL with its schemas inlined (most stacks can: "?singleWsdl" for WCF).
//   - WS-Security, WS-Addressing and other SOAP headers (no soap:Header is sent; a service that
//     requires one answers with a fault), MTOM/XOP and attachments, WSDL 2.0, HTTP bindings.
//
// # Request
//
// The payload object is the content of the request element: its keys are child elements,
// written in the schema's order whatever the JSON order, in the schema's target namespace when
// elementFormDefault (or the element's form) is qualified, else unqualified. An array repeats
// its element, an object is a nested element, a string is XML-escaped text, a number is
// written exactly as the payload spells it (no float conversion), a boolean as true/false.
// null leaves the element out, or writes xsi:nil="true" when the schema says nillable. Keys
// starting with "@" are declared attributes; "#text" is the text of a simpleContent type.
// A key the schema does not declare is refused with a final invalid_request naming the allowed
// fields — a typo in a rule's template is caught here rather than silently dropped by the
// service — except where the type has an xsd:any wildcard or no type (anyType): there the
// other keys follow the declared ones in sorted order. Missing elements are left out even when
// the schema says minOccurs="1": generated WSDLs say that of almost everything, and the
// service is the judge. Characters XML cannot carry (control characters) become U+FFFD.
//
// SOAP 1.1 requests carry Content-Type: text/xml; charset=utf-8 and SOAPAction: "<action>";
// SOAP 1.2 requests carry Content-Type: application/soap+xml; charset=utf-8; action="<action>".
// Auth and headers work as for REST services: the service's headers, then the request's, then
// what the hub controls (content type, action, auth, Idempotency-Key, User-Agent).
//
// # Response
//
// Response.Body is JSON: the first child of the SOAP Body (the response element, or the Fault)
// as an object of its children keyed by local name, in document order. A repeated element is an
// array, and so is one the schema declares with maxOccurs > 1 even when it occurs once. A
// text-only element is a string — "42" stays "42": numbers are not guessed, since "0042" or a
// long id must survive — an empty or xsi:nil element is null, attributes are "@name" keys and
// the text beside them "#text". An empty Body is null. A non-SOAP answer keeps its raw body.
//
// # Outcomes
//
//	2xx with a SOAP envelope           success
//	any status with a SOAP Fault       soap_fault, message = faultstring / Reason text;
//	                                   Server (1.1) and Receiver (1.2) retryable, others final
//	5xx, 408, 425, 429 without a fault http_error, retryable (Retry-After on 429/503 kept)
//	other non-2xx without a fault      http_error, final (redirects are not followed)
//	2xx that is not a SOAP envelope    http_error, final (an empty 2xx body is a success)
//	deadline of ctx                    timeout, retryable
//	connection errors                  network, retryable
//	WSDL fetch failure, or not a WSDL  network / http_error / timeout, retryable: without the
//	(an HTML error page)               WSDL nothing was called, and its host may be briefly down
//	unknown operation, bad payload,    invalid_request, final; an unknown operation's message
//	unsupported binding or WSDL        lists the operations the WSDL offers
//
// # WSDL cache
//
// WSDLs are fetched with the service's auth and headers (they often sit behind the same auth),
// following redirects only on the same host (http to https included), and cached for Options.WSDLTTL per URL and credentials, so changed credentials take effect at
// once and one service's credentials never serve another's WSDL. Concurrent callers share one
// fetch, which runs detached from the first caller (bounded to 30 s) so that its deadline does
// not fail the others. A failed fetch is not cached; a failed refresh keeps using the expired
// copy and tries again after min(WSDLTTL, 30 s).
package soap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/transport/httpheader"
)

// Defaults of Options.
const (
	DefaultWSDLTTL         = 10 * time.Minute
	DefaultMaxResponseBody = 1 << 20
	DefaultVersion         = "dev"
	// maxWSDLSize bounds a WSDL document; generated WSDLs with inlined schemas stay far below.
	maxWSDLSize = 16 << 20
	// wsdlFetchTimeout bounds a WSDL fetch, which may outlive the call that started it.
	wsdlFetchTimeout = 30 * time.Second
)

// Options tunes a Transport. The zero value is usable.
type Options struct {
	// Client sends every request. The default verifies TLS (1.2 or later), keeps connections
	// alive for the delivery workers and does not follow redirects.
	Client *http.Client
	// WSDLTTL is how long a fetched WSDL is used before it is fetched again (default 10 min).
	WSDLTTL time.Duration
	// Now is the clock of the WSDL cache (default time.Now).
	Now func() time.Time
	// Logger receives WSDL fetches (debug) and failed refreshes served from cache (warn).
	Logger *slog.Logger
	// MaxResponseBody is how much of a response is read (default 1 MiB); a longer response is
	// cut there and, unless it is an error status anyway, reported as an http_error.
	MaxResponseBody int64
	// Version goes into the User-Agent header as mih/<Version>.
	Version string
}

// Transport is a mih.Transport for SOAP services. It is safe for concurrent use; build one per
// process and share it.
type Transport struct {
	client  *http.Client
	maxBody int64
	agent   string
	cache   *wsdlCache
	closed  context.Context // ends background WSDL fetches on Close
	close   context.CancelFunc
}

var _ mih.Transport = (*Transport)(nil)

// New returns a Transport.
func New(opts Options) *Transport {
	if opts.WSDLTTL <= 0 {
		opts.WSDLTTL = DefaultWSDLTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxResponseBody <= 0 {
		opts.MaxResponseBody = DefaultMaxResponseBody
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if opts.Client == nil {
		opts.Client = defaultClient()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		client:  opts.Client,
		maxBody: opts.MaxResponseBody,
		agent:   "mih/" + opts.Version,
		cache:   newWSDLCache(opts.WSDLTTL, opts.Now, opts.Logger),
		closed:  ctx,
		close:   cancel,
	}
}

func defaultClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   10 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		},
		// A redirected POST turns into a GET and could carry credentials to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Close ends WSDL fetches under way and drops idle connections.
func (t *Transport) Close() error {
	t.close()
	t.client.CloseIdleConnections()
	return nil
}

// Send calls the operation r.Path of the service s and classifies the outcome. It always
// returns a non-nil Response that records where the request went (the operation's address, or
// the WSDL URL when the WSDL could not be had) and the headers as sent, secrets masked; a
// failure comes with a *mih.SendError. Latency covers the whole call, a WSDL fetch included.
func (t *Transport) Send(ctx context.Context, s *mih.Service, r *mih.Request) (*mih.Response, error) {
	start := time.Now()
	resp := &mih.Response{}
	err := t.send(ctx, s, r, resp)
	resp.Latency = time.Since(start)
	return resp, err
}

func (t *Transport) send(ctx context.Context, s *mih.Service, r *mih.Request, resp *mih.Response) error {
	opName := strings.Trim(r.Path, "/ \t")
	if opName == "" {
		return invalid("no operation: the path (the rule's endpoint) must name the SOAP operation")
	}
	wsdlURL, err := url.Parse(s.BaseURL)
	if err != nil || wsdlURL.Host == "" || (wsdlURL.Scheme != "http" && wsdlURL.Scheme != "https") {
		return invalid("base_url is not an absolute http(s) URL of the WSDL")
	}

	doc, err := t.wsdl(ctx, s, wsdlURL)
	if err != nil {
		resp.URL = redact(wsdlURL)
		if f, ok := errors.AsType[*fetchError](err); ok {
			resp.Status, resp.Headers, resp.Body, resp.RequestHeaders = f.status, f.headers, f.body, f.requestHeaders
			return f.err
		}
		return httpheader.Classify(ctx, err, "fetching the WSDL: ")
	}

	op := doc.ops[opName]
	switch {
	case op == nil:
		return invalid("unknown operation %q; the WSDL offers %s", opName, listNames(doc.names()))
	case op.unsupported != "":
		return invalid("%s", op.unsupported)
	case op.address == "":
		return invalid("operation %s: the WSDL gives no endpoint address (service/port/soap:address) for its binding", opName)
	case hasCredentials(s) && !sameHost(op.address, wsdlURL):
		// The WSDL, not the administrator, names this address: the service's credentials go
		// only to the host of base_url.
		return invalid("operation %s: the WSDL sends it to %s, another host than base_url's; the service's credentials go only to %s (serve the WSDL from the endpoint's host, or set base_url there)",
			opName, hostOf(op.address), wsdlURL.Host)
	}
	envelope, err := buildEnvelope(doc.schema, op, r.Body)
	if err != nil {
		return invalid("cannot build the %s request: %v", opName, err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, op.address, bytes.NewReader(envelope))
	if err != nil {
		return &mih.SendError{Code: mih.ErrRequest, Message: "cannot build the request", Err: err}
	}
	resp.URL = redact(req.URL)
	h := req.Header
	httpheader.Set(h, s.Headers, r.Headers)
	if op.version == soap12 {
		ct := "application/soap+xml; charset=utf-8"
		if op.action != "" {
			ct += "; action=" + strconv.Quote(op.action)
		}
		h.Set("Content-Type", ct)
		h.Del("SOAPAction")
	} else {
		h.Set("Content-Type", "text/xml; charset=utf-8")
		h.Set("SOAPAction", strconv.Quote(op.action))
	}
	h.Set("User-Agent", t.agent)
	authHeader, err := httpheader.SetAuth(req, s.Auth)
	if err != nil {
		resp.RequestHeaders = httpheader.Mask(h, authHeader)
		return err
	}
	if r.IdempotencyKey != "" {
		h.Set("Idempotency-Key", r.IdempotencyKey)
	}
	resp.RequestHeaders = httpheader.Mask(h, authHeader)
	if err := httpheader.Check(h); err != nil {
		return err
	}

	hr, err := t.client.Do(req)
	if err != nil {
		return httpheader.Classify(ctx, err, "")
	}
	body, truncated, err := t.readBody(hr)
	resp.Status, resp.Headers, resp.Body = hr.StatusCode, hr.Header, body
	if err != nil {
		return httpheader.Classify(ctx, err, "")
	}
	return t.outcome(resp, hr, doc, op, truncated)
}

// outcome classifies a complete response and turns a SOAP body into JSON.
func (t *Transport) outcome(resp *mih.Response, hr *http.Response, doc *wsdlDoc, op *operation, truncated bool) error {
	code := hr.StatusCode
	ok := code >= 200 && code <= 299
	var parsed *soapResponse
	var perr error
	if truncated {
		perr = fmt.Errorf("the response is longer than %d bytes", t.maxBody)
	} else {
		parsed, perr = parseResponse(resp.Body, doc.schema, op.output)
	}
	if perr == nil {
		resp.Body = parsed.body
		if f := parsed.fault; f != nil {
			msg := f.String
			if msg == "" {
				msg = "SOAP fault " + f.Code
			}
			e := &mih.SendError{Code: mih.ErrSOAPFault, Message: msg, Status: code, Retryable: f.Retryable(), Err: f}
			if e.Retryable && (code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable) {
				e.RetryAfter = httpheader.ParseRetryAfter(hr.Header.Get("Retry-After"), time.Now())
			}
			return e
		}
		if ok {
			return nil
		}
		return statusError(hr, "")
	}
	if ok {
		if len(bytes.TrimSpace(resp.Body)) == 0 {
			resp.Body = nil // a one-way operation's empty 202
			return nil
		}
		return &mih.SendError{
			Code:    mih.ErrHTTP,
			Message: fmt.Sprintf("upstream answered %d but not with a SOAP envelope: %v", code, perr),
			Status:  code,
			Err:     perr,
		}
	}
	return statusError(hr, "")
}

// readBody reads up to maxBody bytes. A body within the limit is drained so that the connection
// goes back to the pool; a longer one is cut and its connection closed.
func (t *Transport) readBody(hr *http.Response) ([]byte, bool, error) {
	return readLimited(hr, t.maxBody)
}

func readLimited(hr *http.Response, limit int64) ([]byte, bool, error) {
	defer hr.Body.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(hr.Body, limit+1))
	if n > limit {
		buf.Truncate(int(limit))
		return buf.Bytes(), true, err
	}
	return buf.Bytes(), false, err
}

// fetchError is a failed WSDL fetch with what the WSDL server answered, for the Response.
type fetchError struct {
	err            *mih.SendError
	status         int
	headers        http.Header
	body           []byte
	requestHeaders map[string]string
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// wsdl returns the service's parsed WSDL from the cache, fetching it when needed.
func (t *Transport) wsdl(ctx context.Context, s *mih.Service, u *url.URL) (*wsdlDoc, error) {
	key := u.String() + "\x00" + credentialKey(s)
	// The fetch may outlive this call: it gets its own copy of what it sends.
	auth, headers := s.Auth, maps.Clone(s.Headers)
	return t.cache.get(ctx, key, redact(u), func() (*wsdlDoc, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wsdlFetchTimeout)
		defer cancel()
		stop := context.AfterFunc(t.closed, cancel)
		defer stop()
		return t.fetchWSDL(fctx, auth, headers, u)
	})
}

// credentialKey fingerprints what the WSDL fetch sends besides the URL, so that services with
// different credentials never share a cached WSDL.
func credentialKey(s *mih.Service) string {
	b, _ := json.Marshal(struct {
		A mih.Auth
		H map[string]string
	}{s.Auth, s.Headers})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// maxWSDLRedirects bounds the redirects followed when fetching a WSDL.
const maxWSDLRedirects = 5

// fetchWSDL GETs and parses the WSDL. Unlike operation calls, it follows redirects that stay
// on the same host (http to https included), resending the credentials only there: WSDL URLs
// often move to https or gain a trailing slash.
func (t *Transport) fetchWSDL(ctx context.Context, auth mih.Auth, headers map[string]string, u *url.URL) (*wsdlDoc, error) {
	var (
		hr     *http.Response
		masked map[string]string
	)
	fail := func(e *mih.SendError, hr *http.Response, body []byte) error {
		f := &fetchError{err: e, requestHeaders: masked, body: body}
		if hr != nil {
			f.status, f.headers = hr.StatusCode, hr.Header
		}
		return f
	}
	for hops := 0; ; hops++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fail(&mih.SendError{Code: mih.ErrRequest, Message: "cannot build the WSDL request", Err: err}, nil, nil)
		}
		httpheader.Set(req.Header, headers)
		req.Header.Set("Accept", "text/xml, application/wsdl+xml, application/xml")
		req.Header.Set("User-Agent", t.agent)
		authHeader, aerr := httpheader.SetAuth(req, auth)
		masked = httpheader.Mask(req.Header, authHeader)
		if se, ok := errors.AsType[*mih.SendError](aerr); ok {
			return nil, fail(se, nil, nil)
		}
		hr, err = t.client.Do(req)
		if err != nil {
			return nil, fail(httpheader.Classify(ctx, err, "fetching the WSDL: "), nil, nil)
		}
		next := sameHostRedirect(hr, u)
		if next == nil || hops >= maxWSDLRedirects {
			break
		}
		io.Copy(io.Discard, io.LimitReader(hr.Body, 64<<10))
		hr.Body.Close()
		u = next
	}
	body, truncated, err := readLimited(hr, maxWSDLSize)
	if err != nil {
		return nil, fail(httpheader.Classify(ctx, err, "fetching the WSDL: "), hr, nil)
	}
	if hr.StatusCode < 200 || hr.StatusCode > 299 {
		e := statusError(hr, "fetching the WSDL: ")
		if loc := hr.Header.Get("Location"); loc != "" && hr.StatusCode >= 300 && hr.StatusCode <= 399 {
			e.Message += "; it redirects to another host, set base_url to " + loc + " if that is right"
		}
		e.Retryable = true // nothing was called yet: the WSDL host may be briefly down
		return nil, fail(e, hr, body)
	}
	if truncated {
		return nil, fail(&mih.SendError{Code: mih.ErrHTTP, Message: fmt.Sprintf("the WSDL is larger than %d bytes", maxWSDLSize), Status: hr.StatusCode, Retryable: true}, hr, nil)
	}
	doc, err := parseWSDL(body, u)
	if _, ok := errors.AsType[*unusableError](err); ok {
		return nil, fail(&mih.SendError{Code: mih.ErrRequest, Message: "the WSDL cannot be used: " + err.Error(), Err: err}, hr, body)
	}
	if err != nil {
		// Not a WSDL at all: likely a proxy's or a maintenance page; try again later.
		return nil, fail(&mih.SendError{Code: mih.ErrHTTP, Message: "the WSDL cannot be used: " + err.Error(), Status: hr.StatusCode, Retryable: true, Err: err}, hr, body)
	}
	return doc, nil
}

// sameHostRedirect returns where a redirect response points when that is the same host (and
// the same scheme, or https instead of http), else nil.
func sameHostRedirect(hr *http.Response, from *url.URL) *url.URL {
	switch hr.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return nil
	}
	to, err := from.Parse(hr.Header.Get("Location"))
	if err != nil || hr.Header.Get("Location") == "" || to.Hostname() != from.Hostname() {
		return nil
	}
	switch {
	case to.Scheme == from.Scheme && to.Host == from.Host:
	case from.Scheme == "http" && to.Scheme == "https":
	default:
		return nil
	}
	to.User = from.User
	return to
}

// statusError classifies an HTTP status that carries no SOAP fault.
func statusError(hr *http.Response, prefix string) *mih.SendError {
	code := hr.StatusCode
	e := &mih.SendError{
		Code:      mih.ErrHTTP,
		Message:   fmt.Sprintf("%supstream answered %d %s", prefix, code, http.StatusText(code)),
		Status:    code,
		Retryable: mih.RetryableStatus(code),
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		e.RetryAfter = httpheader.ParseRetryAfter(hr.Header.Get("Retry-After"), time.Now())
	}
	return e
}

// listNames lists operation names for a message, at most 50.
func listNames(names []string) string {
	if len(names) == 0 {
		return "no operations"
	}
	const most = 50
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
	}
	return strings.Join(names, ", ")
}

// redact is a URL without user info.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

func invalid(format string, args ...any) *mih.SendError {
	return &mih.SendError{Code: mih.ErrRequest, Message: fmt.Sprintf(format, args...)}
}

// Error classification, header layering, auth, masking and Retry-After are transport/httpheader's,
// shared with transport/rest.

// hasCredentials reports whether calls to s carry a secret: an auth setting, or a header whose
// name says it is a credential.
func hasCredentials(s *mih.Service) bool {
	if s.Auth.Type != "" && s.Auth.Type != mih.AuthNone {
		return true
	}
	for k, v := range s.Headers {
		if v != "" && mih.SensitiveHeader(k) {
			return true
		}
	}
	return false
}

// sameHost reports whether address is on the host of base: the same host name and port, or
// the same host name with http upgraded to https on the default ports.
func sameHost(address string, base *url.URL) bool {
	u, err := url.Parse(address)
	if err != nil || !strings.EqualFold(u.Hostname(), base.Hostname()) {
		return false
	}
	if port(u) == port(base) {
		return true
	}
	return base.Scheme == "http" && u.Scheme == "https" && port(base) == "80" && port(u) == "443"
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

func hostOf(address string) string {
	if u, err := url.Parse(address); err == nil {
		return u.Host
	}
	return "an address that is not a URL"
}
