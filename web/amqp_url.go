package web

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// amqpParts is the AMQP connection builder of the service form (docs/web-ui.md, Services): the
// fields an administrator fills in, which make the service's base_url (docs/api.md, Transports),
//
//	amqp://user:pass@host:5672/vhost?exchange=X&routing_key=Y&queue_declare=Z&dlq=DLQ
//
// and which an edit splits back out of it.
type amqpParts struct {
	TLS        bool // amqps
	Host       string
	Port       string
	User       string
	Password   string
	VHost      string
	Exchange   string
	RoutingKey string
	Queue      string
	DLQ        string
}

// amqpParams are the query parameters of an AMQP URL, in the order the URL is written.
var amqpParams = []string{"exchange", "routing_key", "queue_declare", "dlq"}

func defaultAMQPPort(tls bool) string {
	if tls {
		return "5671"
	}
	return "5672"
}

// url composes the service URL. The vhost is written URL-encoded ("/" as %2F, the default);
// empty query parameters are left out (an empty exchange is the default exchange).
func (p amqpParts) url() (string, error) {
	host := strings.TrimSpace(p.Host)
	if host == "" {
		return "", fmt.Errorf("host: required")
	}
	if strings.ContainsAny(host, "/@?#[]: \t") && !isIPv6(host) {
		return "", fmt.Errorf("host %q: want a host name or an IP address", host)
	}
	port := strings.TrimSpace(p.Port)
	if port == "" {
		port = defaultAMQPPort(p.TLS)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	vhost := p.VHost
	if vhost == "" {
		vhost = "/"
	}
	u := url.URL{Scheme: "amqp", Host: net.JoinHostPort(strings.Trim(host, "[]"), port),
		Path: "/" + vhost, RawPath: "/" + url.PathEscape(vhost)}
	if p.TLS {
		u.Scheme = "amqps"
	}
	switch {
	case p.User != "" && p.Password != "":
		u.User = url.UserPassword(p.User, p.Password)
	case p.User != "":
		u.User = url.User(p.User)
	case p.Password != "":
		return "", fmt.Errorf("user: required with a password")
	}
	var q []string
	for i, v := range []string{p.Exchange, p.RoutingKey, p.Queue, p.DLQ} {
		if v = strings.TrimSpace(v); v != "" {
			q = append(q, amqpParams[i]+"="+url.QueryEscape(v))
		}
	}
	u.RawQuery = strings.Join(q, "&")
	return u.String(), nil
}

func isIPv6(host string) bool {
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.To4() == nil
}

// splitAMQP reads the builder's fields back from a service URL. The password comes back too:
// callers must not show it.
func splitAMQP(raw string) (amqpParts, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return amqpParts{}, fmt.Errorf("base_url: not a URL")
	}
	if u.Scheme != "amqp" && u.Scheme != "amqps" {
		return amqpParts{}, fmt.Errorf("base_url: scheme %q is not amqp or amqps", u.Scheme)
	}
	p := amqpParts{TLS: u.Scheme == "amqps", Host: u.Hostname(), Port: u.Port()}
	if strings.Contains(p.Host, ":") && !isIPv6(p.Host) {
		// url.Parse lets "amqp://0::" through with the host "0:".
		return amqpParts{}, fmt.Errorf("base_url: host %q is not a host name or an IP address", p.Host)
	}
	if p.Port == "" {
		p.Port = defaultAMQPPort(p.TLS)
	}
	if u.User != nil {
		p.User = u.User.Username()
		p.Password, _ = u.User.Password()
	}
	p.VHost = strings.TrimPrefix(u.Path, "/")
	if p.VHost == "" {
		p.VHost = "/"
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(amqpParams, k) {
			return p, fmt.Errorf("base_url: parameter %q is not one the connection builder knows (%s)", k, strings.Join(amqpParams, ", "))
		}
	}
	// Trimmed as the builder trims what is typed: the form shows what url() would write.
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	p.Exchange, p.RoutingKey, p.Queue, p.DLQ = get("exchange"), get("routing_key"), get("queue_declare"), get("dlq")
	return p, nil
}
