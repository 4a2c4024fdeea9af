package moodletest

import (
	"strconv"
	"strings"
)

// PHP's defaults for the request limits that matter to web service clients.
const (
	// DefaultMaxInputVars is PHP's max_input_vars: variables past it are dropped with only a
	// warning in the server log, so a large batch loses its tail silently.
	DefaultMaxInputVars = 1000
	// maxInputNestingLevel is PHP's max_input_nesting_level.
	maxInputNestingLevel = 64
)

// Var is one request variable as PHP sees it: a string, or an array when Arr is non-nil.
type Var struct {
	Str string
	Arr *Array
}

// Array is a PHP array built from request variables: keys keep their insertion order, and a
// key that is a canonical integer ("0", "12", "-3") is the same key as that integer, as in PHP.
type Array struct {
	keys []string
	vals map[string]*Var
	next int64 // the index `name[]=` appends at
}

func newArray() *Array { return &Array{vals: map[string]*Var{}} }

// Len is the number of keys.
func (a *Array) Len() int { return len(a.keys) }

// Keys returns the keys in insertion order.
func (a *Array) Keys() []string { return append([]string(nil), a.keys...) }

// Get returns the variable at key, or nil.
func (a *Array) Get(key string) *Var { return a.vals[key] }

// set stores v at key, keeping the key's first position when it is already there (PHP's
// zend_symtable_update).
func (a *Array) set(key string, v *Var) {
	if _, ok := a.vals[key]; !ok {
		a.keys = append(a.keys, key)
		if n, ok := phpIntKey(key); ok && n >= a.next {
			a.next = n + 1
		}
	}
	a.vals[key] = v
}

// appendNext stores v at the next integer index, as `name[]=` does.
func (a *Array) appendNext(v *Var) {
	a.set(strconv.FormatInt(a.next, 10), v)
}

func (a *Array) delete(key string) {
	if _, ok := a.vals[key]; !ok {
		return
	}
	delete(a.vals, key)
	for i, k := range a.keys {
		if k == key {
			a.keys = append(a.keys[:i], a.keys[i+1:]...)
			break
		}
	}
}

// Generic returns the array as nested map[string]any with string leaves, for comparisons in
// tests.
func (a *Array) Generic() map[string]any {
	m := make(map[string]any, len(a.keys))
	for _, k := range a.keys {
		v := a.vals[k]
		if v.Arr != nil {
			m[k] = v.Arr.Generic()
		} else {
			m[k] = v.Str
		}
	}
	return m
}

// phpIntKey reports whether key is a canonical decimal integer, which PHP stores as an integer
// key: no sign on zero, no leading zeros, no "+", within int64.
func phpIntKey(key string) (int64, bool) {
	if key == "" || len(key) > 20 {
		return 0, false
	}
	s := key
	if s[0] == '-' {
		s = s[1:]
		if s == "" || s == "0" {
			return 0, false
		}
	}
	if s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(key, 10, 64)
	return n, err == nil
}

// ParseForm decodes an application/x-www-form-urlencoded body (or a query string) the way PHP
// fills $_POST and $_GET: pairs split on "&", "+" and %XX decoded (a malformed % sequence is
// kept as it is), names in bracket form (`courses[0][fullname]`, `values[]`) build nested
// arrays, a later pair overwrites an earlier one with the same name, spaces and dots in a
// top-level name become "_", a name is cut at a NUL byte, and only the first maxVars pairs
// are kept (PHP's max_input_vars; 0 means DefaultMaxInputVars, negative means no limit).
// dropped counts the pairs cut by that limit.
func ParseForm(body string, maxVars int) (vars *Array, dropped int) {
	if maxVars == 0 {
		maxVars = DefaultMaxInputVars
	}
	vars = newArray()
	count := 0
	for pair := range strings.SplitSeq(body, "&") {
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name = phpURLDecode(name)
		if name == "" {
			continue
		}
		count++
		if maxVars > 0 && count > maxVars {
			dropped++
			continue
		}
		registerVariable(vars, name, phpURLDecode(value))
	}
	return vars, dropped
}

// phpURLDecode is PHP's urldecode: "+" is a space, %XX a byte, and a "%" not followed by two
// hex digits stays as it is.
func phpURLDecode(s string) string {
	if !strings.ContainsAny(s, "+%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// registerVariable follows php_register_variable_ex (main/php_variables.c).
func registerVariable(root *Array, name, value string) {
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i] // PHP handles the name as a C string
	}
	name = strings.TrimLeft(name, " ")

	// The base name runs to the first "["; spaces and dots in it become "_".
	base := name
	rest := ""
	isArray := false
	if i := strings.IndexByte(name, '['); i >= 0 {
		base, rest, isArray = name[:i], name[i:], true
	}
	base = strings.NewReplacer(" ", "_", ".", "_").Replace(base)
	if base == "" {
		return
	}
	if !isArray {
		root.set(base, &Var{Str: value})
		return
	}

	// rest starts with "[". Walk the [index] segments.
	table := root
	index, hasIndex := base, true
	nest := 0
	for {
		nest++
		if nest > maxInputNestingLevel {
			root.delete(base)
			return
		}
		rest = rest[1:] // skip "["
		var seg string
		segHasIndex := true
		if strings.HasPrefix(rest, "]") {
			segHasIndex = false
		} else {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				// Not an index. At the top level PHP turns the "[" into "_" and keeps the
				// rest, mangled, in the name; deeper down the name was already cut at
				// the previous "]", so the rest is lost.
				if nest == 1 {
					index += "_" + strings.NewReplacer(" ", "_", ".", "_", "[", "_").Replace(rest)
				}
				break
			}
			seg = rest[:end]
			rest = rest[end:]
		}

		// Descend into table[index], making it an array when it is not one.
		var next *Array
		if !hasIndex {
			next = newArray()
			table.appendNext(&Var{Arr: next})
		} else if v := table.vals[index]; v != nil && v.Arr != nil {
			next = v.Arr
		} else {
			next = newArray()
			table.set(index, &Var{Arr: next})
		}
		table = next
		index, hasIndex = seg, segHasIndex

		rest = rest[1:] // skip "]"
		if !strings.HasPrefix(rest, "[") {
			break // anything after "]" that is not "[" is ignored
		}
	}
	if hasIndex {
		table.set(index, &Var{Str: value})
	} else {
		table.appendNext(&Var{Str: value})
	}
}
