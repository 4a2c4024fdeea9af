package soap

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// twoPortsWSDL offers the same operations over SOAP 1.2 (first) and SOAP 1.1, plus an rpc and
// an encoded operation, and a binding without a port.
const twoPortsWSDL = `<?xml version="1.0"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:a="urn:a" targetNamespace="urn:a">
  <types><xsd:schema targetNamespace="urn:a"><xsd:element name="Ping"/></xsd:schema></types>
  <message name="PingIn"><part name="p" element="a:Ping"/></message>
  <message name="RPCIn"><part name="x" type="xsd:string"/></message>
  <message name="TwoIn"><part name="h" element="a:Ping"/><part name="b" element="a:Ping"/></message>
  <portType name="PT">
    <operation name="Ping"><input message="a:PingIn"/></operation>
    <operation name="RPC"><input message="a:RPCIn"/></operation>
    <operation name="Enc"><input message="a:PingIn"/></operation>
    <operation name="Typed"><input message="a:RPCIn"/></operation>
    <operation name="HeaderPart"><input message="a:TwoIn"/></operation>
    <operation name="Orphan"><input message="a:PingIn"/></operation>
  </portType>
  <binding name="B12" type="a:PT"><s12:binding style="document"/>
    <operation name="Ping"><s12:operation soapAction="urn:a/Ping12"/><input><s12:body use="literal"/></input></operation>
  </binding>
  <binding name="B11" type="a:PT"><soap:binding style="document"/>
    <operation name="Ping"><soap:operation soapAction="urn:a/Ping11"/><input><soap:body use="literal"/></input></operation>
    <operation name="RPC"><soap:operation soapAction="" style="rpc"/><input><soap:body use="literal"/></input></operation>
    <operation name="Enc"><soap:operation/><input><soap:body use="encoded"/></input></operation>
    <operation name="Typed"><soap:operation/><input><soap:body use="literal"/></input></operation>
    <operation name="HeaderPart"><soap:operation/><input><soap:body use="literal" parts="b"/><soap:header message="a:TwoIn" part="h" use="literal"/></input></operation>
  </binding>
  <binding name="BNoPort" type="a:PT"><soap:binding style="document"/>
    <operation name="Orphan"><soap:operation/><input><soap:body use="literal"/></input></operation>
  </binding>
  <binding name="BHTTP" type="a:PT"><http:binding xmlns:http="http://schemas.xmlsoap.org/wsdl/http/" verb="GET"/></binding>
  <service name="S">
    <port name="P12" binding="a:B12"><s12:address location="https://soap.example.com/v12"/></port>
    <port name="P11" binding="a:B11"><soap:address location="svc/v11"/></port>
    <port name="PH" binding="a:BHTTP"><http:address xmlns:http="http://schemas.xmlsoap.org/wsdl/http/" location="https://x/"/></port>
  </service>
</definitions>`

func TestParseWSDL_Operations(t *testing.T) {
	base, _ := url.Parse("https://legacy.example.com/app/service?wsdl")
	doc, err := parseWSDL([]byte(twoPortsWSDL), base)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(doc.names(), ","), "Enc,HeaderPart,Orphan,Ping,RPC,Typed"; got != want {
		t.Errorf("operations: got %s, want %s", got, want)
	}
	tests := []struct {
		op          string
		version     version
		action      string
		address     string
		unsupported string
	}{
		{"Ping", soap12, "urn:a/Ping12", "https://soap.example.com/v12", ""},
		{"RPC", soap11, "", "https://legacy.example.com/app/svc/v11", "uses rpc style"},
		{"Enc", soap11, "", "https://legacy.example.com/app/svc/v11", `uses SOAP encoding (use="encoded")`},
		{"Typed", soap11, "", "https://legacy.example.com/app/svc/v11", `part "x" has a type, not an element`},
		{"HeaderPart", soap11, "", "https://legacy.example.com/app/svc/v11", ""},
		{"Orphan", soap11, "", "", ""},
	}
	for _, tc := range tests {
		op := doc.ops[tc.op]
		if op == nil {
			t.Errorf("%s: missing", tc.op)
			continue
		}
		if op.version != tc.version || op.action != tc.action || op.address != tc.address {
			t.Errorf("%s: got %v %q %q, want %v %q %q", tc.op, op.version, op.action, op.address, tc.version, tc.action, tc.address)
		}
		if (tc.unsupported == "") != (op.unsupported == "") || !strings.Contains(op.unsupported, tc.unsupported) {
			t.Errorf("%s: unsupported %q, want %q", tc.op, op.unsupported, tc.unsupported)
		}
	}
	if in := doc.ops["HeaderPart"].input; in == nil || in.name != "Ping" {
		t.Errorf("HeaderPart: got input %+v, want the body part's element only", in)
	}
}

func TestParseWSDL_Refused(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1/?wsdl")
	tests := []struct{ name, doc, want string }{
		{"not XML", `<html><body>Login<br></body></html>`, "not an XML document"},
		{"HTML", `<html><body>Login</body></html>`, "not a WSDL 1.1 document"},
		{"WSDL 2.0", `<description xmlns="http://www.w3.org/ns/wsdl"/>`, "WSDL 2.0"},
		{"no SOAP binding", `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"/>`, "no SOAP 1.1 or SOAP 1.2 binding"},
		{"bindings imported", `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"><import namespace="urn:a" location="https://x/b.wsdl"/></definitions>`, "it imports https://x/b.wsdl, which is not fetched"},
		{"external entity", `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><definitions xmlns="http://schemas.xmlsoap.org/wsdl/">&x;</definitions>`, "not an XML document"},
		{"too deep", strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1), "nested deeper"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseWSDL([]byte(tc.doc), base)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			// Only a well-formed WSDL that cannot be used is final; anything else may be a
			// passing error page.
			_, final := errors.AsType[*unusableError](err)
			if wantFinal := tc.name == "WSDL 2.0" || tc.name == "no SOAP binding" || tc.name == "bindings imported"; final != wantFinal {
				t.Errorf("final: got %v, want %v", final, wantFinal)
			}
		})
	}
}

func TestWSDLCache_SharedFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newWSDLCache(time.Minute, time.Now, slog.New(slog.DiscardHandler))
		release := make(chan struct{})
		var fetches atomic.Int32
		want := &wsdlDoc{}
		fetch := func() (*wsdlDoc, error) {
			fetches.Add(1)
			<-release
			return want, nil
		}
		var wg sync.WaitGroup
		got := make([]*wsdlDoc, 8)
		for i := range got {
			wg.Go(func() {
				d, err := c.get(context.Background(), "k", "url", fetch)
				if err != nil {
					t.Error(err)
				}
				got[i] = d
			})
		}
		// A caller that gives up early does not fail the others.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := c.get(ctx, "k", "url", fetch); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("impatient caller: got %v, want its deadline", err)
		}
		synctest.Wait()
		if n := fetches.Load(); n != 1 {
			t.Errorf("got %d fetches while all wait, want 1", n)
		}
		close(release)
		wg.Wait()
		for i, d := range got {
			if d != want {
				t.Errorf("caller %d: got %p, want the shared document", i, d)
			}
		}
		if n := fetches.Load(); n != 1 {
			t.Errorf("got %d fetches, want 1", n)
		}
	})
}

func TestWSDLCache_FailuresAndExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newWSDLCache(time.Minute, time.Now, slog.New(slog.DiscardHandler))
		boom := errors.New("boom")
		var fail atomic.Bool
		var fetches atomic.Int32
		doc1, doc2 := &wsdlDoc{}, &wsdlDoc{}
		next := doc1
		fetch := func() (*wsdlDoc, error) {
			fetches.Add(1)
			if fail.Load() {
				return nil, boom
			}
			return next, nil
		}
		get := func(key string) (*wsdlDoc, error) { return c.get(context.Background(), key, key, fetch) }

		fail.Store(true)
		if _, err := get("k"); !errors.Is(err, boom) {
			t.Fatalf("first fetch: got %v, want boom", err)
		}
		fail.Store(false)
		if d, err := get("k"); err != nil || d != doc1 || fetches.Load() != 2 {
			t.Fatalf("after a failure: got %p %v after %d fetches, want a new fetch (failures are not cached)", d, err, fetches.Load())
		}

		time.Sleep(time.Minute + time.Second)
		fail.Store(true)
		if d, err := get("k"); err != nil || d != doc1 {
			t.Fatalf("failed refresh: got %p %v, want the stale document", d, err)
		}
		time.Sleep(maxStaleRetry + time.Second)
		fail.Store(false)
		next = doc2
		if d, _ := get("k"); d != doc2 || fetches.Load() != 4 {
			t.Errorf("after the stale retry: got %p after %d fetches, want the new document after 4", d, fetches.Load())
		}

		// A key nobody uses is dropped once it expired a full TTL ago.
		get("other")
		time.Sleep(3 * time.Minute)
		get("k")
		c.mu.Lock()
		_, kept := c.entries["other"]
		c.mu.Unlock()
		if kept {
			t.Error("an entry unused for two TTLs is still cached")
		}
	})
}

func TestSameHostRedirect(t *testing.T) {
	from, _ := url.Parse("http://user:pw@legacy.example.com:8080/svc?wsdl")
	tests := []struct {
		name     string
		status   int
		location string
		want     string // "" for not followed
	}{
		{"trailing slash", 301, "/svc/?wsdl", "http://user:pw@legacy.example.com:8080/svc/?wsdl"},
		{"https upgrade", 308, "https://legacy.example.com/svc?wsdl", "https://user:pw@legacy.example.com/svc?wsdl"},
		{"other host", 302, "http://evil.example.com/svc?wsdl", ""},
		{"other port same scheme", 302, "http://legacy.example.com:9090/svc?wsdl", ""},
		{"https downgrade", 302, "ftp://legacy.example.com/svc", ""},
		{"no location", 302, "", ""},
		{"not a redirect", 200, "/x", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hr := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.location != "" {
				hr.Header.Set("Location", tc.location)
			}
			got := ""
			if u := sameHostRedirect(hr, from); u != nil {
				got = u.String()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
