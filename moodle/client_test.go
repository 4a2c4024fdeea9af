package moodle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
)

func newClient(t testing.TB, s *moodletest.Server, opts moodle.Options) *moodle.Client {
	t.Helper()
	c, err := moodle.New(s.URL, s.Token, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, url, token, want string
	}{
		{"root", "https://moodle.example.edu", "t", "https://moodle.example.edu"},
		{"trailing slash", "https://moodle.example.edu/", "t", "https://moodle.example.edu"},
		{"sub-directory", "https://example.edu/moodle/", "t", "https://example.edu/moodle"},
		{"REST path given", "https://example.edu/moodle/webservice/rest/server.php", "t", "https://example.edu/moodle"},
		{"no scheme", "moodle.example.edu", "t", "error"},
		{"ftp", "ftp://moodle.example.edu", "t", "error"},
		{"credentials", "https://u:p@moodle.example.edu", "t", "error"},
		{"query", "https://moodle.example.edu/?x=1", "t", "error"},
		{"empty token", "https://moodle.example.edu", "", "error"},
		{"token with a space", "https://moodle.example.edu", " t", "error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := moodle.New(tc.url, tc.token, moodle.Options{})
			if tc.want == "error" {
				if err == nil {
					t.Fatalf("got a client for %q", tc.url)
				}
				return
			}
			if err != nil || c.URL() != tc.want {
				t.Errorf("got %v %v, want %s", c, err, tc.want)
			}
		})
	}
}

func TestCall(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	c := newClient(t, s, moodle.Options{})
	ctx := t.Context()

	var info struct {
		SiteName string `json:"sitename"`
	}
	if err := c.Call(ctx, "core_webservice_get_site_info", nil, &info); err != nil || info.SiteName != "Moodle test site" {
		t.Fatalf("got %+v, %v", info, err)
	}
	// A function that returns nothing answers null, which leaves out alone.
	s.AddUser(moodletest.User{Username: "u"})
	s.AddCourse(moodletest.Course{ShortName: "C", FullName: "C", CategoryID: 1})
	out := map[string]int{"kept": 1}
	err := c.Call(ctx, "enrol_manual_enrol_users", map[string]any{"enrolments": []moodle.Enrolment{{RoleID: 5, UserID: 3, CourseID: 2}}}, &out)
	if err != nil || out["kept"] != 1 {
		t.Errorf("got %v, %v", out, err)
	}
	// nil out ignores the answer but still sees errors.
	if err := c.Call(ctx, "core_user_get_users_by_field", map[string]any{"field": "id"}, nil); moodle.ErrorCode(err) != moodle.CodeInvalidParameter {
		t.Errorf("got %v, want invalidparameter", err)
	}
}

func TestCall_Errors(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{Debug: true})
	s.AddToken("limited", "core_webservice_get_site_info")

	closed := func() string { // an address nothing listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	var followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Add(1) }))
	t.Cleanup(elsewhere.Close)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/webservice/rest/server.php?from=redirect", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirecting.Close)

	type result struct {
		SiteName string `json:"sitename"`
	}
	tests := []struct {
		name      string
		url       string // default the fake
		token     string
		opts      moodle.Options
		fail      *moodletest.Failure
		latency   time.Duration
		function  string
		params    any
		kind      moodle.Kind
		code      string // Moodle errorcode
		status    int
		retryable bool
		mihCode   mih.Code
		text      string // in Error()
	}{
		{name: "invalid token", token: "wrong", kind: moodle.KindException, code: "invalidtoken", status: 200,
			mihCode: mih.CodeUnauthorized, text: "invalidtoken: Invalid token - token not found"},
		{name: "function not in the service", token: "limited", function: "core_course_get_categories",
			kind: moodle.KindException, code: "accessexception", status: 200, mihCode: mih.CodeForbidden},
		{name: "invalid parameter", function: "core_user_get_users_by_field", params: map[string]string{"field": "id"},
			kind: moodle.KindException, code: "invalidparameter", status: 200, mihCode: mih.CodeInvalid,
			text: "Missing required key in single structure: values"},
		{name: "maintenance", fail: &moodletest.Failure{Exception: &moodletest.Exception{Class: "moodle_exception", ErrorCode: "sitemaintenance", Message: "maintenance"}},
			kind: moodle.KindException, code: "sitemaintenance", status: 200, retryable: true, mihCode: mih.CodeUnavailable},
		{name: "HTML in HTTP 200", fail: &moodletest.Failure{Body: "<html><body><h1>Site upgrade pending</h1></body></html>", ContentType: "text/html"},
			kind: moodle.KindBadAnswer, status: 0, retryable: true, mihCode: mih.CodeUnavailable, text: "HTML instead of JSON (maintenance, an upgrade, or a PHP error): Site upgrade pending"},
		{name: "XML in HTTP 200", fail: &moodletest.Failure{Body: "<?xml version=\"1.0\"?><RESPONSE/>"},
			kind: moodle.KindBadAnswer, retryable: true, mihCode: mih.CodeUnavailable, text: "XML instead of JSON"},
		{name: "empty HTTP 200", fail: &moodletest.Failure{Body: ""}, kind: moodle.KindBadAnswer, retryable: true,
			mihCode: mih.CodeUnavailable, text: "empty answer"},
		{name: "invalid JSON", fail: &moodletest.Failure{Body: `{"sitename": "x`}, kind: moodle.KindBadAnswer, retryable: true,
			mihCode: mih.CodeUnavailable, text: "not JSON"},
		{name: "JSON of the wrong shape", fail: &moodletest.Failure{Body: `{"sitename": ["x"]}`}, kind: moodle.KindDecode,
			mihCode: mih.CodeInvalid, text: "unexpected answer: sitename"},
		{name: "HTTP 500", fail: &moodletest.Failure{Status: 500, Body: "<h1>Internal Server Error</h1>", ContentType: "text/html"},
			kind: moodle.KindHTTP, status: 500, retryable: true, mihCode: mih.CodeUnavailable, text: "HTTP 500 Internal Server Error: Internal Server Error"},
		{name: "HTTP 503", fail: &moodletest.Failure{Status: 503}, kind: moodle.KindHTTP, status: 503, retryable: true, mihCode: mih.CodeUnavailable},
		{name: "HTTP 429", fail: &moodletest.Failure{Status: 429}, kind: moodle.KindHTTP, status: 429, retryable: true, mihCode: mih.CodeUnavailable},
		{name: "HTTP 400", fail: &moodletest.Failure{Status: 400}, kind: moodle.KindHTTP, status: 400, mihCode: mih.CodeInvalid},
		{name: "wrong site URL", url: "/moodle", kind: moodle.KindHTTP, status: 404, mihCode: mih.CodeInvalid, text: "check the site URL"},
		{name: "oversize", opts: moodle.Options{MaxResponseBytes: 100}, kind: moodle.KindTooLarge, status: 200,
			mihCode: mih.CodeTooLarge, text: "larger than 100 bytes"},
		{name: "timeout", opts: moodle.Options{Timeout: 50 * time.Millisecond}, latency: time.Second, kind: moodle.KindTimeout,
			retryable: true, mihCode: mih.CodeUnavailable, text: "no answer within 50ms"},
		{name: "connection refused", url: closed, kind: moodle.KindNetwork, retryable: true, mihCode: mih.CodeUnavailable, text: "no answer from the site"},
		{name: "redirect", url: redirecting.URL, kind: moodle.KindHTTP, status: 307, mihCode: mih.CodeInvalid,
			text: "redirected to " + elsewhere.URL + "/webservice/rest/server.php: set the site URL"},
		{name: "too many fields", params: map[string]any{"values": make([]int, 998)}, kind: moodle.KindRequest, mihCode: mih.CodeInvalid,
			text: "1001 form fields, over the site's max_input_vars (1000)"},
		{name: "bad function name", function: "Robert'); DROP TABLE", kind: moodle.KindRequest, mihCode: mih.CodeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, token := s.URL, s.Token
			switch {
			case strings.HasPrefix(tc.url, "/"):
				base += tc.url
			case tc.url != "":
				base = tc.url
			}
			if tc.token != "" {
				token = tc.token
			}
			c, err := moodle.New(base, token, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			function := tc.function
			if function == "" {
				function = moodle.FuncSiteInfo
			}
			if tc.fail != nil {
				s.FailNext(function, 1, *tc.fail)
			}
			s.SetLatency("", tc.latency)
			defer s.SetLatency("", 0)

			var out result
			err = c.Call(t.Context(), function, tc.params, &out)
			e, ok := errors.AsType[*moodle.Error](err)
			if !ok {
				t.Fatalf("got %v (%T), want a *moodle.Error", err, err)
			}
			if e.Kind != tc.kind || e.ErrorCode != tc.code || e.Code() != tc.code || e.Status != tc.status || e.Function != function {
				t.Errorf("got kind %s code %q status %d function %s, want %s %q %d %s", e.Kind, e.ErrorCode, e.Status, e.Function, tc.kind, tc.code, tc.status, function)
			}
			if e.Retryable() != tc.retryable || moodle.Retryable(err) != tc.retryable {
				t.Errorf("retryable %v, want %v", e.Retryable(), tc.retryable)
			}
			if got := mih.ErrorCode(err); got != tc.mihCode {
				t.Errorf("mih code %s, want %s", got, tc.mihCode)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q, want it to contain %q", err, tc.text)
			}
			if mih.ErrorMessage(err) == "" || mih.ErrorMessage(err) == "internal error" {
				t.Errorf("user message %q", mih.ErrorMessage(err))
			}
		})
	}
	if followed.Load() != 0 {
		t.Errorf("the redirect was followed %d times", followed.Load())
	}
}

func TestCall_TimeoutAndCancel(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	c := newClient(t, s, moodle.Options{Timeout: 30 * time.Millisecond})
	s.SetLatency("", time.Second)
	err := c.Call(t.Context(), moodle.FuncSiteInfo, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want DeadlineExceeded in the chain", err)
	}
	// Canceled while Moodle works on the call (it has received it), not before it was sent.
	ctx, cancel := context.WithCancel(t.Context())
	received := s.Calls().Total
	go func() {
		defer cancel()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(5 * time.Second); s.Calls().Total == received && time.Now().Before(deadline); {
			<-tick.C
		}
	}()
	c2 := newClient(t, s, moodle.Options{})
	err = c2.Call(ctx, moodle.FuncSiteInfo, nil, nil)
	if !errors.Is(err, context.Canceled) || !moodle.Retryable(err) {
		t.Errorf("got %v, want a retryable Canceled", err)
	}
}

func TestCall_ToleratesPHPNoise(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	c := newClient(t, s, moodle.Options{})
	prefixes := map[string]string{
		"byte-order mark": "\xef\xbb\xbf",
		"blank line":      "\n\n",
		"HTML warning":    "<br />\n<b>Warning</b>:  Undefined array key \"x\" in <b>/var/www/moodle/local/x/lib.php</b> on line <b>12</b><br />\n",
		"text deprecation": "PHP Deprecated:  Creation of dynamic property in /var/www/moodle/lib.php on line 3\n" +
			"Deprecated: Creation of dynamic property in /var/www/moodle/lib.php on line 3\n",
	}
	for name, prefix := range prefixes {
		t.Run(name, func(t *testing.T) {
			s.FailNext(moodle.FuncSiteInfo, 1, moodletest.Failure{Prefix: prefix})
			info, err := c.SiteInfo(t.Context())
			if err != nil || info.SiteName != "Moodle test site" {
				t.Errorf("got %+v, %v", info, err)
			}
		})
	}
	// Braces after something that is not a PHP diagnostic are still not an answer.
	s.FailNext(moodle.FuncSiteInfo, 1, moodletest.Failure{Body: "<html>{}</html>"})
	_, err := c.SiteInfo(t.Context())
	if e, ok := errors.AsType[*moodle.Error](err); !ok || e.Kind != moodle.KindBadAnswer {
		t.Errorf("got %v, want a bad answer", err)
	}
}

func TestCall_ExceptionDetection(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	c := newClient(t, s, moodle.Options{})
	tests := []struct {
		name, body, code string
	}{
		{"Moodle's order", `{"exception":"moodle_exception","errorcode":"x1","message":"m"}`, "x1"},
		{"any order", `{"message":"m","errorcode":"x2","exception":"moodle_exception"}`, "x2"},
		{"no errorcode (a plain PHP exception)", `{"exception":"Exception","errorcode":null,"message":"boom"}`, ""},
		{"the word in a result", `{"sitename":"the \"exception\" site"}`, "none"},
		{"a result with an exception field", `{"sitename":"s","exception":"moodle_exception"}`, "none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.FailNext(moodle.FuncSiteInfo, 1, moodletest.Failure{Body: tc.body})
			_, err := c.SiteInfo(t.Context())
			if tc.code == "none" {
				if err != nil {
					t.Errorf("got %v, want a result", err)
				}
				return
			}
			e, ok := errors.AsType[*moodle.Error](err)
			if !ok || e.Kind != moodle.KindException || e.ErrorCode != tc.code {
				t.Errorf("got %v, want exception %q", err, tc.code)
			}
		})
	}
}

func TestClient_TokenNeverShows(t *testing.T) {
	const token = "5ecre7t0ken5ecre7t0ken5ecre7t0k3"
	s := moodletest.NewServer(t, moodletest.Options{Token: token, Debug: true})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A misconfigured site that echoes what it got into a redirect.
		r.ParseForm()
		http.Redirect(w, r, "https://elsewhere.example/login?token="+r.PostForm.Get("wstoken"), http.StatusFound)
	}))
	t.Cleanup(redirecting.Close)
	echoing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.WriteHeader(500)
		fmt.Fprintf(w, "<html><body>Fatal error: request wstoken=%s</body></html>", r.PostForm.Get("wstoken"))
	}))
	t.Cleanup(echoing.Close)

	c := newClient(t, s, moodle.Options{Logger: logger, Timeout: 100 * time.Millisecond})
	var seen []string
	record := func(err error) {
		if err == nil {
			t.Fatal("want an error")
		}
		seen = append(seen, err.Error(), fmt.Sprintf("%v|%+v|%#v", err, err, err), mih.ErrorMessage(err))
		if e, ok := errors.AsType[*moodle.Error](err); ok {
			b, _ := json.Marshal(e)
			seen = append(seen, string(b), fmt.Sprintf("%#v", *e))
		}
	}
	ctx := t.Context()

	s.FailNext("", 1, moodletest.Failure{Exception: &moodletest.Exception{Class: "dml_read_exception", ErrorCode: "dmlreadexception",
		Message: "Error reading from database (token " + token + ")", DebugInfo: "SELECT * FROM mdl_external_tokens WHERE token = '" + token + "'"}})
	record(c.Call(ctx, moodle.FuncSiteInfo, nil, nil))
	s.FailNext("", 1, moodletest.Failure{Body: "<p>Notice: wstoken=" + token + "</p>"})
	record(c.Call(ctx, moodle.FuncSiteInfo, nil, nil))
	s.FailNext("", 1, moodletest.Failure{Status: 502, Body: "bad gateway for " + token})
	record(c.Call(ctx, moodle.FuncSiteInfo, nil, nil))
	s.SetLatency("", time.Second)
	record(c.Call(ctx, moodle.FuncSiteInfo, nil, nil))
	s.SetLatency("", 0)
	for _, base := range []string{redirecting.URL, echoing.URL, "http://127.0.0.1:1"} {
		other, err := moodle.New(base, token, moodle.Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		record(other.Call(ctx, moodle.FuncSiteInfo, nil, nil))
		seen = append(seen, fmt.Sprintf("%v %+v %#v %s", other, other, other, other))
	}
	// A refused item in a batch.
	s.FailNext("", 1, moodletest.Failure{Exception: &moodletest.Exception{Class: "moodle_exception", ErrorCode: "x", Message: token}})
	record(c.EnrolUsers(ctx, []moodle.Enrolment{{RoleID: 5, UserID: 2, CourseID: 1}}))

	logger.Info("client", "client", c)
	seen = append(seen, logs.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c))
	for _, text := range seen {
		if strings.Contains(text, token) {
			t.Errorf("the token shows in %q", text)
		}
	}
	if !strings.Contains(logs.String(), "moodle call") || !strings.Contains(logs.String(), "function=core_webservice_get_site_info") {
		t.Errorf("debug log %q: want one record per call", logs.String())
	}
	if !strings.Contains(strings.Join(seen, "\n"), "********") {
		t.Error("nothing was masked: the test did not make Moodle quote the token")
	}
}
