package moodletest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Exception is a Moodle exception as the REST server reports it: in the body of an HTTP 200
// answer, as {"exception","errorcode","message"} (plus "debuginfo" when debugging is on).
type Exception struct {
	Class     string // the PHP class: moodle_exception, invalid_parameter_exception, …
	ErrorCode string
	Message   string
	DebugInfo string
}

func (e *Exception) Error() string { return e.ErrorCode + ": " + e.Message }

func invalidParameter(debug string) *Exception {
	return &Exception{Class: "invalid_parameter_exception", ErrorCode: "invalidparameter",
		Message: "Invalid parameter value detected", DebugInfo: debug}
}

func missingRecord(table string) *Exception {
	return &Exception{Class: "dml_missing_record_exception", ErrorCode: "invalidrecord",
		Message: "Can't find data record in database table " + table + "."}
}

func moodleException(code, message string) *Exception {
	return &Exception{Class: "moodle_exception", ErrorCode: code, Message: message}
}

func codingException(detail string) *Exception {
	return &Exception{Class: "coding_exception", ErrorCode: "codingerror",
		Message: "Coding error detected, it must be fixed by a programmer: " + detail}
}

// paramType is one of Moodle's PARAM_* cleaning types that the implemented functions use.
type paramType string

const (
	paramInt         paramType = "int"
	paramBool        paramType = "bool"
	paramRaw         paramType = "raw"
	paramText        paramType = "text"
	paramAlpha       paramType = "alpha"
	paramAlphanum    paramType = "alphanum"
	paramAlphanumext paramType = "alphanumext"
	paramPlugin      paramType = "plugin"
	paramSafedir     paramType = "safedir"
)

// required is VALUE_REQUIRED, VALUE_OPTIONAL or VALUE_DEFAULT.
type required int

const (
	valueRequired required = iota
	valueOptional
	valueDefault
)

// desc describes a parameter the way external_description does: a value, a single structure
// (keys) or a multiple structure (a list).
type desc interface{ requirement() (required, any) }

type valueDesc struct {
	typ paramType
	req required
	def any
}

type field struct {
	name string
	desc desc
}

type singleDesc struct {
	fields []field
	req    required
	def    any
}

type multipleDesc struct {
	content desc
	req     required
	def     any
}

func (d valueDesc) requirement() (required, any)    { return d.req, d.def }
func (d singleDesc) requirement() (required, any)   { return d.req, d.def }
func (d multipleDesc) requirement() (required, any) { return d.req, d.def }

func val(t paramType) valueDesc                { return valueDesc{typ: t} }
func optional(t paramType) valueDesc           { return valueDesc{typ: t, req: valueOptional} }
func withDefault(t paramType, d any) valueDesc { return valueDesc{typ: t, req: valueDefault, def: d} }
func single(fields ...field) singleDesc        { return singleDesc{fields: fields} }
func list(content desc) multipleDesc           { return multipleDesc{content: content} }
func optionalList(content desc) multipleDesc {
	return multipleDesc{content: content, req: valueOptional}
}
func defaultList(content desc) multipleDesc {
	return multipleDesc{content: content, req: valueDefault, def: []any{}}
}

// validate follows external_api::validate_parameters: it checks v (a *Var, or a default value)
// against d and returns the cleaned value: int64, bool or string for values, map[string]any for
// single structures (only the keys present or defaulted), []any for multiple structures.
// Unexpected keys are refused, as in Moodle.
func validate(d desc, v any) (any, *Exception) {
	switch d := d.(type) {
	case valueDesc:
		var s string
		switch v := v.(type) {
		case *Var:
			if v.Arr != nil {
				return nil, invalidParameter("Scalar type expected, array or object received.")
			}
			s = v.Str
		default:
			return v, nil // a default value, already typed
		}
		if d.typ == paramBool && (s == "0" || s == "1") {
			return s == "1", nil
		}
		cleaned, ok := cleanParam(s, d.typ)
		if !ok || cleaned != s {
			return nil, invalidParameter(fmt.Sprintf("Invalid external api parameter: the value is %q, the server was expecting %q type", s, string(d.typ)))
		}
		if d.typ == paramInt {
			n, _ := strconv.ParseInt(s, 10, 64)
			return n, nil
		}
		return s, nil
	case singleDesc:
		arr, ok := asArray(v)
		if !ok {
			return nil, invalidParameter(fmt.Sprintf("Only arrays accepted. The bad value is: '%s'", scalarText(v)))
		}
		out := make(map[string]any, len(d.fields))
		seen := make(map[string]bool, len(d.fields))
		for _, f := range d.fields {
			seen[f.name] = true
			var sub any
			if x := arr.Get(f.name); x != nil {
				sub = x
			} else {
				req, def := f.desc.requirement()
				switch req {
				case valueRequired:
					return nil, invalidParameter("Missing required key in single structure: " + f.name)
				case valueOptional:
					continue
				}
				sub = def
			}
			got, e := validate(f.desc, sub)
			if e != nil {
				return nil, invalidParameter(f.name + " => " + e.Message + ": " + e.DebugInfo)
			}
			out[f.name] = got
		}
		var extra []string
		for _, k := range arr.Keys() {
			if !seen[k] {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			return nil, invalidParameter("Unexpected keys (" + strings.Join(extra, ", ") + ") detected in parameter array.")
		}
		return out, nil
	case multipleDesc:
		if def, ok := v.([]any); ok {
			return def, nil
		}
		arr, ok := asArray(v)
		if !ok {
			return nil, invalidParameter(fmt.Sprintf("Only arrays accepted. The bad value is: '%s'", scalarText(v)))
		}
		out := make([]any, 0, arr.Len())
		for _, k := range arr.keys {
			got, e := validate(d.content, arr.vals[k])
			if e != nil {
				return nil, e
			}
			out = append(out, got)
		}
		return out, nil
	}
	return nil, invalidParameter("Invalid external api description")
}

func asArray(v any) (*Array, bool) {
	switch v := v.(type) {
	case *Var:
		return v.Arr, v.Arr != nil
	case *Array:
		return v, v != nil
	}
	return nil, false
}

func scalarText(v any) string {
	if x, ok := v.(*Var); ok {
		return x.Str
	}
	return fmt.Sprint(v)
}

var (
	reTag         = regexp.MustCompile(`<[a-zA-Z/!?]`)
	reAlpha       = regexp.MustCompile(`^[a-zA-Z]*$`)
	reAlphanum    = regexp.MustCompile(`^[a-zA-Z0-9]*$`)
	reAlphanumext = regexp.MustCompile(`^[a-zA-Z0-9_-]*$`)
	rePlugin      = regexp.MustCompile(`^([a-z][a-z0-9_]*[a-z0-9])?$`)
	reSafedir     = regexp.MustCompile(`^[a-zA-Z0-9_-]*$`)
)

// cleanParam approximates clean_param for the types above. It reports the cleaned value, or
// false when cleaning would change the value in a way this fake does not reproduce exactly;
// either way validate refuses a value that cleaning changes, as validate_param does.
func cleanParam(s string, t paramType) (string, bool) {
	switch t {
	case paramInt:
		// PHP's (int) cast and the string comparison that follows accept only canonical
		// integers: "012", "+5", " 5", "1e3" and "" are all refused.
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return "", false
		}
		return strconv.FormatInt(n, 10), true
	case paramBool:
		return "", false // only "0" and "1" pass, handled by the caller
	case paramRaw:
		return s, utf8.ValidString(s)
	case paramText:
		// strip_tags: anything that starts a tag is removed, so the value would change.
		return s, utf8.ValidString(s) && !reTag.MatchString(s)
	case paramAlpha:
		return s, reAlpha.MatchString(s)
	case paramAlphanum:
		return s, reAlphanum.MatchString(s)
	case paramAlphanumext:
		return s, reAlphanumext.MatchString(s)
	case paramPlugin:
		return s, rePlugin.MatchString(s) && !strings.Contains(s, "__")
	case paramSafedir:
		return s, reSafedir.MatchString(s)
	}
	return "", false
}

// cleanUsername is clean_param(PARAM_USERNAME) with extendedusernamechars off: trimmed,
// lowercased, and every character other than [-.@_a-z0-9] removed.
func cleanUsername(s string, extended bool) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if extended {
		return s
	}
	s = strings.ReplaceAll(s, " ", "")
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '@' || r == '_' {
			return r
		}
		return -1
	}, s)
}

// phpLooseEqual is PHP 8's `==` between two strings: numerically when both are numeric
// strings, else byte for byte. get_users_by_field compares each value with its cleaned form
// this way.
func phpLooseEqual(a, b string) bool {
	if a == b {
		return true
	}
	fa, okA := phpNumeric(a)
	fb, okB := phpNumeric(b)
	return okA && okB && fa == fb
}

var reNumeric = regexp.MustCompile(`^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$`)

func phpNumeric(s string) (float64, bool) {
	if !reNumeric.MatchString(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil
}
