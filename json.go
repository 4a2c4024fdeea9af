package mih

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxJSONDepth bounds the nesting of every JSON body the hub accepts. Moodle's events nest a few
// levels (other holds at most an object of arrays); encoding/json accepts 10,000 levels, and a
// body nested that deep costs little to send but makes every later reader (filters, templates,
// the pretty-printer of the payload viewer) work in proportion to depth times size.
const MaxJSONDepth = 64

// CheckJSONDepth reports a CodeInvalid error when b nests arrays and objects deeper than max
// levels. It scans the bytes once without decoding, so it is cheap enough to run before any
// decoder; b need not be valid JSON (the decoder reports that).
func CheckJSONDepth(b []byte, max int) error {
	if d := jsonDepth(b, max); d > max {
		return Errorf(CodeInvalid, "request body: JSON nested more than %d levels deep", max)
	}
	return nil
}

// jsonDepth returns the deepest nesting of b, stopping as soon as it passes limit.
func jsonDepth(b []byte, limit int) int {
	depth, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > limit {
					return deepest
				}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// Limits of PrettyJSON: what a page shows of one JSON document.
const (
	prettyMaxDepth = MaxJSONDepth
	prettyMaxBytes = 256 << 10
)

// PrettyJSON indents JSON for reading. Indentation grows with depth, so a deeply nested document
// would grow quadratically when indented: a document nested deeper than MaxJSONDepth, or whose
// indented form passes 256 KiB, is shown compact instead (cut at 256 KiB with a note). Anything
// that is not JSON comes back as it is, cut the same way.
func PrettyJSON(b []byte) string {
	if jsonDepth(b, prettyMaxDepth) <= prettyMaxDepth && json.Valid(b) {
		// Indentation adds at most two bytes per level per line; a document whose compact form
		// is already over the limit is not worth indenting.
		var out bytes.Buffer
		if len(b) <= prettyMaxBytes && json.Indent(&out, b, "", "  ") == nil && out.Len() <= prettyMaxBytes {
			return out.String()
		}
		var compact bytes.Buffer
		if json.Compact(&compact, b) == nil {
			b = compact.Bytes()
		}
	}
	return cutText(string(b), prettyMaxBytes)
}

// cutText cuts s at max bytes, on a rune boundary, saying how much was left out.
func cutText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	var sb strings.Builder
	sb.WriteString(s[:cut])
	sb.WriteString("\n… (")
	sb.WriteString(itoa(int64(len(s) - cut)))
	sb.WriteString(" more bytes not shown)")
	return sb.String()
}

// MaxEventIDLen bounds an event id: ids travel in the Idempotency-Key and Webhook-Id headers of
// every delivery and in URLs of the API and UI.
const MaxEventIDLen = 255

// CheckEventID reports why id cannot be an event id, "" when it can: at most MaxEventIDLen bytes
// of valid UTF-8, every character printable (no control characters such as CR, LF or TAB, which
// no HTTP header may carry).
func CheckEventID(id string) string {
	if len(id) > MaxEventIDLen {
		return "at most " + itoa(MaxEventIDLen) + " bytes"
	}
	if !utf8.ValidString(id) {
		return "not valid UTF-8"
	}
	for _, r := range id {
		if !unicode.IsPrint(r) {
			return "control or non-printable character " + strconv.QuoteRune(r) + " not allowed"
		}
	}
	return ""
}
