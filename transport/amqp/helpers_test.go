package amqp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/mihhub/mih"
)

// The integration tests run against a real RabbitMQ broker:
//
//	MIH_TEST_AMQP_URL       the broker's URL (amqp://guest:guest@127.0.0.1:PORT/); the tests that
//	                        need a broker skip without it
//	MIH_TEST_RABBITMQ_DIR   the folder of a broker started by scripts/rabbitmq.sh, the same one as
//	                        MIH_TEST_AMQP_URL; TestTransport_BrokerRestart restarts that broker with
//	                        scripts/rabbitmq.sh restart, and skips without it
//
// scripts/rabbitmq.sh start DIR prints the URL, so:
//
//	scripts/rabbitmq.sh start /tmp/rmq >/dev/null
//	MIH_TEST_AMQP_URL=$(cat /tmp/rmq/url) MIH_TEST_RABBITMQ_DIR=/tmp/rmq go test ./transport/amqp/
//	scripts/rabbitmq.sh stop /tmp/rmq
//
// Lost connections, timeouts, TLS and connection counting use small proxies on 127.0.0.1 in
// front of the broker (below).

// brokerURL is the test broker's URL, or skips the test.
func brokerURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("MIH_TEST_AMQP_URL")
	if u == "" {
		t.Skip("MIH_TEST_AMQP_URL is not set: start a broker with scripts/rabbitmq.sh start DIR and set it to DIR/url's content")
	}
	return u
}

// withURL rewrites a broker URL: another host:port (when addr is not empty), another path, and
// the query.
func withURL(t *testing.T, base, addr, path, query string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	if addr != "" {
		u.Host = addr
	}
	u.Path, u.RawPath = "", ""
	return strings.TrimSuffix(u.String(), "/") + path + query
}

// service is an AMQP service over url with a 5 s timeout.
func service(url string) *mih.Service {
	s := mih.NewService()
	s.Name, s.Type, s.BaseURL = "amqp-test", mih.ServiceAMQP, url
	return s
}

// admin is the test's own connection to the broker, to declare, inspect and consume.
type admin struct {
	t  *testing.T
	c  *amqp091.Connection
	ch *amqp091.Channel
}

func newAdmin(t *testing.T, url string) *admin {
	t.Helper()
	c, err := amqp091.Dial(url)
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	a := &admin{t: t, c: c, ch: ch}
	t.Cleanup(func() { c.Close() })
	return a
}

// name is a queue or exchange name unique to this test run.
func name(t *testing.T, what string) string {
	r := strings.NewReplacer("/", ".", " ", "_")
	return fmt.Sprintf("mihtest.%s.%s.%d", r.Replace(t.Name()), what, time.Now().UnixNano())
}

// queue declares a queue that is deleted when the test ends.
func (a *admin) queue(name string, args amqp091.Table) {
	a.t.Helper()
	if _, err := a.ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		a.t.Fatalf("declare %s: %v", name, err)
	}
	a.deleteLater(name)
}

func (a *admin) deleteLater(queues ...string) {
	a.t.Cleanup(func() {
		for _, q := range queues {
			a.ch.QueueDelete(q, false, false, false)
		}
	})
}

// get takes one message from a queue, waiting up to 5 s for it.
func (a *admin) get(queue string, autoAck bool) amqp091.Delivery {
	a.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, ok, err := a.ch.Get(queue, autoAck)
		if err != nil {
			a.t.Fatalf("get from %s: %v", queue, err)
		}
		if ok {
			return d
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("no message in %s after 5 s", queue)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count is the number of ready messages in a queue.
func (a *admin) count(queue string) int {
	a.t.Helper()
	q, err := a.ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		a.t.Fatalf("inspect %s: %v", queue, err)
	}
	return q.Messages
}

// proxy forwards TCP connections from 127.0.0.1 to the broker, counts them, can hold back
// what the broker sends (freeze) and can cut every connection (drop). With a TLS config it
// terminates TLS, standing in for a broker with amqps.
type proxy struct {
	ln       net.Listener
	upstream string
	accepted atomic.Int64
	frozen   atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
}

func newProxy(t *testing.T, upstream string, tlsConfig *tls.Config) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	p := &proxy{ln: ln, upstream: upstream}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.drop()
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		u, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { io.Copy(u, c); u.Close(); c.Close() }()
		go p.down(c, u)
	}
}

// down copies from the broker to the client, holding the data while frozen (for 30 s at most).
func (p *proxy) down(c, u net.Conn) {
	defer c.Close()
	defer u.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := u.Read(buf)
		for i := 0; i < 3000 && p.frozen.Load(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// drop cuts every connection made so far.
func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mih test broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}
