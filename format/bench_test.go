package format_test

import (
	"encoding/json"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/format"
)

// The cost of wrapping one payload, on top of rendering the template: go test -bench . ./format/
func BenchmarkApply(b *testing.B) {
	data, _ := moodleEvent(`\core\event\user_graded`, "logstore:main:1").Data()
	body := json.RawMessage(`{"userid": 42, "grade": 87.5}`)
	recs := records()
	for _, f := range []string{mih.FormatCloudEvents, mih.FormatCloudEventsBinary, mih.FormatXAPI} {
		b.Run(f, func(b *testing.B) {
			in := format.Input{Format: f, Event: data, Site: site, Body: body, Transport: mih.ServiceREST, Records: recs}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := format.Apply(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
