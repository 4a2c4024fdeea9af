package soap

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Namespaces of WSDL 1.1, its SOAP bindings and the SOAP envelopes.
const (
	nsWSDL    = "http://schemas.xmlsoap.org/wsdl/"
	nsWSDL20  = "http://www.w3.org/ns/wsdl"
	nsSOAP11  = "http://schemas.xmlsoap.org/wsdl/soap/"
	nsSOAP12  = "http://schemas.xmlsoap.org/wsdl/soap12/"
	envSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	envSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	nsXSI     = "http://www.w3.org/2001/XMLSchema-instance"
)

// version is a SOAP version.
type version int

const (
	soap11 version = 11
	soap12 version = 12
)

// envNS is the envelope namespace of v.
func (v version) envNS() string {
	if v == soap12 {
		return envSOAP12
	}
	return envSOAP11
}

// wsdlDoc is a parsed WSDL: what Send needs to call each operation. It is immutable, so one
// cached document serves concurrent calls.
type wsdlDoc struct {
	schema *schemaSet
	ops    map[string]*operation
}

// operation is one callable operation of the first SOAP port that offers it.
type operation struct {
	name    string
	version version
	action  string    // soapAction, "" when the WSDL gives none
	address string    // the port's soap:address, absolute
	input   *elemDecl // the request element; nil when the input message has no part
	output  *elemDecl // the response element; nil when unknown
	// unsupported says why the operation cannot be called (rpc style, encoded use, …).
	unsupported string
}

// names lists the operations, sorted.
func (d *wsdlDoc) names() []string {
	names := make([]string, 0, len(d.ops))
	for n := range d.ops {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

type wsdlMessage struct {
	parts []wsdlPart
}

type wsdlPart struct {
	name    string
	element xml.Name
	typ     xml.Name
}

type wsdlBinding struct {
	portType xml.Name
	version  version // 0 when the binding is not SOAP (an HTTP binding)
	style    string
	ops      []*bindingOp
}

type bindingOp struct {
	name      string
	action    string
	style     string
	use       string
	bodyParts []string // soap:body parts="…"; nil means every part
	hasParts  bool
}

type portTypeOp struct {
	input, output xml.Name
}

// parseWSDL reads a WSDL 1.1 document fetched from base (against which relative addresses
// resolve).
func parseWSDL(b []byte, base *url.URL) (*wsdlDoc, error) {
	root, err := parseXML(b)
	if err != nil {
		return nil, fmt.Errorf("not an XML document: %w", err)
	}
	switch {
	case root.is(nsWSDL20, "description"):
		return nil, unusable("a WSDL 2.0 document; only WSDL 1.1 is supported")
	case !root.is(nsWSDL, "definitions"):
		return nil, fmt.Errorf("not a WSDL 1.1 document (root element %s)", fmtName(root.name))
	}
	tns := root.attr("targetNamespace")
	doc := &wsdlDoc{schema: parseSchemas(root.child(nsWSDL, "types")), ops: map[string]*operation{}}

	messages := map[xml.Name]*wsdlMessage{}
	portTypes := map[xml.Name]map[string]portTypeOp{}
	bindings := map[xml.Name]*wsdlBinding{}
	var services []*node
	var imports []string
	for _, c := range root.children {
		if c.name.Space != nsWSDL {
			continue
		}
		name := xml.Name{Space: tns, Local: c.attr("name")}
		switch c.name.Local {
		case "message":
			m := &wsdlMessage{}
			for _, p := range c.children {
				if !p.is(nsWSDL, "part") {
					continue
				}
				part := wsdlPart{name: p.attr("name")}
				if v := p.attr("element"); v != "" {
					part.element = p.qname(v)
				}
				if v := p.attr("type"); v != "" {
					part.typ = p.qname(v)
				}
				m.parts = append(m.parts, part)
			}
			messages[name] = m
		case "portType":
			ops := map[string]portTypeOp{}
			for _, o := range c.children {
				if !o.is(nsWSDL, "operation") {
					continue
				}
				if _, dup := ops[o.attr("name")]; dup {
					continue // an overloaded name: the first one wins
				}
				var op portTypeOp
				if in := o.child(nsWSDL, "input"); in != nil {
					op.input = in.qname(in.attr("message"))
				}
				if out := o.child(nsWSDL, "output"); out != nil {
					op.output = out.qname(out.attr("message"))
				}
				ops[o.attr("name")] = op
			}
			portTypes[name] = ops
		case "binding":
			bindings[name] = parseBinding(c)
		case "service":
			services = append(services, c)
		case "import":
			imports = append(imports, c.attr("location"))
		}
	}

	add := func(b *wsdlBinding, address string) {
		for _, bo := range b.ops {
			if _, ok := doc.ops[bo.name]; ok {
				continue
			}
			op := &operation{name: bo.name, version: b.version, action: bo.action, address: address}
			doc.ops[bo.name] = op
			style := cmp.Or(bo.style, b.style, "document")
			switch {
			case style != "document":
				op.unsupported = fmt.Sprintf("operation %s uses %s style; only document/literal is supported", bo.name, style)
				continue
			case bo.use != "" && bo.use != "literal":
				op.unsupported = fmt.Sprintf("operation %s uses SOAP encoding (use=%q); only document/literal is supported", bo.name, bo.use)
				continue
			}
			pt, ok := portTypes[b.portType][bo.name]
			if !ok {
				op.unsupported = fmt.Sprintf("operation %s is bound but not declared in port type %s", bo.name, fmtName(b.portType))
				continue
			}
			op.input, op.unsupported = bodyElement(messages, pt.input, bo, true)
			op.output, _ = bodyElement(messages, pt.output, nil, false)
		}
	}
	// Ports in document order: the first SOAP port offering an operation is the one used.
	used := map[*wsdlBinding]bool{}
	for _, svc := range services {
		for _, p := range svc.children {
			if !p.is(nsWSDL, "port") {
				continue
			}
			b := bindings[p.qname(p.attr("binding"))]
			if b == nil || b.version == 0 {
				continue
			}
			addr := p.child(nsSOAP11, "address")
			if addr == nil {
				addr = p.child(nsSOAP12, "address")
			}
			if addr == nil {
				continue
			}
			loc, err := base.Parse(strings.TrimSpace(addr.attr("location")))
			if err != nil || (loc.Scheme != "http" && loc.Scheme != "https") || loc.Host == "" {
				continue
			}
			used[b] = true
			add(b, loc.String())
		}
	}
	// A SOAP binding without a port still lists its operations, so that a call says what is
	// missing rather than "unknown operation".
	for _, b := range bindings {
		if b.version != 0 && !used[b] {
			add(b, "")
		}
	}
	if len(doc.ops) == 0 {
		msg := "the WSDL has no SOAP 1.1 or SOAP 1.2 binding with operations"
		if len(imports) > 0 {
			msg += fmt.Sprintf(" (it imports %s, which is not fetched: serve a single-file WSDL)", strings.Join(imports, ", "))
		}
		return nil, unusable(msg)
	}
	return doc, nil
}

// unusableError is a well-formed WSDL 1.1 or 2.0 document that cannot be used: fetching it
// again will not help, unlike a document that is not a WSDL at all (a proxy's error page).
type unusableError struct{ msg string }

func (e *unusableError) Error() string { return e.msg }

func unusable(msg string) error { return &unusableError{msg} }

func parseBinding(n *node) *wsdlBinding {
	b := &wsdlBinding{portType: n.qname(n.attr("type"))}
	if sb := n.child(nsSOAP11, "binding"); sb != nil {
		b.version, b.style = soap11, sb.attr("style")
	} else if sb := n.child(nsSOAP12, "binding"); sb != nil {
		b.version, b.style = soap12, sb.attr("style")
	}
	ns := nsSOAP11
	if b.version == soap12 {
		ns = nsSOAP12
	}
	for _, o := range n.children {
		if !o.is(nsWSDL, "operation") {
			continue
		}
		bo := &bindingOp{name: o.attr("name")}
		if so := o.child(ns, "operation"); so != nil {
			bo.action, bo.style = so.attr("soapAction"), so.attr("style")
		}
		if in := o.child(nsWSDL, "input"); in != nil {
			if body := in.child(ns, "body"); body != nil {
				bo.use = body.attr("use")
				if body.hasAttr("parts") {
					bo.hasParts = true
					bo.bodyParts = strings.Fields(body.attr("parts"))
				}
			}
		}
		b.ops = append(b.ops, bo)
	}
	return b
}

// bodyElement finds the element that a message puts in the SOAP body. Document/literal
// allows one part, declared with element="…"; bo (for the input) may select body parts.
func bodyElement(messages map[xml.Name]*wsdlMessage, msg xml.Name, bo *bindingOp, input bool) (*elemDecl, string) {
	m, ok := messages[msg]
	if !ok {
		if input && msg != (xml.Name{}) {
			return nil, fmt.Sprintf("operation %s: message %s is not defined in the WSDL", bo.name, fmtName(msg))
		}
		return nil, ""
	}
	var parts []wsdlPart
	for _, p := range m.parts {
		if bo == nil || !bo.hasParts || slices.Contains(bo.bodyParts, p.name) {
			parts = append(parts, p)
		}
	}
	switch {
	case len(parts) == 0:
		return nil, ""
	case len(parts) > 1:
		return nil, fmt.Sprintf("operation %s: the body has %d parts; only one (document/literal wrapped) is supported", bo.nameOr(), len(parts))
	case parts[0].element == (xml.Name{}):
		return nil, fmt.Sprintf("operation %s: part %q has a type, not an element; only document/literal is supported", bo.nameOr(), parts[0].name)
	}
	el := parts[0].element
	return &elemDecl{name: el.Local, ns: el.Space, min: 1, max: 1, ref: el}, ""
}

func (bo *bindingOp) nameOr() string {
	if bo == nil {
		return "(output)"
	}
	return bo.name
}
