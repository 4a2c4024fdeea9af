package soap

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// outElem is an element of the request envelope being built.
type outElem struct {
	ns, local string
	attrs     []outAttr
	text      string
	nilled    bool
	children  []*outElem
}

type outAttr struct{ name, value string }

// encoder turns a JSON payload into the request element, guided by the schema.
type encoder struct {
	schema *schemaSet
}

// buildEnvelope returns the SOAP envelope that calls op with payload as the request element.
// Errors are the payload's or the WSDL's fault and are final.
func buildEnvelope(s *schemaSet, op *operation, payload json.RawMessage) ([]byte, error) {
	obj, err := decodePayload(payload)
	if err != nil {
		return nil, err
	}
	var root *outElem
	if op.input == nil {
		if len(obj) > 0 {
			return nil, fmt.Errorf("operation %s takes no input, but the payload has fields (%s)", op.name, strings.Join(slices.Sorted(maps.Keys(obj)), ", "))
		}
	} else {
		decl, err := s.resolve(op.input)
		if err != nil {
			return nil, err
		}
		// obj is never nil, so element always returns an element here.
		if root, err = (&encoder{schema: s}).element(decl, obj, decl.name); err != nil {
			return nil, err
		}
	}
	return writeEnvelope(op.version, root), nil
}

// decodePayload reads the payload as a JSON object; empty or null is an empty object.
func decodePayload(payload json.RawMessage) (map[string]any, error) {
	b := bytes.TrimSpace(payload)
	if len(b) == 0 || string(b) == "null" {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, errors.New("the payload is not valid JSON")
	}
	if d.More() {
		return nil, errors.New("the payload has data after its JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the payload must be a JSON object (the request element's fields), not %s", jsonKind(v))
	}
	return obj, nil
}

// elements encodes v as one or more occurrences of decl: an array repeats the element.
func (e *encoder) elements(decl *elemDecl, v any, path string) ([]*outElem, error) {
	items, ok := v.([]any)
	if !ok {
		el, err := e.element(decl, v, path)
		if el == nil || err != nil {
			return nil, err
		}
		return []*outElem{el}, nil
	}
	var out []*outElem
	for i, it := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		if _, nested := it.([]any); nested {
			return nil, fmt.Errorf("%s: an array inside an array cannot be written as XML; wrap the inner array in an object", p)
		}
		el, err := e.element(decl, it, p)
		if err != nil {
			return nil, err
		}
		if el != nil {
			out = append(out, el)
		}
	}
	return out, nil
}

// element encodes v as one occurrence of decl. It returns nil for a null that is to be left
// out (the element is not nillable).
func (e *encoder) element(decl *elemDecl, v any, path string) (*outElem, error) {
	el := &outElem{ns: decl.ns, local: decl.name}
	if v == nil {
		if decl.nillable {
			el.nilled = true
			return el, nil
		}
		return nil, nil
	}
	k, ct, err := e.schema.typeOf(decl)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch k {
	case kindSimple:
		txt, ok := scalarText(v)
		if !ok {
			return nil, fmt.Errorf("%s: want a text, number or boolean value, got %s", path, jsonKind(v))
		}
		el.text = txt
	case kindComplex:
		m, err := e.schema.modelOf(ct)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		obj, isObj := v.(map[string]any)
		if !isObj {
			txt, ok := scalarText(v)
			if !ok || !m.simpleText {
				return nil, fmt.Errorf("%s: want an object with the fields %s, got %s", path, allowed(m), jsonKind(v))
			}
			el.text = txt
			return el, nil
		}
		ns := ""
		if ct.elemQualify {
			ns = ct.schemaNS
		}
		if err := e.object(el, m, ns, obj, path); err != nil {
			return nil, err
		}
	case kindAny:
		ns := ""
		if decl.qualified {
			ns = decl.schemaNS
		}
		if err := e.anyValue(el, ns, v, path); err != nil {
			return nil, err
		}
	}
	return el, nil
}

// object fills el from obj: declared children in schema order, then (when the type has an
// xsd:any wildcard) the other keys in sorted order, in wildNS. Keys starting with "@" are
// attributes, "#text" is the text of a simpleContent type. A key the type does not declare is
// refused, naming the fields it does.
func (e *encoder) object(el *outElem, m *model, wildNS string, obj map[string]any, path string) error {
	used := make(map[string]bool, len(obj))
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		name, isAttr := strings.CutPrefix(k, "@")
		switch {
		case isAttr && (slices.Contains(m.attrs, name) || (m.anyAttr && validName(name))):
			if obj[k] == nil {
				break
			}
			txt, ok := scalarText(obj[k])
			if !ok {
				return fmt.Errorf("%s.%s: want a text, number or boolean value, got %s", path, k, jsonKind(obj[k]))
			}
			el.attrs = append(el.attrs, outAttr{name, txt})
		case k == "#text" && m.simpleText:
			if obj[k] == nil {
				break
			}
			txt, ok := scalarText(obj[k])
			if !ok {
				return fmt.Errorf("%s.#text: want a text, number or boolean value, got %s", path, jsonKind(obj[k]))
			}
			el.text = txt
		default:
			continue
		}
		used[k] = true
	}
	for _, d := range m.elems {
		v, ok := obj[d.name]
		if !ok || used[d.name] {
			continue
		}
		used[d.name] = true
		rd, err := e.schema.resolve(d)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", path, d.name, err)
		}
		kids, err := e.elements(rd, v, path+"."+d.name)
		if err != nil {
			return err
		}
		el.children = append(el.children, kids...)
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if used[k] {
			continue
		}
		if !m.anyElement || !validName(k) {
			return unknownField(m, path, k, el.local, len(obj))
		}
		kids, err := e.anyElements(wildNS, k, obj[k], path+"."+k)
		if err != nil {
			return err
		}
		el.children = append(el.children, kids...)
	}
	return nil
}

// unknownField explains a key the schema does not declare.
func unknownField(m *model, path, key, elem string, n int) error {
	msg := fmt.Sprintf("%s: unknown field %q; the schema allows %s", path, key, allowed(m))
	for _, d := range m.elems {
		if strings.EqualFold(d.name, key) {
			return fmt.Errorf("%s (did you mean %q? names are case-sensitive)", msg, d.name)
		}
	}
	if key == elem && n == 1 {
		return fmt.Errorf("%s (the payload is the content of %s: do not wrap it in its name)", msg, elem)
	}
	return errors.New(msg)
}

// allowed lists a type's fields for an error message.
func allowed(m *model) string {
	var names []string
	for _, d := range m.elems {
		names = append(names, d.name)
	}
	for _, a := range m.attrs {
		names = append(names, "@"+a)
	}
	if m.simpleText {
		names = append(names, "#text")
	}
	if len(names) == 0 {
		return "no fields"
	}
	return strings.Join(names, ", ")
}

// anyElements encodes a value the schema says nothing about: objects become children in
// sorted key order, arrays repeat the element, scalars become text.
func (e *encoder) anyElements(ns, name string, v any, path string) ([]*outElem, error) {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var out []*outElem
	for i, it := range items {
		p := path
		if ok {
			p = fmt.Sprintf("%s[%d]", path, i)
		}
		if _, nested := it.([]any); nested {
			return nil, fmt.Errorf("%s: an array inside an array cannot be written as XML; wrap the inner array in an object", p)
		}
		if it == nil {
			continue
		}
		el := &outElem{ns: ns, local: name}
		if err := e.anyValue(el, ns, it, p); err != nil {
			return nil, err
		}
		out = append(out, el)
	}
	return out, nil
}

func (e *encoder) anyValue(el *outElem, ns string, v any, path string) error {
	obj, isObj := v.(map[string]any)
	if !isObj {
		txt, ok := scalarText(v)
		if !ok {
			return fmt.Errorf("%s: want an object or a scalar, got %s", path, jsonKind(v))
		}
		el.text = txt
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if name, isAttr := strings.CutPrefix(k, "@"); isAttr && validName(name) {
			if txt, ok := scalarText(obj[k]); ok {
				el.attrs = append(el.attrs, outAttr{name, txt})
				continue
			}
		}
		if k == "#text" {
			if txt, ok := scalarText(obj[k]); ok {
				el.text = txt
				continue
			}
		}
		if !validName(k) {
			return fmt.Errorf("%s: %q is not a valid XML element name", path, k)
		}
		kids, err := e.anyElements(ns, k, obj[k], path+"."+k)
		if err != nil {
			return err
		}
		el.children = append(el.children, kids...)
	}
	return nil
}

// scalarText is a JSON scalar as element text: a string as it is, a number exactly as the
// payload wrote it (no float conversion, so large integers and decimals keep every digit),
// a boolean as true or false.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// validName reports whether s can be written as an element or attribute name: an XML NCName
// (letters per Unicode, no colon), and not xmlns.
func validName(s string) bool {
	if s == "" || s == "xmlns" {
		return false
	}
	for i, r := range s {
		switch {
		case unicode.IsLetter(r) || r == '_':
		case i > 0 && (unicode.IsDigit(r) || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// writeEnvelope serialises the envelope. Every namespace of the request is declared once on
// the request element: its own as "tns", others as "ns1", "ns2"… in order of first use.
// Unqualified elements are written without prefix and no default namespace is ever declared,
// so they are in no namespace, as elementFormDefault="unqualified" requires.
func writeEnvelope(v version, root *outElem) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<soap:Envelope xmlns:soap="` + v.envNS() + `"><soap:Body>`)
	if root != nil {
		prefixes := map[string]string{}
		var order []string
		hasNil := false
		var walk func(*outElem)
		walk = func(el *outElem) {
			if el.ns != "" {
				if _, ok := prefixes[el.ns]; !ok {
					p := "tns"
					if len(order) > 0 {
						p = "ns" + strconv.Itoa(len(order))
					}
					prefixes[el.ns] = p
					order = append(order, el.ns)
				}
			}
			hasNil = hasNil || el.nilled
			for _, c := range el.children {
				walk(c)
			}
		}
		walk(root)
		var decls []outAttr
		for _, ns := range order {
			decls = append(decls, outAttr{"xmlns:" + prefixes[ns], ns})
		}
		if hasNil {
			decls = append(decls, outAttr{"xmlns:xsi", nsXSI})
		}
		writeElem(&b, root, prefixes, decls)
	}
	b.WriteString(`</soap:Body></soap:Envelope>`)
	return b.Bytes()
}

func writeElem(b *bytes.Buffer, el *outElem, prefixes map[string]string, decls []outAttr) {
	name := el.local
	if p := prefixes[el.ns]; el.ns != "" {
		name = p + ":" + el.local
	}
	b.WriteByte('<')
	b.WriteString(name)
	for _, a := range slices.Concat(decls, el.attrs) {
		b.WriteString(" " + a.name + `="`)
		xml.EscapeText(b, []byte(a.value))
		b.WriteByte('"')
	}
	if el.nilled {
		b.WriteString(` xsi:nil="true"/>`)
		return
	}
	if el.text == "" && len(el.children) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	xml.EscapeText(b, []byte(el.text))
	for _, c := range el.children {
		writeElem(b, c, prefixes, nil)
	}
	b.WriteString("</" + name + ">")
}
