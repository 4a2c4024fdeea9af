package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

// The Standard Webhooks specification's published test vector.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = int64(1614265330)
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var vecNow = time.Unix(vecTS, 0)

func vecHeader() http.Header {
	h := http.Header{}
	h.Set("webhook-id", vecID)
	h.Set("webhook-timestamp", strconv.FormatInt(vecTS, 10))
	h.Set("webhook-signature", vecSig)
	return h
}

func TestSign(t *testing.T) {
	got, err := Sign(vecSecret, vecID, vecTS, []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vecSig {
		t.Errorf("got %s, want %s", got, vecSig)
	}
	// The prefix is optional: the key is the base64 either way.
	if got, _ := Sign(strings.TrimPrefix(vecSecret, "whsec_"), vecID, vecTS, []byte(vecBody)); got != vecSig {
		t.Errorf("without whsec_: got %s, want %s", got, vecSig)
	}
}

func TestSign_BadSecret(t *testing.T) {
	for _, secret := range []string{"", "whsec_", "whsec_not*base64!", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"} {
		_, err := Sign(secret, "id", 1, nil)
		e, ok := errors.AsType[*mih.Error](err)
		if !ok || e.Code != mih.CodeInvalid {
			t.Errorf("secret %q: got %v, want a *mih.Error of code invalid", secret, err)
			continue
		}
		if s := strings.TrimPrefix(secret, "whsec_"); s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("secret %q: error %q quotes the secret", secret, err)
		}
		if CheckSecret(secret) == nil {
			t.Errorf("CheckSecret(%q): got nil, want an error", secret)
		}
	}
	if err := CheckSecret(vecSecret); err != nil {
		t.Errorf("CheckSecret(vector): %v", err)
	}
}

func TestVerify(t *testing.T) {
	other, _ := Sign("whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng==", vecID, vecTS, []byte(vecBody))
	tests := []struct {
		name   string
		secret string
		header func(h http.Header)
		body   string
		now    time.Time
		want   mih.Code // "" for success
	}{
		{"spec vector", vecSecret, nil, vecBody, vecNow, ""},
		{"one of several signatures", vecSecret, func(h http.Header) {
			h.Set("webhook-signature", other+" v1a,c29tZQ== "+vecSig)
		}, vecBody, vecNow, ""},
		{"no matching signature among several", vecSecret, func(h http.Header) {
			h.Set("webhook-signature", other+" "+strings.Replace(vecSig, "v1,", "v2,", 1))
		}, vecBody, vecNow, "unauthorized"},
		{"signature without scheme", vecSecret, func(h http.Header) {
			h.Set("webhook-signature", strings.TrimPrefix(vecSig, "v1,"))
		}, vecBody, vecNow, "unauthorized"},
		{"tampered body", vecSecret, nil, `{"test": 2432232315}`, vecNow, "unauthorized"},
		{"body with extra space", vecSecret, nil, vecBody + " ", vecNow, "unauthorized"},
		{"tampered id", vecSecret, func(h http.Header) { h.Set("webhook-id", vecID+"x") }, vecBody, vecNow, "unauthorized"},
		{"tampered timestamp", vecSecret, func(h http.Header) {
			h.Set("webhook-timestamp", strconv.FormatInt(vecTS+1, 10))
		}, vecBody, vecNow, "unauthorized"},
		{"wrong secret", "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng==", nil, vecBody, vecNow, "unauthorized"},
		{"malformed secret", "whsec_!!!", nil, vecBody, vecNow, "internal"},
		{"five minutes old", vecSecret, nil, vecBody, vecNow.Add(5 * time.Minute), ""},
		{"stale", vecSecret, nil, vecBody, vecNow.Add(5*time.Minute + time.Second), "unauthorized"},
		{"five minutes ahead", vecSecret, nil, vecBody, vecNow.Add(-5 * time.Minute), ""},
		{"future", vecSecret, nil, vecBody, vecNow.Add(-5*time.Minute - time.Second), "unauthorized"},
		{"far future timestamp", vecSecret, func(h http.Header) {
			h.Set("webhook-timestamp", "9223372036854775807")
		}, vecBody, vecNow, "unauthorized"},
		{"timestamp not a number", vecSecret, func(h http.Header) { h.Set("webhook-timestamp", "1614265330.5") }, vecBody, vecNow, "unauthorized"},
		{"missing id", vecSecret, func(h http.Header) { h.Del("webhook-id") }, vecBody, vecNow, "unauthorized"},
		{"missing timestamp", vecSecret, func(h http.Header) { h.Del("webhook-timestamp") }, vecBody, vecNow, "unauthorized"},
		{"missing signature", vecSecret, func(h http.Header) { h.Del("webhook-signature") }, vecBody, vecNow, "unauthorized"},
		{"blank signature", vecSecret, func(h http.Header) { h.Set("webhook-signature", "  ") }, vecBody, vecNow, "unauthorized"},
		{"id too long", vecSecret, func(h http.Header) { h.Set("webhook-id", strings.Repeat("a", 256)) }, vecBody, vecNow, "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := vecHeader()
			if tc.header != nil {
				tc.header(h)
			}
			err := Verify(tc.secret, h, []byte(tc.body), tc.now, Tolerance)
			if got := mih.ErrorCode(err); got != tc.want {
				t.Fatalf("got %v (code %q), want code %q", err, got, tc.want)
			}
			if err == nil {
				return
			}
			if _, ok := errors.AsType[*mih.Error](err); !ok {
				t.Errorf("got %T, want *mih.Error", err)
			}
			msg := err.Error()
			for _, secret := range []string{tc.secret, strings.TrimPrefix(tc.secret, "whsec_"), vecSig, strings.TrimPrefix(vecSig, "v1,")} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q contains a secret or the expected signature", msg)
				}
			}
		})
	}
}

func TestVerify_Tolerance(t *testing.T) {
	h := vecHeader()
	if err := Verify(vecSecret, h, []byte(vecBody), vecNow.Add(time.Minute), 30*time.Second); mih.ErrorCode(err) != mih.CodeUnauthorized {
		t.Errorf("a minute late with 30 s tolerance: got %v, want unauthorized", err)
	}
	if err := Verify(vecSecret, h, []byte(vecBody), vecNow.Add(4*time.Minute), -1); err != nil {
		t.Errorf("negative tolerance means the default: got %v", err)
	}
}

func TestSignVerify_RoundTrip(t *testing.T) {
	bodies := [][]byte{nil, []byte("{}"), []byte(`{"events":[{"eventname":"\\core\\event\\user_created","other":{"name":"Zoë \"Z\" <z>"}}]}`), bytes.Repeat([]byte("x"), 1<<20)}
	now := time.Unix(1767000000, 0)
	for i, b := range bodies {
		sig, err := Sign(vecSecret, "local_mih:"+strconv.Itoa(i), now.Unix(), b)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(HeaderID, "local_mih:"+strconv.Itoa(i))
		h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(HeaderSignature, sig)
		if err := Verify(vecSecret, h, b, now, Tolerance); err != nil {
			t.Errorf("body %d: %v", i, err)
		}
	}
}

// The Moodle plugin's signer must produce what Verify accepts, byte for byte. The test runs the
// plugin's own classes/signer.php through php -r.
func TestVerify_PluginSigner(t *testing.T) {
	php, err := exec.LookPath("php")
	if err != nil {
		t.Skip("php is not on PATH: the plugin's signer is not checked (apt-get install php-cli)")
	}
	signer, err := filepath.Abs("../moodle-plugin/local_mih/classes/signer.php")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(signer); err != nil {
		t.Fatalf("plugin signer: %v", err)
	}
	const script = `define('MOODLE_INTERNAL', true);
require(getenv('MIH_SIGNER'));
$body = stream_get_contents(STDIN);
echo json_encode(\local_mih\signer::headers(getenv('MIH_SECRET'), getenv('MIH_ID'), (int)getenv('MIH_TS'), $body));`

	now := time.Now()
	tests := []struct {
		name, secret, id string
		ts               int64
		body             string
	}{
		{"spec vector", vecSecret, vecID, vecTS, vecBody},
		{"batch", "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng==", "local_mih:0b4b1c52-8f0e-4d5e-9a53-7d1f0c2b9a11", now.Unix(),
			`{"events":[{"eventname":"\\core\\event\\user_created","other":{"name":"Zoë \"Z\" <z>\n"},"ip":"127.0.0.1"}]}`},
		{"empty body", vecSecret, "x", now.Unix(), ""},
		{"binary body", vecSecret, "y", now.Unix(), "\x00\xff\xfe{\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(php, "-r", script)
			cmd.Env = append(os.Environ(), "MIH_SIGNER="+signer, "MIH_SECRET="+tc.secret, "MIH_ID="+tc.id,
				"MIH_TS="+strconv.FormatInt(tc.ts, 10))
			cmd.Stdin = strings.NewReader(tc.body)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("php: %v: %s", err, stderr.String())
			}
			var got map[string]string
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("php output %q: %v", out, err)
			}
			h := http.Header{}
			for k, v := range got {
				h.Set(k, v)
			}
			if h.Get(HeaderID) != tc.id || h.Get(HeaderTimestamp) != strconv.FormatInt(tc.ts, 10) {
				t.Errorf("headers %v: want id %q and timestamp %d", got, tc.id, tc.ts)
			}
			if err := Verify(tc.secret, h, []byte(tc.body), time.Unix(tc.ts, 0), Tolerance); err != nil {
				t.Errorf("Verify of the plugin's signature: %v", err)
			}
			want, _ := Sign(tc.secret, tc.id, tc.ts, []byte(tc.body))
			if h.Get(HeaderSignature) != want {
				t.Errorf("plugin signature %q, want %q", h.Get(HeaderSignature), want)
			}
			// And a tampered body fails, so the check above is not vacuous.
			if err := Verify(tc.secret, h, []byte(tc.body+"!"), time.Unix(tc.ts, 0), Tolerance); err == nil {
				t.Error("Verify accepted a tampered body")
			}
		})
	}
}

// BenchmarkVerify measures what the hub pays per plugin batch: 1 KB is a request with a few
// events, 256 KB a full batch of 500.
func BenchmarkVerify(b *testing.B) {
	for _, size := range []int{1 << 10, 256 << 10} {
		body := bytes.Repeat([]byte("x"), size)
		now := time.Unix(1767000000, 0)
		sig, _ := Sign(vecSecret, vecID, now.Unix(), body)
		h := http.Header{}
		h.Set(HeaderID, vecID)
		h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(HeaderSignature, sig)
		b.Run(strconv.Itoa(size>>10)+"KB", func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := Verify(vecSecret, h, body, now, Tolerance); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
