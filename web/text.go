package web

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// plural writes a count with its noun: "1 rule", "3 rules", "2 waiting deliveries".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if p, ok := strings.CutSuffix(noun, "y"); ok && !strings.HasSuffix(p, "a") && !strings.HasSuffix(p, "e") && !strings.HasSuffix(p, "o") {
		return fmt.Sprintf("%d %sies", n, p)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// excerpt cuts text to at most n bytes on a character boundary, saying so when it did.
func excerpt(text string, n int) string {
	if len(text) <= n {
		return text
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + fmt.Sprintf("\n… (%d more bytes)", len(text)-cut)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
