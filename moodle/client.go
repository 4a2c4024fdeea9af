package moodle

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// RESTPath is where Moodle's REST web service answers, under the site's root URL.
const RESTPath = "/webservice/rest/server.php"

// Defaults of Options.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 32 << 20
	DefaultMaxInputVars     = 1000
	DefaultBatchSize        = 100
	DefaultUserAgent        = "mih"
)

// Options tunes a Client. The zero value is usable.
type Options struct {
	// HTTPClient sends the calls (default: a client of this package with TLS verification on).
	// The Client uses a copy that never follows redirects.
	HTTPClient *http.Client
	// Timeout bounds each call, on top of the caller's context (default 30 s).
	Timeout time.Duration
	// Logger gets one debug record per call: function, status, size, duration. Never the token
	// or the parameters.
	Logger *slog.Logger
	// UserAgent is sent with every call (default "mih").
	UserAgent string
	// MaxResponseBytes bounds an answer (default 32 MiB); a larger one fails with KindTooLarge.
	MaxResponseBytes int64
	// MaxInputVars is the site's PHP max_input_vars (default 1000). PHP silently drops the
	// form fields past it, so Call refuses a call with more fields, and the batched helpers
	// split their batches to stay under it. Negative turns the check off.
	MaxInputVars int
	// BatchSize is the most items a batched helper puts in one call (default 100).
	BatchSize int
}

// Client calls one Moodle site's REST web service with one token. It is safe for concurrent
// use. Its String, GoString and LogValue show the site's URL only.
type Client struct {
	base     string // the site's root URL, without a trailing slash
	endpoint string
	token    string
	http     *http.Client
	timeout  time.Duration
	log      *slog.Logger
	agent    string
	maxBody  int64
	maxVars  int
	batch    int
	// whole makes the batched helpers send their items in one call, never split: the caller
	// sizes the batches and settles refusals itself (see Whole).
	whole bool
}

// New returns a Client for the Moodle site at baseURL (its wwwroot, like
// https://moodle.example.edu or https://example.edu/moodle) and a web service token.
func New(baseURL, token string, opts Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	switch {
	case err != nil:
		return nil, fmt.Errorf("moodle: site URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("moodle: site URL %q: want an http or https URL", baseURL)
	case u.Host == "":
		return nil, fmt.Errorf("moodle: site URL %q: no host", baseURL)
	case u.User != nil:
		return nil, errors.New("moodle: site URL: credentials in the URL are not supported")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("moodle: site URL: no query or fragment, just the site's root")
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), RESTPath)
	u.RawPath = ""
	if token == "" || strings.TrimSpace(token) != token || strings.ContainsAny(token, "\r\n\x00") {
		return nil, errors.New("moodle: the token is empty or has spaces or control characters")
	}

	c := &Client{
		base:    strings.TrimSuffix(u.String(), "/"),
		token:   token,
		timeout: opts.Timeout,
		log:     opts.Logger,
		agent:   opts.UserAgent,
		maxBody: opts.MaxResponseBytes,
		maxVars: opts.MaxInputVars,
		batch:   opts.BatchSize,
	}
	c.endpoint = c.base + RESTPath
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.agent == "" {
		c.agent = DefaultUserAgent
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	if c.maxVars == 0 {
		c.maxVars = DefaultMaxInputVars
	}
	if c.batch <= 0 {
		c.batch = DefaultBatchSize
	}
	var hc http.Client
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	} else {
		hc.Transport = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		}
	}
	// A redirect of a call is a misconfigured site URL (http → https, or another wwwroot):
	// following it would turn the POST into a GET, or (307/308) send the token to wherever
	// the Location points. Report it instead.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	return c, nil
}

// WithTimeout returns a client for the same site and connections whose calls time out after d
// (d <= 0: the client's own timeout).
func (c *Client) WithTimeout(d time.Duration) *Client {
	cc := *c
	if d > 0 {
		cc.timeout = d
	}
	return &cc
}

// Timeout is how long a call may take.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Whole returns a client for the same site and connections whose batched helpers
// (CreateCourses, EnrolUsers, …) send all the items they are given in one call and return
// Moodle's answer as it is: no batches, no splitting of a refused call. A caller that sizes its
// own batches and settles an unknown outcome by reading Moodle's state uses it; the items must
// fit max_input_vars (see Fields and MaxInputVars).
func (c *Client) Whole() *Client {
	cc := *c
	cc.whole = true
	return &cc
}

// MaxInputVars is the site's max_input_vars the client keeps calls under (negative: no limit).
func (c *Client) MaxInputVars() int { return c.maxVars }

// Close drops the client's idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// URL returns the site's root URL.
func (c *Client) URL() string { return c.base }

func (c *Client) String() string   { return "moodle.Client(" + c.base + ")" }
func (c *Client) GoString() string { return c.String() }

// LogValue shows the site's URL, never the token.
func (c *Client) LogValue() slog.Value { return slog.GroupValue(slog.String("url", c.base)) }

var reFunction = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Call calls one external function with params (a struct or map flattened to bracket form;
// see the package documentation) and decodes Moodle's JSON answer into out (nil: ignore it).
// An answer of null leaves out as it is. A failure is an *Error.
func (c *Client) Call(ctx context.Context, function string, params any, out any) error {
	if !reFunction.MatchString(function) {
		return &Error{Function: function, Kind: KindRequest, Message: "not a function name"}
	}
	fields, err := flatten(params)
	if err != nil {
		return &Error{Function: function, Kind: KindRequest, Message: err.Error()}
	}
	if n := len(fields) + 3; c.maxVars > 0 && n > c.maxVars {
		return &Error{Function: function, Kind: KindRequest, Message: fmt.Sprintf(
			"%d form fields, over the site's max_input_vars (%d): PHP would drop the rest; send fewer items per call", n, c.maxVars)}
	}

	var body strings.Builder
	body.WriteString("wstoken=")
	body.WriteString(url.QueryEscape(c.token))
	body.WriteString("&wsfunction=")
	body.WriteString(function)
	body.WriteString("&moodlewsrestformat=json")
	for _, f := range fields {
		body.WriteByte('&')
		body.WriteString(url.QueryEscape(f.key))
		body.WriteByte('=')
		body.WriteString(url.QueryEscape(f.value))
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(body.String()))
	if err != nil {
		return &Error{Function: function, Kind: KindRequest, Message: "cannot build the request", Err: stripURL(err)}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		e := c.transportError(ctx, function, err)
		c.logCall(ctx, function, 0, 0, start, e)
		return e
	}
	data, tooLarge, err := c.read(resp)
	if err != nil {
		e := c.transportError(ctx, function, err)
		e.Status = resp.StatusCode
		c.logCall(ctx, function, resp.StatusCode, len(data), start, e)
		return e
	}
	var e *Error
	if tooLarge {
		e = &Error{Function: function, Kind: KindTooLarge, Status: resp.StatusCode,
			Message: fmt.Sprintf("answer larger than %d bytes", c.maxBody)}
	} else {
		e = c.interpret(function, resp, data, out)
	}
	c.logCall(ctx, function, resp.StatusCode, len(data), start, e)
	if e != nil {
		return e
	}
	return nil
}

func (c *Client) logCall(ctx context.Context, function string, status, size int, start time.Time, e *Error) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("function", function), slog.Int("status", status), slog.Int("bytes", size),
		slog.Duration("duration", time.Since(start)), slog.String("site", c.base),
	}
	if e != nil {
		attrs = append(attrs, slog.String("kind", string(e.Kind)), slog.String("errorcode", e.ErrorCode))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "moodle call", attrs...)
}

// read reads the body up to maxBody; a longer one is cut, reported, and its connection closed.
func (c *Client) read(resp *http.Response) (data []byte, tooLarge bool, err error) {
	defer resp.Body.Close()
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return buf.Bytes(), false, err
	}
	return buf.Bytes(), n > c.maxBody, nil
}

// stripURL drops the URL that *url.Error quotes, keeping its cause.
func stripURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

func (c *Client) transportError(ctx context.Context, function string, err error) *Error {
	stripped := stripURL(err)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Function: function, Kind: KindTimeout, Message: fmt.Sprintf("no answer within %s", c.timeout),
			Err: context.DeadlineExceeded}
	case errors.Is(err, context.Canceled):
		return &Error{Function: function, Kind: KindNetwork, Message: "call canceled", Err: context.Canceled}
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return &Error{Function: function, Kind: KindTimeout, Message: "no answer within the timeout",
			Err: &cause{text: c.scrub(stripped.Error()), err: stripped}}
	}
	return &Error{Function: function, Kind: KindNetwork, Message: "no answer from the site",
		Err: &cause{text: c.scrub(stripped.Error()), err: stripped}}
}

// cause keeps a transport error for errors.Is with its text scrubbed of the token, in case a
// layer below quoted what was sent. It does not hold the token itself.
type cause struct {
	text string
	err  error
}

func (c *cause) Error() string { return c.text }
func (c *cause) Unwrap() error { return c.err }

func (c *Client) scrub(s string) string {
	return strings.ReplaceAll(s, c.token, "********")
}

var utf8BOM = []byte("\xef\xbb\xbf")

// interpret reads a complete answer: a status other than 200, an exception, something that is
// not JSON, or the result.
func (c *Client) interpret(function string, resp *http.Response, data []byte, out any) *Error {
	if resp.StatusCode != http.StatusOK {
		e := &Error{Function: function, Kind: KindHTTP, Status: resp.StatusCode}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc := resp.Header.Get("Location")
			if u, err := url.Parse(loc); err == nil {
				u.RawQuery, u.Fragment, u.User = "", "", nil
				loc = u.String()
			}
			e.Message = fmt.Sprintf("redirected to %s: set the site URL to Moodle's wwwroot", c.scrub(loc))
		case resp.StatusCode == http.StatusForbidden && len(bytes.TrimSpace(data)) == 0:
			e.Message = "web services or the REST protocol are disabled on the site"
		case resp.StatusCode == http.StatusNotFound:
			e.Message = "no Moodle web service at " + c.endpoint + ": check the site URL"
		default:
			e.Message = c.excerpt(data)
		}
		return e
	}

	body := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(data), utf8BOM))
	if !json.Valid(body) {
		if clean, ok := stripPHPNoise(body); ok {
			body = clean
		} else {
			return c.badAnswer(function, body)
		}
	}
	if exc, ok := c.exception(function, body); ok {
		return exc
	}
	if out == nil || bytes.Equal(body, []byte("null")) {
		return nil
	}
	if err := decodeJSON(body, out); err != nil {
		return &Error{Function: function, Kind: KindDecode, Message: "unexpected answer", Err: err}
	}
	return nil
}

func (c *Client) badAnswer(function string, body []byte) *Error {
	e := &Error{Function: function, Kind: KindBadAnswer}
	switch {
	case len(body) == 0:
		e.Message = "empty answer (a PHP fatal error with display_errors off?)"
	case bytes.HasPrefix(body, []byte("<?xml")):
		e.Message = "answered XML instead of JSON: " + c.excerpt(body)
	case body[0] == '<':
		e.Message = "answered HTML instead of JSON (maintenance, an upgrade, or a PHP error): " + c.excerpt(body)
	default:
		e.Message = "answered something that is not JSON: " + c.excerpt(body)
	}
	return e
}

// exception recognises Moodle's error object: {"exception": …, "errorcode": …, "message": …}
// (in that order from Moodle, in any order here).
func (c *Client) exception(function string, body []byte) (*Error, bool) {
	if len(body) == 0 || body[0] != '{' || !bytes.Contains(body, []byte(`"exception"`)) {
		return nil, false
	}
	var x struct {
		Exception *string `json:"exception"`
		ErrorCode string  `json:"errorcode"`
		Message   string  `json:"message"`
		DebugInfo string  `json:"debuginfo"`
	}
	if err := json.Unmarshal(body, &x); err != nil || x.Exception == nil || x.ErrorCode == "" && x.Message == "" {
		return nil, false
	}
	return &Error{
		Function:  function,
		Kind:      KindException,
		Status:    http.StatusOK,
		Exception: *x.Exception,
		ErrorCode: x.ErrorCode,
		Message:   c.scrub(x.Message),
		DebugInfo: c.scrub(x.DebugInfo),
	}, true
}

var (
	reTags   = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]*>`)
	reSpaces = regexp.MustCompile(`\s+`)
)

// excerpt is up to 200 characters of an answer's text, tags removed, token masked.
func (c *Client) excerpt(data []byte) string {
	const limit = 200
	if len(data) > 64<<10 {
		data = data[:64<<10]
	}
	s := string(data)
	if strings.Contains(s, "<") {
		s = html.UnescapeString(reTags.ReplaceAllString(s, " "))
	}
	s = strings.TrimSpace(reSpaces.ReplaceAllString(strings.ToValidUTF8(s, ""), " "))
	s = c.scrub(s)
	if utf8.RuneCountInString(s) > limit {
		r := []rune(s)
		s = string(r[:limit]) + "…"
	}
	return s
}

var rePHPNoise = regexp.MustCompile(`(?i)\b(warning|notice|deprecated|strict standards)\b.*\bon line\b`)

// stripPHPNoise finds the JSON answer after PHP's diagnostics: a site with display_errors on
// prints "<b>Warning</b>: … on line N" before the answer of a perfectly good call.
func stripPHPNoise(body []byte) ([]byte, bool) {
	tried := 0
	for i := 0; i < len(body) && tried < 64; i++ {
		if body[i] != '{' && body[i] != '[' && !bytes.HasPrefix(body[i:], []byte("null")) {
			continue
		}
		tried++
		if json.Valid(body[i:]) && rePHPNoise.Match(body[:i]) {
			return body[i:], true
		}
	}
	return nil, false
}

// formatID is an id as a form value.
func formatID(id int64) string { return strconv.FormatInt(id, 10) }
