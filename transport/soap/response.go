package soap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Fault is a SOAP fault as the service sent it. It is the Err of a soap_fault *mih.SendError,
// for logs and for callers that want the code.
type Fault struct {
	// Code is the SOAP 1.1 faultcode or the SOAP 1.2 Code/Value as written, e.g. "soap:Client".
	Code string
	// Subcode is the SOAP 1.2 Code/Subcode/Value, when present.
	Subcode string
	// String is the SOAP 1.1 faultstring or the SOAP 1.2 Reason text.
	String string
	// Actor is the SOAP 1.1 faultactor or the SOAP 1.2 Node.
	Actor string
}

func (f *Fault) Error() string {
	return fmt.Sprintf("SOAP fault %s: %s", f.Code, f.String)
}

// Retryable reports whether the fault is worth another attempt: a Server (SOAP 1.1) or
// Receiver (SOAP 1.2) fault is the service's own trouble; Client, Sender, MustUnderstand,
// VersionMismatch and unknown codes say the request itself is wrong. The prefix is ignored and
// so are SOAP 1.1's dotted refinements ("soap:Server.Database" is a Server fault).
func (f *Fault) Retryable() bool {
	code := f.Code
	if _, local, ok := strings.Cut(code, ":"); ok {
		code = local
	}
	class, _, _ := strings.Cut(strings.TrimSpace(code), ".")
	return class == "Server" || class == "Receiver"
}

// soapResponse is a parsed SOAP response.
type soapResponse struct {
	body  []byte // the Body's first child as JSON; "null" for an empty Body
	fault *Fault
}

// parseResponse reads a SOAP envelope of either version. The Body's first child becomes JSON,
// guided by out (the operation's response element) where the schema declares it; a Fault is
// returned parsed as well. An error means b is not a SOAP envelope.
func parseResponse(b []byte, s *schemaSet, out *elemDecl) (*soapResponse, error) {
	root, err := parseXML(b)
	if err != nil {
		return nil, err
	}
	env := root.name.Space
	if root.name.Local != "Envelope" || (env != envSOAP11 && env != envSOAP12) {
		return nil, fmt.Errorf("root element %s is not a SOAP envelope", fmtName(root.name))
	}
	body := root.child(env, "Body")
	if body == nil {
		return nil, errors.New("the SOAP envelope has no Body")
	}
	res := &soapResponse{body: []byte("null")}
	if len(body.children) == 0 {
		return res, nil
	}
	first := body.children[0]
	var decl *elemDecl
	if first.is(env, "Fault") {
		res.fault = parseFault(first, env)
	} else if out != nil && s != nil {
		if d, err := s.resolve(out); err == nil && d.name == first.name.Local {
			decl = d
		}
	}
	res.body = toJSON((&decoder{schema: s}).value(first, decl))
	return res, nil
}

func parseFault(n *node, env string) *Fault {
	f := &Fault{}
	text := func(n *node) string {
		if n == nil {
			return ""
		}
		return strings.TrimSpace(n.text)
	}
	if env == envSOAP11 {
		// SOAP 1.1 fault children are unqualified, but some stacks qualify them: match by name.
		f.Code = text(n.childLocal("faultcode"))
		f.String = text(n.childLocal("faultstring"))
		f.Actor = text(n.childLocal("faultactor"))
		return f
	}
	if code := n.child(env, "Code"); code != nil {
		f.Code = text(code.child(env, "Value"))
		if sub := code.child(env, "Subcode"); sub != nil {
			f.Subcode = text(sub.child(env, "Value"))
		}
	}
	if reason := n.child(env, "Reason"); reason != nil {
		// Several Text elements in different languages: prefer English, else the first.
		for _, t := range reason.children {
			if !t.is(env, "Text") {
				continue
			}
			lang := strings.ToLower(t.attrNS("http://www.w3.org/XML/1998/namespace", "lang"))
			if f.String == "" || strings.HasPrefix(lang, "en") {
				f.String = text(t)
			}
			if strings.HasPrefix(lang, "en") {
				break
			}
		}
	}
	f.Actor = text(n.child(env, "Node"))
	return f
}

// decoder turns a response element into JSON values: *object, []any, string or nil.
type decoder struct {
	schema *schemaSet
}

// value converts n. decl, when the schema declares n, says which children repeat: those are
// arrays even when they occur once. Text is kept as text: the hub does not guess that "0042"
// is a number.
func (d *decoder) value(n *node, decl *elemDecl) any {
	if v := n.attrNS(nsXSI, "nil"); v == "true" || v == "1" {
		return nil
	}
	var attrs []string
	var attrVals []string
	for _, a := range n.attrs {
		if a.Name.Space == nsXSI {
			continue
		}
		attrs = append(attrs, "@"+a.Name.Local)
		attrVals = append(attrVals, a.Value)
	}
	if len(n.children) == 0 {
		if len(attrs) == 0 {
			if n.text == "" {
				return nil
			}
			return n.text
		}
		o := &object{}
		for i, k := range attrs {
			o.set(k, attrVals[i])
		}
		if n.text != "" {
			o.set("#text", n.text)
		}
		return o
	}
	var m *model
	if decl != nil && d.schema != nil {
		if k, ct, err := d.schema.typeOf(decl); err == nil && k == kindComplex {
			m, _ = d.schema.modelOf(ct)
		}
	}
	o := &object{}
	for i, k := range attrs {
		o.set(k, attrVals[i])
	}
	arrays := map[string]bool{}
	for _, c := range n.children {
		key := c.name.Local
		var cd *elemDecl
		if m != nil {
			if found := m.find(key); found != nil {
				if r, err := d.schema.resolve(found); err == nil {
					cd = r
				}
			}
		}
		v := d.value(c, cd)
		prev, seen := o.get(key)
		switch {
		case arrays[key]:
			o.set(key, append(prev.([]any), v))
		case seen:
			o.set(key, []any{prev, v})
			arrays[key] = true
		case cd != nil && cd.repeated():
			o.set(key, []any{v})
			arrays[key] = true
		default:
			o.set(key, v)
		}
	}
	return o
}

// object is a JSON object that keeps the order of its keys (document order).
type object struct {
	keys []string
	vals map[string]any
}

func (o *object) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

func (o *object) set(k string, v any) {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// toJSON writes a decoded value in one pass, objects with their keys in document order.
// HTML characters are not escaped: the body is data, not markup.
func toJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	var write func(v any)
	write = func(v any) {
		switch v := v.(type) {
		case *object:
			b.WriteByte('{')
			for i, k := range v.keys {
				if i > 0 {
					b.WriteByte(',')
				}
				write(k)
				b.WriteByte(':')
				write(v.vals[k])
			}
			b.WriteByte('}')
		case []any:
			b.WriteByte('[')
			for i, it := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				write(it)
			}
			b.WriteByte(']')
		case string:
			enc.Encode(v) // cannot fail for a string
			b.Truncate(b.Len() - 1)
		default:
			b.WriteString("null")
		}
	}
	write(v)
	return b.Bytes()
}
