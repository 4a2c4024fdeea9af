package soap

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
)

// node is one element of a parsed XML document. Names are resolved: Space is the namespace URI,
// not the prefix. ns holds the prefixes in scope, which QName-valued attributes and texts
// (type="tns:User", faultcode "soap:Client") need.
type node struct {
	name     xml.Name
	attrs    []xml.Attr
	ns       map[string]string // prefix → URI in scope; "" is the default namespace
	children []*node
	text     string // character data directly inside this element, concatenated
}

// maxDepth bounds the nesting of parsed documents, so that a hostile document cannot make the
// recursive walks over the tree exhaust the stack.
const maxDepth = 256

// parseXML reads a whole document into a tree. encoding/xml never fetches external entities
// and refuses undefined ones, so a DOCTYPE can neither read files nor expand entity bombs.
func parseXML(b []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = charsetReader
	var (
		root  *node
		stack []*node
		text  []*strings.Builder
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("elements nested deeper than %d", maxDepth)
			}
			if root != nil && len(stack) == 0 {
				return nil, errors.New("more than one root element")
			}
			n := &node{name: tok.Name}
			var parentNS map[string]string
			if len(stack) > 0 {
				parentNS = stack[len(stack)-1].ns
			}
			n.ns = parentNS
			owned := false // whether n.ns is n's own copy yet
			for _, a := range tok.Attr {
				prefix, isDecl := "", false
				switch {
				case a.Name.Space == "xmlns":
					prefix, isDecl = a.Name.Local, true
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					isDecl = true
				}
				if !isDecl {
					n.attrs = append(n.attrs, a)
					continue
				}
				if !owned {
					m := make(map[string]string, len(parentNS)+1)
					maps.Copy(m, parentNS)
					n.ns, owned = m, true
				}
				n.ns[prefix] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else {
				root = n
			}
			stack = append(stack, n)
			text = append(text, &strings.Builder{})
		case xml.EndElement:
			n := stack[len(stack)-1]
			n.text = text[len(text)-1].String()
			stack, text = stack[:len(stack)-1], text[:len(text)-1]
		case xml.CharData:
			if len(text) > 0 {
				text[len(text)-1].Write(tok)
			}
		}
	}
	if root == nil {
		return nil, errors.New("no root element")
	}
	return root, nil
}

// attr returns the value of the attribute with the given local name and no namespace.
func (n *node) attr(local string) string {
	for _, a := range n.attrs {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// hasAttr reports whether the attribute is present (even empty).
func (n *node) hasAttr(local string) bool {
	for _, a := range n.attrs {
		if a.Name.Local == local && a.Name.Space == "" {
			return true
		}
	}
	return false
}

// attrNS returns the value of the attribute {space}local.
func (n *node) attrNS(space, local string) string {
	for _, a := range n.attrs {
		if a.Name.Local == local && a.Name.Space == space {
			return a.Value
		}
	}
	return ""
}

// is reports whether n is the element {space}local.
func (n *node) is(space, local string) bool { return n.name.Space == space && n.name.Local == local }

// child returns the first child element {space}local, or nil.
func (n *node) child(space, local string) *node {
	for _, c := range n.children {
		if c.is(space, local) {
			return c
		}
	}
	return nil
}

// childLocal returns the first child element with the given local name in any namespace.
func (n *node) childLocal(local string) *node {
	for _, c := range n.children {
		if c.name.Local == local {
			return c
		}
	}
	return nil
}

// qname resolves a QName written in this element's scope ("tns:User", or "User" in the default
// namespace) to a namespace URI and a local name. An unbound prefix resolves to no namespace,
// which then simply matches nothing.
func (n *node) qname(v string) xml.Name {
	v = strings.TrimSpace(v)
	prefix, local, ok := strings.Cut(v, ":")
	if !ok {
		return xml.Name{Space: n.ns[""], Local: v}
	}
	return xml.Name{Space: n.ns[prefix], Local: local}
}

// charsetReader decodes the single-byte encodings legacy SOAP stacks declare (ISO-8859-1,
// windows-1252, US-ASCII); UTF-8 needs none. Any other encoding is refused by the decoder.
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	var high *[32]rune // 0x80–0x9F
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "iso-8859-1", "iso8859-1", "latin1", "l1", "us-ascii", "ascii":
	case "windows-1252", "cp1252":
		high = &cp1252
	default:
		return nil, fmt.Errorf("unsupported encoding %q", label)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/8)
	for _, c := range b {
		if high != nil && c >= 0x80 && c <= 0x9F {
			out.WriteRune(high[c-0x80])
			continue
		}
		out.WriteRune(rune(c))
	}
	return &out, nil
}

// cp1252 maps windows-1252's 0x80–0x9F; undefined bytes map to U+FFFD.
var cp1252 = [32]rune{
	'€', '\uFFFD', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\uFFFD', 'Ž', '\uFFFD',
	'\uFFFD', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\uFFFD', 'ž', 'Ÿ',
}
