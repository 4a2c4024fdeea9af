package coursesync

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/sitedb/sitedbtest"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/store/storetest"
)

// countingTransport counts the Web Service calls by function.
type countingTransport struct {
	mu    sync.Mutex
	calls map[string]int
	// notSent counts the answers "Message was not sent." (an exception after commit).
	notSent int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(b))
		if q, err := url.ParseQuery(string(b)); err == nil {
			c.mu.Lock()
			c.calls[q.Get("wsfunction")]++
			c.mu.Unlock()
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if bytes.Contains(b, []byte(`"errorcode":"Message was not sent."`)) {
		c.mu.Lock()
		c.notSent++
		c.mu.Unlock()
	}
	return resp, err
}

func (c *countingTransport) take() (total, writes int, by map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	by = c.calls
	by["(answers: Message was not sent.)"] = c.notSent
	c.calls, c.notSent = map[string]int{}, 0
	for f, n := range by {
		total += n
		switch f {
		case moodle.FuncCreateCourses, moodle.FuncUpdateCourses, moodle.FuncEnrolUsers, moodle.FuncUnenrolUsers,
			moodle.FuncAssignRoles, moodle.FuncUnassignRoles, moodle.FuncUpdateEnrolments:
			writes += n
		}
	}
	return total, writes, by
}

// TestRealMoodle runs a source of MIH_REAL_COURSES (200) courses × MIH_REAL_PER (40)
// participants against a real Moodle end to end, then a run that changes nothing, then one
// that suspends, reactivates and changes roles, counting the calls and, in Moodle's log, the
// \core\event\notification_sent events each run caused. It creates the accounts it needs
// (MIH_REAL_USER_PREFIX, default mihsm, then 00000…) and courses named MIHSYNC-<stamp>-NNNN in
// a new category.
//
//	MIH_REAL_MOODLE_URL=http://… MIH_REAL_MOODLE_TOKEN=… MIH_REAL_MOODLE_DB=postgres://… \
//	MIH_REAL_MOODLE_PREFIX=mdl_ go test -run TestRealMoodle -v -timeout 60m ./coursesync/
func TestRealMoodle(t *testing.T) {
	base, token, dsn := os.Getenv("MIH_REAL_MOODLE_URL"), os.Getenv("MIH_REAL_MOODLE_TOKEN"), os.Getenv("MIH_REAL_MOODLE_DB")
	if base == "" || token == "" {
		t.Skip("MIH_REAL_MOODLE_URL and MIH_REAL_MOODLE_TOKEN are not set")
	}
	prefix := cmp.Or(os.Getenv("MIH_REAL_MOODLE_PREFIX"), "mdl_")
	courses := envInt("MIH_REAL_COURSES", 200)
	per := envInt("MIH_REAL_PER", 40)
	ctx := context.Background()
	counter := &countingTransport{calls: map[string]int{}}
	client, err := moodle.New(base, token, moodle.Options{HTTPClient: &http.Client{Transport: counter}, Timeout: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	// Accounts: per*5 of them, created when missing.
	pool := per * 5
	names := make([]string, pool)
	userPrefix := cmp.Or(os.Getenv("MIH_REAL_USER_PREFIX"), "mihsm")
	for i := range names {
		names[i] = fmt.Sprintf("%s%05d", userPrefix, i)
	}
	have, err := client.UsersByField(ctx, moodle.UserFieldUsername, names)
	if err != nil {
		t.Fatal(err)
	}
	exists := map[string]bool{}
	for _, u := range have {
		exists[u.Username] = true
	}
	type newUser struct {
		Username  string `moodle:"username"`
		Password  string `moodle:"password"`
		FirstName string `moodle:"firstname"`
		LastName  string `moodle:"lastname"`
		Email     string `moodle:"email"`
	}
	var missing []newUser
	for _, n := range names {
		if !exists[n] {
			// A deliverable-looking domain: Moodle does not even try to mail an .invalid one.
			missing = append(missing, newUser{n, "Mih-Sync-2026!", "Sync", n, n + "@example.com"})
		}
	}
	for lo := 0; lo < len(missing); lo += 50 {
		if err := client.Call(ctx, "core_user_create_users", map[string]any{"users": missing[lo:min(len(missing), lo+50)]}, nil); err != nil {
			t.Fatalf("create users: %v", err)
		}
	}
	stamp := time.Now().UTC().Format("0102150405")
	var cats []struct {
		ID int64 `json:"id"`
	}
	type newCat struct {
		Name     string `moodle:"name"`
		IDNumber string `moodle:"idnumber"`
	}
	if err := client.Call(ctx, "core_course_create_categories", map[string]any{"categories": []newCat{{"MIH sync " + stamp, "MIHSYNC-" + stamp}}}, &cats); err != nil || len(cats) != 1 {
		t.Fatalf("create category: %v", err)
	}
	counter.take()

	src := func(drop int) map[string]any {
		list := make([]map[string]any, courses)
		for c := range courses {
			var parts []map[string]any
			for k := range per {
				if k >= per-drop {
					continue
				}
				p := map[string]any{"username": names[(c*7+k)%pool]}
				if k == 0 {
					p["roleid"] = "teacher"
				}
				parts = append(parts, p)
			}
			list[c] = map[string]any{"shortname": fmt.Sprintf("MIHSYNC-%s-%04d", stamp, c), "name": fmt.Sprintf("Sync test %s %d", stamp, c),
				"category": "MIHSYNC-" + stamp, "participants": parts}
		}
		return map[string]any{"courses": list}
	}

	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mih.db"), storetest.NewBox(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	academic := newAcademic(t)
	site := &mih.Site{Name: "real", URL: base, Token: token, DB: dsn, Prefix: prefix}
	if err := st.CreateSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	svc := mih.NewService()
	svc.Name, svc.BaseURL = "academic", academic.srv.URL+"/api"
	svc.Auth = mih.Auth{Type: mih.AuthBearer, Token: sourceToken}
	if err := st.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	job := mih.NewSyncJob()
	job.Name, job.Site, job.SourceService, job.SourcePath, job.Removal = "real", "real", "academic", "/courses", mih.RemovalSuspend
	if err := CheckJob(ctx, st, job); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSyncJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	runner := New(Config{Store: st, Gateway: newGateway(t), Runner: "real-test", Database: openSiteDB,
		Client: func(s *mih.Site) (*moodle.Client, error) {
			return moodle.New(s.URL, s.Token, moodle.Options{HTTPClient: &http.Client{Transport: counter}})
		}})

	var logDB *sql.DB
	if dsn != "" {
		kind := "postgres"
		if strings.HasPrefix(dsn, "mysql") {
			kind = "mysql"
		}
		logDB = sitedbtest.Open(t, kind, dsn)
		defer logDB.Close()
	}
	// notification_sent counts messages delivered; with failing mail it stays at 0, so the
	// welcome messages attempted are counted in {notifications}, where Moodle stores them
	// before delivery.
	notifications := func(since time.Time) string {
		if logDB == nil {
			return "-"
		}
		mysqlDB := strings.HasPrefix(dsn, "mysql")
		sent := `SELECT COUNT(*) FROM ` + prefix + `logstore_standard_log WHERE eventname = '\core\event\notification_sent' AND timecreated >= ?`
		welcome := `SELECT COUNT(*) FROM ` + prefix + `notifications WHERE component = 'moodle' AND eventtype = 'enrolcoursewelcomemessage' AND timecreated >= ?`
		if mysqlDB {
			sent = strings.ReplaceAll(sent, `\`, `\\`)
		} else {
			sent = strings.Replace(sent, "?", "$1", 1)
			welcome = strings.Replace(welcome, "?", "$1", 1)
		}
		var s, w int
		if err := logDB.QueryRow(sent, since.Unix()).Scan(&s); err != nil {
			return err.Error()
		}
		if err := logDB.QueryRow(welcome, since.Unix()).Scan(&w); err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%d notification_sent, %d welcome messages attempted", s, w)
	}
	step := func(name string, drop int) *mih.SyncRun {
		academic.setJSON(t, src(drop))
		start := time.Now()
		run, err := runner.Run(ctx, RunRequest{Job: "real", Kind: mih.SyncApply, Trigger: mih.TriggerCLI})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		time.Sleep(2 * time.Second) // the log's writes of the last calls
		total, writes, by := counter.take()
		t.Logf("%s: %s in %v; planned %+v applied %+v; %d errors; %d calls (%d writes) %v; %s; warnings %q",
			name, run.Status, took.Round(time.Millisecond), run.Counts.Planned, run.Counts.Applied, len(run.Errors), total, writes, by,
			notifications(start), run.Plan.Warnings)
		if run.Status != mih.SyncSucceeded {
			t.Errorf("%s: %s %s %v", name, run.Status, run.Error, run.Errors[:min(5, len(run.Errors))])
		}
		return run
	}
	step("first run", 0)
	if run := step("second run (no change)", 0); run.Counts.Planned.Total() != 0 {
		t.Errorf("second run planned %+v", run.Counts.Planned)
	}
	step("third run (2 of each course's participants leave: suspensions)", 2)
	step("fourth run (they come back: reactivations)", 0)
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// TestRealMoodleDB reads a real Moodle's database (MIH_REAL_MOODLE_DB, prefix
// MIH_REAL_MOODLE_PREFIX) and compares what it finds with what the site's Web Services answer,
// for the newest 50 courses: the same courses, participants, active enrolments and roles.
//
//	MIH_REAL_MOODLE_URL=… MIH_REAL_MOODLE_TOKEN=… MIH_REAL_MOODLE_DB=mysql://… go test -run TestRealMoodleDB -v ./coursesync/
func TestRealMoodleDB(t *testing.T) {
	base, token, dsn := os.Getenv("MIH_REAL_MOODLE_URL"), os.Getenv("MIH_REAL_MOODLE_TOKEN"), os.Getenv("MIH_REAL_MOODLE_DB")
	if base == "" || token == "" || dsn == "" {
		t.Skip("MIH_REAL_MOODLE_URL, MIH_REAL_MOODLE_TOKEN and MIH_REAL_MOODLE_DB are not set")
	}
	ctx := context.Background()
	db, err := OpenMoodleDB(dsn, cmp.Or(os.Getenv("MIH_REAL_MOODLE_PREFIX"), "mdl_"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	client, err := moodle.New(base, token, moodle.Options{Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	courses, err := db.Courses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wsCourses, err := client.CoursesByField(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(courses) != len(wsCourses) {
		t.Errorf("%d courses in the database, %d through the Web Services", len(courses), len(wsCourses))
	}
	byID := map[int64]moodle.Course{}
	for _, c := range wsCourses {
		byID[c.ID] = c
	}
	var ids []int64
	for _, c := range courses {
		w, ok := byID[c.ID]
		if !ok || w.ShortName != c.ShortName || w.FullName != c.FullName || w.CategoryID != c.CategoryID {
			t.Errorf("course %d: database %q %q cat %d, Web Services %q %q cat %d", c.ID, c.ShortName, c.FullName, c.CategoryID, w.ShortName, w.FullName, w.CategoryID)
		}
		if c.ID != 1 && strings.HasPrefix(c.ShortName, os.Getenv("MIH_REAL_MOODLE_COURSES")) {
			ids = append(ids, c.ID)
		}
	}
	// The newest 50 courses (whose short name starts with MIH_REAL_MOODLE_COURSES).
	slices.Sort(ids)
	ids = ids[max(0, len(ids)-50):]
	cats, err := db.Categories(ctx)
	if err != nil || len(cats) == 0 {
		t.Fatalf("categories %d, %v", len(cats), err)
	}
	parts, err := db.Enrolments(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]map[int64]string{}
	for _, p := range parts {
		if got[p.CourseID] == nil {
			got[p.CourseID] = map[int64]string{}
		}
		roles := make([]int64, 0, len(p.Roles))
		for r := range p.Roles {
			roles = append(roles, r)
		}
		slices.Sort(roles)
		got[p.CourseID][p.ID] = fmt.Sprintf("active=%v roles=%v", p.Active, roles)
	}
	ws := &wsEnrolments{client: client, parallel: 4, name: matchValue(mih.MatchUsername)}
	want, err := ws.enrolments(ctx, ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, id := range ids {
		for uid, p := range want[id] {
			n++
			roles := make([]int64, 0, len(p.roles))
			for r := range p.roles {
				roles = append(roles, r)
			}
			slices.Sort(roles)
			if w := fmt.Sprintf("active=%v roles=%v", p.active, roles); got[id][uid] != w {
				t.Errorf("course %d user %d: database %q, Web Services %q", id, uid, got[id][uid], w)
			}
		}
		if len(got[id]) != len(want[id]) {
			t.Errorf("course %d: %d participants in the database, %d through the Web Services", id, len(got[id]), len(want[id]))
		}
	}
	t.Logf("%d courses, %d categories; %d participants of %d courses agree", len(courses), len(cats), n, len(ids))
}
