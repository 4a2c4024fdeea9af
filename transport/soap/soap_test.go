package soap

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

const usersNS = "urn:mih:test:users"

// usersWSDL is a user-management service: CreateUser(name, email, roles[], address{street,
// city}, manager (nillable), age, active) and DeleteUser(userId), with a real schema. v picks
// the SOAP binding, qualified the schema's elementFormDefault; address is the port's
// soap:address location (relative locations resolve against the WSDL URL).
func usersWSDL(v version, qualified bool, address string) string {
	bindNS, bind := nsSOAP11, "soap"
	if v == soap12 {
		bindNS, bind = nsSOAP12, "soap12"
	}
	form := "unqualified"
	if qualified {
		form = "qualified"
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="Users" targetNamespace="urn:mih:test:users"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:%[1]s="%[2]s"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:tns="urn:mih:test:users">
  <wsdl:types>
    <xsd:schema targetNamespace="urn:mih:test:users" elementFormDefault="%[3]s">
      <xsd:complexType name="Address">
        <xsd:sequence>
          <xsd:element name="street" type="xsd:string"/>
          <xsd:element name="city" type="xsd:string"/>
        </xsd:sequence>
      </xsd:complexType>
      <xsd:element name="CreateUser">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="name" type="xsd:string"/>
            <xsd:element name="email" type="xsd:string"/>
            <xsd:element name="roles" type="xsd:string" minOccurs="0" maxOccurs="unbounded"/>
            <xsd:element name="address" type="tns:Address" minOccurs="0"/>
            <xsd:element name="manager" type="xsd:string" minOccurs="0" nillable="true"/>
            <xsd:element name="age" type="xsd:long" minOccurs="0"/>
            <xsd:element name="active" type="xsd:boolean" minOccurs="0"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="CreateUserResponse">
        <xsd:complexType>
          <xsd:sequence>
            <xsd:element name="userId" type="xsd:string"/>
            <xsd:element name="name" type="xsd:string"/>
            <xsd:element name="roles" type="xsd:string" minOccurs="0" maxOccurs="unbounded"/>
            <xsd:element name="address" type="tns:Address" minOccurs="0"/>
          </xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="DeleteUser">
        <xsd:complexType>
          <xsd:sequence><xsd:element name="userId" type="xsd:string"/></xsd:sequence>
        </xsd:complexType>
      </xsd:element>
      <xsd:element name="DeleteUserResponse">
        <xsd:complexType>
          <xsd:sequence><xsd:element name="deleted" type="xsd:boolean"/></xsd:sequence>
        </xsd:complexType>
      </xsd:element>
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="CreateUserRequest"><wsdl:part name="parameters" element="tns:CreateUser"/></wsdl:message>
  <wsdl:message name="CreateUserResponse"><wsdl:part name="parameters" element="tns:CreateUserResponse"/></wsdl:message>
  <wsdl:message name="DeleteUserRequest"><wsdl:part name="parameters" element="tns:DeleteUser"/></wsdl:message>
  <wsdl:message name="DeleteUserResponse"><wsdl:part name="parameters" element="tns:DeleteUserResponse"/></wsdl:message>
  <wsdl:portType name="UsersPort">
    <wsdl:operation name="CreateUser">
      <wsdl:input message="tns:CreateUserRequest"/>
      <wsdl:output message="tns:CreateUserResponse"/>
    </wsdl:operation>
    <wsdl:operation name="DeleteUser">
      <wsdl:input message="tns:DeleteUserRequest"/>
      <wsdl:output message="tns:DeleteUserResponse"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="UsersBinding" type="tns:UsersPort">
    <%[1]s:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="CreateUser">
      <%[1]s:operation soapAction="urn:mih:test:users/CreateUser"/>
      <wsdl:input><%[1]s:body use="literal"/></wsdl:input>
      <wsdl:output><%[1]s:body use="literal"/></wsdl:output>
    </wsdl:operation>
    <wsdl:operation name="DeleteUser">
      <%[1]s:operation soapAction=""/>
      <wsdl:input><%[1]s:body use="literal"/></wsdl:input>
      <wsdl:output><%[1]s:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="UsersService">
    <wsdl:port name="UsersPort" binding="tns:UsersBinding">
      <%[1]s:address location="%[4]s"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>`, bind, bindNS, form, address)
}

// xnode is an XML element as the test server sees it, decoded by encoding/xml alone so that
// the test does not trust the package's own parser.
type xnode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []xnode    `xml:",any"`
}

func (n *xnode) child(local string) *xnode {
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == local {
			return &n.Nodes[i]
		}
	}
	return nil
}

// call is one request the SOAP endpoint received.
type call struct {
	header http.Header
	body   string
	env    xnode
	req    *xnode // the Body's first child
}

// soapServer serves a WSDL at /svc?wsdl and implements its operations at /soap.
type soapServer struct {
	t       *testing.T
	srv     *httptest.Server
	version version
	qual    bool
	relAddr bool // the WSDL gives a relative soap:address

	fetches    atomic.Int32
	wsdlStatus atomic.Int32 // answer the WSDL with this status when set
	mu         sync.Mutex
	calls      []call
}

func newSOAPServer(t *testing.T, v version, qualified bool) *soapServer {
	t.Helper()
	s := &soapServer{t: t, version: v, qual: qualified}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *soapServer) wsdlURL() string { return s.srv.URL + "/svc?wsdl" }

func (s *soapServer) lastCall() call {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		s.t.Fatal("the SOAP endpoint was not called")
	}
	return s.calls[len(s.calls)-1]
}

func (s *soapServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/svc" {
		s.fetches.Add(1)
		if st := s.wsdlStatus.Load(); st != 0 {
			http.Error(w, "<html>maintenance</html>", int(st))
			return
		}
		addr := s.srv.URL + "/soap"
		if s.relAddr {
			addr = "/soap"
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		io.WriteString(w, usersWSDL(s.version, s.qual, addr))
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/soap" {
		http.NotFound(w, r)
		return
	}
	b, _ := io.ReadAll(r.Body)
	c := call{header: r.Header.Clone(), body: string(b)}
	if err := xml.Unmarshal(b, &c.env); err != nil {
		http.Error(w, "not XML: "+err.Error(), http.StatusBadRequest)
		return
	}
	if body := c.env.child("Body"); body != nil && len(body.Nodes) > 0 {
		c.req = &body.Nodes[0]
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	if c.req == nil {
		http.Error(w, "no request element", http.StatusBadRequest)
		return
	}

	env := s.version.envNS()
	ct := "text/xml; charset=utf-8"
	if s.version == soap12 {
		ct = "application/soap+xml; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	name := ""
	if n := c.req.child("name"); n != nil {
		name = n.Text
	}
	switch name {
	case "slow":
		<-r.Context().Done()
		return
	case "client-fault", "server-fault":
		client := name == "client-fault"
		if s.version == soap12 {
			code, status := "env:Receiver", http.StatusInternalServerError
			if client {
				code, status = "env:Sender", http.StatusBadRequest
			}
			w.WriteHeader(status)
			fmt.Fprintf(w, `<env:Envelope xmlns:env="%s"><env:Body><env:Fault>`+
				`<env:Code><env:Value>%s</env:Value><env:Subcode><env:Value xmlns:u="urn:mih:test:users">u:Rejected</env:Value></env:Subcode></env:Code>`+
				`<env:Reason><env:Text xml:lang="fr">refusé</env:Text><env:Text xml:lang="en">%s refused</env:Text></env:Reason>`+
				`<env:Detail><u:code xmlns:u="urn:mih:test:users">E42</u:code></env:Detail>`+
				`</env:Fault></env:Body></env:Envelope>`, env, code, name)
			return
		}
		code := "SOAP-ENV:Server.Database"
		if client {
			code = "SOAP-ENV:Client"
		}
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `<SOAP-ENV:Envelope xmlns:SOAP-ENV="%s"><SOAP-ENV:Body><SOAP-ENV:Fault>`+
			`<faultcode>%s</faultcode><faultstring>%s refused</faultstring>`+
			`<detail><u:code xmlns:u="urn:mih:test:users">E42</u:code></detail>`+
			`</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`, env, code, name)
		return
	}

	// A realistic answer: the response element in the schema's form, echoing the name, the
	// first role only (so that the client must know from the schema that roles is a list)
	// and the address.
	q := "" // unqualified children: no prefix, and no default namespace is declared
	if s.qual {
		q = "u:"
	}
	var out strings.Builder
	fmt.Fprintf(&out, `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="%s"><s:Body>`, env)
	switch c.req.XMLName.Local {
	case "CreateUser":
		fmt.Fprintf(&out, `<u:CreateUserResponse xmlns:u="%s">`, usersNS)
		fmt.Fprintf(&out, `<%[1]suserId>u-42</%[1]suserId><%[1]sname>%[2]s</%[1]sname>`, q, escape(name))
		if roles := c.req.child("roles"); roles != nil {
			fmt.Fprintf(&out, `<%[1]sroles>%[2]s</%[1]sroles>`, q, escape(roles.Text))
		}
		if a := c.req.child("address"); a != nil {
			fmt.Fprintf(&out, `<%[1]saddress><%[1]sstreet>%[2]s</%[1]sstreet><%[1]scity/></%[1]saddress>`, q, escape(a.child("street").Text))
		}
		out.WriteString(`</u:CreateUserResponse>`)
	case "DeleteUser":
		fmt.Fprintf(&out, `<u:DeleteUserResponse xmlns:u="%s"><%[2]sdeleted>true</%[2]sdeleted></u:DeleteUserResponse>`, usersNS, q)
	}
	out.WriteString(`</s:Body></s:Envelope>`)
	io.WriteString(w, out.String())
}

func soapService(wsdl string) *mih.Service {
	s := mih.NewService()
	s.Name = "legacy-soap"
	s.Type = mih.ServiceSOAP
	s.BaseURL = wsdl
	return s
}

func sendErr(t *testing.T, err error) *mih.SendError {
	t.Helper()
	se, ok := errors.AsType[*mih.SendError](err)
	if !ok {
		t.Fatalf("got %v (%T), want a *mih.SendError", err, err)
	}
	return se
}

// trickyName has every character XML must escape, quotes and non-ASCII text.
const trickyName = `O'Brien <Zoë> & "Ünïcødé" ✓ 日本`

func TestTransport_Send_CreateUser(t *testing.T) {
	tests := []struct {
		name      string
		version   version
		qualified bool
		relAddr   bool
	}{
		{"SOAP 1.1 qualified", soap11, true, false},
		{"SOAP 1.2 qualified", soap12, true, true},
		{"SOAP 1.1 unqualified", soap11, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSOAPServer(t, tc.version, tc.qualified)
			srv.relAddr = tc.relAddr
			tr := New(Options{Version: "1.2.3"})
			t.Cleanup(func() { tr.Close() })

			svc := soapService(srv.wsdlURL())
			svc.Auth = mih.Auth{Type: mih.AuthBasic, Username: "moodle", Password: "s3cret"}
			svc.Headers = map[string]string{"X-Tenant": "42", "Content-Type": "application/json"}
			// JSON key order is deliberately not the schema's.
			payload := `{"active": true, "age": 12345678901234567890, "address": {"city": "Zürich", "street": "Bahnhofstr. 1 & 2"},
				"manager": null, "roles": ["editingteacher", "student", "manager<x>"], "email": "obrien@example.com", "name": ` + jsonString(trickyName) + `}`
			resp, err := tr.Send(context.Background(), svc, &mih.Request{
				Path: "/CreateUser", Body: json.RawMessage(payload), IdempotencyKey: "ev1:7",
			})
			if err != nil {
				t.Fatalf("Send: %v (body %s)", err, respBody(resp))
			}
			c := srv.lastCall()

			// The envelope: version, request element, children in schema order and namespace.
			if got, want := c.env.XMLName, (xml.Name{Space: tc.version.envNS(), Local: "Envelope"}); got != want {
				t.Errorf("envelope: got %v, want %v", got, want)
			}
			if got, want := c.req.XMLName, (xml.Name{Space: usersNS, Local: "CreateUser"}); got != want {
				t.Errorf("request element: got %v, want %v", got, want)
			}
			childNS := ""
			if tc.qualified {
				childNS = usersNS
			}
			var order []string
			for _, n := range c.req.Nodes {
				order = append(order, n.XMLName.Local)
				if n.XMLName.Space != childNS {
					t.Errorf("%s: namespace %q, want %q", n.XMLName.Local, n.XMLName.Space, childNS)
				}
			}
			if got, want := strings.Join(order, ","), "name,email,roles,roles,roles,address,manager,age,active"; got != want {
				t.Errorf("element order:\n got %s\nwant %s", got, want)
			}
			checks := []struct{ name, got, want string }{
				{"escaped name", c.req.child("name").Text, trickyName},
				{"third role", c.req.Nodes[4].Text, "manager<x>"},
				{"street", c.req.child("address").child("street").Text, "Bahnhofstr. 1 & 2"},
				{"city", c.req.child("address").child("city").Text, "Zürich"},
				{"address child order", c.req.child("address").Nodes[0].XMLName.Local, "street"},
				{"nil manager", attr(c.req.child("manager"), "http://www.w3.org/2001/XMLSchema-instance", "nil"), "true"},
				{"big number verbatim", c.req.child("age").Text, "12345678901234567890"},
				{"boolean", c.req.child("active").Text, "true"},
				{"authorization", c.header.Get("Authorization"), "Basic bW9vZGxlOnMzY3JldA=="},
				{"service header", c.header.Get("X-Tenant"), "42"},
				{"idempotency", c.header.Get("Idempotency-Key"), "ev1:7"},
				{"user agent", c.header.Get("User-Agent"), "mih/1.2.3"},
				{"response URL", resp.URL, srv.srv.URL + "/soap"},
				{"masked authorization", resp.RequestHeaders["Authorization"], mih.Masked},
				{"visible header", resp.RequestHeaders["X-Tenant"], "42"},
				{"status", fmt.Sprint(resp.Status), "200"},
			}
			if tc.version == soap12 {
				checks = append(checks,
					struct{ name, got, want string }{"content type", c.header.Get("Content-Type"), `application/soap+xml; charset=utf-8; action="urn:mih:test:users/CreateUser"`},
					struct{ name, got, want string }{"no SOAPAction", fmt.Sprint(c.header.Values("SOAPAction")), "[]"},
				)
			} else {
				checks = append(checks,
					struct{ name, got, want string }{"content type", c.header.Get("Content-Type"), "text/xml; charset=utf-8"},
					struct{ name, got, want string }{"SOAPAction", c.header.Get("SOAPAction"), `"urn:mih:test:users/CreateUser"`},
				)
			}
			for _, ck := range checks {
				if ck.got != ck.want {
					t.Errorf("%s: got %q, want %q", ck.name, ck.got, ck.want)
				}
			}

			// The response: the response element's children as JSON, in document order;
			// roles is an array although it occurred once, because the schema says unbounded.
			want := `{"userId":"u-42","name":` + jsonString(trickyName) + `,"roles":["editingteacher"],"address":{"street":"Bahnhofstr. 1 & 2","city":null}}`
			if got := string(resp.Body); got != want {
				t.Errorf("response body:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestTransport_Send_EmptyAction(t *testing.T) {
	srv := newSOAPServer(t, soap11, true)
	tr := New(Options{})
	t.Cleanup(func() { tr.Close() })
	resp, err := tr.Send(context.Background(), soapService(srv.wsdlURL()), &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"u-42"}`)})
	if err != nil {
		t.Fatal(err)
	}
	c := srv.lastCall()
	if got := c.header.Values("SOAPAction"); len(got) != 1 || got[0] != `""` {
		t.Errorf("SOAPAction: got %q, want one empty quoted action", got)
	}
	if got, want := string(resp.Body), `{"deleted":"true"}`; got != want {
		t.Errorf("body: got %s, want %s (text is never guessed into a boolean)", got, want)
	}
}

func TestTransport_Send_Faults(t *testing.T) {
	tests := []struct {
		name       string
		version    version
		input      string
		wantStatus int
		wantRetry  bool
		wantCode   string
	}{
		{"SOAP 1.1 Client", soap11, "client-fault", 500, false, "SOAP-ENV:Client"},
		{"SOAP 1.1 Server", soap11, "server-fault", 500, true, "SOAP-ENV:Server.Database"},
		{"SOAP 1.2 Sender", soap12, "client-fault", 400, false, "env:Sender"},
		{"SOAP 1.2 Receiver", soap12, "server-fault", 500, true, "env:Receiver"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSOAPServer(t, tc.version, true)
			tr := New(Options{})
			t.Cleanup(func() { tr.Close() })
			resp, err := tr.Send(context.Background(), soapService(srv.wsdlURL()), &mih.Request{
				Path: "CreateUser", Body: json.RawMessage(`{"name":"` + tc.input + `","email":"x@example.com"}`),
			})
			se := sendErr(t, err)
			if se.Code != mih.ErrSOAPFault || se.Retryable != tc.wantRetry || se.Status != tc.wantStatus {
				t.Errorf("got code %s retryable %v status %d, want %s %v %d", se.Code, se.Retryable, se.Status, mih.ErrSOAPFault, tc.wantRetry, tc.wantStatus)
			}
			if want := tc.input + " refused"; se.Message != want {
				t.Errorf("message: got %q, want %q (the fault string; English preferred)", se.Message, want)
			}
			f, ok := errors.AsType[*Fault](err)
			if !ok || f.Code != tc.wantCode {
				t.Errorf("fault: got %+v, want code %s", f, tc.wantCode)
			}
			if resp.Status != tc.wantStatus || !strings.Contains(string(resp.Body), `"E42"`) {
				t.Errorf("response: got status %d body %s, want the fault with its detail as JSON", resp.Status, resp.Body)
			}
			if !json.Valid(resp.Body) {
				t.Errorf("response body is not JSON: %s", resp.Body)
			}
		})
	}
}

func TestTransport_Send_RequestErrors(t *testing.T) {
	srv := newSOAPServer(t, soap11, true)
	tr := New(Options{})
	t.Cleanup(func() { tr.Close() })
	tests := []struct {
		name, path, body string
		want             []string // substrings of the message
	}{
		{"unknown operation", "/UpdateUser", `{}`, []string{`unknown operation "UpdateUser"`, "CreateUser, DeleteUser"}},
		{"no operation", "/", `{}`, []string{"must name the SOAP operation"}},
		{"unknown field", "CreateUser", `{"name":"a","emial":"x"}`, []string{`unknown field "emial"`, "name, email, roles, address, manager, age, active"}},
		{"case", "CreateUser", `{"Name":"a"}`, []string{`did you mean "name"?`}},
		{"wrapped", "CreateUser", `{"CreateUser":{"name":"a"}}`, []string{"do not wrap it"}},
		{"nested unknown", "CreateUser", `{"address":{"zip":"8000"}}`, []string{`CreateUser.address: unknown field "zip"`, "street, city"}},
		{"object for text", "CreateUser", `{"email":{"a":1}}`, []string{"CreateUser.email: want a text"}},
		{"scalar for object", "CreateUser", `{"address":"Main St"}`, []string{"CreateUser.address: want an object with the fields street, city"}},
		{"nested arrays", "CreateUser", `{"roles":[["a"]]}`, []string{"CreateUser.roles[0]: an array inside an array"}},
		{"not an object", "CreateUser", `["a"]`, []string{"must be a JSON object"}},
		{"not JSON", "CreateUser", `{"a":`, []string{"not valid JSON"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := tr.Send(context.Background(), soapService(srv.wsdlURL()), &mih.Request{Path: tc.path, Body: json.RawMessage(tc.body)})
			se := sendErr(t, err)
			if se.Code != mih.ErrRequest || se.Retryable {
				t.Errorf("got %s retryable %v, want a final %s", se.Code, se.Retryable, mih.ErrRequest)
			}
			for _, w := range tc.want {
				if !strings.Contains(se.Message, w) {
					t.Errorf("message %q does not contain %q", se.Message, w)
				}
			}
			if resp == nil {
				t.Error("got a nil Response, want one always")
			}
		})
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.calls) != 0 {
		t.Errorf("the endpoint got %d calls, want none for requests that cannot be built", len(srv.calls))
	}
}

func TestTransport_Send_WSDLCache(t *testing.T) {
	srv := newSOAPServer(t, soap11, true)
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	tr := New(Options{WSDLTTL: time.Minute, Now: clock})
	t.Cleanup(func() { tr.Close() })
	svc := soapService(srv.wsdlURL())
	send := func(svc *mih.Service) error {
		_, err := tr.Send(context.Background(), svc, &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"1"}`)})
		return err
	}
	wantFetches := func(step string, n int32) {
		t.Helper()
		if got := srv.fetches.Load(); got != n {
			t.Errorf("%s: got %d WSDL fetches, want %d", step, got, n)
		}
	}

	for range 3 {
		if err := send(svc); err != nil {
			t.Fatal(err)
		}
	}
	wantFetches("three calls", 1)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := send(svc); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	wantFetches("concurrent calls", 1)

	advance(59 * time.Second)
	send(svc)
	wantFetches("within the TTL", 1)

	advance(2 * time.Second)
	if err := send(svc); err != nil {
		t.Fatal(err)
	}
	wantFetches("after the TTL", 2)

	other := soapService(srv.wsdlURL())
	other.Auth = mih.Auth{Type: mih.AuthBearer, Token: "tok"}
	if err := send(other); err != nil {
		t.Fatal(err)
	}
	wantFetches("other credentials", 3)

	// The WSDL host fails after the TTL: the expired copy keeps serving, and the refresh is
	// tried again only after the stale-retry interval.
	srv.wsdlStatus.Store(http.StatusServiceUnavailable)
	advance(2 * time.Minute)
	if err := send(svc); err != nil {
		t.Fatalf("with a stale WSDL: %v", err)
	}
	wantFetches("failed refresh", 4)
	send(svc)
	wantFetches("right after a failed refresh", 4)
	advance(31 * time.Second)
	send(svc)
	wantFetches("stale retry", 5)
}

func TestTransport_Send_WSDLFailures(t *testing.T) {
	srv := newSOAPServer(t, soap11, true)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/svc?wsdl"
	dead.Close()
	notWSDL := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><body>Login</body></html>")
	}))
	t.Cleanup(notWSDL.Close)

	tests := []struct {
		name       string
		url        string
		status     int32 // the WSDL server's answer
		wantCode   string
		wantStatus int
		wantMsg    string
	}{
		{"server down", deadURL, 0, mih.ErrNetwork, 0, "fetching the WSDL: cannot connect"},
		{"503", srv.wsdlURL(), 503, mih.ErrHTTP, 503, "fetching the WSDL: upstream answered 503"},
		{"404", srv.wsdlURL(), 404, mih.ErrHTTP, 404, "fetching the WSDL: upstream answered 404"},
		{"not a WSDL", notWSDL.URL + "/?wsdl", 0, mih.ErrHTTP, 200, "the WSDL cannot be used: not a WSDL 1.1 document"},
	}
	// (A well-formed WSDL that cannot be used is final: see TestTransport_Send_UnusableWSDL.)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.wsdlStatus.Store(tc.status)
			tr := New(Options{})
			t.Cleanup(func() { tr.Close() })
			resp, err := tr.Send(context.Background(), soapService(tc.url), &mih.Request{Path: "CreateUser", Body: json.RawMessage(`{}`)})
			se := sendErr(t, err)
			if se.Code != tc.wantCode || !se.Retryable || se.Status != tc.wantStatus {
				t.Errorf("got %s retryable %v status %d, want retryable %s status %d", se.Code, se.Retryable, se.Status, tc.wantCode, tc.wantStatus)
			}
			if !strings.Contains(se.Message, tc.wantMsg) {
				t.Errorf("message: got %q, want it to contain %q", se.Message, tc.wantMsg)
			}
			if resp.URL != tc.url || resp.Status != tc.wantStatus {
				t.Errorf("response: got URL %s status %d, want the WSDL's %s %d", resp.URL, resp.Status, tc.url, tc.wantStatus)
			}
		})
	}

	// A failed fetch is not cached: once the WSDL is back, the next call works.
	srv.wsdlStatus.Store(503)
	tr := New(Options{})
	t.Cleanup(func() { tr.Close() })
	svc := soapService(srv.wsdlURL())
	req := &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"1"}`)}
	if _, err := tr.Send(context.Background(), svc, req); err == nil {
		t.Fatal("got success from a 503 WSDL")
	}
	srv.wsdlStatus.Store(0)
	if _, err := tr.Send(context.Background(), svc, req); err != nil {
		t.Errorf("after the WSDL came back: %v", err)
	}
}

func TestTransport_Send_WSDLRedirect(t *testing.T) {
	srv := newSOAPServer(t, soap11, true)
	// front moves its WSDL from /old to /svc on the same host (followed), and serves the rest
	// like srv.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/svc?wsdl", http.StatusMovedPermanently)
			return
		}
		srv.serve(w, r)
	}))
	t.Cleanup(front.Close)
	// away redirects to another host (localhost instead of 127.0.0.1): not followed.
	away := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, strings.Replace(srv.wsdlURL(), "127.0.0.1", "localhost", 1), http.StatusFound)
	}))
	t.Cleanup(away.Close)
	tr := New(Options{})
	t.Cleanup(func() { tr.Close() })
	req := &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"1"}`)}

	if _, err := tr.Send(context.Background(), soapService(front.URL+"/old?wsdl"), req); err != nil {
		t.Errorf("same-host redirect: %v", err)
	}
	_, err := tr.Send(context.Background(), soapService(away.URL+"/?wsdl"), req)
	if se := sendErr(t, err); se.Code != mih.ErrHTTP || se.Status != http.StatusFound || !strings.Contains(se.Message, "set base_url to http://localhost") {
		t.Errorf("other-host redirect: got %v, want a 302 http_error suggesting the new base_url", se)
	}
}

func TestTransport_Send_UnusableWSDL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<description xmlns="http://www.w3.org/ns/wsdl"/>`)
	}))
	t.Cleanup(srv.Close)
	tr := New(Options{})
	t.Cleanup(func() { tr.Close() })
	resp, err := tr.Send(context.Background(), soapService(srv.URL+"/?wsdl"), &mih.Request{Path: "CreateUser"})
	se := sendErr(t, err)
	if se.Code != mih.ErrRequest || se.Retryable || !strings.Contains(se.Message, "WSDL 2.0") {
		t.Errorf("got %v retryable %v, want a final invalid_request about WSDL 2.0", se, se.Retryable)
	}
	if resp.Status != 200 {
		t.Errorf("status: got %d, want the WSDL's 200", resp.Status)
	}
}

func TestTransport_Send_Timeout(t *testing.T) {
	srv := newSOAPServer(t, soap12, true)
	tr := New(Options{})
	t.Cleanup(func() { tr.Close() })
	svc := soapService(srv.wsdlURL())
	// Load the WSDL first, so that the deadline falls on the operation call.
	if _, err := tr.Send(context.Background(), svc, &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"1"}`)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	resp, err := tr.Send(ctx, svc, &mih.Request{Path: "CreateUser", Body: json.RawMessage(`{"name":"slow"}`)})
	se := sendErr(t, err)
	if se.Code != mih.ErrTimeout || !se.Retryable {
		t.Errorf("got %s retryable %v, want a retryable %s", se.Code, se.Retryable, mih.ErrTimeout)
	}
	if resp.URL != srv.srv.URL+"/soap" || resp.Latency < 100*time.Millisecond {
		t.Errorf("response: got URL %s latency %v, want the endpoint and the time waited", resp.URL, resp.Latency)
	}
}

// TestTransport_Send_WSDLTimeout: a caller whose deadline passes while the WSDL loads gets a
// timeout; the fetch goes on detached and serves the next call.
func TestTransport_Send_WSDLTimeout(t *testing.T) {
	release := make(chan struct{})
	var fetches atomic.Int32
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			fetches.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, usersWSDL(soap11, true, srvURL+"/soap"))
			return
		}
		io.WriteString(w, `<s:Envelope xmlns:s="`+envSOAP11+`"><s:Body><DeleteUserResponse xmlns="`+usersNS+`"><deleted>true</deleted></DeleteUserResponse></s:Body></s:Envelope>`)
	}))
	srvURL = srv.URL
	t.Cleanup(srv.Close)
	tr := New(Options{})
	t.Cleanup(func() { tr.Close() })
	svc := soapService(srv.URL + "/svc?wsdl")
	req := &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"1"}`)}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := tr.Send(ctx, svc, req)
	if se := sendErr(t, err); se.Code != mih.ErrTimeout || !se.Retryable || !strings.Contains(se.Message, "WSDL") {
		t.Errorf("got %v, want a retryable timeout fetching the WSDL", se)
	}
	close(release)
	resp, err := tr.Send(context.Background(), svc, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := fetches.Load(); got != 1 {
		t.Errorf("got %d fetches, want the first one to have completed and served the second call", got)
	}
	if got, want := string(resp.Body), `{"deleted":"true"}`; got != want {
		t.Errorf("body: got %s, want %s", got, want)
	}
}

func TestTransport_Send_HTTPOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		ctype     string
		body      string
		wantCode  string // "" for success
		wantRetry bool
		wantBody  string
	}{
		{"html 500", 500, "text/html", "<html>Internal error</html>", mih.ErrHTTP, true, "<html>Internal error</html>"},
		{"502 empty", 502, "", "", mih.ErrHTTP, true, ""},
		{"429", 429, "", "", mih.ErrHTTP, true, ""},
		{"404", 404, "text/plain", "no such path", mih.ErrHTTP, false, "no such path"},
		{"401", 401, "", "", mih.ErrHTTP, false, ""},
		{"redirect not followed", 302, "", "", mih.ErrHTTP, false, ""},
		{"200 not SOAP", 200, "text/html", "<html>login</html>", mih.ErrHTTP, false, "<html>login</html>"},
		{"202 empty one-way", 202, "", "", "", false, ""},
		{"200 fault", 200, "text/xml", `<e:Envelope xmlns:e="` + envSOAP11 + `"><e:Body><e:Fault><faultcode>e:Server</faultcode><faultstring>busy</faultstring></e:Fault></e:Body></e:Envelope>`, mih.ErrSOAPFault, true, `{"faultcode":"e:Server","faultstring":"busy"}`},
		{"latin1", 200, "text/xml", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><e:Envelope xmlns:e=\"" + envSOAP11 + "\"><e:Body><r><city>Z\xfcrich</city></r></e:Body></e:Envelope>", "", false, `{"city":"Zürich"}`},
		{"empty body element", 200, "text/xml", `<e:Envelope xmlns:e="` + envSOAP11 + `"><e:Header/><e:Body/></e:Envelope>`, "", false, "null"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var srvURL string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					io.WriteString(w, usersWSDL(soap11, true, srvURL+"/soap"))
					return
				}
				if tc.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				if tc.status == 429 {
					w.Header().Set("Retry-After", "7")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			srvURL = srv.URL
			t.Cleanup(srv.Close)
			tr := New(Options{})
			t.Cleanup(func() { tr.Close() })
			resp, err := tr.Send(context.Background(), soapService(srv.URL+"/?wsdl"), &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"1"}`)})
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
			} else {
				se := sendErr(t, err)
				if se.Code != tc.wantCode || se.Retryable != tc.wantRetry || se.Status != tc.status {
					t.Errorf("got %s retryable %v status %d, want %s %v %d", se.Code, se.Retryable, se.Status, tc.wantCode, tc.wantRetry, tc.status)
				}
				if tc.status == 429 && se.RetryAfter != 7*time.Second {
					t.Errorf("retry after: got %v, want 7s", se.RetryAfter)
				}
			}
			if got := string(resp.Body); got != tc.wantBody {
				t.Errorf("body: got %q, want %q", got, tc.wantBody)
			}
			if resp.Status != tc.status {
				t.Errorf("status: got %d, want %d", resp.Status, tc.status)
			}
		})
	}
}

func TestTransport_Send_ResponseTooLarge(t *testing.T) {
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, usersWSDL(soap11, true, srvURL+"/soap"))
			return
		}
		io.WriteString(w, `<e:Envelope xmlns:e="`+envSOAP11+`"><e:Body><r><x>`+strings.Repeat("a", 4096)+`</x></r></e:Body></e:Envelope>`)
	}))
	srvURL = srv.URL
	t.Cleanup(srv.Close)
	tr := New(Options{MaxResponseBody: 1024})
	t.Cleanup(func() { tr.Close() })
	resp, err := tr.Send(context.Background(), soapService(srv.URL+"/?wsdl"), &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"1"}`)})
	se := sendErr(t, err)
	if se.Code != mih.ErrHTTP || se.Retryable || !strings.Contains(se.Message, "longer than 1024 bytes") {
		t.Errorf("got %v, want a final http_error about the size", se)
	}
	if len(resp.Body) != 1024 {
		t.Errorf("body: got %d bytes, want the first 1024", len(resp.Body))
	}
}

func TestTransport_Send_AuthHeaders(t *testing.T) {
	tests := []struct {
		name       string
		auth       mih.Auth
		header     string
		wantHeader string
	}{
		{"bearer", mih.Auth{Type: mih.AuthBearer, Token: "tok"}, "Authorization", "Bearer tok"},
		{"apikey", mih.Auth{Type: mih.AuthAPIKey, Token: "key"}, "X-Api-Key", "key"},
		{"header", mih.Auth{Type: mih.AuthHeader, Name: "X-Secret", Value: "v"}, "X-Secret", "v"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string // the header on the WSDL fetch, then on the call
			var srvURL string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Get(tc.header))
				mu.Unlock()
				if r.Method == http.MethodGet {
					io.WriteString(w, usersWSDL(soap11, true, srvURL+"/soap"))
					return
				}
				io.WriteString(w, `<e:Envelope xmlns:e="`+envSOAP11+`"><e:Body/></e:Envelope>`)
			}))
			srvURL = srv.URL
			t.Cleanup(srv.Close)
			tr := New(Options{})
			t.Cleanup(func() { tr.Close() })
			svc := soapService(srv.URL + "/?wsdl")
			svc.Auth = tc.auth
			resp, err := tr.Send(context.Background(), svc, &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"1"}`),
				Headers: map[string]string{tc.header: "forged"}})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 2 || got[0] != tc.wantHeader || got[1] != tc.wantHeader {
				t.Errorf("%s on WSDL fetch and call: got %q, want %q twice", tc.header, got, tc.wantHeader)
			}
			if m := resp.RequestHeaders[http.CanonicalHeaderKey(tc.header)]; m != mih.Masked {
				t.Errorf("request headers: %s is %q, want masked", tc.header, m)
			}
		})
	}
}

// jsonString quotes s as the transport writes JSON strings: without HTML escaping.
func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func respBody(r *mih.Response) string {
	if r == nil {
		return "<nil>"
	}
	return string(r.Body)
}

func attr(n *xnode, space, local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attrs {
		if a.Name.Space == space && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// TestTransport_Send_CredentialsOnlyToTheConfiguredHost: a WSDL whose soap:address names
// another host gets no call with the service's credentials; without credentials the call goes.
func TestTransport_Send_CredentialsOnlyToTheConfiguredHost(t *testing.T) {
	var got atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer other.Close()
	// "localhost" and "127.0.0.1" are one machine but two hosts, as far as credentials go.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	wsdl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		io.WriteString(w, usersWSDL(soap11, false, otherURL+"/soap"))
	}))
	defer wsdl.Close()
	tr := New(Options{})
	defer tr.Close()
	svc := soapService(wsdl.URL + "/svc?wsdl")
	svc.Auth = mih.Auth{Type: mih.AuthBasic, Username: "hub", Password: "soap-secret-pw"}
	_, err := tr.Send(context.Background(), svc, &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"1"}`)})
	if se := sendErr(t, err); se.Code != mih.ErrRequest || se.Retryable || !strings.Contains(se.Message, "credentials go only to") {
		t.Fatalf("got %v, want a final invalid_request", err)
	}
	if got.Load() != 0 {
		t.Fatalf("the other host was called %d times with the credentials", got.Load())
	}
	svc.Auth = mih.Auth{Type: mih.AuthNone}
	tr.Send(context.Background(), svc, &mih.Request{Path: "DeleteUser", Body: json.RawMessage(`{"userId":"1"}`)})
	if got.Load() != 1 {
		t.Errorf("without credentials: the endpoint was called %d times, want 1", got.Load())
	}
}
