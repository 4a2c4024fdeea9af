package moodle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// decodeJSON decodes an answer into out. Moodle's types drift between versions and plugins:
// ids and timestamps arrive as numbers or as numeric strings, booleans as true/false, 0/1 or
// "1", and a PHP array with gaps in its keys becomes a JSON object. The strict decoder runs
// first; when it meets a type it does not expect, a tolerant decoder converts between those
// forms instead of failing.
func decodeJSON(body []byte, out any) error {
	err := json.Unmarshal(body, out)
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return err
	}
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return errors.New("moodle: decode into a non-pointer")
	}
	return assign(v.Elem(), generic, "")
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// assign stores src (from a json.Decoder with UseNumber) in dst, converting between the forms
// Moodle uses for one value.
func assign(dst reflect.Value, src any, path string) error {
	if dst.CanAddr() && dst.Addr().Type().Implements(unmarshalerType) {
		raw, err := json.Marshal(src)
		if err != nil {
			return err
		}
		return dst.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw)
	}
	switch dst.Kind() {
	case reflect.Interface:
		raw, err := json.Marshal(src)
		if err != nil {
			return err
		}
		p := reflect.New(dst.Type())
		if err := json.Unmarshal(raw, p.Interface()); err != nil {
			return err
		}
		dst.Set(p.Elem())
		return nil
	case reflect.Pointer:
		if src == nil {
			dst.SetZero()
			return nil
		}
		if dst.IsNil() {
			dst.Set(reflect.New(dst.Type().Elem()))
		}
		return assign(dst.Elem(), src, path)
	case reflect.Struct:
		m, ok := src.(map[string]any)
		if !ok {
			if src == nil {
				return nil
			}
			return typeError(path, src, dst.Type())
		}
		return assignStruct(dst, m, path)
	case reflect.Slice:
		return assignSlice(dst, src, path)
	case reflect.Map:
		m, ok := src.(map[string]any)
		if !ok {
			if src == nil || isEmptyList(src) { // PHP encodes an empty array as []
				dst.SetZero()
				return nil
			}
			return typeError(path, src, dst.Type())
		}
		if dst.Type().Key().Kind() != reflect.String {
			return typeError(path, src, dst.Type())
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMapWithSize(dst.Type(), len(m)))
		}
		for k, x := range m {
			ev := reflect.New(dst.Type().Elem()).Elem()
			if err := assign(ev, x, path+"."+k); err != nil {
				return err
			}
			dst.SetMapIndex(reflect.ValueOf(k).Convert(dst.Type().Key()), ev)
		}
		return nil
	case reflect.String:
		switch s := src.(type) {
		case string:
			dst.SetString(s)
		case json.Number:
			dst.SetString(s.String())
		case bool:
			dst.SetString(map[bool]string{true: "1", false: ""}[s]) // PHP's (string) of a bool
		case nil:
			dst.SetString("")
		default:
			return typeError(path, src, dst.Type())
		}
		return nil
	case reflect.Bool:
		b, ok := toBool(src)
		if !ok {
			return typeError(path, src, dst.Type())
		}
		dst.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := toInt(src)
		if !ok || dst.OverflowInt(n) {
			return typeError(path, src, dst.Type())
		}
		dst.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := toInt(src)
		if !ok || n < 0 || dst.OverflowUint(uint64(n)) {
			return typeError(path, src, dst.Type())
		}
		dst.SetUint(uint64(n))
		return nil
	case reflect.Float32, reflect.Float64:
		f, ok := toFloat(src)
		if !ok {
			return typeError(path, src, dst.Type())
		}
		dst.SetFloat(f)
		return nil
	}
	return typeError(path, src, dst.Type())
}

func isEmptyList(src any) bool {
	l, ok := src.([]any)
	return ok && len(l) == 0
}

func assignSlice(dst reflect.Value, src any, path string) error {
	var items []any
	switch s := src.(type) {
	case nil:
		dst.SetZero()
		return nil
	case []any:
		items = s
	case map[string]any:
		// A PHP list with gaps in its keys: take the values in key order.
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			na, ea := strconv.ParseInt(a, 10, 64)
			nb, eb := strconv.ParseInt(b, 10, 64)
			if ea == nil && eb == nil {
				return int(na - nb)
			}
			return strings.Compare(a, b)
		})
		for _, k := range keys {
			items = append(items, s[k])
		}
	case string:
		if dst.Type().Elem().Kind() == reflect.Uint8 {
			dst.SetBytes([]byte(s))
			return nil
		}
		return typeError(path, src, dst.Type())
	default:
		return typeError(path, src, dst.Type())
	}
	out := reflect.MakeSlice(dst.Type(), len(items), len(items))
	for i, x := range items {
		if err := assign(out.Index(i), x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	dst.Set(out)
	return nil
}

func assignStruct(dst reflect.Value, m map[string]any, path string) error {
	t := dst.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name := sf.Name
		if tag, ok := sf.Tag.Lookup("json"); ok {
			n, _, _ := strings.Cut(tag, ",")
			if n == "-" {
				continue
			}
			if n != "" {
				name = n
			}
		}
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			if _, tagged := sf.Tag.Lookup("json"); !tagged {
				if err := assignStruct(dst.Field(i), m, path); err != nil {
					return err
				}
				continue
			}
		}
		x, ok := m[name]
		if !ok {
			for k, v := range m { // encoding/json matches names without regard to case
				if strings.EqualFold(k, name) {
					x, ok = v, true
					break
				}
			}
		}
		if !ok {
			continue
		}
		if err := assign(dst.Field(i), x, path+"."+name); err != nil {
			return err
		}
	}
	return nil
}

func toInt(src any) (int64, bool) {
	switch s := src.(type) {
	case json.Number:
		return parseInt(s.String())
	case string:
		if strings.TrimSpace(s) == "" {
			return 0, true
		}
		return parseInt(strings.TrimSpace(s))
	case bool:
		if s {
			return 1, true
		}
		return 0, true
	case nil:
		return 0, true
	}
	return 0, false
}

func parseInt(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	// "12.0" or "1e3": integral floats are fine.
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int64(f)) {
		return 0, false
	}
	return int64(f), true
}

func toFloat(src any) (float64, bool) {
	switch s := src.(type) {
	case json.Number:
		f, err := s.Float64()
		return f, err == nil
	case string:
		if strings.TrimSpace(s) == "" {
			return 0, true
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return f, err == nil
	case bool:
		if s {
			return 1, true
		}
		return 0, true
	case nil:
		return 0, true
	}
	return 0, false
}

func toBool(src any) (bool, bool) {
	switch s := src.(type) {
	case bool:
		return s, true
	case json.Number:
		f, err := s.Float64()
		return f != 0, err == nil
	case string:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "true", "yes", "on":
			return true, true
		case "", "0", "false", "no", "off":
			return false, true
		}
	case nil:
		return false, true
	}
	return false, false
}

func typeError(path string, src any, t reflect.Type) error {
	what := "null"
	switch src.(type) {
	case string:
		what = "string"
	case json.Number:
		what = "number"
	case bool:
		what = "boolean"
	case []any:
		what = "array"
	case map[string]any:
		what = "object"
	}
	if path == "" {
		path = "answer"
	}
	return fmt.Errorf("%s: cannot read a JSON %s as %s", strings.TrimPrefix(path, "."), what, t)
}
