package soap

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// opWSDL is a one-operation WSDL ("Op", SOAP 1.1, document/literal) around the given schemas,
// whose request element is {urn:a}Req and response element {urn:a}Resp.
func opWSDL(schemas string) string {
	return `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="urn:a" xmlns:b="urn:b" targetNamespace="urn:a">
  <types>` + schemas + `</types>
  <message name="In"><part name="p" element="a:Req"/></message>
  <message name="Out"><part name="p" element="a:Resp"/></message>
  <portType name="PT"><operation name="Op"><input message="a:In"/><output message="a:Out"/></operation></portType>
  <binding name="B" type="a:PT"><soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="Op"><soap:operation soapAction="urn:a/Op"/><input><soap:body use="literal"/></input><output><soap:body use="literal"/></output></operation>
  </binding>
  <service name="S"><port name="P" binding="a:B"><soap:address location="http://127.0.0.1:1/op"/></port></service>
</definitions>`
}

// featureSchemas exercise the schema constructs the encoder supports: two schemas (qualified
// urn:a, unqualified urn:b), extension, ref, groups, a repeated choice, simpleContent with an
// attribute, xsd:any and anyType.
const featureSchemas = `
<xsd:schema targetNamespace="urn:b" elementFormDefault="unqualified">
  <xsd:complexType name="Person">
    <xsd:sequence><xsd:element name="id" type="xsd:int"/><xsd:element name="name" type="xsd:string" minOccurs="0"/></xsd:sequence>
    <xsd:attribute name="kind" type="xsd:string"/>
  </xsd:complexType>
  <xsd:complexType name="Student">
    <xsd:complexContent><xsd:extension base="b:Person">
      <xsd:sequence><xsd:element name="grade" type="xsd:string"/></xsd:sequence>
    </xsd:extension></xsd:complexContent>
  </xsd:complexType>
  <xsd:element name="note" type="xsd:string"/>
</xsd:schema>
<xsd:schema targetNamespace="urn:a" elementFormDefault="qualified">
  <xsd:import namespace="urn:b"/>
  <xsd:complexType name="Amount">
    <xsd:simpleContent><xsd:extension base="xsd:decimal"><xsd:attribute name="currency" type="xsd:string"/></xsd:extension></xsd:simpleContent>
  </xsd:complexType>
  <xsd:group name="Audit">
    <xsd:sequence><xsd:element name="by" type="xsd:string"/><xsd:element name="at" type="xsd:dateTime"/></xsd:sequence>
  </xsd:group>
  <xsd:element name="Req">
    <xsd:complexType>
      <xsd:sequence>
        <xsd:element name="student" type="b:Student" minOccurs="0"/>
        <xsd:element ref="b:note" minOccurs="0"/>
        <xsd:choice minOccurs="0" maxOccurs="unbounded">
          <xsd:element name="tag" type="xsd:string"/>
          <xsd:element name="label" type="xsd:string"/>
        </xsd:choice>
        <xsd:element name="fee" type="a:Amount" minOccurs="0"/>
        <xsd:group ref="a:Audit" minOccurs="0"/>
        <xsd:element name="extra" minOccurs="0"/>
        <xsd:element name="open" minOccurs="0">
          <xsd:complexType><xsd:sequence>
            <xsd:element name="first" type="xsd:string"/>
            <xsd:any namespace="##any" processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
          </xsd:sequence></xsd:complexType>
        </xsd:element>
        <xsd:element name="ext" type="a:Missing" minOccurs="0"/>
      </xsd:sequence>
    </xsd:complexType>
  </xsd:element>
  <xsd:element name="Resp">
    <xsd:complexType><xsd:sequence>
      <xsd:element name="items" minOccurs="0">
        <xsd:complexType><xsd:sequence><xsd:element name="item" type="b:Person" maxOccurs="unbounded"/></xsd:sequence></xsd:complexType>
      </xsd:element>
      <xsd:element name="count" type="xsd:int"/>
    </xsd:sequence></xsd:complexType>
  </xsd:element>
</xsd:schema>`

func mustParse(t *testing.T, wsdl string) *wsdlDoc {
	t.Helper()
	base, _ := url.Parse("http://127.0.0.1:1/svc?wsdl")
	doc, err := parseWSDL([]byte(wsdl), base)
	if err != nil {
		t.Fatalf("parseWSDL: %v", err)
	}
	return doc
}

func TestBuildEnvelope(t *testing.T) {
	doc := mustParse(t, opWSDL(featureSchemas))
	op := doc.ops["Op"]
	const (
		open  = `<tns:Req xmlns:tns="urn:a">`
		close = `</tns:Req>`
	)
	tests := []struct {
		name, payload string
		want          string // the request element; "" when wantErr is set
		wantErr       string
	}{
		{"empty payload", ``, `<tns:Req xmlns:tns="urn:a"/>`, ""},
		{"null payload", `null`, `<tns:Req xmlns:tns="urn:a"/>`, ""},
		{"extension: base fields first, unqualified schema, attribute",
			`{"student":{"grade":"A","@kind":"regular","id":7}}`,
			open + `<tns:student kind="regular"><id>7</id><grade>A</grade></tns:student>` + close, ""},
		{"ref to another schema's global element is qualified there",
			`{"note":"hi"}`,
			`<tns:Req xmlns:tns="urn:a" xmlns:ns1="urn:b"><ns1:note>hi</ns1:note></tns:Req>`, ""},
		{"repeated choice keeps schema order of its elements",
			`{"label":["l1","l2"],"tag":"t"}`,
			open + `<tns:tag>t</tns:tag><tns:label>l1</tns:label><tns:label>l2</tns:label>` + close, ""},
		{"simpleContent: scalar or #text with attribute",
			`{"fee":{"#text":12.50,"@currency":"EUR"}}`,
			open + `<tns:fee currency="EUR">12.50</tns:fee>` + close, ""},
		{"simpleContent scalar", `{"fee":3}`, open + `<tns:fee>3</tns:fee>` + close, ""},
		{"group expanded in place",
			`{"at":"2026-01-01T00:00:00Z","by":"admin","note":"n"}`,
			`<tns:Req xmlns:tns="urn:a" xmlns:ns1="urn:b"><ns1:note>n</ns1:note><tns:by>admin</tns:by><tns:at>2026-01-01T00:00:00Z</tns:at></tns:Req>`, ""},
		{"anyType: children in sorted order",
			`{"extra":{"z":1,"a":{"b":true},"list":[1,2]}}`,
			open + `<tns:extra><tns:a><tns:b>true</tns:b></tns:a><tns:list>1</tns:list><tns:list>2</tns:list><tns:z>1</tns:z></tns:extra>` + close, ""},
		{"xsd:any: unknown keys after the declared ones, sorted",
			`{"open":{"zeta":"z","first":"f","alpha":"a"}}`,
			open + `<tns:open><tns:first>f</tns:first><tns:alpha>a</tns:alpha><tns:zeta>z</tns:zeta></tns:open>` + close, ""},
		{"null omitted when not nillable", `{"note":null,"tag":[null,"x"]}`, open + `<tns:tag>x</tns:tag>` + close, ""},
		{"control characters replaced", `{"tag":"a\u0001b\tc"}`, open + `<tns:tag>a` + "\uFFFD" + `b&#x9;c</tns:tag>` + close, ""},
		{"undeclared attribute", `{"student":{"@grade":"A"}}`, "", `Req.student: unknown field "@grade"`},
		{"wildcard needs a valid name", `{"open":{"a b":1}}`, "", `unknown field "a b"`},
		{"missing type", `{"ext":"x"}`, "", "Req.ext: type {urn:a}Missing is not defined in the WSDL's schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := buildEnvelope(doc.schema, op, json.RawMessage(tc.payload))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			got = strings.TrimPrefix(got, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<soap:Envelope xmlns:soap="`+envSOAP11+`"><soap:Body>`)
			got = strings.TrimSuffix(got, `</soap:Body></soap:Envelope>`)
			if got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestBuildEnvelope_ExternalSchema(t *testing.T) {
	wsdl := opWSDL(`<xsd:schema targetNamespace="urn:a" elementFormDefault="qualified">
	  <xsd:import namespace="urn:a" schemaLocation="https://example.com/types.xsd"/>
	</xsd:schema>`)
	doc := mustParse(t, wsdl)
	_, err := buildEnvelope(doc.schema, doc.ops["Op"], json.RawMessage(`{"a":1}`))
	for _, want := range []string{"element {urn:a}Req is not defined", "https://example.com/types.xsd", "not fetched"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to contain %q", err, want)
		}
	}
}

func TestParseResponse(t *testing.T) {
	doc := mustParse(t, opWSDL(featureSchemas))
	out := doc.ops["Op"].output
	env := func(body string) string {
		return `<s:Envelope xmlns:s="` + envSOAP11 + `" xmlns:a="urn:a" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><s:Body>` + body + `</s:Body></s:Envelope>`
	}
	tests := []struct {
		name, xml, want string
	}{
		{"declared list with one item is an array; numbers stay text",
			env(`<a:Resp><a:items><a:item kind="x"><id>0042</id></a:item></a:items><a:count>1</a:count></a:Resp>`),
			`{"items":{"item":[{"@kind":"x","id":"0042"}]},"count":"1"}`},
		{"undeclared repeated elements become an array",
			env(`<Other><v>1</v><v>2</v><w/></Other>`),
			`{"v":["1","2"],"w":null}`},
		{"attributes with text", env(`<Other><p unit="kg">3</p></Other>`), `{"p":{"@unit":"kg","#text":"3"}}`},
		{"xsi:nil is null, text kept as written", env(`<Other><a xsi:nil="true"/><b>  x </b></Other>`), `{"a":null,"b":"  x "}`},
		{"entities and CDATA", env(`<Other><t>a &lt;b&gt; &amp; <![CDATA[<c>]]></t></Other>`), `{"t":"a <b> & <c>"}`},
		{"empty body", env(``), `null`},
		{"text-only first child", env(`<R>ok</R>`), `"ok"`},
		{"SOAP 1.2 envelope", `<e:Envelope xmlns:e="` + envSOAP12 + `"><e:Body><R><x>1</x></R></e:Body></e:Envelope>`, `{"x":"1"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parseResponse([]byte(tc.xml), doc.schema, out)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(res.body); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{``, `<html/>`, `<s:Envelope xmlns:s="urn:other"><s:Body/></s:Envelope>`, `<s:Envelope xmlns:s="` + envSOAP11 + `"/>`, `<a><b></a>`} {
		if _, err := parseResponse([]byte(bad), doc.schema, out); err == nil {
			t.Errorf("parseResponse(%q): got no error, want not a SOAP envelope", bad)
		}
	}
}

func TestParseResponse_Fault(t *testing.T) {
	tests := []struct {
		name, xml string
		want      Fault
		retryable bool
	}{
		{"1.1 client", `<s:Envelope xmlns:s="` + envSOAP11 + `"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad email</faultstring><faultactor>urn:x</faultactor></s:Fault></s:Body></s:Envelope>`,
			Fault{Code: "s:Client", String: "bad email", Actor: "urn:x"}, false},
		{"1.1 qualified children", `<s:Envelope xmlns:s="` + envSOAP11 + `"><s:Body><s:Fault><s:faultcode>Server</s:faultcode><s:faultstring> down </s:faultstring></s:Fault></s:Body></s:Envelope>`,
			Fault{Code: "Server", String: "down"}, true},
		{"1.2 receiver, reason in the only language", `<e:Envelope xmlns:e="` + envSOAP12 + `"><e:Body><e:Fault><e:Code><e:Value>e:Receiver</e:Value></e:Code><e:Reason><e:Text xml:lang="de">kaputt</e:Text></e:Reason><e:Node>urn:n</e:Node></e:Fault></e:Body></e:Envelope>`,
			Fault{Code: "e:Receiver", String: "kaputt", Actor: "urn:n"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parseResponse([]byte(tc.xml), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.fault == nil || *res.fault != tc.want {
				t.Fatalf("got %+v, want %+v", res.fault, tc.want)
			}
			if got := res.fault.Retryable(); got != tc.retryable {
				t.Errorf("retryable: got %v, want %v", got, tc.retryable)
			}
		})
	}
}

func TestFault_Retryable(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"soap:Client", false},
		{"Client", false},
		{"SOAP-ENV:Client.Authentication", false},
		{"soap:Server", true},
		{"Server.Busy", true},
		{"env:Sender", false},
		{"env:Receiver", true},
		{"env:MustUnderstand", false},
		{"soap:VersionMismatch", false},
		{"env:DataEncodingUnknown", false},
		{"", false},
		{"custom:Whatever", false},
	}
	for _, tc := range tests {
		if got := (&Fault{Code: tc.code}).Retryable(); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.code, got, tc.want)
		}
	}
}
