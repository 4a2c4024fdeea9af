package coursesync

import (
	"context"
	"fmt"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
)

// siteDB is MoodleDB over a moodletest site's data: what the site's database would answer. The
// SQL itself is tested against PostgreSQL and MariaDB in database_test.go.
type siteDB struct {
	ws    *moodletest.Server
	reads int
}

func (d *siteDB) Close() error { return nil }

func (d *siteDB) Courses(context.Context) ([]moodle.Course, error) {
	d.reads++
	var out []moodle.Course
	front, _ := d.ws.Course(moodletest.SiteCourseID)
	for _, c := range append([]moodletest.Course{front}, d.ws.Courses()...) {
		out = append(out, moodle.Course{ID: c.ID, ShortName: c.ShortName, FullName: html.EscapeString(c.FullName), IDNumber: c.IDNumber,
			CategoryID: c.CategoryID, Summary: html.EscapeString(c.Summary), StartDate: c.StartDate, EndDate: c.EndDate, Visible: !c.Hidden})
	}
	return out, nil
}

func (d *siteDB) Categories(context.Context) ([]moodle.Category, error) {
	d.reads++
	var out []moodle.Category
	for _, c := range d.ws.Categories() {
		out = append(out, moodle.Category{ID: c.ID, Name: c.Name, IDNumber: c.IDNumber, Parent: c.Parent, Visible: !c.Hidden})
	}
	return out, nil
}

func (d *siteDB) Users(_ context.Context, field string, values []string) ([]moodle.User, error) {
	d.reads++
	want := map[string]bool{}
	for _, v := range values {
		want[v] = true
	}
	var out []moodle.User
	for _, u := range d.ws.Users() {
		v := map[string]string{"username": u.Username, "idnumber": u.IDNumber, "email": u.Email}[field]
		if want[v] {
			out = append(out, moodle.User{ID: u.ID, Username: u.Username, IDNumber: u.IDNumber, Email: u.Email})
		}
	}
	return out, nil
}

func (d *siteDB) Enrolments(_ context.Context, ids []int64) ([]DBParticipant, error) {
	d.reads++
	now := time.Now().Unix()
	var out []DBParticipant
	for _, id := range ids {
		for _, e := range d.ws.Enrolments(id) {
			u, _ := d.ws.User(e.UserID)
			p := DBParticipant{CourseID: id, User: moodle.User{ID: u.ID, Username: u.Username, IDNumber: u.IDNumber, Email: u.Email},
				Active: !e.Suspended && e.TimeStart < now && (e.TimeEnd == 0 || e.TimeEnd > now),
				Roles:  map[int64]string{}}
			for _, r := range e.Roles {
				p.Roles[r] = ""
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// withSiteDB gives the site a database URL, read through siteDB.
func withSiteDB(db **siteDB) fixtureOption {
	return func(c *Config) {
		c.Database = func(site *mih.Site) (MoodleDB, error) { return *db, nil }
	}
}

func (f *fixture) giveSiteDB(db *siteDB) {
	f.t.Helper()
	f.setSiteDB("postgres://moodle@127.0.0.1:5432/moodle")
	db.ws = f.ws
}

// changes is a course where a suspension, a reactivation and a role change are due: alice
// becomes a teacher, bob left (suspended), carol came back (reactivated), dave is new; erin
// teaches it throughout (the course contact welcome messages come from).
func changes(f *fixture) {
	ids := f.users("alice", "bob", "carol", "dave", "erin")
	cid := f.ws.AddCourse(moodletest.Course{ShortName: "GEO", FullName: "Geography", CategoryID: 1})
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["erin"]}, moodletest.RoleEditingTeacher)
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["alice"]}, moodletest.RoleStudent)
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["bob"]}, moodletest.RoleStudent)
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["carol"], Suspended: true}, moodletest.RoleStudent)
	f.src.setJSON(f.t, []any{map[string]any{"shortname": "GEO", "name": "Geography", "participants": []any{
		map[string]any{"username": "alice", "roleid": "teacher"}, map[string]any{"username": "carol"}, map[string]any{"username": "dave"},
		map[string]any{"username": "erin", "roleid": "teacher"}}}})
}

// Suspending, reactivating and changing a role send no welcome message: only the new enrolment
// does, as Moodle's own enrolment would. The suspension and reactivation go through the hub
// plugin's local_mih_update_enrolments instead of enrolling again; the same whether Moodle is
// read through its Web Services or its database.
func TestRun_NoWelcomeOnSuspendReactivate(t *testing.T) {
	for _, viaDB := range []bool{false, true} {
		t.Run(fmt.Sprintf("database=%v", viaDB), func(t *testing.T) {
			db := &siteDB{}
			f := newFixture(t, func(j *mih.SyncJob) { j.Removal = mih.RemovalSuspend }, withSiteDB(&db))
			if viaDB {
				f.giveSiteDB(db)
			}
			changes(f)
			run := f.run(mih.SyncApply)
			wantStatus(t, run, mih.SyncSucceeded)
			if run.Counts.Applied != (mih.SyncActionCounts{Enrol: 1, Reactivate: 1, RoleChanges: 1, Suspend: 1}) || len(run.Plan.Warnings) != 0 {
				t.Errorf("applied %+v, warnings %q", run.Counts.Applied, run.Plan.Warnings)
			}
			want := map[string]enrolState{"alice": {roles: editing}, "bob": {roles: student, suspended: true}, "carol": {roles: student}, "dave": {roles: student}, "erin": {roles: editing}}
			if got := f.enrolments("GEO"); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("enrolments %v, want %v", got, want)
			}
			notes := f.ws.Notifications()
			if len(notes) != 1 {
				t.Fatalf("%d messages %+v: want one, the welcome of the new enrolment", len(notes), notes)
			}
			if dave, _ := f.ws.UserByUsername("dave"); notes[0].UserID != dave.ID {
				t.Errorf("message %+v: want dave's welcome", notes[0])
			}
			f.noChanges()
			if len(f.ws.Notifications()) != 1 {
				t.Errorf("the second run sent messages")
			}
		})
	}
}

// Without the hub plugin's function, suspensions and reactivations go through
// enrol_manual_enrol_users, and the plan warns that Moodle 4.4+ sends the welcome message again.
func TestRun_WelcomeWarningWithoutPlugin(t *testing.T) {
	f := newFixture(t, func(j *mih.SyncJob) { j.Removal = mih.RemovalSuspend })
	var fns []string
	for _, fn := range moodletest.Functions() {
		if fn != moodle.FuncUpdateEnrolments {
			fns = append(fns, fn)
		}
	}
	f.ws.AddToken("noplugin-token", fns...)
	site, err := f.store.FindSiteByName(f.ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	site.Token = "noplugin-token"
	if err := f.store.UpdateSite(f.ctx, site); err != nil {
		t.Fatal(err)
	}
	changes(f)
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	if len(run.Plan.Warnings) != 1 || !strings.Contains(run.Plan.Warnings[0], "welcome message") {
		t.Errorf("warnings %q: want the welcome message warning", run.Plan.Warnings)
	}
	if n := len(f.ws.Notifications()); n != 3 {
		t.Errorf("%d messages: want 3 (the new enrolment, the suspension and the reactivation, as the warning said)", n)
	}
	f.noChanges()
}

// The plan reads Moodle's state from the database in a handful of queries and no
// core_enrol_get_enrolled_users call; the second run changes nothing.
func TestRun_ReadsFromDatabase(t *testing.T) {
	db := &siteDB{}
	f := newFixture(t, func(j *mih.SyncJob) { j.Removal = mih.RemovalSuspend }, withSiteDB(&db))
	f.giveSiteDB(db)
	src, _, _ := largeSource(f, 50, 10, 300, 5)
	f.src.setJSON(t, src)
	wantStatus(t, f.run(mih.SyncApply), mih.SyncSucceeded)
	f.ws.ResetCalls()
	db.reads = 0
	f.noChanges()
	c := f.ws.Calls()
	if c.ByFunction[moodle.FuncEnrolledUsers] != 0 || c.Total != 1 || db.reads > 4 {
		t.Errorf("second run: %v Web Service calls, %d database reads: want the site info only and at most 4 reads", c.ByFunction, db.reads)
	}
}

// A new course's welcome messages come from its teacher, so its teachers are enrolled before its
// students, whatever the order of the source and however the batches are cut: every student
// gets Moodle's welcome, as when a teacher enrols them by hand. The teachers enrolled into a
// course that had none get none (Moodle looks the contact up before giving the new role).
func TestRun_TeachersEnrolledFirst(t *testing.T) {
	f := newFixture(t, func(j *mih.SyncJob) { j.BatchMax, j.WriteParallel = 2, 4 })
	const courses, students = 4, 5
	var names []string
	for i := range students + 1 {
		names = append(names, fmt.Sprintf("user%d", i))
	}
	f.users(names...)
	var list []any
	for c := range courses {
		var parts []any
		for _, n := range names[1:] {
			parts = append(parts, map[string]any{"username": n})
		}
		// The teacher comes last in the source.
		parts = append(parts, map[string]any{"username": names[0], "roleid": "teacher"})
		list = append(list, map[string]any{"shortname": fmt.Sprintf("NEW%d", c), "name": "New", "participants": parts})
	}
	f.src.setJSON(t, list)
	wantStatus(t, f.run(mih.SyncApply), mih.SyncSucceeded)
	welcomed := map[int64]int{}
	for _, n := range f.ws.Notifications() {
		welcomed[n.CourseID]++
	}
	if len(welcomed) != courses {
		t.Fatalf("welcome messages per course %v: want %d courses", welcomed, courses)
	}
	for c, n := range welcomed {
		if n != students {
			t.Errorf("course %d: %d welcome messages, want %d (one per student)", c, n, students)
		}
	}
	f.noChanges()
}
