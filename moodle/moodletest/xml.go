package moodletest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// xmlResponse renders a result the way webservice_rest_server does when no JSON was asked
// for: <RESPONSE> holding SINGLE (KEY name=…), MULTIPLE and VALUE elements, booleans as 1/0.
// Keys come in sorted order; Moodle uses the order of the function's description.
func xmlResponse(result any) []byte {
	var generic any
	if raw, err := json.Marshal(result); err == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber() // timestamps and ids stay integers
		_ = dec.Decode(&generic)
	}
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<RESPONSE>\n")
	if result != nil {
		xmlValue(&b, generic)
	}
	b.WriteString("</RESPONSE>\n")
	return []byte(b.String())
}

func xmlValue(b *strings.Builder, v any) {
	switch v := v.(type) {
	case map[string]any:
		b.WriteString("<SINGLE>\n")
		for _, k := range slices.Sorted(maps.Keys(v)) {
			fmt.Fprintf(b, "<KEY name=\"%s\">", xmlEscape(k))
			xmlValue(b, v[k])
			b.WriteString("</KEY>\n")
		}
		b.WriteString("</SINGLE>\n")
	case []any:
		b.WriteString("<MULTIPLE>\n")
		for _, x := range v {
			xmlValue(b, x)
		}
		b.WriteString("</MULTIPLE>\n")
	case nil:
		b.WriteString("<VALUE null=\"null\"/>\n")
	case bool:
		if v {
			b.WriteString("<VALUE>1</VALUE>\n")
		} else {
			b.WriteString("<VALUE>0</VALUE>\n")
		}
	default:
		fmt.Fprintf(b, "<VALUE>%s</VALUE>\n", xmlEscape(fmt.Sprint(v)))
	}
}

// xmlEscape is htmlspecialchars with ENT_COMPAT.
func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
