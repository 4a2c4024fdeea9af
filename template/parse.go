package template

import (
	"unicode/utf8"
)

// maxDepth matches encoding/json, so Compile accepts exactly what
// json.Valid accepts once placeholders are values.
const maxDepth = 10000

// parser is a recursive-descent JSON scanner that also knows placeholders.
// It validates the template and cuts it into segments in one pass.
type parser struct {
	src      string
	pos      int
	litStart int // start of the literal text not yet flushed into segs
	segs     []segment
	uniq     []*placeholder
	seen     map[string]*placeholder
}

func (p *parser) errorf(pos int, format string, args ...any) error {
	return newError(p.src, pos, format, args...)
}

func (p *parser) parse() error {
	if err := p.value(0); err != nil {
		return err
	}
	p.skipSpace()
	if p.pos < len(p.src) {
		return p.errorf(p.pos, "unexpected %s after the end of the JSON value", describe(p.src, p.pos))
	}
	p.flush(len(p.src))
	return nil
}

func (p *parser) flush(end int) {
	if end > p.litStart {
		p.segs = append(p.segs, segment{kind: segLiteral, lit: p.src[p.litStart:end]})
	}
	p.litStart = end
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '_' || c == '.'
}

func (p *parser) value(depth int) error {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return p.errorf(p.pos, "unexpected end of template, expected a value")
	}
	switch c := p.src[p.pos]; {
	case hasPlaceholderAt(p.src, p.pos) && !hasPlaceholderAt(p.src, p.pos+1):
		return p.placeholder(segValue)
	case c == '{':
		// "{{{k}}: 1}" is an object whose key is a placeholder: let object
		// report that, rather than a bad character in a placeholder.
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.str()
	case c == '-' || isDigit(c):
		return p.number()
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	default:
		return p.errorf(p.pos, "expected a value, found %s", describe(p.src, p.pos))
	}
}

func (p *parser) object(depth int) error {
	open := p.pos
	if depth > maxDepth {
		return p.errorf(open, "nested too deeply")
	}
	p.pos++
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		return nil
	}
	comma := -1
	for {
		p.skipSpace()
		switch {
		case p.pos >= len(p.src):
			return p.unclosed(open, "object")
		case hasPlaceholderAt(p.src, p.pos):
			return p.errorf(p.pos, "a placeholder cannot be an object key by itself; put it inside quotes")
		case p.src[p.pos] == '}' && comma >= 0:
			return p.errorf(comma, "trailing comma before '}'")
		case p.src[p.pos] != '"':
			return p.errorf(p.pos, "expected a string as object key, found %s", describe(p.src, p.pos))
		}
		if err := p.str(); err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.src) {
			return p.unclosed(open, "object")
		}
		if p.src[p.pos] != ':' {
			return p.errorf(p.pos, "expected ':' after object key, found %s", describe(p.src, p.pos))
		}
		p.pos++
		if err := p.value(depth); err != nil {
			return err
		}
		p.skipSpace()
		switch {
		case p.pos >= len(p.src):
			return p.unclosed(open, "object")
		case p.src[p.pos] == ',':
			comma = p.pos
			p.pos++
		case p.src[p.pos] == '}':
			p.pos++
			return nil
		default:
			return p.errorf(p.pos, "expected ',' or '}' after object member, found %s", describe(p.src, p.pos))
		}
	}
}

func (p *parser) array(depth int) error {
	open := p.pos
	if depth > maxDepth {
		return p.errorf(open, "nested too deeply")
	}
	p.pos++
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		return nil
	}
	comma := -1
	for {
		p.skipSpace()
		if comma >= 0 && p.pos < len(p.src) && p.src[p.pos] == ']' {
			return p.errorf(comma, "trailing comma before ']'")
		}
		if p.pos >= len(p.src) {
			return p.unclosed(open, "array")
		}
		if err := p.value(depth); err != nil {
			return err
		}
		p.skipSpace()
		switch {
		case p.pos >= len(p.src):
			return p.unclosed(open, "array")
		case p.src[p.pos] == ',':
			comma = p.pos
			p.pos++
		case p.src[p.pos] == ']':
			p.pos++
			return nil
		default:
			return p.errorf(p.pos, "expected ',' or ']' after array element, found %s", describe(p.src, p.pos))
		}
	}
}

// unclosed reports a missing closing bracket at the end of the template,
// where it is missing, and names the opening one, which is what to look for.
func (p *parser) unclosed(open int, what string) error {
	line, col := lineCol(p.src, open)
	return p.errorf(len(p.src), "unexpected end of template: %s opened at line %d, col %d is not closed", what, line, col)
}

func (p *parser) literal(word string) error {
	if len(p.src)-p.pos < len(word) || p.src[p.pos:p.pos+len(word)] != word {
		return p.errorf(p.pos, "invalid literal, expected %s", word)
	}
	p.pos += len(word)
	return nil
}

func (p *parser) number() error {
	end, ok := scanNumber(p.src, p.pos)
	if !ok {
		return p.errorf(end, "invalid number")
	}
	if end < len(p.src) && isDigit(p.src[end]) {
		return p.errorf(p.pos, "invalid number: leading zero")
	}
	p.pos = end
	return nil
}

// scanNumber scans a JSON number starting at i. It returns the end of the
// number, or the offending position and false.
func scanNumber(s string, i int) (int, bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i >= len(s) || !isDigit(s[i]):
		return i, false
	case s[i] == '0':
		i++
	default:
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return i, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return i, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i, true
}

// validNumber reports whether s is exactly one JSON number, so a
// json.Number can be written bare in value position.
func validNumber(s string) bool {
	end, ok := scanNumber(s, 0)
	return ok && end == len(s)
}

func (p *parser) str() error {
	open := p.pos
	p.pos++
	for {
		if p.pos >= len(p.src) {
			return p.errorf(open, "unterminated string")
		}
		c := p.src[p.pos]
		switch {
		case c == '"':
			p.pos++
			return nil
		case c == '\\':
			if err := p.escape(); err != nil {
				return err
			}
		case hasPlaceholderAt(p.src, p.pos):
			if err := p.placeholder(segText); err != nil {
				return err
			}
		case c == '\n' || c == '\r':
			line, col := lineCol(p.src, open)
			return p.errorf(p.pos, "string opened at line %d, col %d is not closed before the end of the line (write a line break as \\n)", line, col)
		case c < 0x20:
			return p.errorf(p.pos, "control character U+%04X in string (write it as \\u%04x)", c, c)
		case c < utf8.RuneSelf:
			p.pos++
		default:
			r, size := utf8.DecodeRuneInString(p.src[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return p.errorf(p.pos, "invalid UTF-8 in string")
			}
			p.pos += size
		}
	}
}

func (p *parser) escape() error {
	at := p.pos
	if at+1 >= len(p.src) {
		return p.errorf(at, "unterminated escape sequence")
	}
	switch p.src[at+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		p.pos += 2
		return nil
	case 'u':
		for i := at + 2; i < at+6; i++ {
			if i >= len(p.src) || !isHex(p.src[i]) {
				return p.errorf(at, "invalid escape: \\u needs four hex digits")
			}
		}
		p.pos += 6
		return nil
	default:
		return p.errorf(at, "invalid escape \\%s in string", describeRaw(p.src, at+1))
	}
}

func describeRaw(src string, pos int) string {
	r, size := utf8.DecodeRuneInString(src[pos:])
	if r == utf8.RuneError && size == 1 {
		return "(invalid UTF-8)"
	}
	return string(r)
}

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// placeholder scans {{ path }} at p.pos and records it as a segment of the
// given kind.
func (p *parser) placeholder(kind segKind) error {
	start := p.pos
	i := start + 2
	for i < len(p.src) && (p.src[i] == ' ' || p.src[i] == '\t') {
		i++
	}
	nameStart := i
	for i < len(p.src) && isNameChar(p.src[i]) {
		i++
	}
	name := p.src[nameStart:i]
	nameEnd := i
	for i < len(p.src) && (p.src[i] == ' ' || p.src[i] == '\t') {
		i++
	}
	if i+1 >= len(p.src) || p.src[i] != '}' || p.src[i+1] != '}' {
		return p.badPlaceholder(start, i, nameEnd, name)
	}
	if name == "" {
		return p.errorf(start, "empty placeholder")
	}
	if err := checkPath(name); err != "" {
		return p.errorf(nameStart, "invalid placeholder %q: %s", name, err)
	}
	p.flush(start)
	ph := p.seen[name]
	if ph == nil {
		ph = newPlaceholder(start, name)
		p.seen[name] = ph
		p.uniq = append(p.uniq, ph)
	}
	if ph.pos != start {
		// Same path, different place: warnings and errors must point here.
		ph = &placeholder{pos: start, path: ph.path, head: ph.head, rest: ph.rest}
	}
	p.segs = append(p.segs, segment{kind: kind, ph: ph})
	p.pos = i + 2
	p.litStart = p.pos
	return nil
}

// badPlaceholder explains why a placeholder does not end in "}}" at i. A
// quote, line end or bracket usually means the "}}" was forgotten, anything
// else is a character names may not contain.
func (p *parser) badPlaceholder(start, i, nameEnd int, name string) error {
	if i >= len(p.src) {
		return p.errorf(start, "unclosed placeholder: missing }}")
	}
	switch p.src[i] {
	case '"', '\n', '\r', ',', ':', '}', ']':
		return p.errorf(start, "unclosed placeholder: missing }}")
	}
	if name != "" && i > nameEnd {
		return p.errorf(i, "expected }} after placeholder %q, found %s", name, describe(p.src, i))
	}
	return p.errorf(i, "invalid character %s in placeholder (names use letters, digits, '_' and '.')", describe(p.src, i))
}

// checkPath rejects empty names in a dotted path, which could never match.
func checkPath(path string) string {
	switch {
	case path[0] == '.':
		return "starts with '.'"
	case path[len(path)-1] == '.':
		return "ends with '.'"
	}
	for i := 1; i < len(path); i++ {
		if path[i] == '.' && path[i-1] == '.' {
			return "has an empty name between dots"
		}
	}
	return ""
}
