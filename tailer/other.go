package tailer

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of the PHP decoder. A log row is written by Moodle, but the column is plain text that
// anyone with write access to the database can fill: the bounds keep one row from costing more
// than a few megabytes or a deep recursion, whatever it holds.
const (
	// MaxOtherSize bounds the serialized text the PHP decoder accepts and the JSON it produces.
	// References (r:, R:) repeat a value, so the output may also be at most 1 MiB plus 16 times
	// the input: enough for any data that repeats a few objects, not for a reference bomb.
	MaxOtherSize = 8 << 20
	// MaxOtherDepth bounds the nesting of arrays and objects, references included. Moodle's own
	// data is a few levels deep; PHP's json_encode stops at 512.
	MaxOtherDepth = 128
)

// DecodeOther turns the text of a logstore_standard_log.other column into JSON, as Moodle reads it
// (\tool_log\helper\reader::decode_other) and then json_encode would write it:
//
//   - "N;" or any text whose second byte is ':' and whose first byte is not a newline (Moodle's
//     /^.:/) is PHP serialize() output, written by sites upgraded from before Moodle 3.7 with
//     logstore_standard/jsonformat off. It is decoded by unserialize rules and encoded as
//     json_encode does: an array whose keys are 0..n-1 in order becomes a JSON array, any other
//     array a JSON object with string keys, an object the JSON object of its public properties;
//     floats are printed as PHP prints them (0.1, 1.0e+25), integral ones without a fraction.
//   - Anything else is JSON (the literal text null for no data) and is returned as it is, once
//     checked to be valid.
//   - An empty text (and SQL NULL, which the caller passes as "") is null, as json_decode(”)
//     gives Moodle.
//
// So the two forms of the same data decode to the same JSON value. An error means the text is
// neither valid JSON nor valid PHP serialize() output, or that it is over the decoder's bounds.
func DecodeOther(text string) (json.RawMessage, error) {
	if text == "" {
		return json.RawMessage("null"), nil
	}
	if text == "N;" || len(text) >= 2 && text[0] != '\n' && text[1] == ':' {
		out, err := decodePHP(text)
		if err != nil && text[0] == '"' && json.Valid([]byte(text)) {
			// Moodle's test misreads a JSON string that starts with a colon (":…") as serialized
			// and gets false from unserialize; the JSON is what was written, so it is kept.
			return json.RawMessage(text), nil
		}
		return out, err
	}
	if !json.Valid([]byte(text)) {
		return nil, fmt.Errorf("other is neither JSON nor PHP serialize() output")
	}
	return json.RawMessage(text), nil
}

// Why a decoder of our own rather than github.com/elliotchance/phpserialize v1.4.0: that library
// rewrites backslash sequences inside strings (Moodle class names such as \core\notification lose
// their "\n"), panics on a truncated string or a \x at the end, allocates whatever element count
// the input claims, has no depth bound, does not support references (r:, R:) or S: strings,
// returns arrays as Go maps (losing PHP's order, which json_encode keeps) and leaves numeric string
// keys ("0") apart from integer keys, which PHP merges.

// kind is the type of a decoded PHP value.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindInt
	kindFloat
	kindString
	kindArray
	kindObject
)

// phpValue is one decoded value. Arrays and objects keep their entries in order; a reference
// shares the node it points to, so the encoder writes it out again (as json_encode does).
type phpValue struct {
	kind    kind
	b       bool
	i       int64
	f       float64
	s       string
	keys    []phpKey
	vals    []*phpValue
	index   map[phpKey]int // key → position, for duplicate keys
	done    bool           // fully decoded: a reference to a node not done is a cycle
	weight  int            // the size of its JSON, references expanded (an estimate)
	height  int            // its nesting, references expanded
	private []bool         // objects: the property is private or protected (not encoded)
	class   string         // objects: the class name when it is not stdClass
}

// phpKey is an array key: PHP keeps integer keys and string keys apart, and turns a string key
// that spells a canonical integer into that integer.
type phpKey struct {
	isInt bool
	i     int64
	s     string
}

type phpDecoder struct {
	s     string
	limit int // the bound of the output
	pos   int
	slots []*phpValue // values by reference number - 1, as PHP numbers them
	total int         // the weight of everything decoded so far
}

func decodePHP(s string) (json.RawMessage, error) {
	if len(s) > MaxOtherSize {
		return nil, fmt.Errorf("PHP serialized other of %d bytes is over the limit of %d", len(s), MaxOtherSize)
	}
	d := &phpDecoder{s: s, limit: min(MaxOtherSize, 1<<20+16*len(s))}
	v, err := d.value(1)
	if err != nil {
		return nil, fmt.Errorf("PHP serialized other at byte %d: %w", d.pos, err)
	}
	// PHP's unserialize ignores what follows the first value; so do we.
	out := make([]byte, 0, v.weight)
	out, err = appendPHPJSON(out, v)
	if err != nil {
		return nil, fmt.Errorf("PHP serialized other: %w", err)
	}
	return out, nil
}

func (d *phpDecoder) fail(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

// expect consumes lit or fails.
func (d *phpDecoder) expect(lit string) error {
	if !strings.HasPrefix(d.s[d.pos:], lit) {
		return d.fail("want %q", lit)
	}
	d.pos += len(lit)
	return nil
}

// until returns the text up to the next c and moves past c.
func (d *phpDecoder) until(c byte) (string, error) {
	i := strings.IndexByte(d.s[d.pos:], c)
	if i < 0 {
		return "", d.fail("want %q", c)
	}
	t := d.s[d.pos : d.pos+i]
	d.pos += i + 1
	return t, nil
}

// count reads an unsigned decimal (a length or an element count) followed by term.
func (d *phpDecoder) count(term byte) (int, error) {
	t, err := d.until(term)
	if err != nil {
		return 0, err
	}
	if t == "" || len(t) > 10 || strings.Trim(t, "0123456789") != "" {
		return 0, d.fail("bad length %q", t)
	}
	n, _ := strconv.Atoi(t)
	if n > len(d.s) {
		return 0, d.fail("length %d is beyond the input", n)
	}
	return n, nil
}

// grow adds n to the decoded weight and checks the output bound.
func (d *phpDecoder) grow(n int) error {
	d.total += n
	if d.total > d.limit {
		return d.fail("decoded JSON would be over %d bytes", d.limit)
	}
	return nil
}

// value decodes the value at d.pos, depth being its nesting level (1 for the top).
func (d *phpDecoder) value(depth int) (*phpValue, error) {
	if depth > MaxOtherDepth {
		return nil, d.fail("nested deeper than %d", MaxOtherDepth)
	}
	if d.pos+2 > len(d.s) {
		return nil, d.fail("unexpected end")
	}
	c := d.s[d.pos]
	if c == 'R' || c == 'r' {
		return d.reference(depth)
	}
	v := &phpValue{height: 1}
	// Every value but an R: reference takes a slot, in the order it starts (PHP's var_push).
	d.slots = append(d.slots, v)
	var err error
	switch c {
	case 'N':
		err = d.expect("N;")
		v.kind, v.weight = kindNull, 4
	case 'b':
		err = d.boolean(v)
	case 'i':
		err = d.integer(v)
	case 'd':
		err = d.float(v)
	case 's', 'S':
		err = d.str(v)
	case 'a':
		err = d.array(v, depth)
	case 'O':
		err = d.object(v, depth)
	default:
		// C: (Serializable), E: (enums) and anything else cannot come out of Moodle's event data
		// and have no JSON form json_encode would agree on.
		return nil, d.fail("unsupported type %q", c)
	}
	if err != nil {
		return nil, err
	}
	if v.kind != kindArray && v.kind != kindObject {
		if err := d.grow(v.weight); err != nil {
			return nil, err
		}
	}
	v.done = true
	return v, nil
}

func (d *phpDecoder) boolean(v *phpValue) error {
	if err := d.expect("b:"); err != nil {
		return err
	}
	t, err := d.until(';')
	if err != nil {
		return err
	}
	switch t {
	case "0", "1":
		v.kind, v.b, v.weight = kindBool, t == "1", 5
		return nil
	}
	return d.fail("bad boolean %q", t)
}

func (d *phpDecoder) integer(v *phpValue) error {
	if err := d.expect("i:"); err != nil {
		return err
	}
	t, err := d.until(';')
	if err != nil {
		return err
	}
	n, err := parsePHPInt(t)
	if err != nil {
		return d.fail("bad integer %q", t)
	}
	v.kind, v.i, v.weight = kindInt, n, len(t)
	return nil
}

// parsePHPInt reads [+-]?[0-9]+ into an int64; PHP refuses what overflows.
func parsePHPInt(t string) (int64, error) {
	digits := strings.TrimLeft(t, "+-")
	if len(t)-len(digits) > 1 || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseInt(strings.TrimPrefix(t, "+"), 10, 64)
}

func (d *phpDecoder) float(v *phpValue) error {
	if err := d.expect("d:"); err != nil {
		return err
	}
	t, err := d.until(';')
	if err != nil {
		return err
	}
	var f float64
	switch t {
	case "INF":
		f = math.Inf(1)
	case "-INF":
		f = math.Inf(-1)
	case "NAN":
		f = math.NaN()
	default:
		// PHP's grammar: an optional sign, digits with at most one point, an optional exponent.
		// strconv.ParseFloat alone would also take hex floats, "Inf" and underscores.
		if !phpFloatSyntax(t) {
			return d.fail("bad float %q", t)
		}
		f, err = strconv.ParseFloat(t, 64)
		if err != nil && !isRangeErr(err) {
			return d.fail("bad float %q", t)
		}
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		// json_encode refuses them ("Inf and NaN cannot be JSON encoded").
		return d.fail("float %s has no JSON form", t)
	}
	v.kind, v.f, v.weight = kindFloat, f, 24
	return nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func phpFloatSyntax(t string) bool {
	i := 0
	if i < len(t) && (t[i] == '+' || t[i] == '-') {
		i++
	}
	digits, point := 0, false
	for ; i < len(t); i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		default:
			goto exp
		}
	}
exp:
	if digits == 0 {
		return false
	}
	if i == len(t) {
		return true
	}
	if t[i] != 'e' && t[i] != 'E' {
		return false
	}
	i++
	if i < len(t) && (t[i] == '+' || t[i] == '-') {
		i++
	}
	if i == len(t) {
		return false
	}
	for ; i < len(t); i++ {
		if t[i] < '0' || t[i] > '9' {
			return false
		}
	}
	return true
}

// str reads s:LEN:"bytes"; (LEN counts bytes, so multi-byte UTF-8 is exact) or the escaped form
// S:LEN:"..."; where a backslash is followed by two hex digits.
func (d *phpDecoder) str(v *phpValue) error {
	escaped := d.s[d.pos] == 'S'
	d.pos += 2
	if d.s[d.pos-1] != ':' {
		return d.fail("want ':'")
	}
	n, err := d.count(':')
	if err != nil {
		return err
	}
	if err := d.expect(`"`); err != nil {
		return err
	}
	if !escaped {
		if d.pos+n > len(d.s) {
			return d.fail("string of %d bytes runs past the end", n)
		}
		v.s = d.s[d.pos : d.pos+n]
		d.pos += n
	} else {
		var b strings.Builder
		for b.Len() < n {
			if d.pos >= len(d.s) {
				return d.fail("string of %d bytes runs past the end", n)
			}
			c := d.s[d.pos]
			if c == '\\' {
				if d.pos+3 > len(d.s) {
					return d.fail("bad escape")
				}
				x, err := strconv.ParseUint(d.s[d.pos+1:d.pos+3], 16, 8)
				if err != nil {
					return d.fail("bad escape")
				}
				c = byte(x)
				d.pos += 2
			}
			b.WriteByte(c)
			d.pos++
		}
		v.s = b.String()
	}
	if err := d.expect(`";`); err != nil {
		return err
	}
	v.kind, v.weight = kindString, len(v.s)+2
	return nil
}

// key reads an array key or property name: i: or s: only, never a reference or a slot.
func (d *phpDecoder) key() (phpKey, error) {
	if d.pos+2 > len(d.s) {
		return phpKey{}, d.fail("unexpected end")
	}
	tmp := &phpValue{}
	switch d.s[d.pos] {
	case 'i':
		if err := d.integer(tmp); err != nil {
			return phpKey{}, err
		}
		return phpKey{isInt: true, i: tmp.i}, nil
	case 's', 'S':
		if err := d.str(tmp); err != nil {
			return phpKey{}, err
		}
		return stringKey(tmp.s), nil
	}
	return phpKey{}, d.fail("bad key type %q", d.s[d.pos])
}

// stringKey applies PHP's rule: "12" and "-3" are the integers 12 and -3, "012", "-0" and "1.5"
// stay strings.
func stringKey(s string) phpKey {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && strconv.FormatInt(n, 10) == s {
		return phpKey{isInt: true, i: n}
	}
	return phpKey{s: s}
}

// entries reads n key-value pairs between braces into v.
func (d *phpDecoder) entries(v *phpValue, n, depth int, object bool) error {
	if err := d.expect("{"); err != nil {
		return err
	}
	for range n {
		k, err := d.key()
		if err != nil {
			return err
		}
		val, err := d.value(depth + 1)
		if err != nil {
			return err
		}
		private := object && !k.isInt && strings.HasPrefix(k.s, "\x00")
		// A key given twice keeps its first place and takes the last value, as in PHP.
		if i, ok := v.index[k]; ok {
			v.weight -= v.vals[i].weight
			v.vals[i] = val
			if object {
				v.private[i] = private
			}
		} else {
			if v.index == nil {
				v.index = make(map[phpKey]int, min(n, 64))
			}
			v.index[k] = len(v.keys)
			v.keys = append(v.keys, k)
			v.vals = append(v.vals, val)
			if object {
				v.private = append(v.private, private)
			}
			klen := len(k.s) + 4
			if k.isInt {
				klen = 24
			}
			v.weight += klen
			if err := d.grow(klen); err != nil {
				return err
			}
		}
		v.weight += val.weight
		v.height = max(v.height, val.height+1)
	}
	return d.expect("}")
}

func (d *phpDecoder) array(v *phpValue, depth int) error {
	if err := d.expect("a:"); err != nil {
		return err
	}
	n, err := d.count(':')
	if err != nil {
		return err
	}
	v.kind, v.weight = kindArray, 2
	if err := d.grow(2); err != nil {
		return err
	}
	return d.entries(v, n, depth, false)
}

// object reads O:LEN:"Class":N:{...}. json_encode writes an object as the JSON object of its
// public properties; private and protected ones, whose serialized names start with a NUL byte,
// are left out. Moodle unserializes with allowed_classes [stdClass], so an object of any other
// class is a __PHP_Incomplete_Class, which json_encode writes with its class name first:
// {"__PHP_Incomplete_Class_Name":"Foo",…}.
func (d *phpDecoder) object(v *phpValue, depth int) error {
	d.pos += 2
	if d.s[d.pos-1] != ':' {
		return d.fail("want ':'")
	}
	n, err := d.count(':')
	if err != nil {
		return err
	}
	if err := d.expect(`"`); err != nil {
		return err
	}
	if d.pos+n > len(d.s) {
		return d.fail("class name runs past the end")
	}
	if name := d.s[d.pos : d.pos+n]; !strings.EqualFold(name, "stdClass") {
		v.class = name
	}
	d.pos += n
	if err := d.expect(`":`); err != nil {
		return err
	}
	props, err := d.count(':')
	if err != nil {
		return err
	}
	v.kind, v.weight = kindObject, 2+len(v.class)+32
	if err := d.grow(v.weight); err != nil {
		return err
	}
	return d.entries(v, props, depth, true)
}

// reference reads r:N; or R:N;, a pointer to the N-th value decoded so far. For JSON both mean
// "the same value again". r: takes a slot of its own, R: does not (PHP's numbering).
func (d *phpDecoder) reference(depth int) (*phpValue, error) {
	c := d.s[d.pos]
	d.pos++
	if err := d.expect(":"); err != nil {
		return nil, err
	}
	t, err := d.until(';')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 1 || n > len(d.slots) || strings.Trim(t, "0123456789") != "" {
		return nil, d.fail("bad reference %q", t)
	}
	target := d.slots[n-1]
	if !target.done {
		// A value that contains itself: json_encode refuses recursion.
		return nil, d.fail("recursive reference %d", n)
	}
	if depth-1+target.height > MaxOtherDepth {
		return nil, d.fail("nested deeper than %d", MaxOtherDepth)
	}
	if err := d.grow(target.weight); err != nil {
		return nil, err
	}
	if c == 'r' {
		d.slots = append(d.slots, target)
	}
	return target, nil
}

// isList reports whether json_encode would write the array as a JSON array: keys 0..n-1 in order.
func (v *phpValue) isList() bool {
	for i, k := range v.keys {
		if !k.isInt || k.i != int64(i) {
			return false
		}
	}
	return true
}

func appendPHPJSON(out []byte, v *phpValue) ([]byte, error) {
	switch v.kind {
	case kindNull:
		return append(out, "null"...), nil
	case kindBool:
		return strconv.AppendBool(out, v.b), nil
	case kindInt:
		return strconv.AppendInt(out, v.i, 10), nil
	case kindFloat:
		return appendPHPFloat(out, v.f), nil
	case kindString:
		return appendJSONString(out, v.s), nil
	}
	list := v.kind == kindArray && v.isList()
	if list {
		out = append(out, '[')
	} else {
		out = append(out, '{')
	}
	first := true
	if v.kind == kindObject && v.class != "" {
		out = append(out, `"__PHP_Incomplete_Class_Name":`...)
		out = appendJSONString(out, v.class)
		first = false
	}
	var err error
	for i, k := range v.keys {
		if v.kind == kindObject && v.private[i] {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		if !list {
			if k.isInt {
				out = append(out, '"')
				out = strconv.AppendInt(out, k.i, 10)
				out = append(out, '"')
			} else {
				out = appendJSONString(out, k.s)
			}
			out = append(out, ':')
		}
		if out, err = appendPHPJSON(out, v.vals[i]); err != nil {
			return nil, err
		}
	}
	if list {
		return append(out, ']'), nil
	}
	return append(out, '}'), nil
}

// appendPHPFloat writes f as PHP's json_encode does with serialize_precision -1 (php_gcvt in
// mode 0): the shortest digits that read back as f, in plain notation when the decimal exponent
// is between -4 and 17, else as d.ddde±x with at least one digit after the point; an integral
// float has no fraction (json_encode(10.0) is 10, without JSON_PRESERVE_ZERO_FRACTION).
func appendPHPFloat(out []byte, f float64) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(out, "-0"...)
		}
		return append(out, '0')
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.dddde±XX
	if e[0] == '-' {
		out = append(out, '-')
		e = e[1:]
	}
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	decpt := x + 1 // f = 0.digits × 10^decpt
	switch {
	case decpt < -3 || decpt > 17:
		out = append(out, digits[0], '.')
		if len(digits) == 1 {
			out = append(out, '0')
		} else {
			out = append(out, digits[1:]...)
		}
		out = append(out, 'e')
		if x < 0 {
			out = append(out, '-')
			x = -x
		} else {
			out = append(out, '+')
		}
		return strconv.AppendInt(out, int64(x), 10)
	case decpt <= 0:
		out = append(out, "0."...)
		for ; decpt < 0; decpt++ {
			out = append(out, '0')
		}
		return append(out, digits...)
	default:
		for i := range decpt {
			if i < len(digits) {
				out = append(out, digits[i])
			} else {
				out = append(out, '0')
			}
		}
		if len(digits) > decpt {
			out = append(out, '.')
			out = append(out, digits[decpt:]...)
		}
		return out
	}
}

// appendJSONString writes s as a JSON string. PHP strings are bytes: invalid UTF-8 becomes
// U+FFFD (json_encode would fail on it unless told to substitute; we keep the rest of the data).
func appendJSONString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				out = append(out, '\\', c)
			case c >= 0x20:
				out = append(out, c)
			case c == '\n':
				out = append(out, '\\', 'n')
			case c == '\r':
				out = append(out, '\\', 'r')
			case c == '\t':
				out = append(out, '\\', 't')
			case c == '\b':
				out = append(out, '\\', 'b')
			case c == '\f':
				out = append(out, '\\', 'f')
			default:
				out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			// As json_encode: JavaScript reads them as line ends.
			out = append(out, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return append(out, '"')
}
