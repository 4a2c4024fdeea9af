package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// errInvalidOutput should never happen: Compile admits only templates whose
// output is valid JSON. Render checks anyway, because sending an invalid
// payload would fail at the receiver, far from the cause.
var errInvalidOutput = errors.New("template: rendered payload is not valid JSON")

// Render fills the template from data and returns the payload. The
// template's layout is kept; substituted objects and arrays are compact.
// Warnings list placeholders that had no value. Errors are *Error when a
// value cannot be written as JSON (an invalid json.Number, an unsupported
// Go type).
func (t *Template) Render(data Scope) (json.RawMessage, []Warning, error) {
	if t.whole {
		var event any
		if data.Event != nil {
			event = data.Event
		}
		out, err := appendValue(make([]byte, 0, 512), event, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("template: render whole event: %w", err)
		}
		if !json.Valid(out) {
			return nil, nil, errInvalidOutput
		}
		return out, nil, nil
	}

	out := make([]byte, 0, t.size)
	var warnings []Warning
	for i := range t.segs {
		s := &t.segs[i]
		if s.kind == segLiteral {
			out = append(out, s.lit...)
			continue
		}
		v, found := s.ph.lookup(&data)
		var err error
		if s.kind == segValue {
			if !found {
				warnings = append(warnings, Warning{Pos: s.ph.pos, Path: s.ph.path,
					Message: fmt.Sprintf("no value for {{%s}}, rendered as null", s.ph.path)})
			}
			out, err = appendValue(out, v, 0)
		} else {
			switch {
			case !found:
				warnings = append(warnings, Warning{Pos: s.ph.pos, Path: s.ph.path,
					Message: fmt.Sprintf("no value for {{%s}}, rendered as empty text", s.ph.path)})
			case v == nil:
				warnings = append(warnings, Warning{Pos: s.ph.pos, Path: s.ph.path,
					Message: fmt.Sprintf("{{%s}} is null, rendered as empty text", s.ph.path)})
			}
			out, err = appendText(out, v)
		}
		if err != nil {
			return nil, warnings, newError(t.src, s.ph.pos, "{{%s}}: %v", s.ph.path, err)
		}
	}
	if !json.Valid(out) {
		return nil, warnings, errInvalidOutput
	}
	return out, warnings, nil
}

// source is where the head of a path was found.
type source uint8

const (
	srcNone        source = iota
	srcWholeEvent         // event
	srcEvent              // a key of the event
	srcUser               // user: the enriched user
	srcRelatedUser        // relateduser
	srcCourse             // course
	srcOther              // a key of the event's other
	srcUserField          // a key of the enriched user
)

// resolveHead finds the first name of a path. It is the one place that
// implements the lookup order, so Render and the Needs* helpers agree.
func resolveHead(head string, s *Scope) (any, bool, source) {
	if head == "event" {
		if s.Event == nil {
			return nil, true, srcWholeEvent
		}
		return s.Event, true, srcWholeEvent
	}
	if v, ok := s.Event[head]; ok {
		return v, true, srcEvent
	}
	switch head {
	case "user":
		return enrichment(s.User, srcUser)
	case "relateduser":
		return enrichment(s.RelatedUser, srcRelatedUser)
	case "course":
		return enrichment(s.Course, srcCourse)
	}
	if other, ok := s.Event["other"].(map[string]any); ok {
		if v, ok := other[head]; ok {
			return v, true, srcOther
		}
	}
	v, ok := s.User[head]
	return v, ok, srcUserField
}

// enrichment treats a nil map as missing: the event was not enriched, which
// the preview should flag rather than render as an empty object.
func enrichment(m map[string]any, src source) (any, bool, source) {
	if m == nil {
		return nil, false, src
	}
	return m, true, src
}

func (ph *placeholder) lookup(s *Scope) (any, bool) {
	v, ok, _ := resolveHead(ph.head, s)
	if !ok {
		return nil, false
	}
	for _, st := range ph.rest {
		switch c := v.(type) {
		case map[string]any:
			v, ok = c[st.name]
		case []any:
			ok = st.index >= 0 && st.index < len(c)
			if ok {
				v = c[st.index]
			}
		default:
			ok = false
		}
		if !ok {
			return nil, false
		}
	}
	return v, true
}

// maxValueDepth stops runaway recursion on a map that contains itself; JSON
// decoding cannot produce one, but a caller building a Scope by hand can.
const maxValueDepth = 10000

// appendValue writes v as compact JSON. The common decoded types are
// written directly, without reflection, because Render runs per event per
// rule.
func appendValue(dst []byte, v any, depth int) ([]byte, error) {
	if depth > maxValueDepth {
		return dst, errors.New("value nested too deeply")
	}
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		dst = append(dst, '"')
		dst = appendEscaped(dst, v)
		return append(dst, '"'), nil
	case json.Number:
		if !validNumber(string(v)) {
			return dst, fmt.Errorf("invalid number %q", string(v))
		}
		return append(dst, v...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case map[string]any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = appendEscaped(dst, k)
			dst = append(dst, '"', ':')
			var err error
			if dst, err = appendValue(dst, v[k], depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case []any:
		if v == nil {
			return append(dst, "null"...), nil
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	default:
		return appendOther(dst, v)
	}
}

// appendOther covers values a caller built by hand (float64, int, structs).
// It keeps <, > and & literal, as the rest of the output does.
func appendOther(dst []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

// appendText writes v's text for use inside a JSON string literal.
func appendText(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return dst, nil
	case string:
		return appendEscaped(dst, v), nil
	case json.Number:
		return appendEscaped(dst, string(v)), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	default:
		text, err := appendValue(nil, v, 0)
		if err != nil {
			return dst, err
		}
		return appendEscapedBytes(dst, text), nil
	}
}

const hexDigits = "0123456789abcdef"

// appendEscaped writes s escaped for a JSON string, without quotes. It
// follows encoding/json with HTML escaping off: invalid UTF-8 becomes
// U+FFFD, and U+2028/U+2029 are escaped because JavaScript treats them as
// line ends.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

func appendEscapedBytes(dst, b []byte) []byte {
	return appendEscaped(dst, string(b))
}

// Lookup resolves a placeholder path in the scope with the same rules as Render, for the other
// places that substitute event values (rule endpoints).
func (s Scope) Lookup(path string) (any, bool) {
	return newPlaceholder(0, path).lookup(&s)
}
