package webhook

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: a signed batch with any headers and body is verified or refused, never panics,
// and only the exact signature of the body passes.
func FuzzVerify(f *testing.F) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := time.Unix(1767000000, 0)
	sig, _ := Sign(secret, "msg_1", now.Unix(), []byte(`[{"id":1}]`))
	f.Add("msg_1", "1767000000", sig, []byte(`[{"id":1}]`))
	f.Add("msg_1", "1767000000", "v1,"+sig+" v1a,xyz", []byte(`{}`))
	f.Add("", "-1", "v2,abc", []byte(nil))
	f.Add("id", "99999999999999999999", "v1,====", []byte("x"))
	f.Fuzz(func(t *testing.T, id, ts, signature string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, signature)
		if Verify(secret, h, body, now, Tolerance) != nil {
			return
		}
		n, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
		if err != nil {
			t.Fatalf("accepted timestamp %q", ts)
		}
		want, err := Sign(secret, strings.TrimSpace(id), n, body)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Fields(signature), want) {
			t.Fatalf("accepted %q for id %q ts %q: the body's signature is %s", signature, id, ts, want)
		}
	})
}
