package soap

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

const nsXSD = "http://www.w3.org/2001/XMLSchema"

// schemaSet is every xsd:schema inlined in a WSDL's types section, indexed by qualified name.
// It is immutable once parsed, so one parsed WSDL serves concurrent calls.
type schemaSet struct {
	elements map[xml.Name]*elemDecl    // global elements
	types    map[xml.Name]*complexType // named complex types
	simple   map[xml.Name]bool         // named simple types
	groups   map[xml.Name]*complexType // named model groups (xsd:group), as a particle list
	attrGrps map[xml.Name]*complexType // named attribute groups, as an attribute list
	imports  []string                  // schemaLocation of xsd:import / xsd:include, never fetched
}

// elemDecl is an element declaration: global, local, or a reference to a global one.
type elemDecl struct {
	name     string
	ns       string // the namespace the element is written in ("" when unqualified)
	min, max int    // occurrences; max < 0 is unbounded
	nillable bool
	typeName xml.Name     // type="…"; zero when the type is inline or absent
	inline   *complexType // an inline xsd:complexType
	simple   bool         // an inline xsd:simpleType
	ref      xml.Name     // ref="…"; the declaration is the global element of that name
	// qualified and schemaNS are the declaring schema's elementFormDefault and targetNamespace;
	// the children of an element without a schema type (anyType) are written by them.
	qualified bool
	schemaNS  string
}

// repeated reports whether the element may occur more than once.
func (e *elemDecl) repeated() bool { return e.max < 0 || e.max > 1 }

// particle is one entry of a content model: an element or a reference to a named group.
type particle struct {
	elem     *elemDecl
	group    xml.Name
	repeated bool // inside a repeated sequence, choice or group: every element may repeat
}

// complexType is a content model: its element children in schema order, its attributes, and
// whether it has text (simpleContent) or accepts any element (xsd:any).
type complexType struct {
	particles   []particle
	base        xml.Name // complexContent extension: the base type's children come first
	extends     bool
	simpleText  bool // simpleContent: the element's value is text, plus attributes
	attrs       []string
	attrGroups  []xml.Name
	anyElement  bool // xsd:any: elements not declared here are allowed
	anyAttr     bool
	elemQualify bool // elementFormDefault="qualified" in the declaring schema
	schemaNS    string
}

// kind is what an element's type says about its value.
type kind int

const (
	kindSimple  kind = iota // text
	kindComplex             // child elements (or simpleContent text with attributes)
	kindAny                 // xsd:anyType or no type: anything, children in payload order
)

// parseSchemas reads every xsd:schema under wsdl:types.
func parseSchemas(types *node) *schemaSet {
	s := &schemaSet{
		elements: map[xml.Name]*elemDecl{},
		types:    map[xml.Name]*complexType{},
		simple:   map[xml.Name]bool{},
		groups:   map[xml.Name]*complexType{},
		attrGrps: map[xml.Name]*complexType{},
	}
	if types == nil {
		return s
	}
	for _, sc := range types.children {
		if sc.is(nsXSD, "schema") {
			s.addSchema(sc)
		}
	}
	return s
}

func (s *schemaSet) addSchema(sc *node) {
	tns := sc.attr("targetNamespace")
	qualified := sc.attr("elementFormDefault") == "qualified"
	for _, c := range sc.children {
		if c.name.Space != nsXSD {
			continue
		}
		name := xml.Name{Space: tns, Local: c.attr("name")}
		switch c.name.Local {
		case "element":
			e := parseElement(c, tns, qualified, true)
			s.elements[name] = e
		case "complexType":
			s.types[name] = parseComplexType(c, tns, qualified)
		case "simpleType":
			s.simple[name] = true
		case "group":
			g := &complexType{elemQualify: qualified, schemaNS: tns}
			for _, p := range c.children {
				parseParticles(p, g, tns, qualified, false)
			}
			s.groups[name] = g
		case "attributeGroup":
			g := &complexType{schemaNS: tns}
			parseAttributes(c, g)
			s.attrGrps[name] = g
		case "import", "include", "redefine":
			if loc := c.attr("schemaLocation"); loc != "" {
				s.imports = append(s.imports, loc)
			}
		}
	}
}

// parseElement reads an xsd:element. Global elements are always in the schema's target
// namespace; local ones only when qualified, by elementFormDefault or their own form.
func parseElement(n *node, tns string, qualified, global bool) *elemDecl {
	e := &elemDecl{name: n.attr("name"), min: 1, max: 1, qualified: qualified, schemaNS: tns}
	if v := n.attr("minOccurs"); v != "" {
		e.min, _ = strconv.Atoi(v)
	}
	switch v := n.attr("maxOccurs"); v {
	case "":
	case "unbounded":
		e.max = -1
	default:
		if m, err := strconv.Atoi(v); err == nil {
			e.max = m
		}
	}
	e.nillable = n.attr("nillable") == "true" || n.attr("nillable") == "1"
	if r := n.attr("ref"); r != "" {
		e.ref = n.qname(r)
		e.name = e.ref.Local
		e.ns = e.ref.Space
		return e
	}
	switch {
	case global:
		e.ns = tns
	case n.attr("form") == "qualified":
		e.ns = tns
	case n.attr("form") == "unqualified":
	case qualified:
		e.ns = tns
	}
	if t := n.attr("type"); t != "" {
		e.typeName = n.qname(t)
	}
	if ct := n.child(nsXSD, "complexType"); ct != nil {
		e.inline = parseComplexType(ct, tns, qualified)
	} else if n.child(nsXSD, "simpleType") != nil {
		e.simple = true
	}
	return e
}

func parseComplexType(n *node, tns string, qualified bool) *complexType {
	ct := &complexType{elemQualify: qualified, schemaNS: tns}
	for _, c := range n.children {
		if c.name.Space != nsXSD {
			continue
		}
		switch c.name.Local {
		case "sequence", "all", "choice", "group", "element", "any":
			parseParticles(c, ct, tns, qualified, false)
		case "complexContent":
			for _, d := range c.children {
				if !d.is(nsXSD, "extension") && !d.is(nsXSD, "restriction") {
					continue
				}
				// A restriction restates the content model it keeps; an extension appends to
				// its base's.
				if d.name.Local == "extension" {
					ct.base, ct.extends = d.qname(d.attr("base")), true
				}
				for _, p := range d.children {
					parseParticles(p, ct, tns, qualified, false)
				}
				parseAttributes(d, ct)
			}
		case "simpleContent":
			ct.simpleText = true
			for _, d := range c.children {
				parseAttributes(d, ct)
			}
		}
	}
	parseAttributes(n, ct)
	return ct
}

// parseParticles flattens a model group into ct's particle list, in document order.
func parseParticles(n *node, ct *complexType, tns string, qualified, repeated bool) {
	if n.name.Space != nsXSD {
		return
	}
	rep := repeated || (n.attr("maxOccurs") != "" && n.attr("maxOccurs") != "0" && n.attr("maxOccurs") != "1")
	switch n.name.Local {
	case "element":
		ct.particles = append(ct.particles, particle{elem: parseElement(n, tns, qualified, false), repeated: repeated})
	case "sequence", "all", "choice":
		for _, c := range n.children {
			parseParticles(c, ct, tns, qualified, rep)
		}
	case "group":
		if r := n.attr("ref"); r != "" {
			ct.particles = append(ct.particles, particle{group: n.qname(r), repeated: rep})
		}
	case "any":
		ct.anyElement = true
	}
}

func parseAttributes(n *node, ct *complexType) {
	for _, c := range n.children {
		switch {
		case c.is(nsXSD, "attribute"):
			name := c.attr("name")
			if name == "" {
				name = c.qname(c.attr("ref")).Local
			}
			if name != "" {
				ct.attrs = append(ct.attrs, name)
			}
		case c.is(nsXSD, "attributeGroup"):
			if r := c.attr("ref"); r != "" {
				ct.attrGroups = append(ct.attrGroups, c.qname(r))
			}
		case c.is(nsXSD, "anyAttribute"):
			ct.anyAttr = true
		}
	}
}

// errUndefined is a schema component the WSDL refers to but does not define.
type errUndefined struct {
	what    string
	name    xml.Name
	imports []string
}

func (e *errUndefined) Error() string {
	msg := fmt.Sprintf("%s %s is not defined in the WSDL's schema", e.what, fmtName(e.name))
	if len(e.imports) > 0 {
		msg += fmt.Sprintf(" (it may come from an external schema, %s, which is not fetched: serve a WSDL with its schemas inlined)", strings.Join(e.imports, ", "))
	}
	return msg
}

func fmtName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

// maxTypeDepth bounds chains of references (ref, extension base, group), which a malformed
// schema could make circular.
const maxTypeDepth = 64

// resolve follows ref="…" to the global declaration, keeping the referencing particle's
// occurrences.
func (s *schemaSet) resolve(e *elemDecl) (*elemDecl, error) {
	for i := 0; e.ref != (xml.Name{}); i++ {
		g, ok := s.elements[e.ref]
		if !ok {
			return nil, &errUndefined{"element", e.ref, s.imports}
		}
		if i >= maxTypeDepth {
			return nil, fmt.Errorf("element %s: references nest too deep", fmtName(e.ref))
		}
		c := *g
		c.min, c.max = e.min, e.max
		e = &c
	}
	return e, nil
}

// typeOf says what e's value is: text, a complex type, or anything.
func (s *schemaSet) typeOf(e *elemDecl) (kind, *complexType, error) {
	switch {
	case e.inline != nil:
		return kindComplex, e.inline, nil
	case e.simple:
		return kindSimple, nil, nil
	case e.typeName == (xml.Name{}):
		return kindAny, nil, nil
	case e.typeName.Space == nsXSD:
		if e.typeName.Local == "anyType" {
			return kindAny, nil, nil
		}
		return kindSimple, nil, nil
	}
	if ct, ok := s.types[e.typeName]; ok {
		return kindComplex, ct, nil
	}
	if s.simple[e.typeName] {
		return kindSimple, nil, nil
	}
	return 0, nil, &errUndefined{"type", e.typeName, s.imports}
}

// model is a complex type's content as the encoder and decoder use it: element children in
// schema order (extension bases first, groups expanded), attributes, and wildcards.
type model struct {
	elems      []*elemDecl
	attrs      []string
	anyElement bool
	anyAttr    bool
	simpleText bool
}

// modelOf flattens ct.
func (s *schemaSet) modelOf(ct *complexType) (*model, error) {
	m := &model{}
	return m, s.flatten(ct, m, 0)
}

func (s *schemaSet) flatten(ct *complexType, m *model, depth int) error {
	if depth > maxTypeDepth {
		return fmt.Errorf("type derivations or groups nest deeper than %d", maxTypeDepth)
	}
	if ct.extends {
		if ct.base.Space == nsXSD {
			// Extending a built-in (anyType) adds nothing.
		} else if base, ok := s.types[ct.base]; ok {
			if err := s.flatten(base, m, depth+1); err != nil {
				return err
			}
		} else if !s.simple[ct.base] {
			return &errUndefined{"type", ct.base, s.imports}
		}
	}
	for _, p := range ct.particles {
		if p.elem != nil {
			e := p.elem
			if p.repeated && !e.repeated() {
				c := *e
				c.max = -1
				e = &c
			}
			m.elems = append(m.elems, e)
			continue
		}
		g, ok := s.groups[p.group]
		if !ok {
			return &errUndefined{"group", p.group, s.imports}
		}
		sub := &model{}
		if err := s.flatten(g, sub, depth+1); err != nil {
			return err
		}
		for _, e := range sub.elems {
			if p.repeated && !e.repeated() {
				c := *e
				c.max = -1
				e = &c
			}
			m.elems = append(m.elems, e)
		}
		m.anyElement = m.anyElement || sub.anyElement
	}
	m.attrs = append(m.attrs, ct.attrs...)
	for _, name := range ct.attrGroups {
		g, ok := s.attrGrps[name]
		if !ok {
			return &errUndefined{"attribute group", name, s.imports}
		}
		if err := s.flatten(g, m, depth+1); err != nil {
			return err
		}
	}
	m.anyElement = m.anyElement || ct.anyElement
	m.anyAttr = m.anyAttr || ct.anyAttr
	m.simpleText = m.simpleText || ct.simpleText
	return nil
}

// find returns the declaration of the child element named local, or nil.
func (m *model) find(local string) *elemDecl {
	for _, e := range m.elems {
		if e.name == local {
			return e
		}
	}
	return nil
}
