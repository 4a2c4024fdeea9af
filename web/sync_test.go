package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/coursesync"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/moodle/moodletest"
	"github.com/mihhub/mih/transport/rest"
)

// academicToken is what the academic system asks for: no page may ever show it.
const academicToken = "acad-4e8f1b2c9d-secret"

// syncUI is the web UI with course sync wired as `mih serve` wires it: a Moodle site
// (moodletest) and an academic system (a loopback server that checks its bearer token)
// registered in the store, and the scheduler that takes queued runs.
type syncUI struct {
	*testUI
	ws *moodletest.Server

	mu     sync.Mutex
	status int
	source string

	stopScheduler func()
}

func newSyncUI(t *testing.T, withScheduler bool) *syncUI {
	t.Helper()
	u := &syncUI{testUI: newTestUI(t), status: http.StatusOK, source: `{"courses":[]}`}
	u.ws = moodletest.NewServer(t, moodletest.Options{})
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+academicToken || r.URL.Path != "/api/courses" {
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		u.mu.Lock()
		status, body := u.status, u.source
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(src.Close)
	if err := u.store.CreateSite(t.Context(), &mih.Site{Name: "main", URL: u.ws.URL, Token: u.ws.Token}); err != nil {
		t.Fatal(err)
	}
	svc := restService("academic", src.URL+"/api")
	svc.Auth = mih.Auth{Type: mih.AuthBearer, Token: academicToken}
	svc.MaxRetries = 0
	u.createService(svc)
	if withScheduler {
		u.startScheduler()
	}
	return u
}

// startScheduler runs the scheduler every `mih serve` runs, polling often so that tests are quick.
func (u *syncUI) startScheduler() {
	t := u.t
	tr := rest.New(rest.Options{Version: "test", MaxResponseBody: coursesync.DefaultMaxSourceBytes + 1})
	gw := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{})
	runner := coursesync.New(coursesync.Config{Store: u.store, Gateway: gw, Runner: "test-ui", ProgressEvery: 10 * time.Millisecond})
	s := coursesync.NewScheduler(runner, coursesync.SchedulerOptions{Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	u.stopScheduler = func() { cancel(); <-done; tr.Close() }
	t.Cleanup(u.stopScheduler)
}

func (u *syncUI) setSource(status int, body string) {
	u.mu.Lock()
	u.status, u.source = status, body
	u.mu.Unlock()
}

func (u *syncUI) users(names ...string) {
	for _, n := range names {
		u.ws.AddUser(moodletest.User{Username: n, FirstName: "F" + n, LastName: "L" + n, Email: n + "@example.edu"})
	}
}

// waitRun waits for a run to be over and returns it.
func (u *syncUI) waitRun(id int64) *mih.SyncRun {
	u.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		run, err := u.store.FindSyncRunByID(context.Background(), id)
		if err != nil {
			u.t.Fatal(err)
		}
		if run.Status.Done() {
			return run
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("run %d not over in time: %+v", id, run)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var runPathRE = regexp.MustCompile(`^/sync/([a-z0-9._-]+)/runs/(\d+)$`)

// queued reads the run a plan or apply redirected to.
func queued(t *testing.T, r response) int64 {
	t.Helper()
	if r.status != http.StatusSeeOther {
		t.Fatalf("got %d, want 303 to the run; body:\n%s", r.status, excerpt(r.body, 3000))
	}
	m := runPathRE.FindStringSubmatch(r.location)
	if m == nil {
		t.Fatalf("redirected to %q, want a run's page", r.location)
	}
	id, _ := strconv.ParseInt(m[2], 10, 64)
	return id
}

// syncJobForm is a complete job form as the page sends it, with an empty row in each list.
func syncJobForm(name string) url.Values {
	return url.Values{
		"name": {name}, "site": {"main"}, "source_service": {"academic"}, "source_path": {"/courses"},
		"category_kind": {"id"}, "category": {"1"}, "match_field": {"username"},
		"roles.name": {"teacher", "professor", "aluno", ""}, "roles.role": {"editingteacher", "editingteacher", "student", ""},
		"default_role":  {"student"},
		"role_ids.name": {"editingteacher", "student", ""}, "role_ids.id": {"3", "5", ""},
		"removal": {"suspend"}, "update_courses": {"true"}, "schedule": {"CRON_TZ=UTC 30 5 * * *"}, "enabled": {"true"},
		"action": {"save"},
	}
}

// sourceSeed has a bit of everything a plan reports: courses to create, enrolments, a teacher by
// another name, a missing user, an unknown role and a course that cannot be created.
const sourceSeed = `{"courses": [
{"shortname": "GEO", "name": "Geography", "participants": [{"username": "alice"}, {"username": "bob", "roleid": "professor"},
  {"username": "zoe"}, {"username": "carol", "roleid": "tutor"}]},
{"shortname": "PHY", "name": "Physics", "participants": [{"username": "alice", "roleid": "aluno"}]},
{"shortname": "NONAME", "participants": [{"username": "alice"}]}
]}`

func TestSync_CreatePreviewConfirm(t *testing.T) {
	u := newSyncUI(t, true)
	u.login()
	u.users("alice", "bob", "carol")
	u.setSource(http.StatusOK, sourceSeed)
	// A SOAP service cannot be a source: the form does not offer it.
	soap := mih.NewService()
	soap.Name, soap.Type, soap.BaseURL = "legacy", mih.ServiceSOAP, "https://legacy.example.com/service?wsdl"
	u.createService(soap)

	must(t, u.get("/sync"), http.StatusOK, "No sync jobs yet")
	form := u.get("/sync/new")
	must(t, form, http.StatusOK, `<option value="main">main</option>`, `<option value="academic">academic</option>`,
		`name="roles.name" value="professor"`, `name="role_ids.name" value="coursecreator"`, "This cannot be undone")
	if strings.Contains(form.body, `value="legacy"`) {
		t.Error("the form offers a SOAP service as the source")
	}

	r := u.post("/sync", syncJobForm("webcourse"))
	if r.status != http.StatusSeeOther || r.location != "/sync/webcourse/runs" {
		t.Fatalf("create: got %d to %q\n%s", r.status, r.location, excerpt(r.body, 3000))
	}
	j, err := u.store.FindSyncJobByName(t.Context(), "webcourse")
	if err != nil {
		t.Fatal(err)
	}
	if j.Site != "main" || j.SourceService != "academic" || j.SourcePath != "/courses" || j.Category.ID != 1 ||
		j.Roles["aluno"] != "student" || len(j.Roles) != 3 || j.RoleIDs["editingteacher"] != 3 || j.RoleIDs["manager"] != 1 ||
		j.Removal != mih.RemovalSuspend || !j.UpdateCourses || j.Schedule != "CRON_TZ=UTC 30 5 * * *" || !j.Enabled {
		t.Fatalf("stored job %+v", j)
	}
	must(t, u.follow("/sync/webcourse/runs"), http.StatusOK, "Sync job webcourse added", "aluno → student", "No runs yet", "05:30:00 UTC")
	must(t, u.get("/sync"), http.StatusOK, `href="/sync/webcourse/runs"`, "<code>/courses</code>", "never run", "05:30:00 UTC")

	// Preview: a plan run is queued, the page follows it, and shows the plan once it is over.
	r = u.post("/sync/webcourse/plan", nil)
	planID := queued(t, r)
	page := u.follow(r.location)
	must(t, page, http.StatusOK, "Preview of webcourse queued as run")
	if !u.waitRun(planID).Status.Done() || len(u.ws.Courses()) != 0 {
		t.Fatal("planning changed Moodle")
	}
	plan, _ := u.store.FindSyncRunByID(t.Context(), planID)
	if plan.Status != mih.SyncSucceeded {
		t.Fatalf("plan run %+v", plan)
	}
	page = u.get(r.location)
	must(t, page, http.StatusOK, "data-final", "The plan",
		`<th scope="row">Courses to create</th><td class="num">2</td>`,
		`<th scope="row">Enrolments to add</th><td class="num">4</td>`,
		"Geography", "Physics", "<td>bob</td><td>editingteacher</td>",
		`Missing users <span class="count">(1)</span>`, "<td>zoe</td>",
		`Unknown roles <span class="count">(1)</span>`, "<td>tutor</td>",
		`Invalid items <span class="count">(1)</span>`, "name: required to create the course",
		"Download the 1 missing user (CSV)", "Confirm and apply",
		`name="expect" value="`+plan.Plan.Fingerprint+`"`)
	// The live part alone, as the page's script fetches it.
	live := u.get(r.location + "/live")
	must(t, live, http.StatusOK, "data-final", "Confirm and apply")
	if strings.Contains(live.body, "<html") {
		t.Error("the live part is a whole page")
	}

	// The missing users as a download named after the job and the run.
	csv := u.get(fmt.Sprintf("/sync/webcourse/runs/%d/missing.csv", planID))
	if csv.status != http.StatusOK || csv.body != "username,course_shortname,role\r\nzoe,GEO,student\r\n" {
		t.Errorf("CSV: %d %q", csv.status, csv.body)
	}
	if ct, cd := csv.header.Get("Content-Type"), csv.header.Get("Content-Disposition"); ct != "text/csv; charset=utf-8" ||
		cd != fmt.Sprintf(`attachment; filename="webcourse-%d-missing.csv"`, planID) {
		t.Errorf("CSV headers: %q, %q", ct, cd)
	}

	// Confirm: applies exactly the previewed plan, and the page follows it to its report.
	r = u.post("/sync/webcourse/apply", url.Values{"expect": {plan.Plan.Fingerprint}, "plan": {strconv.FormatInt(planID, 10)}})
	applyID := queued(t, r)
	must(t, u.follow(r.location), http.StatusOK, fmt.Sprintf("Applying the plan of run %d as run %d", planID, applyID))
	run := u.waitRun(applyID)
	if run.Status != mih.SyncSucceeded || run.Expect != plan.Plan.Fingerprint || run.Counts.Applied != (mih.SyncActionCounts{Create: 2, Enrol: 4}) {
		t.Fatalf("apply run %+v", run)
	}
	geo, ok := u.ws.CourseByShortName("GEO")
	if !ok || geo.FullName != "Geography" || len(u.ws.Enrolments(geo.ID)) != 3 {
		t.Fatalf("Moodle after the apply: %+v, %v", geo, u.ws.Enrolments(geo.ID))
	}
	page = u.get(r.location)
	must(t, page, http.StatusOK, "data-final", "Report", "succeeded",
		`<th scope="row">Courses to create</th><td class="num">2</td><td class="num">2</td>`,
		`<th scope="row">Enrolments to add</th><td class="num">4</td><td class="num">4</td>`, "The plan it applied")
	if strings.Contains(page.body, "Confirm and apply") {
		t.Error("an apply's report offers to apply again")
	}

	// The history lists both runs, newest first, with their counts.
	hist := u.get("/sync/webcourse/runs")
	must(t, hist, http.StatusOK, fmt.Sprintf(`href="/sync/webcourse/runs/%d"`, applyID), fmt.Sprintf(`/sync/webcourse/runs/%d/missing.csv`, planID))
	if strings.Index(hist.body, fmt.Sprintf(`runs/%d"`, applyID)) > strings.Index(hist.body, fmt.Sprintf(`runs/%d"`, planID)) {
		t.Error("the history is not newest first")
	}
	// A second preview finds nothing to change.
	again := queued(t, u.post("/sync/webcourse/plan", nil))
	u.waitRun(again)
	must(t, u.get(fmt.Sprintf("/sync/webcourse/runs/%d", again)), http.StatusOK, "Nothing to change")

	must(t, u.get(fmt.Sprintf("/sync/other/runs/%d", planID)), http.StatusNotFound)
	must(t, u.get("/sync/webcourse/runs/999999"), http.StatusNotFound)
	u.noSecrets(academicToken, u.ws.Token)
}

// An apply confirmed against a plan that is no longer true changes nothing, and the page says
// to preview again; a disabled job can be previewed but not applied.
func TestSync_StalePlanAndDisabledJob(t *testing.T) {
	u := newSyncUI(t, true)
	u.login()
	u.users("alice")
	u.setSource(http.StatusOK, `[{"shortname":"GEO","name":"Geography","participants":["alice"]}]`)
	if r := u.post("/sync", syncJobForm("webcourse")); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, excerpt(r.body, 2000))
	}
	planID := queued(t, u.post("/sync/webcourse/plan", nil))
	plan := u.waitRun(planID)
	u.setSource(http.StatusOK, `[{"shortname":"GEO","name":"Geography","participants":["alice"]},{"shortname":"PHY","name":"Physics"}]`)
	r := u.post("/sync/webcourse/apply", url.Values{"expect": {plan.Plan.Fingerprint}})
	run := u.waitRun(queued(t, r))
	if run.Status != mih.SyncFailed || run.ErrorCode != mih.CodeConflict || len(u.ws.Courses()) != 0 {
		t.Fatalf("stale apply: %+v", run)
	}
	must(t, u.get(r.location), http.StatusOK, "The run failed (conflict)", "changed since the plan was previewed", "Preview again")

	must(t, u.post("/sync/webcourse/apply", nil), http.StatusBadRequest, "needs a previewed plan")

	r = u.post("/sync/webcourse/enabled", url.Values{"enabled": {"false"}, "back": {"/sync/webcourse/runs"}})
	if r.status != http.StatusSeeOther || r.location != "/sync/webcourse/runs" {
		t.Fatalf("disable: %d to %q", r.status, r.location)
	}
	must(t, u.follow(r.location), http.StatusOK, "Sync job webcourse disabled", "Enable")
	planID = queued(t, u.post("/sync/webcourse/plan", nil))
	plan = u.waitRun(planID)
	page := u.get(fmt.Sprintf("/sync/webcourse/runs/%d", planID))
	must(t, page, http.StatusOK, "The job is disabled: enable it to apply a plan.")
	if strings.Contains(page.body, "Confirm and apply") {
		t.Error("a disabled job's plan offers to apply")
	}
	must(t, u.post("/sync/webcourse/apply", url.Values{"expect": {plan.Plan.Fingerprint}}), http.StatusConflict, "is disabled")
	u.post("/sync/webcourse/enabled", url.Values{"enabled": {"true"}})
	if j, _ := u.store.FindSyncJobByName(t.Context(), "webcourse"); !j.Enabled {
		t.Error("not enabled again")
	}
}

// What a plan says about removals: refused from an empty source, with a warning for unenrol;
// and an apply that Moodle partly refuses reports each refused item.
func TestSync_RemovalsAndRefusedItems(t *testing.T) {
	u := newSyncUI(t, true)
	u.login()
	u.users("alice", "bob")
	// GEO exists without a manual enrolment instance: Moodle refuses its enrolments.
	cat := int64(1)
	u.ws.AddCourse(moodletest.Course{ShortName: "GEO", FullName: "Geography", CategoryID: cat, NoManualInstance: true})
	u.setSource(http.StatusOK, `{"courses":[]}`)
	f := syncJobForm("webcourse")
	f.Set("removal", "unenrol")
	f.Set("update_courses", "")
	if r := u.post("/sync", f); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.status, excerpt(r.body, 2000))
	}
	must(t, u.get("/sync/webcourse/runs"), http.StatusOK, "Removal policy: unenrol")
	id := queued(t, u.post("/sync/webcourse/plan", nil))
	u.waitRun(id)
	must(t, u.get(fmt.Sprintf("/sync/webcourse/runs/%d", id)), http.StatusOK, "No suspension or removal:",
		"the source listed no usable course", "Nothing to change")

	u.setSource(http.StatusOK, `[{"shortname":"GEO","name":"Geography","participants":["alice","bob"]},{"shortname":"PHY","name":"Physics","participants":["alice"]}]`)
	id = queued(t, u.post("/sync/webcourse/plan", nil))
	plan := u.waitRun(id)
	run := u.waitRun(queued(t, u.post("/sync/webcourse/apply", url.Values{"expect": {plan.Plan.Fingerprint}})))
	if run.Status != mih.SyncPartial || run.Counts.Failed != 2 || run.Counts.Applied.Create != 1 {
		t.Fatalf("partial run %+v", run)
	}
	must(t, u.get(fmt.Sprintf("/sync/webcourse/runs/%d", run.ID)), http.StatusOK, "partial",
		`Items Moodle refused <span class="count">(2)</span>`, "<td>enrol</td><td>GEO</td><td>alice</td>", run.Errors[0].Code,
		`<th scope="row">Refused by Moodle</th><td class="num">—</td><td class="num">2</td>`)
}

// Long lists are cut on the page with their total, and shown whole on request.
func TestSync_LongListsCut(t *testing.T) {
	u := newSyncUI(t, true)
	u.login()
	var b strings.Builder
	b.WriteString(`[{"shortname":"BIG","name":"Big course","participants":[`)
	for i := range 130 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"user%03d"`, i)
	}
	b.WriteString(`]}]`)
	u.setSource(http.StatusOK, b.String())
	if r := u.post("/sync", syncJobForm("big")); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.status)
	}
	id := queued(t, u.post("/sync/big/plan", nil))
	u.waitRun(id)
	page := u.get(fmt.Sprintf("/sync/big/runs/%d", id))
	must(t, page, http.StatusOK, `Missing users <span class="count">(130)</span>`, "Showing 100 of 130.",
		fmt.Sprintf(`href="/sync/big/runs/%d?full=1#list-missing"`, id), "<td>user099</td>")
	if strings.Contains(page.body, "<td>user100</td>") {
		t.Error("the cut list shows item 101")
	}
	full := u.get(fmt.Sprintf("/sync/big/runs/%d?full=1", id))
	must(t, full, http.StatusOK, "<td>user129</td>")
	if strings.Contains(full.body, "Showing 100") {
		t.Error("the whole list is still cut")
	}
	csv := u.get(fmt.Sprintf("/sync/big/runs/%d/missing.csv", id))
	if n := strings.Count(csv.body, "\r\n"); n != 131 {
		t.Errorf("CSV has %d lines, want 131", n)
	}
}

// Every fault of the form lands next to its field, with the message of the check the API runs.
func TestSync_FormValidation(t *testing.T) {
	u := newSyncUI(t, false)
	u.login()
	soap := mih.NewService()
	soap.Name, soap.Type, soap.BaseURL = "legacy", mih.ServiceSOAP, "https://legacy.example.com/service?wsdl"
	u.createService(soap)
	tests := []struct {
		name   string
		change map[string][]string
		field  string
		want   string
	}{
		{"bad name", map[string][]string{"name": {"Web Course"}}, "f-name", "want a slug"},
		{"reserved name", map[string][]string{"name": {"runs"}}, "f-name", "is reserved"},
		{"no site", map[string][]string{"site": {""}}, "f-site", "want the name of a registered Moodle site"},
		{"unknown site", map[string][]string{"site": {"nope"}}, "f-site", `site "nope" does not exist`},
		{"soap source", map[string][]string{"source_service": {"legacy"}}, "f-source-service", "the source must be a REST service"},
		{"relative path", map[string][]string{"source_path": {"courses"}}, "f-source-path", "starting with /"},
		{"category not a number", map[string][]string{"category": {"SCI"}}, "f-category", `choose "idnumber"`},
		{"bad schedule", map[string][]string{"schedule": {"99 * * * *"}}, "f-schedule", `schedule "99 * * * *"`},
		{"schedule that never fires", map[string][]string{"schedule": {"0 0 30 2 *"}}, "f-schedule", "never fires"},
		{"role id not a number", map[string][]string{"role_ids.name": {"student", "tutor"}, "role_ids.id": {"5", "x"}}, "f-role-ids", "row 2: tutor: want the role's id"},
		{"role mapped twice", map[string][]string{"roles.name": {"Teacher", "teacher"}, "roles.role": {"editingteacher", "student"}}, "f-roles", `"teacher" is mapped twice`},
		{"role without id", map[string][]string{"roles.name": {"tutor"}, "roles.role": {"tutor"}}, "f-roles", `"tutor" has no id in role_ids`},
		{"default role without id", map[string][]string{"default_role": {"learner"}}, "f-default-role", `default_role "learner"`},
		{"bad match field", map[string][]string{"match_field": {"phone"}}, "f-match-field", "want username, idnumber or email"},
		{"bad removal", map[string][]string{"removal": {"purge"}}, "f-removal", "want keep, suspend or unenrol"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := syncJobForm("webcourse")
			for k, v := range tc.change {
				f[k] = v
			}
			r := u.post("/sync", f)
			must(t, r, http.StatusBadRequest, "The job was not saved", `id="`+tc.field+`-error"`, tc.want)
			if _, err := u.store.FindSyncJobByName(t.Context(), "webcourse"); mih.ErrorCode(err) != mih.CodeNotFound {
				t.Errorf("a refused form stored the job: %v", err)
			}
		})
	}
	// What was typed comes back, so that a fix is one edit.
	f := syncJobForm("webcourse")
	f.Set("schedule", "99 * * * *")
	must(t, u.post("/sync", f), http.StatusBadRequest, `value="/courses"`, `name="roles.name" value="aluno"`, `value="99 * * * *"`)
	// A valid schedule shows when it fires next.
	f.Set("schedule", "@hourly")
	if r := u.post("/sync", f); r.status != http.StatusSeeOther {
		t.Fatalf("valid form: %d\n%s", r.status, excerpt(r.body, 3000))
	}
	must(t, u.get("/sync/webcourse/edit"), http.StatusOK, `id="next-runs"`, "Next runs:")
	must(t, u.post("/sync", syncJobForm("webcourse")), http.StatusConflict, "exists already")
}

// Editing shows the stored job, "More rows" adds rows without saving, and saving replaces the
// job; a job cannot be renamed.
func TestSync_Edit(t *testing.T) {
	u := newSyncUI(t, false)
	u.login()
	if r := u.post("/sync", syncJobForm("webcourse")); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.status)
	}
	// The settings of the job's calls to Moodle, set through the API, are on the form.
	stored, err := u.store.FindSyncJobByName(t.Context(), "webcourse")
	if err != nil {
		t.Fatal(err)
	}
	stored.TimeoutS, stored.BatchMax, stored.WriteParallel, stored.ReadParallel = 120, 50, 2, 8
	if err := u.store.UpdateSyncJob(t.Context(), stored); err != nil {
		t.Fatal(err)
	}
	edit := u.get("/sync/webcourse/edit")
	must(t, edit, http.StatusOK, `name="roles.name" value="aluno"`, `value="CRON_TZ=UTC 30 5 * * *"`,
		`id="f-removal-suspend" name="removal" value="suspend" checked`, "a sync job cannot be renamed",
		`name="timeout_s" value="120"`, `name="batch_max" value="50"`, `name="write_parallel" value="2"`, `name="read_parallel" value="8"`)
	rows := strings.Count(edit.body, `name="roles.name"`)

	f := syncJobForm("webcourse")
	f.Set("action", "more")
	more := u.post("/sync/webcourse/edit", f)
	must(t, more, http.StatusOK)
	if got := strings.Count(more.body, `name="roles.name"`); got != 3+syncBlankRows+syncMoreRows {
		t.Errorf("after More rows: %d role rows, want %d (was %d)", got, 3+syncBlankRows+syncMoreRows, rows)
	}

	f = syncJobForm("renamed")
	f.Set("category_kind", "idnumber")
	f.Set("category", "SCI-2026")
	f.Set("removal", "unenrol")
	f.Set("schedule", "")
	f["roles.name"] = []string{"Teacher", ""}
	f["roles.role"] = []string{"editingteacher", ""}
	f.Del("enabled")
	f.Set("timeout_s", "90.5")
	f.Set("batch_max", "20")
	f.Set("write_parallel", "")
	f.Set("read_parallel", "8")
	// Values that are not numbers, or out of the job's ranges, are refused on their fields.
	for field, bad := range map[string]string{"timeout_s": "soon", "batch_max": "5000", "write_parallel": "two", "read_parallel": "-1"} {
		b := url.Values{}
		for k, v := range f {
			b[k] = v
		}
		b.Set(field, bad)
		r := u.post("/sync/webcourse/edit", b)
		must(t, r, http.StatusBadRequest, `id="f-`+strings.ReplaceAll(field, "_", "-")+`-error"`)
	}
	r := u.post("/sync/webcourse/edit", f)
	if r.status != http.StatusSeeOther || r.location != "/sync/webcourse/runs" {
		t.Fatalf("update: %d to %q\n%s", r.status, r.location, excerpt(r.body, 2000))
	}
	j, err := u.store.FindSyncJobByName(t.Context(), "webcourse")
	if err != nil {
		t.Fatal(err)
	}
	if j.Category.IDNumber != "SCI-2026" || j.Removal != mih.RemovalUnenrol || j.Schedule != "" || j.Enabled ||
		len(j.Roles) != 1 || j.Roles["teacher"] != "editingteacher" ||
		j.TimeoutS != 90.5 || j.BatchMax != 20 || j.WriteParallel != 0 || j.ReadParallel != 8 {
		t.Fatalf("updated job %+v", j)
	}
	if _, err := u.store.FindSyncJobByName(t.Context(), "renamed"); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("the job was renamed: %v", err)
	}
	must(t, u.follow("/sync/webcourse/runs"), http.StatusOK, "Sync job webcourse saved", `category idnumber "SCI-2026"`,
		"Removal policy: unenrol", "on request only", "disabled")
	must(t, u.get("/sync/nope/edit"), http.StatusNotFound)
}

// Deleting asks first, says what goes, and is refused while a run waits.
func TestSync_DeleteConfirmation(t *testing.T) {
	u := newSyncUI(t, false)
	u.login()
	if r := u.post("/sync", syncJobForm("webcourse")); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.status)
	}
	// Without a process taking runs, a preview waits, queued, and its page says so.
	id := queued(t, u.post("/sync/webcourse/plan", nil))
	page := u.get(fmt.Sprintf("/sync/webcourse/runs/%d", id))
	must(t, page, http.StatusOK, `data-refresh="/sync/webcourse/runs/`, "Waiting for a hub process to take it", "Queued for")
	if strings.Contains(page.body, "data-final") {
		t.Error("a queued run's page says it is over")
	}
	must(t, u.get("/sync/webcourse/delete"), http.StatusOK, fmt.Sprintf("Run <a href=\"/sync/webcourse/runs/%d\">%d</a> of this job is queued", id, id))
	must(t, u.post("/sync/webcourse/delete", url.Values{"confirm": {"yes"}}), http.StatusConflict, "delete it when the run is over")

	u.setSource(http.StatusOK, `{"courses":[]}`)
	u.startScheduler()
	u.waitRun(id)
	must(t, u.get("/sync/webcourse/delete"), http.StatusOK, "also deletes its run history", "<strong>1</strong>\n\trun with", "Moodle is not touched")
	must(t, u.post("/sync/webcourse/delete", nil), http.StatusConflict, "needs confirmation")
	if _, err := u.store.FindSyncJobByName(t.Context(), "webcourse"); err != nil {
		t.Fatalf("deleted without confirmation: %v", err)
	}
	r := u.post("/sync/webcourse/delete", url.Values{"confirm": {"yes"}})
	if r.status != http.StatusSeeOther || r.location != "/sync" {
		t.Fatalf("delete: %d to %q", r.status, r.location)
	}
	must(t, u.follow("/sync"), http.StatusOK, "Sync job webcourse deleted with its run history", "No sync jobs yet")
	if _, err := u.store.FindSyncRunByID(t.Context(), id); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("the run outlived its job: %v", err)
	}
	must(t, u.get("/sync/webcourse/delete"), http.StatusNotFound)
}

// Every sync page needs a session, and every action the session's form token: a forged or
// cross-site form queues nothing and changes nothing.
func TestSync_SessionAndCSRF(t *testing.T) {
	u := newSyncUI(t, false)
	u.login()
	if r := u.post("/sync", syncJobForm("webcourse")); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.status)
	}
	id := queued(t, u.post("/sync/webcourse/plan", nil))

	anon := u.newClient()
	for _, p := range []string{"/sync", "/sync/new", "/sync/webcourse/edit", "/sync/webcourse/runs", "/sync/webcourse/delete",
		fmt.Sprintf("/sync/webcourse/runs/%d", id), fmt.Sprintf("/sync/webcourse/runs/%d/missing.csv", id)} {
		req, _ := http.NewRequest("GET", u.srv.URL+p, nil)
		r := u.do(anon, req)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login?next=") {
			t.Errorf("GET %s without a session: %d to %q", p, r.status, r.location)
		}
	}
	// The run page's background refresh gets a 401 it can stop on.
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/sync/webcourse/runs/%d/live", u.srv.URL, id), nil)
	req.Header.Set(fragmentHeader, "1")
	if r := u.do(anon, req); r.status != http.StatusUnauthorized {
		t.Errorf("live part without a session: %d", r.status)
	}

	actions := []struct {
		path string
		form url.Values
	}{
		{"/sync", syncJobForm("forged")},
		{"/sync/webcourse/edit", syncJobForm("webcourse")},
		{"/sync/webcourse/plan", nil},
		{"/sync/webcourse/apply", url.Values{"expect": {"0000"}}},
		{"/sync/webcourse/enabled", url.Values{"enabled": {"false"}}},
		{"/sync/webcourse/delete", url.Values{"confirm": {"yes"}}},
	}
	for _, a := range actions {
		form := url.Values{}
		for k, v := range a.form {
			form[k] = v
		}
		if r := u.postRaw(anon, a.path, form, nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, "/login") {
			t.Errorf("POST %s without a session: %d to %q", a.path, r.status, r.location)
		}
		must(t, u.postRaw(u.client, a.path, form, nil), http.StatusForbidden, "This form has expired")
		form.Set("csrf", "forged-token")
		must(t, u.postRaw(u.client, a.path, form, nil), http.StatusForbidden, "This form has expired")
		form.Set("csrf", u.csrf())
		must(t, u.postRaw(u.client, a.path, form, http.Header{"Sec-Fetch-Site": {"cross-site"}}), http.StatusForbidden, "sent from another site")
	}
	runs, _, err := u.store.FindSyncRuns(t.Context(), mih.SyncRunFilter{Job: "webcourse"})
	if err != nil || len(runs) != 1 {
		t.Errorf("refused forms queued runs: %d, %v", len(runs), err)
	}
	j, err := u.store.FindSyncJobByName(t.Context(), "webcourse")
	if err != nil || !j.Enabled {
		t.Errorf("refused forms changed the job: %+v, %v", j, err)
	}
	if _, err := u.store.FindSyncJobByName(t.Context(), "forged"); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("a forged form created a job: %v", err)
	}
}

// A source that fails makes a failed run whose page says why, without the source's token even
// when the source echoes it.
func TestSync_FailedSourceShowsNoSecret(t *testing.T) {
	u := newSyncUI(t, true)
	u.login()
	u.setSource(http.StatusBadRequest, `{"error":"bad request","you_sent":"Bearer `+academicToken+`"}`)
	if r := u.post("/sync", syncJobForm("webcourse")); r.status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.status)
	}
	id := queued(t, u.post("/sync/webcourse/plan", nil))
	run := u.waitRun(id)
	if run.Status != mih.SyncFailed {
		t.Fatalf("run %+v", run)
	}
	must(t, u.get(fmt.Sprintf("/sync/webcourse/runs/%d", id)), http.StatusOK, "The run failed", "source academic/courses")
	must(t, u.get("/sync"), http.StatusOK, "failed")

	// Whatever a run's record holds — an error or a refusal that echoes a credential — the page
	// masks the source's and the site's secrets.
	echo := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerCLI, Status: mih.SyncRunning, Runner: "other"}
	if err := u.store.CreateSyncRun(t.Context(), echo); err != nil {
		t.Fatal(err)
	}
	echo.Status, echo.ErrorCode = mih.SyncFailed, mih.CodeUnavailable
	echo.Error = "source academic/courses: upstream said: token " + academicToken + " refused"
	echo.Counts.Failed = 1
	echo.Errors = []mih.SyncItemError{{Action: "enrol", Course: "GEO", User: "alice", Code: "invalidtoken", Message: "wstoken=" + u.ws.Token}}
	if err := u.store.FinishSyncRun(t.Context(), echo); err != nil {
		t.Fatal(err)
	}
	must(t, u.get(fmt.Sprintf("/sync/webcourse/runs/%d", echo.ID)), http.StatusOK, "upstream said: token ******** refused", "wstoken=********")
	u.noSecrets(academicToken, u.ws.Token)
}

func TestSyncFieldOf(t *testing.T) {
	tests := []struct{ msg, want string }{
		{`schedule "x": bad`, "schedule"},
		{`role_ids["tutor"]: want a positive role id`, "role_ids"},
		{`roles: a role name is empty`, "roles"},
		{`name "runs" is reserved`, "name"},
		{`site "x" does not exist: register the Moodle site first`, "site"},
		{`something else`, ""},
	}
	for _, tc := range tests {
		if got := syncFieldOf(tc.msg); got != tc.want {
			t.Errorf("syncFieldOf(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{400 * time.Millisecond, "0.4 s"},
		{12 * time.Second, "12 s"},
		{3*time.Minute + 4*time.Second, "3 min 4 s"},
		{2*time.Hour + 5*time.Minute, "2 h 5 min"},
		{-time.Second, "—"},
	}
	for _, tc := range tests {
		if got := formatDuration(tc.d); got != tc.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
