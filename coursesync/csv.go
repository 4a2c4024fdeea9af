package coursesync

import (
	"bytes"
	"encoding/csv"
	"strings"

	"github.com/mihhub/mih"
)

// MissingCSVHeader is the header line of the missing-users report (docs/sync.md, Runs).
const MissingCSVHeader = "username,course_shortname,role"

// MissingCSV writes the missing-users report as RFC 4180 CSV: a header line, then one line per
// participant and course — username (the participant's value of the job's match field),
// course_shortname, role (the Moodle role short name it would get) — with CRLF line ends and
// fields holding commas, quotes or line breaks quoted.
//
// The values come from the source, and the file is made to be opened in a spreadsheet: a value
// starting with =, +, @, a tab or a carriage return would be read as a formula there, so it is
// written with a leading apostrophe (OWASP's advice on CSV injection). No valid Moodle username
// or course short name starts with one of these.
func MissingCSV(missing []mih.SyncMissingUser) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = true
	_ = w.Write(strings.Split(MissingCSVHeader, ","))
	for _, m := range missing {
		_ = w.Write([]string{cell(m.User), cell(m.Course), cell(m.Role)})
	}
	w.Flush()
	return buf.Bytes()
}

func cell(s string) string {
	if s != "" && strings.ContainsRune("=+@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
