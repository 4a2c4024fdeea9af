package template

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Template is a compiled payload template. It is immutable, so one Template
// may be rendered from many goroutines at once.
type Template struct {
	src   string
	whole bool // empty template: send the whole event
	segs  []segment
	// uniq holds one placeholder per distinct path, in order of first use.
	uniq []*placeholder
	// size is the output size to preallocate: the literal text plus a guess
	// per placeholder, so a typical render appends without growing.
	size int
}

// Scope holds the values a template can refer to. The maps are JSON decoded
// with json.Decoder.UseNumber, so numbers are json.Number. User, RelatedUser
// and Course are nil when the event was not enriched.
type Scope struct {
	Event       map[string]any
	User        map[string]any
	RelatedUser map[string]any
	Course      map[string]any
}

// Warning reports a placeholder that rendered without a value. The payload
// is still valid; the preview shows warnings so an admin can catch typos.
type Warning struct {
	Pos     int    // byte offset of the placeholder's "{{" in the template
	Path    string // the placeholder's path, e.g. "other.itemid"
	Message string
}

// Error reports a fault in a template, or a value that could not be
// rendered, at its place in the template.
type Error struct {
	Pos     int // byte offset in the template
	Line    int // 1-based
	Col     int // 1-based, counted in characters so it matches an editor
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("template: line %d, col %d: %s", e.Line, e.Col, e.Message)
}

// newError fills in Line and Col so callers only have to know the offset.
func newError(src string, pos int, format string, args ...any) *Error {
	line, col := lineCol(src, pos)
	return &Error{Pos: pos, Line: line, Col: col, Message: fmt.Sprintf(format, args...)}
}

func lineCol(src string, pos int) (line, col int) {
	pos = min(max(pos, 0), len(src))
	line, col = 1, 1
	for _, c := range src[:pos] {
		if c == '\n' {
			line++
			col = 1
			continue
		}
		col++
	}
	return line, col
}

type segKind uint8

const (
	segLiteral segKind = iota // template text copied as is
	segValue                  // placeholder where a JSON value is expected
	segText                   // placeholder inside a JSON string literal
)

type segment struct {
	kind segKind
	lit  string
	ph   *placeholder
}

type placeholder struct {
	pos  int // offset of "{{"
	path string
	head string
	rest []step
}

// step is one name after the head of a path. index is the name as an array
// index, or -1 when the name is not a canonical non-negative integer.
type step struct {
	name  string
	index int
}

func newPlaceholder(pos int, path string) *placeholder {
	ph := &placeholder{pos: pos, path: path}
	head, tail, dotted := cut(path)
	ph.head = head
	for dotted {
		var name string
		name, tail, dotted = cut(tail)
		ph.rest = append(ph.rest, step{name: name, index: arrayIndex(name)})
	}
	return ph
}

func cut(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func arrayIndex(name string) int {
	if name == "" || len(name) > 9 || (name[0] == '0' && len(name) > 1) {
		return -1
	}
	n, err := strconv.Atoi(name)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// Compile parses a template once, so rendering per event only substitutes.
// An empty or whitespace-only template sends the whole event. Errors are
// *Error, with the position of the fault.
func Compile(src string) (*Template, error) {
	if isBlank(src) {
		return &Template{src: src, whole: true}, nil
	}
	p := parser{src: src, seen: map[string]*placeholder{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	t := &Template{src: src, segs: p.segs, uniq: p.uniq}
	for _, s := range t.segs {
		if s.kind == segLiteral {
			t.size += len(s.lit)
		} else {
			t.size += 16
		}
	}
	return t, nil
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			return false
		}
	}
	return true
}

// Placeholders lists the distinct placeholder paths in order of first use,
// so the caller can tell whether the template needs enrichment. It is empty
// for a whole-event template.
func (t *Template) Placeholders() []string {
	if len(t.uniq) == 0 {
		return nil
	}
	paths := make([]string, len(t.uniq))
	for i, ph := range t.uniq {
		paths[i] = ph.path
	}
	return paths
}

// SendsWholeEvent reports whether the template was empty, so the payload is
// the whole event.
func (t *Template) SendsWholeEvent() bool { return t.whole }

// NeedsUser reports whether rendering for this event would read the
// enriched user: through user.*, or through a bare name that neither the
// event nor its other holds. With a nil event the answer is conservative.
func (t *Template) NeedsUser(event map[string]any) bool {
	return t.needs(event, srcUserField, srcUser)
}

// NeedsRelatedUser reports whether rendering for this event would read the
// enriched related user (relateduser.*).
func (t *Template) NeedsRelatedUser(event map[string]any) bool {
	return t.needs(event, srcRelatedUser, srcRelatedUser)
}

// NeedsCourse reports whether rendering for this event would read the
// enriched course (course.*).
func (t *Template) NeedsCourse(event map[string]any) bool {
	return t.needs(event, srcCourse, srcCourse)
}

func (t *Template) needs(event map[string]any, a, b source) bool {
	s := Scope{Event: event}
	for _, ph := range t.uniq {
		if _, _, src := resolveHead(ph.head, &s); src == a || src == b {
			return true
		}
	}
	return false
}

// String returns the template's source.
func (t *Template) String() string { return t.src }

// describe names the input at pos for error messages.
func describe(src string, pos int) string {
	if pos >= len(src) {
		return "end of template"
	}
	if hasPlaceholderAt(src, pos) {
		return "a placeholder"
	}
	r, size := utf8.DecodeRuneInString(src[pos:])
	if r == utf8.RuneError && size == 1 {
		return fmt.Sprintf("invalid byte 0x%02x", src[pos])
	}
	return strconv.QuoteRune(r)
}

func hasPlaceholderAt(src string, pos int) bool {
	return pos+1 < len(src) && src[pos] == '{' && src[pos+1] == '{'
}
