package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// DefaultUserAgent is the User-Agent of a Client without WithUserAgent.
const DefaultUserAgent = "mih-go-client/1"

// maxAnswer bounds what is read of one answer: a gateway answer carries a service's body of up
// to 1 MiB, possibly base64-encoded, and a little more.
const maxAnswer = 16 << 20

// Client calls one hub. It is safe for concurrent use; build one and share it.
type Client struct {
	base  string // the hub's root URL, without a trailing slash
	token string
	hc    *http.Client
	agent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests with hc (a proxy, TLS roots, a timeout).
// Without it, each Client has an http.Client of its own that does not follow redirects.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.agent = ua
		}
	}
}

// New returns a Client of the hub at baseURL (its root, such as "http://127.0.0.1:8080"; a
// trailing /api/v1 is accepted too) that authenticates with token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, errors.New("mih client: the base URL does not parse")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("mih client: base URL scheme %q: want http or https", u.Scheme)
	case u.Host == "":
		return nil, errors.New("mih client: the base URL has no host")
	case u.User != nil:
		// Credentials in the URL would travel in logs and errors; the token goes in a header.
		return nil, errors.New("mih client: the base URL must not carry credentials; pass the API token")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("mih client: the base URL must not have a query or fragment")
	}
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("mih client: the API token is empty")
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/api/v1")
	u.RawPath = ""
	c := &Client{
		base:  strings.TrimRight(u.String(), "/"),
		token: strings.TrimSpace(token),
		agent: DefaultUserAgent,
		hc: &http.Client{
			// The hub never redirects; following one could carry the token elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// String names the hub the Client talks to; it never shows the token.
func (c Client) String() string { return "mih.Client(" + c.base + ")" }

// GoString is String, so that %#v does not print the token either.
func (c Client) GoString() string { return c.String() }

// Request calls service through the gateway and waits for the outcome: path is appended to a
// REST service's base URL (a SOAP operation, an AMQP routing key), payload is any value that
// encodes to JSON (json.RawMessage and []byte are sent as they are), method is GET, POST (when
// empty), PUT, PATCH or DELETE. It is Send(service).To(path).With(payload).Method(method).Do(ctx).
func (c *Client) Request(ctx context.Context, service, path string, payload any, method string) (*Response, error) {
	return c.Send(service).To(path).With(payload).Method(method).Do(ctx)
}

// Published is what the hub did with a batch of events.
type Published struct {
	// Accepted counts the events stored now; Duplicates the ones it already had (same id).
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
}

// PublishEvent sends events to the hub, which stores them with their deliveries before it answers.
// Each event is a *mih.Event, a map or a struct that encodes to the Moodle event shape
// (docs/moodle.md, What Moodle sends), or json.RawMessage; a slice argument contributes its
// elements. A bad event rejects the whole batch with a 400 *Error naming its index, and nothing is
// stored. Sending an event twice is safe when it has an id: the hub counts the second as a
// duplicate.
func (c *Client) PublishEvent(ctx context.Context, events ...any) (Published, error) {
	var items []json.RawMessage
	for _, e := range flatten(events) {
		b, err := encodeJSON(e)
		if err != nil {
			return Published{}, fmt.Errorf("mih client: event %d: %w", len(items), err)
		}
		items = append(items, b)
	}
	if len(items) == 0 {
		return Published{}, errors.New("mih client: no events to publish")
	}
	body, err := json.Marshal(struct {
		Events []json.RawMessage `json:"events"`
	}{items})
	if err != nil {
		return Published{}, fmt.Errorf("mih client: encode events: %w", err)
	}
	var out Published
	if err := c.post(ctx, "/api/v1/events", body, nil, &out, http.StatusAccepted); err != nil {
		return Published{}, err
	}
	return out, nil
}

// flatten expands slice and array arguments (other than raw JSON) into their elements.
func flatten(args []any) []any {
	out := make([]any, 0, len(args))
	for _, a := range args {
		switch a.(type) {
		case json.RawMessage, []byte, nil:
			out = append(out, a)
			continue
		}
		v := reflect.ValueOf(a)
		if k := v.Kind(); k != reflect.Slice && k != reflect.Array {
			out = append(out, a)
			continue
		}
		for i := range v.Len() {
			out = append(out, v.Index(i).Interface())
		}
	}
	return out
}

// encodeJSON encodes v, sending raw JSON as it is once checked.
func encodeJSON(v any) (json.RawMessage, error) {
	switch b := v.(type) {
	case json.RawMessage:
		if !json.Valid(b) {
			return nil, errors.New("not valid JSON")
		}
		return b, nil
	case []byte:
		if !json.Valid(b) {
			return nil, errors.New("not valid JSON")
		}
		return b, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode as JSON: %w", err)
	}
	return b, nil
}

// post sends body to the hub and decodes the answer into out when its status is one of ok.
func (c *Client) post(ctx context.Context, path string, body []byte, header http.Header, out any, ok ...int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("mih client: build the request: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("mih client: POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("mih client: POST %s: read the answer: %w", path, err)
	}
	if !slices.Contains(ok, resp.StatusCode) {
		return hubError(resp, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return unexpected(resp, fmt.Sprintf("the answer does not decode: %v", err))
	}
	return nil
}
