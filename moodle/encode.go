package moodle

import (
	"cmp"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// field is one form field of a call, its name already in bracket form.
type field struct{ key, value string }

// maxDepth bounds nesting; Moodle's parameters are a few levels deep, and PHP itself drops
// anything past max_input_nesting_level (64).
const maxDepth = 32

// reserved names a caller's parameters may not use: they would replace the token, the
// function or the format of the call.
func reserved(name string) bool {
	return name == "wstoken" || name == "wsfunction" || name == "moodlewsrestformat" ||
		name == "wsusername" || name == "wspassword" || strings.HasPrefix(name, "moodlewssetting")
}

// EncodeParams returns params as an application/x-www-form-urlencoded string in PHP's bracket
// form, as Call sends them: see the package documentation for the rules.
func EncodeParams(params any) (string, error) {
	fields, err := flatten(params)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(f.key))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(f.value))
	}
	return b.String(), nil
}

// flatten turns params (a struct, a map with string keys, or nil) into fields in a
// deterministic order: struct fields in declaration order, map keys sorted, list items by
// index.
func flatten(params any) ([]field, error) {
	v := reflect.ValueOf(params)
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return nil, nil
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return nil, nil
	}
	if v.Kind() != reflect.Struct && v.Kind() != reflect.Map || isScalarType(v.Type()) {
		return nil, fmt.Errorf("moodle: parameters must be a struct or a map, not %s", v.Type())
	}
	return appendValue(nil, "", v, 0)
}

var (
	timeType   = reflect.TypeFor[time.Time]()
	numberType = reflect.TypeFor[json.Number]()
	textType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// isScalarType reports the struct and map types that encode as one value.
func isScalarType(t reflect.Type) bool {
	return t == timeType || t == numberType || t.Implements(textType) || reflect.PointerTo(t).Implements(textType)
}

// appendValue appends v under key (empty at the top level, where v's own keys become names).
func appendValue(dst []field, key string, v reflect.Value, depth int) ([]field, error) {
	if depth > maxDepth {
		return dst, fmt.Errorf("moodle: parameter %s: nested more than %d levels", key, maxDepth)
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return dst, nil // PHP has no null in a form: an absent key is the only "nothing"
		}
		v = v.Elem()
	}
	if s, ok, err := scalar(v); ok || err != nil {
		if err != nil {
			return dst, fmt.Errorf("moodle: parameter %s: %w", key, err)
		}
		if key == "" {
			return dst, fmt.Errorf("moodle: parameters must be a struct or a map, not %s", v.Type())
		}
		return append(dst, field{key, s}), nil
	}
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return append(dst, field{key, string(v.Bytes())}), nil
		}
		for i := range v.Len() {
			var err error
			if dst, err = appendValue(dst, key+"["+strconv.Itoa(i)+"]", v.Index(i), depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case reflect.Map:
		keys, err := mapKeys(v)
		if err != nil {
			return dst, fmt.Errorf("moodle: parameter %s: %w", key, err)
		}
		for _, k := range keys {
			name, err := join(key, k.name)
			if err != nil {
				return dst, err
			}
			if dst, err = appendValue(dst, name, v.MapIndex(k.value), depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	case reflect.Struct:
		return appendStruct(dst, key, v, depth)
	}
	return dst, fmt.Errorf("moodle: parameter %s: cannot send a %s", cmp.Or(key, "value"), v.Type())
}

func appendStruct(dst []field, key string, v reflect.Value, depth int) ([]field, error) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		// As in encoding/json, an unexported embedded struct still lends its exported fields.
		if !sf.IsExported() && !(sf.Anonymous && sf.Type.Kind() == reflect.Struct) {
			continue
		}
		name, omitEmpty, skip := fieldName(sf)
		if skip {
			continue
		}
		fv := v.Field(i)
		if sf.Anonymous && name == "" {
			// An embedded struct without a name of its own lends its fields, as in encoding/json.
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !isScalarType(ft) {
				if fv.Kind() == reflect.Pointer {
					if fv.IsNil() {
						continue
					}
					fv = fv.Elem()
				}
				var err error
				if dst, err = appendStruct(dst, key, fv, depth); err != nil {
					return dst, err
				}
				continue
			}
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		if omitEmpty && fv.IsZero() {
			continue
		}
		full, err := join(key, name)
		if err != nil {
			return dst, err
		}
		if dst, err = appendValue(dst, full, fv, depth+1); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// fieldName reads the `moodle` tag, or else the `json` tag: name and options.
func fieldName(sf reflect.StructField) (name string, omitEmpty, skip bool) {
	tag, ok := sf.Tag.Lookup("moodle")
	if !ok {
		tag, ok = sf.Tag.Lookup("json")
	}
	if !ok {
		return "", false, false
	}
	if tag == "-" {
		return "", false, true
	}
	name, opts, _ := strings.Cut(tag, ",")
	for o := range strings.SplitSeq(opts, ",") {
		if o == "omitempty" || o == "omitzero" {
			omitEmpty = true
		}
	}
	return name, omitEmpty, false
}

// join appends name to key as a top-level name or as an [index], refusing what PHP would
// read differently: brackets or NUL anywhere, an empty name (`a[]` appends), and spaces or
// dots in a top-level name (PHP turns them into "_").
func join(key, name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("moodle: parameter %s: empty key", cmp.Or(key, "name"))
	case strings.ContainsAny(name, "[]\x00"):
		return "", fmt.Errorf("moodle: parameter key %q: PHP cannot read brackets or NUL in a key", name)
	case key == "" && (strings.ContainsAny(name, " .") || reserved(name)):
		return "", fmt.Errorf("moodle: parameter name %q is not allowed", name)
	case key == "":
		return name, nil
	}
	return key + "[" + name + "]", nil
}

type mapKey struct {
	name  string
	value reflect.Value
	num   int64
}

func mapKeys(v reflect.Value) ([]mapKey, error) {
	keys := make([]mapKey, 0, v.Len())
	kind := v.Type().Key().Kind()
	for _, k := range v.MapKeys() {
		mk := mapKey{value: k}
		switch kind {
		case reflect.String:
			mk.name = k.String()
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			mk.num = k.Int()
			mk.name = strconv.FormatInt(mk.num, 10)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			mk.num = int64(k.Uint())
			mk.name = strconv.FormatUint(k.Uint(), 10)
		default:
			return nil, fmt.Errorf("map keys must be strings or integers, not %s", v.Type().Key())
		}
		keys = append(keys, mk)
	}
	if kind == reflect.String {
		slices.SortFunc(keys, func(a, b mapKey) int { return strings.Compare(a.name, b.name) })
	} else {
		slices.SortFunc(keys, func(a, b mapKey) int { return cmp.Compare(a.num, b.num) })
	}
	return keys, nil
}

// scalar converts the values that go into one form field. ok is false for lists, maps and
// structs.
func scalar(v reflect.Value) (s string, ok bool, err error) {
	t := v.Type()
	switch {
	case t == timeType:
		tm := v.Interface().(time.Time)
		if tm.IsZero() {
			return "0", true, nil // Moodle's "no date"
		}
		return strconv.FormatInt(tm.Unix(), 10), true, nil
	case t == numberType:
		return v.String(), true, nil
	case t.Implements(textType):
		b, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		return string(b), true, err
	case reflect.PointerTo(t).Implements(textType):
		p := reflect.New(t)
		p.Elem().Set(v)
		b, err := p.Interface().(encoding.TextMarshaler).MarshalText()
		return string(b), true, err
	}
	switch v.Kind() {
	case reflect.String:
		return v.String(), true, nil
	case reflect.Bool:
		if v.Bool() {
			return "1", true, nil // Moodle's PARAM_BOOL takes only 1 and 0
		}
		return "0", true, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(v.Uint(), 10), true, nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return "", true, fmt.Errorf("%v cannot be sent", f)
		}
		return strconv.FormatFloat(f, 'f', -1, v.Type().Bits()), true, nil
	case reflect.Complex64, reflect.Complex128, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return "", true, fmt.Errorf("cannot send a %s", t)
	}
	return "", false, nil
}
