package amqp

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/mihhub/mih"
)

// maxShortString is the longest AMQP short string: exchange, queue and routing key names.
const maxShortString = 255

// target is what a service's base URL says: where to connect and where to publish.
type target struct {
	scheme     string // amqp or amqps
	host       string // without brackets
	port       int
	username   string
	password   string
	vhost      string // URL-decoded; "/" by default
	exchange   string // "" is the default exchange
	routingKey string // the default routing key; Request.Path overrides it
	queue      string // queue_declare: declared durable before publishing
	dlq        string // dead-letter queue of queue, declared durable
	redacted   string // the base URL with its password masked, for Response.URL
	server     string // scheme://user@host:port/vhost, for logs: no password, no query
}

// connKey identifies the connection a target needs: everything but the query. It holds the
// password, so it is a map key and nothing else: it is never logged nor returned.
func (t *target) connKey() string {
	return strings.Join([]string{t.scheme, t.username, t.password, t.addr(), t.vhost}, "\x00")
}

func (t *target) addr() string { return net.JoinHostPort(t.host, strconv.Itoa(t.port)) }

// dialURL is the URL handed to amqp091's DialConfig: scheme, host and port only. Credentials
// and vhost go through its Config, and no query parameter reaches it (it would read TLS
// certificate files named in the query).
func (t *target) dialURL() string { return t.scheme + "://" + t.addr() + "/" }

// parseTarget reads a service's base URL (docs/api.md, Transports):
//
//	amqp://user:pass@host:5672/vhost?exchange=X&routing_key=Y&queue_declare=Z&dlq=DLQ
//
// The vhost is one URL-decoded path segment (%2F is "/"), "/" when the path is empty. auth
// supplies the credentials when the URL has none and the service's auth type is basic; without
// either the broker's default guest/guest is used. Errors are *mih.SendError with code
// invalid_request and never quote the URL, which carries a password.
func parseTarget(raw string, auth mih.Auth) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, invalid("base_url is not a valid URL (a reserved character in the user or password must be percent-encoded)")
	}
	t := &target{scheme: u.Scheme, redacted: mih.RedactURL(raw)}
	switch u.Scheme {
	case "amqp":
		t.port = 5672
	case "amqps":
		t.port = 5671
	default:
		return nil, invalid("base_url scheme %q is not amqp or amqps", u.Scheme)
	}
	t.host = u.Hostname()
	if t.host == "" {
		return nil, invalid("base_url has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, invalid("base_url port %q is not valid", p)
		}
		t.port = n
	}

	t.username, t.password = "guest", "guest"
	switch {
	case u.User != nil:
		t.username = u.User.Username()
		t.password, _ = u.User.Password()
	case auth.Type == mih.AuthBasic:
		t.username, t.password = auth.Username, auth.Password
	}

	seg := strings.TrimPrefix(u.EscapedPath(), "/")
	if strings.Contains(seg, "/") {
		return nil, invalid("base_url path must be one segment, the vhost (write a / inside it as %%2F)")
	}
	t.vhost = "/"
	if seg != "" {
		v, err := url.PathUnescape(seg)
		if err != nil {
			return nil, invalid("base_url vhost is not validly escaped")
		}
		t.vhost = v
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, invalid("base_url query is not valid")
	}
	for k, v := range q {
		if len(v) > 1 {
			return nil, invalid("base_url parameter %q is given more than once", k)
		}
		var dst *string
		switch k {
		case "exchange":
			dst = &t.exchange
		case "routing_key":
			dst = &t.routingKey
		case "queue_declare":
			dst = &t.queue
		case "dlq":
			dst = &t.dlq
		default:
			return nil, invalid("base_url parameter %q is not one of exchange, routing_key, queue_declare, dlq", k)
		}
		if len(v[0]) > maxShortString {
			return nil, invalid("base_url parameter %q is longer than %d bytes", k, maxShortString)
		}
		*dst = v[0]
	}
	if t.dlq != "" && t.queue == "" {
		return nil, invalid("base_url parameter dlq needs queue_declare: it is the dead-letter queue of that queue")
	}
	if t.dlq != "" && t.dlq == t.queue {
		return nil, invalid("base_url parameters queue_declare and dlq name the same queue")
	}
	if strings.HasPrefix(t.queue, "amq.") || strings.HasPrefix(t.dlq, "amq.") {
		return nil, invalid("base_url queue names starting with amq. are reserved by the broker")
	}

	server := url.URL{Scheme: t.scheme, Host: u.Host, Path: "/"}
	if seg != "" {
		server.Path, server.RawPath = "/"+t.vhost, "/"+seg
	}
	if u.User != nil {
		server.User = url.User(t.username)
	}
	t.server = server.String()
	return t, nil
}

// routingKey is the key a request is published with: Request.Path when given, taken verbatim
// except for one leading "/" (rule endpoints and gateway paths are often written REST-style, as
// "/orders.created"; a key that must start with "/" is written with two). Without a path it is
// the URL's routing_key, and without that, on the default exchange, the queue_declare queue.
// The default exchange routes by queue name and needs a key; a named exchange may take an
// empty one (fanout and headers exchanges ignore it).
func (t *target) routingKeyFor(path string) (string, error) {
	key := strings.TrimPrefix(path, "/")
	if key == "" {
		key = t.routingKey
	}
	if key == "" && t.exchange == "" {
		key = t.queue
	}
	switch {
	case key == "" && t.exchange == "":
		return "", invalid("no routing key: the default exchange needs one (routing_key in base_url, or the endpoint or path of the call)")
	case len(key) > maxShortString:
		return "", invalid("routing key is longer than %d bytes", maxShortString)
	}
	return key, nil
}

// messageID is the message_id of a publish: the idempotency key, or a fresh id for a call that
// has none (a synchronous gateway call), so that consumers can always deduplicate.
func messageID(r *mih.Request) string {
	if r.IdempotencyKey != "" {
		return r.IdempotencyKey
	}
	return "mih_" + rand.Text()
}

func invalid(format string, args ...any) *mih.SendError {
	return &mih.SendError{Code: mih.ErrRequest, Message: fmt.Sprintf(format, args...)}
}
