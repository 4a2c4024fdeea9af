package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/web"
)

// The admin UI in a real Chromium (Debian's /usr/bin/chromium, headless), on the real hub run
// in-process: sign in, create a REST service and a rule through the forms, preview the payload,
// watch a delivery succeed on the dashboard, break the receiver until the circuit opens and the
// delivery waits paused, let it die against a 400, replay it from the queue once the receiver is
// fixed, and visit the remaining pages. Every page is saved as a screenshot into
// $MIH_SCREENSHOTS (default: a temporary folder); docs/screenshots holds a set.
//
// Skipped when Chromium is not installed or cannot start (install it with
// apt-get install chromium).

// browserSecret is the service token typed into the form: no page may ever show it.
const browserSecret = "browser-s3cret-token-7f1e"

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("MIH_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Skip("Chromium is not installed (apt-get install chromium, or set MIH_CHROMIUM); skipping the browser tests")
	return ""
}

// browser starts a headless Chromium with a 1280×900 window, closed when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first run starts the browser; it must run on ctx itself, since a context derived for
	// a time limit would stop the browser when it ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Skipf("Chromium cannot start here: %v", err)
	}
	return ctx
}

// screenshots is where the test saves its pictures.
func screenshots(t *testing.T) string {
	dir := os.Getenv("MIH_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserRun runs steps with a time limit, failing the test with what was being done.
func browserRun(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// submit clicks a submit button and waits for the page it leads to.
func submit(t *testing.T, ctx context.Context, what, selector string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(c, chromedp.Click(chromedp.CSS(selector)))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.Status >= 400 {
		t.Fatalf("%s: the page answered %d", what, resp.Status)
	}
}

// text returns the visible text of the page. A read that races with the dashboard replacing its
// live part is tried again.
func text(t *testing.T, ctx context.Context) string {
	t.Helper()
	var err error
	for range 5 {
		var s string
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		s, err = chromedp.Run(c, chromedp.Evaluate[string](`document.body.innerText`))
		cancel()
		if err == nil {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("read the page: %v", err)
	return ""
}

// waitJS waits until a JavaScript expression is true, reloading nothing: the page must get there
// by itself (the dashboard refreshes itself).
func waitJS(t *testing.T, ctx context.Context, what, expr string, within time.Duration) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, within+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		t.Fatalf("%s: %v\npage:\n%s", what, err, text(t, ctx))
	}
}

// waitPage reloads path until its text contains want.
func waitPage(t *testing.T, ctx context.Context, url, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		browserRun(t, ctx, "open "+url, chromedp.Navigate(url))
		got := text(t, ctx)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q within %s; page:\n%s", url, want, within, got)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// shot saves a screenshot of the page, after checking that the page holds no secret.
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	html, err := chromedp.Run(c, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if strings.Contains(html, browserSecret) {
		t.Errorf("%s shows the service's token", name)
	}
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// setField sets a control's value and fires change, as a user's edit would (the service form
// shows the fields of the chosen auth type on change).
func setField(id, value string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const el = document.getElementById(%q); el.value = %q;
		el.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, id, value)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](js)(ctx, t)
		return err
	})
}

func TestBrowser_AdminUI(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ctx := browser(t)
	dir := screenshots(t)

	// The receiver answers 204, or 500, or 400, as the test switches it.
	var mode atomic.Int32 // 0 ok, 1 server error, 2 bad request
	var got atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusNoContent) // the test connection's GET
			return
		}
		switch mode.Load() {
		case 1:
			http.Error(w, `{"error":"database is down"}`, http.StatusInternalServerError)
		case 2:
			http.Error(w, `{"error":"field moodle_id is required"}`, http.StatusBadRequest)
		default:
			got.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer recv.Close()
	hub, _ := startInProcess(t)
	base := strings.TrimSuffix(hub, "/")

	// Sign in: every page sends a visitor without a session to the sign-in page first.
	browserRun(t, ctx, "open the dashboard", chromedp.Navigate(base+"/services"), chromedp.WaitVisible(chromedp.ID("f-secret")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.Contains(loc, "/login?next=%2Fservices") {
		t.Fatalf("without a session: at %s, want the sign-in page", loc)
	}
	shot(t, ctx, dir, "01-login")
	browserRun(t, ctx, "type the token", chromedp.SendKeys(chromedp.ID("f-secret"), e2eToken))
	submit(t, ctx, "sign in", `form[action="/login"] button[type=submit]`)
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/services") {
		t.Fatalf("after sign-in: at %s, want back at /services", loc)
	}

	// A REST service through the form, with a bearer token that must never come back.
	browserRun(t, ctx, "open the service form", chromedp.Navigate(base+"/services/new"), chromedp.WaitVisible(chromedp.ID("f-name")))
	browserRun(t, ctx, "fill the service form",
		chromedp.SendKeys(chromedp.ID("f-name"), "crm"),
		setField("f-base-url", recv.URL+"/api"),
		setField("f-auth-type", "bearer"),
		chromedp.WaitVisible(chromedp.ID("f-auth-token")),
		chromedp.SendKeys(chromedp.ID("f-auth-token"), browserSecret),
		setField("f-max-retries", "5"),
		setField("f-initial-backoff-s", "0.2"),
		setField("f-circuit-failure-threshold", "2"),
		setField("f-circuit-cooldown-s", "300"),
	)
	shot(t, ctx, dir, "02-service-new")
	submit(t, ctx, "add the service", `form[data-service-form] button[type=submit]`)
	if s := text(t, ctx); !strings.Contains(s, "Service crm added") {
		t.Fatalf("after adding the service:\n%s", s)
	}
	submit(t, ctx, "test the connection", `form[action="/services/crm/test"] button`)
	if s := text(t, ctx); !strings.Contains(s, "Connected: GET") {
		t.Fatalf("test connection:\n%s", s)
	}
	shot(t, ctx, dir, "03-service-test-connection")

	// A rule, with the payload previewed first.
	browserRun(t, ctx, "open the rule form", chromedp.Navigate(base+"/rules/new"), chromedp.WaitVisible(chromedp.ID("f-event")))
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#moodle-events option').length`))
	if err != nil || n < 12 {
		t.Errorf("event suggestions: got %d (%v), want the common Moodle events", n, err)
	}
	browserRun(t, ctx, "fill the rule form",
		chromedp.SendKeys(chromedp.ID("f-name"), "new users to the CRM"),
		chromedp.SendKeys(chromedp.ID("f-event"), `\core\event\user_created`),
		setField("f-service", "crm"),
		chromedp.SendKeys(chromedp.ID("f-endpoint"), "/users"),
		setField("f-template", "{\n  \"moodle_id\": {{relateduserid}},\n  \"by\": {{userid}},\n  \"event\": \"{{eventname}}\",\n  \"at\": {{timecreated}}\n}"),
	)
	submit(t, ctx, "preview the payload", `button[value=preview]`)
	payload, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("preview-payload")))
	if err != nil || !strings.Contains(payload, `"moodle_id": 42`) {
		t.Fatalf("preview: got %q (%v), want the rendered payload", payload, err)
	}
	shot(t, ctx, dir, "04-rule-preview")
	submit(t, ctx, "save the rule", `button[value=save]`)
	if s := text(t, ctx); !strings.Contains(s, "Rule 1 added") {
		t.Fatalf("after saving the rule:\n%s", s)
	}
	shot(t, ctx, dir, "05-rules")

	// An event through the API: the dashboard, left open, shows the delivery succeed by itself.
	browserRun(t, ctx, "open the dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("live")))
	postEvent(t, hub, "browser-1")
	waitJS(t, ctx, "the dashboard shows the succeeded delivery",
		`document.querySelector('#live a[href="/queue?state=succeeded"] .n').textContent.trim() === '1'`, 15*time.Second)
	if got.Load() != 1 {
		t.Fatalf("receiver: got %d deliveries, want 1", got.Load())
	}
	shot(t, ctx, dir, "06-dashboard")

	// The receiver breaks: two failures open the circuit and the delivery waits, paused.
	mode.Store(1)
	postEvent(t, hub, "browser-2")
	waitJS(t, ctx, "the dashboard shows the circuit OPEN",
		`[...document.querySelectorAll('#live .badge')].some(b => b.textContent.includes('OPEN'))`, 20*time.Second)
	waitPage(t, ctx, base+"/queue?state=paused", "browser-2", 10*time.Second)
	shot(t, ctx, dir, "07-queue-paused")
	browserRun(t, ctx, "back to the dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("live")))
	shot(t, ctx, dir, "08-dashboard-circuit-open")

	// Still broken, differently: after a circuit reset the delivery is sent and refused (400),
	// which is final: it lands in the dead-letter queue.
	mode.Store(2)
	submit(t, ctx, "reset the circuit", `form[action="/services/crm/circuit/reset"] button`)
	waitPage(t, ctx, base+"/queue?state=dead", "400 http_error", 15*time.Second)
	shot(t, ctx, dir, "09-queue-dead")

	// Fixed: replay it from its payload viewer (the </> of the queue).
	mode.Store(0)
	submit(t, ctx, "open the payload viewer", `a[aria-label^="View the request and attempts"]`)
	if s := text(t, ctx); !strings.Contains(s, "field moodle_id is required") || !strings.Contains(s, `"moodle_id": 42`) {
		t.Fatalf("the payload viewer lacks the request or the response body:\n%s", s)
	}
	shot(t, ctx, dir, "10-delivery-dead")
	submit(t, ctx, "replay", `form[action$="/replay"] button[type=submit]`)
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	waitPage(t, ctx, loc, "succeeded", 15*time.Second)
	if got.Load() != 2 {
		t.Fatalf("receiver: got %d deliveries, want 2 after the replay", got.Load())
	}
	shot(t, ctx, dir, "11-delivery-replayed")

	// The other pages.
	for _, p := range []struct{ path, want, name string }{
		{"/events", "browser-2", "12-events"},
		{"/logs", "crm", "13-logs"},
		{"/sync", "No sync jobs yet", "14-sync"},
	} {
		browserRun(t, ctx, "open "+p.path, chromedp.Navigate(base+p.path))
		if s := text(t, ctx); !strings.Contains(s, p.want) {
			t.Fatalf("%s: no %q:\n%s", p.path, p.want, s)
		}
		cur, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('nav a[aria-current="page"]').getAttribute('href')`))
		if err != nil || cur != p.path {
			t.Errorf("%s: the nav marks %q as current (%v)", p.path, cur, err)
		}
		shot(t, ctx, dir, p.name)
	}

	// A phone: one column, nothing wider than the screen but the tables, which scroll.
	browserRun(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("live")))
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil || wide {
		t.Errorf("on a phone the page scrolls sideways (%v)", err)
	}
	shot(t, ctx, dir, "15-dashboard-phone")
}

// The course sync pages in Chromium, on the real hub with its scheduler: a Moodle site
// (moodletest) registered through the sites form and its connection tested, the academic system
// (a loopback REST service with a bearer token) registered through the API, the job created
// through the form, Preview showing the plan, Confirm applying
// it while the page follows the progress by itself, and the report.
func TestBrowser_CourseSync(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ctx := browser(t)
	dir := screenshots(t)

	ws := moodletest.NewServer(t, moodletest.Options{})
	for _, u := range []string{"00000000074", "00000000076", "00000000077", "00000000078", "00000000023", "00000000087"} {
		ws.AddUser(moodletest.User{Username: u, FirstName: "F", LastName: u, Email: u + "@example.edu"})
	}
	// Enrolling takes a moment, so that the page can be seen following the apply.
	ws.SetLatency(moodle.FuncEnrolUsers, 2500*time.Millisecond)
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+browserSecret {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, webcourseCourses)
	}))
	defer src.Close()
	hub, _ := startInProcess(t)
	base := strings.TrimSuffix(hub, "/")
	if code, b := apiCall(t, "POST", hub+"api/v1/services", map[string]any{"name": "academic", "type": "rest", "base_url": src.URL,
		"max_retries": 0, "auth": map[string]any{"type": "bearer", "token": browserSecret}}); code != http.StatusCreated {
		t.Fatalf("create the source service: %d %s", code, b)
	}

	browserRun(t, ctx, "open the sign-in page", chromedp.Navigate(base+"/sites/new"), chromedp.WaitVisible(chromedp.ID("f-secret")))
	browserRun(t, ctx, "type the token", chromedp.SendKeys(chromedp.ID("f-secret"), e2eToken))
	submit(t, ctx, "sign in", `form[action="/login"] button[type=submit]`)

	// The Moodle site through its form, its connection tested; its token never comes back.
	noToken := func(what string) {
		t.Helper()
		html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		if err != nil || strings.Contains(html, ws.Token) {
			t.Fatalf("%s shows the site's token (%v)", what, err)
		}
	}
	browserRun(t, ctx, "fill the site form", chromedp.WaitVisible(chromedp.ID("f-name")),
		chromedp.SendKeys(chromedp.ID("f-name"), "main"),
		setField("f-url", ws.URL),
		chromedp.SendKeys(chromedp.ID("f-token"), ws.Token),
	)
	submit(t, ctx, "add the site", `form[data-site-form] button[type=submit]`)
	if s := text(t, ctx); !strings.Contains(s, "Site main added") {
		t.Fatalf("after adding the site:\n%s", s)
	}
	submit(t, ctx, "test the site's connection", `form[action="/sites/main/test"] button`)
	if s := text(t, ctx); !strings.Contains(s, "Connected to Moodle test site.") || !strings.Contains(s, "4.5.1+") {
		t.Fatalf("test connection:\n%s", s)
	}
	noToken("the site's test connection")
	shot(t, ctx, dir, "24-site-test-connection")

	// The job through the form.
	browserRun(t, ctx, "open the sync job form", chromedp.Navigate(base+"/sync/new"), chromedp.WaitVisible(chromedp.ID("f-name")))
	browserRun(t, ctx, "fill the sync job form",
		chromedp.SendKeys(chromedp.ID("f-name"), "webcourse"),
		setField("f-site", "main"),
		setField("f-source-service", "academic"),
		chromedp.SendKeys(chromedp.ID("f-source-path"), "/courses"),
		chromedp.Click(chromedp.ID("f-removal-suspend")),
		chromedp.SendKeys(chromedp.ID("f-schedule"), "CRON_TZ=UTC 30 5 * * *"),
	)
	shot(t, ctx, dir, "16-sync-job-new")
	submit(t, ctx, "add the sync job", `button[value=save]`)
	if s := text(t, ctx); !strings.Contains(s, "Sync job webcourse added") || !strings.Contains(s, "05:30:00 UTC") {
		t.Fatalf("after adding the job:\n%s", s)
	}

	// Preview: the run page shows the plan once the hub's scheduler has computed it.
	submit(t, ctx, "preview", `form[action="/sync/webcourse/plan"] button`)
	waitJS(t, ctx, "the preview shows the plan", `!!document.querySelector('#live [data-final]')`, 15*time.Second)
	s := text(t, ctx)
	for _, want := range []string{"Courses to create (3)", "Exemple name - Geography Course", "Enrolments to add (12)",
		"Missing users (1)", "00000000069", "Confirm and apply"} {
		if !strings.Contains(s, want) {
			t.Fatalf("the preview lacks %q:\n%s", want, s)
		}
	}
	if len(ws.Courses()) != 0 {
		t.Fatal("the preview changed Moodle")
	}
	shot(t, ctx, dir, "17-sync-preview")
	previewURL, _ := chromedp.Run(ctx, chromedp.Location())

	// Confirm: the page follows the apply's progress by itself, then shows the report.
	submit(t, ctx, "confirm the plan", `form[action="/sync/webcourse/apply"] button[type=submit]`)
	waitJS(t, ctx, "the run page shows the enrolments going on",
		`(document.querySelector('#live li[aria-current="step"]') || {textContent: ''}).textContent.includes('Enrol and reactivate')`, 15*time.Second)
	shot(t, ctx, dir, "18-sync-apply-progress")
	waitJS(t, ctx, "the apply succeeds", `!!document.querySelector('#live [data-final]')`, 20*time.Second)
	s = text(t, ctx)
	if !strings.Contains(s, "succeeded") || !strings.Contains(s, "Report") || strings.Contains(s, "Confirm and apply") {
		t.Fatalf("after the apply:\n%s", s)
	}
	if n := len(ws.Courses()); n != 3 {
		t.Fatalf("Moodle has %d courses after the apply, want 3", n)
	}
	shot(t, ctx, dir, "19-sync-applied")

	browserRun(t, ctx, "open the job's runs", chromedp.Navigate(base+"/sync/webcourse/runs"))
	if s := text(t, ctx); !strings.Contains(s, "apply") || !strings.Contains(s, "plan") {
		t.Fatalf("the job's runs:\n%s", s)
	}
	shot(t, ctx, dir, "20-sync-runs")
	browserRun(t, ctx, "open the sync jobs", chromedp.Navigate(base+"/sync"))
	shot(t, ctx, dir, "21-sync-jobs")

	// The sites page names the job that uses the site.
	browserRun(t, ctx, "open the sites", chromedp.Navigate(base+"/sites"))
	if s := text(t, ctx); !strings.Contains(s, ws.URL) || !strings.Contains(s, "webcourse") {
		t.Fatalf("the sites page:\n%s", s)
	}
	noToken("the sites page")
	shot(t, ctx, dir, "23-sites")

	// A phone: the plan's page is one column; only its tables scroll, inside their frames.
	browserRun(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(previewURL), chromedp.WaitVisible(chromedp.ID("live")))
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil || wide {
		t.Errorf("on a phone the plan's page scrolls sideways (%v)", err)
	}
	shot(t, ctx, dir, "22-sync-preview-phone")
}

func postEvent(t *testing.T, hub, id string) {
	t.Helper()
	ev := testEvents("x", 1)[0]
	ev["id"] = id
	ev["relateduserid"] = 42
	code, body := apiCall(t, "POST", hub+"api/v1/events", ev)
	if code != http.StatusAccepted {
		t.Fatalf("post event: %d %s", code, body)
	}
	var res struct{ Accepted int }
	if json.Unmarshal(body, &res); res.Accepted != 1 {
		t.Fatalf("post event: %s", body)
	}
}

// TestAdmin_SetPassword: `mih admin set-password` reads the password from standard input, stores
// its hash, and from then on the password signs in to the web UI (and the admin token does not).
func TestAdmin_SetPassword(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	var out, errOut strings.Builder
	if code := run(ctx, []string{"admin"}, nil, &out, &errOut); code != exitUsage {
		t.Fatalf("mih admin: exit %d, want %d (usage)", code, exitUsage)
	}
	for _, in := range []string{"", "\n", "too short\n"} {
		err := runAdmin(ctx, []string{"set-password", "--data", dir}, nil, strings.NewReader(in), &out, &errOut)
		if mih.ErrorCode(err) != mih.CodeInvalid {
			t.Errorf("password %q: got %v, want invalid", in, err)
		}
	}
	const pw = "correct horse battery staple"
	if err := runAdmin(ctx, []string{"set-password", "--data", dir}, nil, strings.NewReader(pw+"\r\n"), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Admin password set") {
		t.Errorf("output: %q", out.String())
	}

	cfg := &Config{Data: dir, AdminToken: e2eToken}
	st, err := openStore(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := firstStartToken(ctx, st, cfg); err != nil {
		t.Fatal(err)
	}
	if v, err := st.GetMeta(ctx, web.MetaAdminPassword); err != nil || strings.Contains(v, pw) || !strings.HasPrefix(v, "pbkdf2-sha256$") {
		t.Fatalf("stored password: %q %v", v, err)
	}
	handler, err := withWebUI(cfg, http.NotFoundHandler(), ops.New(ops.Config{Store: st}), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		secret string
		want   int
	}{{e2eToken, http.StatusUnauthorized}, {pw, http.StatusSeeOther}} {
		res, err := client.PostForm(srv.URL+"/login", url.Values{"secret": {tc.secret}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("sign in with %q: got %d, want %d", tc.secret[:4], res.StatusCode, tc.want)
		}
	}
}
