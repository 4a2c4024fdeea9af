package http

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

// Pagination defaults of every list endpoint (docs/api.md, Conventions).
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// writeJSON answers with v as JSON. It encodes into a buffer first, so that a value that cannot
// be encoded becomes a clean 500 instead of half a body. "<", ">" and "&" stay as they are: rule
// filters and templates are full of them, and the answer is never HTML.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal","message":"internal error"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// list is the shape of every list answer: {"items":[...],"next":"<cursor or empty>"}.
type list[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// writeList answers with a page of items; a nil slice is written as [] so that clients never
// see null.
func writeList[T any](w http.ResponseWriter, items []T, next string) {
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, list[T]{Items: items, Next: next})
}

// pageNewest pages a small registry (services, sites) held in memory: newest first by creation
// time, then by name. The cursor names the last item of the previous page as
// "<created_at in Unix nanoseconds>.<name>", so a page stays right when items are added or
// deleted between requests.
func pageNewest[T any](all []T, key func(T) (time.Time, string), limit int, cursor string) ([]T, string, error) {
	slices.SortFunc(all, func(a, b T) int {
		at, an := key(a)
		bt, bn := key(b)
		return cmp.Or(bt.Compare(at), cmp.Compare(an, bn))
	})
	start := 0
	if cursor != "" {
		ns, name, ok := strings.Cut(cursor, ".")
		n, err := strconv.ParseInt(ns, 10, 64)
		if !ok || err != nil {
			return nil, "", mih.Errorf(mih.CodeInvalid, "query parameter cursor: not a cursor this endpoint gave out")
		}
		at := time.Unix(0, n).UTC()
		start = len(all)
		for i, it := range all {
			t, nm := key(it)
			if c := t.Compare(at); c < 0 || c == 0 && nm > name {
				start = i
				break
			}
		}
	}
	page, next := all[start:], ""
	if len(page) > limit {
		page = page[:limit]
		t, nm := key(page[len(page)-1])
		next = strconv.FormatInt(t.UnixNano(), 10) + "." + nm
	}
	return page, next, nil
}

// readBody reads the whole request body, which the server has already bounded with
// http.MaxBytesReader: a body over the limit is a too_large error. Every body of the API is
// JSON and goes through here, so this is where nesting is bounded (mih.MaxJSONDepth), before
// any decoder sees the body.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bodyError(err)
	}
	if err := mih.CheckJSONDepth(b, mih.MaxJSONDepth); err != nil {
		return nil, err
	}
	return b, nil
}

func bodyError(err error) error {
	if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return mih.Errorf(mih.CodeTooLarge, "request body is over the limit of %d bytes", mbe.Limit)
	}
	return mih.WrapError(mih.CodeInvalid, err, "request body could not be read")
}

// decodeJSON decodes the request body strictly into v: one JSON value, no unknown fields, within
// the size limit. An empty body is an error unless optional is true (v is then left as is).
func decodeJSON(r *http.Request, v any, optional bool) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return mih.Errorf(mih.CodeInvalid, "request body: want a JSON object")
	}
	return decodeStrict(body, v)
}

// decodeStrict decodes body into v the way decodeJSON does: one JSON value, no unknown fields.
func decodeStrict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return mih.Errorf(mih.CodeInvalid, "request body: data after the JSON value")
	}
	return nil
}

// jsonError turns a decoding error into a message that says what and where.
func jsonError(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return mih.Errorf(mih.CodeInvalid, "request body is not valid JSON: %s at byte %d", se.Error(), se.Offset)
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field != "" {
			return mih.Errorf(mih.CodeInvalid, "%s: got a JSON %s, want %s", te.Field, te.Value, typeName(te.Type))
		}
		return mih.Errorf(mih.CodeInvalid, "request body: got a JSON %s, want %s", te.Value, typeName(te.Type))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return mih.Errorf(mih.CodeInvalid, "request body is not valid JSON: unexpected end")
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return mih.Errorf(mih.CodeInvalid, "unknown field %s", field)
	}
	return mih.Errorf(mih.CodeInvalid, "request body is not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// query reads and checks query parameters; the first fault is kept and reported by err.
type query struct {
	r   *http.Request
	err error
}

func newQuery(r *http.Request) *query { return &query{r: r} }

func (q *query) fail(name, format string, args ...any) {
	if q.err == nil {
		q.err = mih.Errorf(mih.CodeInvalid, "query parameter %s: %s", name, fmt.Sprintf(format, args...))
	}
}

func (q *query) str(name string) string { return q.r.URL.Query().Get(name) }

// int64Ptr reads an optional integer.
func (q *query) int64Ptr(name string) *int64 {
	s := q.str(name)
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		q.fail(name, "want an integer, got %q", s)
		return nil
	}
	return &n
}

// int64 reads an optional integer, zero when absent.
func (q *query) int64(name string) int64 {
	if p := q.int64Ptr(name); p != nil {
		return *p
	}
	return 0
}

// boolPtr reads an optional boolean (true/false/1/0).
func (q *query) boolPtr(name string) *bool {
	s := q.str(name)
	if s == "" {
		return nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		q.fail(name, "want true or false, got %q", s)
		return nil
	}
	return &b
}

// time reads an optional point in time: RFC 3339 or Unix seconds.
func (q *query) time(name string) time.Time {
	s := q.str(name)
	if s == "" {
		return time.Time{}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC()
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		q.fail(name, "want an RFC 3339 time or Unix seconds, got %q", s)
		return time.Time{}
	}
	return t.UTC()
}

// limit reads the page size: default 100, values over 1000 are capped at 1000.
func (q *query) limit() int {
	s := q.str("limit")
	if s == "" {
		return defaultLimit
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		q.fail("limit", "want a positive integer, got %q", s)
		return defaultLimit
	}
	return min(n, maxLimit)
}

func (q *query) cursor() string { return q.str("cursor") }

// pathID reads a numeric id from the path; anything else names nothing that exists.
func pathID(r *http.Request, what string) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, mih.Errorf(mih.CodeNotFound, "%s %q not found", what, s)
	}
	return id, nil
}
