package coursesync

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
)

// webcourseCourses is the course list exactly as the local_webcourse plugin documents it,
// "professor" included (the plugin understood only "teacher").
const webcourseCourses = `{
"courses": [
{
"shortname": "unique_field1",
"name": "Exemple name - Geography Course",
"participants": [
{ "username": "00000000074" },
{ "username": "00000000076" },
{ "username": "00000000077" },
{ "username": "00000000078", "roleid": "teacher" },
{ "username": "00000000069" }
]
},
{
"shortname": "unique_field2",
"name": "Exemple name - Physics Course",
"participants": [
{ "username": "00000000023", "roleid": "teacher" },
{ "username": "00000000076" },
{ "username": "00000000087"},
{ "username": "00000000078"}
]
},
{
"shortname": "unique_field3",
"name": "Exemple name - Math Course",
"participants": [
{ "username": "00000000023", "roleid": "professor" },
{ "username": "00000000076" },
{ "username": "00000000087"},
{ "username": "00000000078"}
]
}
]
}`

const (
	editing = "[3]"
	student = "[5]"
)

// The local_webcourse document, end to end: courses created with their names, teachers and
// professors as editing teachers, the one unknown user in the CSV, the fetch authenticated; a
// second run changes nothing.
func TestRun_WebcourseDocument(t *testing.T) {
	f := newFixture(t, func(j *mih.SyncJob) { j.Removal = mih.RemovalUnenrol })
	f.users("00000000074", "00000000076", "00000000077", "00000000078", "00000000023", "00000000087")
	f.src.set(http.StatusOK, []byte(webcourseCourses))

	plan := f.run(mih.SyncPlanOnly)
	wantStatus(t, plan, mih.SyncSucceeded)
	if c := f.ws.Calls(); c.Writes != 0 {
		t.Fatalf("a plan made %d write calls", c.Writes)
	}
	if got := plan.Counts; got.SourceCourses != 3 || got.SourceParticipants != 13 || got.MissingUsers != 1 ||
		got.Planned != (mih.SyncActionCounts{Create: 3, Enrol: 12}) || got.UnknownRoles != 0 || got.Invalid != 0 {
		t.Fatalf("plan counts %+v", got)
	}
	if len(f.ws.Courses()) != 0 {
		t.Fatal("a plan created courses")
	}

	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	if run.Counts.Applied != run.Counts.Planned || run.Plan.Fingerprint != plan.Plan.Fingerprint {
		t.Errorf("applied %+v of %+v; fingerprints %s, %s", run.Counts.Applied, run.Counts.Planned, run.Plan.Fingerprint, plan.Plan.Fingerprint)
	}
	for _, c := range []struct{ short, full string }{
		{"unique_field1", "Exemple name - Geography Course"},
		{"unique_field2", "Exemple name - Physics Course"},
		{"unique_field3", "Exemple name - Math Course"},
	} {
		mc, ok := f.ws.CourseByShortName(c.short)
		if !ok || mc.FullName != c.full || mc.CategoryID != 1 {
			t.Errorf("course %s: %+v (exists %v), want full name %q in category 1", c.short, mc, ok, c.full)
		}
	}
	want := map[string]map[string]enrolState{
		"unique_field1": {"00000000074": {roles: student}, "00000000076": {roles: student}, "00000000077": {roles: student},
			"00000000078": {roles: editing}},
		"unique_field2": {"00000000023": {roles: editing}, "00000000076": {roles: student}, "00000000087": {roles: student},
			"00000000078": {roles: student}},
		"unique_field3": {"00000000023": {roles: editing}, "00000000076": {roles: student}, "00000000087": {roles: student},
			"00000000078": {roles: student}},
	}
	for course, w := range want {
		if got := f.enrolments(course); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s: enrolments %v, want %v", course, got, w)
		}
	}
	if got, want := string(run.MissingCSV), "username,course_shortname,role\r\n00000000069,unique_field1,student\r\n"; got != want {
		t.Errorf("missing users CSV %q, want %q", got, want)
	}
	stored, err := f.store.FindSyncRunCSV(f.ctx, run.ID)
	if err != nil || string(stored) != string(run.MissingCSV) {
		t.Errorf("stored CSV %q, %v", stored, err)
	}
	if _, noAuth := f.src.counts(); noAuth != 0 {
		t.Errorf("%d source fetches came without the service's token", noAuth)
	}
	logs, _, err := f.store.FindLogs(f.ctx, mih.LogFilter{Service: "academic"})
	if err != nil || len(logs) == 0 || logs[0].Source != LogSource || !logs[0].Success || logs[0].Endpoint != "/courses" {
		t.Errorf("request log of the fetch: %+v, %v", logs, err)
	}

	second := f.noChanges()
	if second.Counts.MissingUsers != 1 {
		t.Errorf("second run: %d missing users, want the same 1", second.Counts.MissingUsers)
	}
}

// 500 courses of 40 participants each (38 students, 2 teachers out of a pool of 3,000 users, 50
// of them without an account): created and enrolled in batches; the second run reads and
// changes nothing.
func TestRun_Large(t *testing.T) {
	if testing.Short() {
		t.Skip("large source")
	}
	const courses, perCourse, pool, absent = 500, 40, 3000, 50
	f := newFixture(t, func(j *mih.SyncJob) { j.Removal = mih.RemovalSuspend })
	src, missing, missingTeachers := largeSource(f, courses, perCourse, pool, absent)
	f.src.setJSON(t, src)

	start := time.Now()
	run := f.run(mih.SyncApply)
	t.Logf("first run: %v, %d Moodle calls (%d writes)", time.Since(start), f.ws.Calls().Total, f.ws.Calls().Writes)
	wantStatus(t, run, mih.SyncSucceeded)
	wantEnrol := courses*perCourse - missing
	if run.Counts.Applied.Create != courses || run.Counts.Applied.Enrol != wantEnrol || run.Counts.MissingUsers != missing {
		t.Fatalf("applied %+v, missing %d; want %d courses, %d enrolments, %d missing", run.Counts.Applied, run.Counts.MissingUsers, courses, wantEnrol, missing)
	}
	if n := len(f.ws.Courses()); n != courses {
		t.Fatalf("%d courses in Moodle, want %d", n, courses)
	}
	total, teachers := 0, 0
	for _, c := range f.ws.Courses() {
		for _, e := range f.ws.Enrolments(c.ID) {
			total++
			if fmt.Sprint(e.Roles) == editing {
				teachers++
			}
		}
	}
	if total != wantEnrol || teachers != 2*courses-missingTeachers {
		t.Errorf("Moodle holds %d enrolments (%d teachers), want %d (%d)", total, teachers, wantEnrol, 2*courses-missingTeachers)
	}
	if c := f.ws.Calls(); c.ByFunction[moodle.FuncCreateCourses] > 10 || c.ByFunction[moodle.FuncCoursesByField] != 1 {
		t.Errorf("calls %v: want courses created in batches and listed in one call", c.ByFunction)
	}
	start = time.Now()
	f.noChanges()
	t.Logf("second run: %v, %d Moodle calls", time.Since(start), f.ws.Calls().Total)
}

// largeSource builds a source of n courses, returning it and how many participants (and how many
// teachers among them) have no account.
func largeSource(f *fixture, n, per, pool, absent int) (src map[string]any, missing, missingTeachers int) {
	for i := range pool {
		if i < pool-absent {
			f.ws.AddUser(moodletest.User{Username: fmt.Sprintf("u%05d", i), FirstName: "U", LastName: fmt.Sprint(i), Email: fmt.Sprintf("u%05d@example.edu", i)})
		}
	}
	courses := make([]map[string]any, n)
	for c := range n {
		parts := make([]map[string]any, per)
		for k := range per {
			u := (c*37 + k*53) % pool
			if u >= pool-absent {
				missing++
				if k < 2 {
					missingTeachers++
				}
			}
			p := map[string]any{"username": fmt.Sprintf("U%05d", u)} // sources send usernames in any case
			if k < 2 {
				p["roleid"] = "teacher"
			}
			parts[k] = p
		}
		courses[c] = map[string]any{"shortname": fmt.Sprintf("C%04d", c), "name": fmt.Sprintf("Course %d", c), "participants": parts}
	}
	return map[string]any{"courses": courses}, missing, missingTeachers
}

// A course whose short name was taken in Moodle after the plan: Moodle refuses it, the batch is
// split, the other courses are created, and the refused one is reported with its enrolments
// skipped.
func TestApply_ShortnameTaken(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice", "bob")
	var list []map[string]any
	for i := range 30 {
		list = append(list, map[string]any{"shortname": fmt.Sprintf("S%02d", i), "name": fmt.Sprintf("Course %d", i),
			"participants": []any{map[string]any{"username": "alice"}, map[string]any{"username": "bob", "roleid": "teacher"}}})
	}
	f.src.setJSON(t, list)
	plan, err := f.runner.Plan(f.ctx, f.job(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	if len(plan.Create) != 30 {
		t.Fatalf("plan creates %d courses, want 30", len(plan.Create))
	}
	// Someone creates S17 by hand between the plan and the apply.
	f.ws.AddCourse(moodletest.Course{ShortName: "S17", FullName: "Made by hand", CategoryID: 1})
	rep, err := f.runner.Apply(f.ctx, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Applied.Create != 29 || rep.Applied.Enrol != 58 {
		t.Errorf("applied %+v, want 29 courses and 58 enrolments", rep.Applied)
	}
	var taken, skipped int
	for _, e := range rep.Errors {
		switch {
		case e.Action == actionCreate && e.Course == "S17" && e.Code == moodle.CodeShortNameTaken:
			taken++
		case e.Action == actionEnrol && e.Course == "S17" && e.Code == codeSkipped:
			skipped++
		default:
			t.Errorf("unexpected error %+v", e)
		}
	}
	if taken != 1 || skipped != 2 {
		t.Errorf("errors %+v: want S17 refused as shortnametaken and its 2 enrolments skipped", rep.Errors)
	}
	if got := len(f.ws.Courses()); got != 30 {
		t.Errorf("%d courses in Moodle, want 30", got)
	}
	if mc, _ := f.ws.CourseByShortName("S17"); mc.FullName != "Made by hand" || len(f.ws.Enrolments(mc.ID)) != 0 {
		t.Errorf("the hand-made course was changed: %+v", mc)
	}
}

// A course whose idnumber another course holds is refused at apply: the run is partial, the
// others are created; the run's record says which one and why.
func TestRun_PartialIDNumberTaken(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice")
	f.ws.AddCourse(moodletest.Course{ShortName: "OLD", FullName: "Old", CategoryID: 1, IDNumber: "2025-PHY"})
	f.src.setJSON(t, map[string]any{"courses": []any{
		map[string]any{"shortname": "PHY", "name": "Physics", "idnumber": "2025-PHY", "participants": []any{map[string]any{"username": "alice"}}},
		map[string]any{"shortname": "GEO", "name": "Geography", "idnumber": "2025-GEO", "participants": []any{map[string]any{"username": "alice"}}},
	}})
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncPartial)
	if run.Counts.Failed != 2 || run.Errors[0].Code != moodle.CodeCourseIDNumberTaken || run.Errors[0].Course != "PHY" {
		t.Errorf("errors %+v", run.Errors)
	}
	stored, err := f.store.FindSyncRunByID(f.ctx, run.ID)
	if err != nil || stored.Status != mih.SyncPartial || len(stored.Errors) != 2 {
		t.Errorf("stored run %+v, %v", stored, err)
	}
	if _, ok := f.ws.CourseByShortName("GEO"); !ok {
		t.Error("GEO was not created")
	}
}

// existing seeds a course with participants: alice and bob students, carol a manager (a role
// the job does not hand out), dave an editing teacher already suspended.
func existing(f *fixture) map[string]int64 {
	ids := f.users("alice", "bob", "carol", "dave", "erin")
	cid := f.ws.AddCourse(moodletest.Course{ShortName: "GEO", FullName: "Geography", CategoryID: 1})
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["alice"]}, moodletest.RoleStudent)
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["bob"]}, moodletest.RoleStudent)
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["carol"]}, moodletest.RoleManager)
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["dave"], Suspended: true}, moodletest.RoleEditingTeacher)
	return ids
}

// A source that fails (HTTP 500 on every attempt, or a page that is not JSON) is a failed run:
// nothing is removed, nothing is written.
func TestRun_SourceFails(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		code   mih.Code
		msg    string
	}{
		{"500", http.StatusInternalServerError, `{"error":"database down"}`, mih.CodeUnavailable, "500"},
		{"html", http.StatusOK, `<html><body>Maintenance</body></html>`, mih.CodeInvalid, "not a course list"},
		{"object without courses", http.StatusOK, `{"data":[]}`, mih.CodeInvalid, `without a "courses" array`},
		{"truncated", http.StatusOK, `{"courses":[{"shortname":"GEO","participants":[`, mih.CodeInvalid, "not a course list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(j *mih.SyncJob) { j.Removal = mih.RemovalUnenrol })
			existing(f)
			f.src.set(tc.status, []byte(tc.body))
			before := f.enrolments("GEO")
			f.ws.ResetCalls()
			run := f.run(mih.SyncApply)
			wantStatus(t, run, mih.SyncFailed)
			if run.ErrorCode != tc.code || !strings.Contains(run.Error, tc.msg) {
				t.Errorf("error %s %q, want %s mentioning %q", run.ErrorCode, run.Error, tc.code, tc.msg)
			}
			if c := f.ws.Calls(); c.Total != 0 {
				t.Errorf("Moodle was called %d times after the source failed", c.Total)
			}
			if after := f.enrolments("GEO"); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("enrolments changed: %v → %v", before, after)
			}
			stored, err := f.store.FindSyncRunByID(f.ctx, run.ID)
			if err != nil || stored.Status != mih.SyncFailed || stored.Error != run.Error || stored.Plan != nil {
				t.Errorf("stored run %+v, %v", stored, err)
			}
			if strings.Contains(run.Error, sourceToken) {
				t.Error("the error quotes the source's token")
			}
		})
	}
	t.Run("retried", func(t *testing.T) {
		f := newFixture(t, nil)
		f.src.set(http.StatusServiceUnavailable, []byte("busy"))
		f.run(mih.SyncPlanOnly)
		if fetches, _ := f.src.counts(); fetches != 3 {
			t.Errorf("%d fetches, want 3 (1 + max_retries 2)", fetches)
		}
	})
}

// An empty source — no course, or courses without any participant — is no ground for removing
// anyone: the plan says so and nothing is written, whatever the removal policy.
func TestRun_EmptySource(t *testing.T) {
	for _, body := range []string{`{"courses":[]}`, `[]`, `{"courses":[{"shortname":"GEO","name":"Geography","participants":[]}]}`} {
		t.Run(body, func(t *testing.T) {
			f := newFixture(t, func(j *mih.SyncJob) { j.Removal = mih.RemovalUnenrol })
			existing(f)
			f.src.set(http.StatusOK, []byte(body))
			f.ws.ResetCalls()
			run := f.run(mih.SyncApply)
			wantStatus(t, run, mih.SyncSucceeded)
			if run.Plan.RemovalsRefused == "" || run.Counts.Planned.Total() != 0 {
				t.Errorf("plan %+v: want removals refused and nothing planned", run.Plan)
			}
			if c := f.ws.Calls(); c.Writes != 0 {
				t.Errorf("%d write calls", c.Writes)
			}
			if n := len(f.enrolments("GEO")); n != 4 {
				t.Errorf("%d enrolments left, want all 4", n)
			}
		})
	}
}

// Participants Moodle has and the source does not, under each removal policy. Only those holding
// a role the job hands out are touched; the suspended one stays suspended under suspend and goes
// under unenrol. Each policy reaches a state that a second run leaves alone.
func TestRun_RemovalPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   map[string]enrolState
	}{
		{mih.RemovalKeep, map[string]enrolState{"alice": {roles: student}, "bob": {roles: student},
			"carol": {roles: "[1]"}, "dave": {roles: editing, suspended: true}}},
		{mih.RemovalSuspend, map[string]enrolState{"alice": {roles: student}, "bob": {roles: student, suspended: true},
			"carol": {roles: "[1]"}, "dave": {roles: editing, suspended: true}}},
		{mih.RemovalUnenrol, map[string]enrolState{"alice": {roles: student}, "carol": {roles: "[1]"}}},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			f := newFixture(t, func(j *mih.SyncJob) { j.Removal = tc.policy })
			existing(f)
			f.src.setJSON(t, []any{map[string]any{"shortname": "GEO", "name": "Geography",
				"participants": []any{map[string]any{"username": "Alice", "roleid": "Student"}}}})
			run := f.run(mih.SyncApply)
			wantStatus(t, run, mih.SyncSucceeded)
			if got := f.enrolments("GEO"); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("enrolments %v, want %v", got, tc.want)
			}
			f.noChanges()
		})
	}
}

// A student who becomes a teacher gets the editing teacher role and loses the student role; a
// role the job does not hand out (non-editing teacher) stays.
func TestRun_RoleChange(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.users("alice", "bob")
	cid := f.ws.AddCourse(moodletest.Course{ShortName: "GEO", FullName: "Geography", CategoryID: 1})
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["alice"]}, moodletest.RoleStudent)
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["bob"]}, moodletest.RoleTeacher)
	f.src.setJSON(t, []any{map[string]any{"shortname": "GEO", "name": "Geography", "participants": []any{
		map[string]any{"username": "alice", "roleid": "professor"},
		map[string]any{"username": "bob"},
	}}})
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	if run.Counts.Planned != (mih.SyncActionCounts{RoleChanges: 2}) {
		t.Errorf("planned %+v, want 2 role changes", run.Counts.Planned)
	}
	want := map[string]enrolState{"alice": {roles: editing}, "bob": {roles: "[4 5]"}}
	if got := f.enrolments("GEO"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("enrolments %v, want %v", got, want)
	}
	f.noChanges()
}

// A suspended enrolment whose participant is back in the source is reactivated, with the
// source's role.
func TestRun_Reactivate(t *testing.T) {
	f := newFixture(t, func(j *mih.SyncJob) { j.Removal = mih.RemovalSuspend })
	ids := f.users("alice", "bob")
	cid := f.ws.AddCourse(moodletest.Course{ShortName: "GEO", FullName: "Geography", CategoryID: 1})
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["alice"], Suspended: true}, moodletest.RoleStudent)
	f.ws.Enrol(moodletest.Enrolment{CourseID: cid, UserID: ids["bob"], Suspended: true}, moodletest.RoleStudent)
	f.src.setJSON(t, []any{map[string]any{"shortname": "GEO", "name": "Geography", "participants": []any{
		map[string]any{"username": "alice"}, map[string]any{"username": "bob", "roleid": "teacher"}}}})
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	if run.Counts.Applied.Reactivate != 2 {
		t.Errorf("applied %+v, want 2 reactivations", run.Counts.Applied)
	}
	want := map[string]enrolState{"alice": {roles: student}, "bob": {roles: editing}}
	if got := f.enrolments("GEO"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("enrolments %v, want %v", got, want)
	}
	f.noChanges()
}

// Role names the job does not map are reported with a count and get the default role.
func TestRun_UnknownRoles(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice", "bob", "carol")
	f.src.setJSON(t, []any{map[string]any{"shortname": "GEO", "name": "Geography", "participants": []any{
		map[string]any{"username": "alice", "roleid": "aluno"}, map[string]any{"username": "bob", "roleid": "Aluno"},
		map[string]any{"username": "carol", "roleid": "monitor"}}}})
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	want := []mih.SyncUnknownRole{{Name: "aluno", Count: 2, MappedTo: "student", Course: "GEO", User: "alice"},
		{Name: "monitor", Count: 1, MappedTo: "student", Course: "GEO", User: "carol"}}
	if fmt.Sprint(run.Plan.UnknownRole) != fmt.Sprint(want) {
		t.Errorf("unknown roles %+v, want %+v", run.Plan.UnknownRole, want)
	}
	if got := f.enrolments("GEO"); len(got) != 3 || got["carol"].roles != student {
		t.Errorf("enrolments %v", got)
	}
}

// With update_courses, the fields the source gives are brought in line; names Moodle escapes
// for HTML are compared unescaped, so they do not flap.
func TestRun_UpdateCourses(t *testing.T) {
	for _, update := range []bool{true, false} {
		t.Run(fmt.Sprint(update), func(t *testing.T) {
			f := newFixture(t, func(j *mih.SyncJob) { j.UpdateCourses = update })
			cat := f.ws.AddCategory(moodletest.Category{Name: "Sciences", IDNumber: "SCI"})
			f.ws.AddCourse(moodletest.Course{ShortName: "GEO", FullName: "Geo", CategoryID: 1, StartDate: 1000})
			f.ws.AddCourse(moodletest.Course{ShortName: "ART", FullName: "Arts &amp; Crafts", CategoryID: 1})
			f.src.setJSON(t, []any{
				map[string]any{"shortname": "GEO", "name": "Geography", "startdate": "2026-02-01", "enddate": 1801000000,
					"visible": 0, "category": "SCI", "summary": "Maps", "idnumber": "G-1", "participants": []any{}},
				map[string]any{"shortname": "ART", "name": "Arts & Crafts"},
			})
			run := f.run(mih.SyncApply)
			wantStatus(t, run, mih.SyncSucceeded)
			geo, _ := f.ws.CourseByShortName("GEO")
			if !update {
				if run.Counts.Planned.Update != 0 || geo.FullName != "Geo" {
					t.Errorf("without update_courses: planned %+v, course %+v", run.Counts.Planned, geo)
				}
				return
			}
			start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).Unix()
			if run.Counts.Planned.Update != 1 || geo.FullName != "Geography" || geo.StartDate != start || geo.EndDate != 1801000000 ||
				!geo.Hidden || geo.CategoryID != cat || geo.Summary != "Maps" || geo.IDNumber != "G-1" {
				t.Errorf("planned %+v, course %+v", run.Counts.Planned, geo)
			}
			if len(run.Plan.Update) != 1 || len(run.Plan.Update[0].Changes) != 7 {
				t.Errorf("update %+v, want 7 changes of GEO", run.Plan.Update)
			}
			f.noChanges()
		})
	}
}

// An apply confirmed against a plan that has changed since applies nothing.
func TestRun_ExpectFingerprint(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice", "bob")
	f.src.setJSON(t, []any{map[string]any{"shortname": "GEO", "name": "Geography", "participants": []any{map[string]any{"username": "alice"}}}})
	plan := f.run(mih.SyncPlanOnly)
	f.src.setJSON(t, []any{map[string]any{"shortname": "GEO", "name": "Geography", "participants": []any{
		map[string]any{"username": "alice"}, map[string]any{"username": "bob"}}}})
	f.ws.ResetCalls()
	run, err := f.runner.Run(f.ctx, RunRequest{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Expect: plan.Plan.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, mih.SyncFailed)
	if run.ErrorCode != mih.CodeConflict || f.ws.Calls().Writes != 0 {
		t.Errorf("run %s %q, %d writes", run.ErrorCode, run.Error, f.ws.Calls().Writes)
	}
	// Confirmed with the current plan, it goes through.
	run, err = f.runner.Run(f.ctx, RunRequest{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Expect: run.Plan.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, run, mih.SyncSucceeded)
}

// Participants matched by idnumber (the value in local_webcourse's "username" field) and by email;
// an email two accounts share enrols neither.
func TestRun_MatchFields(t *testing.T) {
	t.Run("idnumber", func(t *testing.T) {
		f := newFixture(t, func(j *mih.SyncJob) { j.MatchField = mih.MatchIDNumber })
		f.ws.AddUser(moodletest.User{Username: "jdoe", FirstName: "J", LastName: "Doe", Email: "j@x.edu", IDNumber: "00000000074"})
		f.src.set(http.StatusOK, []byte(`[{"shortname":"GEO","name":"Geography","participants":[{"username":"00000000074"},{"idnumber":"00000000099"}]}]`))
		run := f.run(mih.SyncApply)
		wantStatus(t, run, mih.SyncSucceeded)
		if got := f.enrolments("GEO"); len(got) != 1 || got["jdoe"].roles != student {
			t.Errorf("enrolments %v", got)
		}
		if string(run.MissingCSV) != "username,course_shortname,role\r\n00000000099,GEO,student\r\n" {
			t.Errorf("CSV %q", run.MissingCSV)
		}
	})
	t.Run("email", func(t *testing.T) {
		f := newFixture(t, func(j *mih.SyncJob) { j.MatchField = mih.MatchEmail })
		f.ws.AddUser(moodletest.User{Username: "a1", FirstName: "A", LastName: "One", Email: "shared@x.edu"})
		f.ws.AddUser(moodletest.User{Username: "a2", FirstName: "A", LastName: "Two", Email: "shared@x.edu"})
		f.ws.AddUser(moodletest.User{Username: "b", FirstName: "B", LastName: "B", Email: "b@x.edu"})
		f.src.set(http.StatusOK, []byte(`[{"shortname":"GEO","name":"Geography","participants":[{"email":"shared@x.edu"},{"email":"b@x.edu","roleid":"teacher"}]}]`))
		run := f.run(mih.SyncApply)
		wantStatus(t, run, mih.SyncSucceeded)
		if got := f.enrolments("GEO"); len(got) != 1 || got["b"].roles != editing {
			t.Errorf("enrolments %v", got)
		}
		if len(run.Plan.Invalid) != 1 || !strings.Contains(run.Plan.Invalid[0].Reason, "2 Moodle users") {
			t.Errorf("invalid %+v", run.Plan.Invalid)
		}
	})
}

// Source items that cannot be used are reported and the others planned.
func TestRun_InvalidItems(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice")
	f.src.set(http.StatusOK, []byte(`{"courses":[
		{"shortname":"","name":"No short name","participants":[{"username":"alice"}]},
		{"shortname":"DUP","name":"One","participants":[{"username":"alice"}]},
		{"shortname":"DUP","name":"Two","participants":[{"username":"alice"}]},
		{"shortname":"DATES","name":"Bad dates","startdate":"next monday"},
		{"shortname":"BACKWARDS","name":"Ends first","startdate":"2026-03-01","enddate":"2026-02-01"},
		{"shortname":"NONAME","participants":[{"username":"alice"}]},
		"not a course",
		{"shortname":"OK","name":"Fine","participants":[{"username":"alice"},{"roleid":"student"},{"username":""}]}
	]}`))
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	var reasons []string
	for _, it := range run.Plan.Invalid {
		reasons = append(reasons, fmt.Sprintf("%d %s: %s", it.Index, it.Course, it.Reason))
	}
	want := []string{
		"0 : shortname: empty",
		`1 DUP: shortname "DUP" appears 2 times in the source (items 1, 2): none of them is synced`,
		`2 DUP: shortname "DUP" appears 2 times in the source (items 1, 2): none of them is synced`,
		`3 DATES: startdate: "next monday" is not a date (want Unix seconds, YYYY-MM-DD or RFC 3339)`,
		"4 BACKWARDS: enddate: before startdate",
		"5 NONAME: name: required to create the course",
		"6 : not a course object: got a JSON string",
		"7 OK: participants[1]: no username",
		"7 OK: participants[2]: no username",
	}
	if strings.Join(reasons, "\n") != strings.Join(want, "\n") {
		t.Errorf("invalid items:\n%s\nwant:\n%s", strings.Join(reasons, "\n"), strings.Join(want, "\n"))
	}
	if len(f.ws.Courses()) != 1 {
		t.Errorf("courses %+v, want only OK", f.ws.Courses())
	}
}

// A token whose service lacks a function the sync reads with fails the plan, naming it.
func TestRun_TokenLacksFunctions(t *testing.T) {
	f := newFixture(t, nil)
	f.ws.AddToken("limited", moodle.FuncSiteInfo, moodle.FuncCoursesByField, moodle.FuncUsersByField)
	site, _ := f.store.FindSiteByName(f.ctx, "main")
	site.Token = "limited"
	if err := f.store.UpdateSite(f.ctx, site); err != nil {
		t.Fatal(err)
	}
	f.src.set(http.StatusOK, []byte(webcourseCourses))
	run := f.run(mih.SyncPlanOnly)
	wantStatus(t, run, mih.SyncFailed)
	if run.ErrorCode != mih.CodeForbidden || !strings.Contains(run.Error, moodle.FuncEnrolledUsers) || !strings.Contains(run.Error, moodle.FuncCategories) {
		t.Errorf("error %s %q", run.ErrorCode, run.Error)
	}
}

// New courses go to the job's category, named by idnumber; a category that does not exist fails
// the plan rather than every course.
func TestRun_Category(t *testing.T) {
	f := newFixture(t, func(j *mih.SyncJob) { j.Category = mih.SyncCategory{IDNumber: "SCI"} })
	f.src.set(http.StatusOK, []byte(`[{"shortname":"GEO","name":"Geography"},{"shortname":"ART","name":"Art","category":"ARTS"}]`))
	run := f.run(mih.SyncPlanOnly)
	wantStatus(t, run, mih.SyncFailed)
	if run.ErrorCode != mih.CodeInvalid || !strings.Contains(run.Error, `idnumber "SCI"`) {
		t.Errorf("error %s %q", run.ErrorCode, run.Error)
	}
	sci := f.ws.AddCategory(moodletest.Category{Name: "Sciences", IDNumber: "SCI"})
	run = f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	if geo, _ := f.ws.CourseByShortName("GEO"); geo.CategoryID != sci {
		t.Errorf("GEO in category %d, want %d", geo.CategoryID, sci)
	}
	if len(run.Plan.Invalid) != 1 || run.Plan.Invalid[0].Course != "ART" {
		t.Errorf("invalid %+v: want ART, whose category does not exist", run.Plan.Invalid)
	}
}

// Moodle going away in the middle of an apply — every try of a call fails — stops the run
// (failed, with what was done); the next run finishes the job from Moodle's state.
func TestRun_MoodleFailsMidway(t *testing.T) {
	f := newFixture(t, nil)
	f.users("alice", "bob")
	var list []any
	for i := range 5 {
		list = append(list, map[string]any{"shortname": fmt.Sprintf("C%d", i), "name": "Course",
			"participants": []any{map[string]any{"username": "alice"}, map[string]any{"username": "bob"}}})
	}
	f.src.setJSON(t, list)
	f.ws.FailNext(moodle.FuncEnrolUsers, unknownAttempts, moodletest.Failure{Status: http.StatusServiceUnavailable, Body: "<html>down</html>", ContentType: "text/html"})
	run := f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncFailed)
	if run.ErrorCode != mih.CodeUnavailable || run.Counts.Applied.Create != 5 || run.Counts.Applied.Enrol != 0 {
		t.Errorf("run %s %q applied %+v", run.ErrorCode, run.Error, run.Counts.Applied)
	}
	run = f.run(mih.SyncApply)
	wantStatus(t, run, mih.SyncSucceeded)
	if run.Counts.Applied != (mih.SyncActionCounts{Enrol: 10}) {
		t.Errorf("second run applied %+v, want the 10 enrolments", run.Counts.Applied)
	}
	f.noChanges()
}

// A job another process holds cannot run here; an apply of a disabled job is refused; an
// unknown job is not found.
func TestRun_Refusals(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now()
	if won, err := f.store.TryLease(f.ctx, LeaseName("webcourse"), "other-process", now.Add(time.Minute), now); err != nil || !won {
		t.Fatal(won, err)
	}
	_, err := f.runner.Run(f.ctx, RunRequest{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerCLI})
	if mih.ErrorCode(err) != mih.CodeConflict {
		t.Errorf("run while another process holds the job: %v", err)
	}
	f.store.ReleaseLease(f.ctx, LeaseName("webcourse"), "other-process")

	j := f.job()
	j.Enabled = false
	if err := f.store.UpdateSyncJob(f.ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := f.runner.Run(f.ctx, RunRequest{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerCLI}); mih.ErrorCode(err) != mih.CodeConflict {
		t.Errorf("apply of a disabled job: %v", err)
	}
	if _, err := f.runner.Run(f.ctx, RunRequest{Job: "webcourse", Kind: mih.SyncPlanOnly, Trigger: mih.TriggerCLI}); err != nil {
		t.Errorf("plan of a disabled job: %v", err)
	}
	if _, err := f.runner.Run(f.ctx, RunRequest{Job: "nope", Kind: mih.SyncApply, Trigger: mih.TriggerCLI}); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("unknown job: %v", err)
	}
}

// A run left "running" by a process that died is failed by the next one that takes the lease.
func TestRun_AbandonedRun(t *testing.T) {
	f := newFixture(t, nil)
	dead := &mih.SyncRun{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerSchedule, Status: mih.SyncRunning, Runner: "dead-process"}
	if err := f.store.CreateSyncRun(f.ctx, dead); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.run(mih.SyncPlanOnly), mih.SyncSucceeded)
	got, err := f.store.FindSyncRunByID(f.ctx, dead.ID)
	if err != nil || got.Status != mih.SyncFailed || !strings.Contains(got.Error, "interrupted") {
		t.Errorf("left-over run %+v, %v", got, err)
	}
}

// Progress is reported phase by phase to the caller, and written to the run's record while the
// run goes on, where the API reads it.
func TestRun_Progress(t *testing.T) {
	f := newFixture(t, nil, func(c *Config) { c.BatchSize = 10; c.ProgressEvery = time.Millisecond })
	f.users("alice", "bob")
	var list []any
	for i := range 40 {
		list = append(list, map[string]any{"shortname": fmt.Sprintf("C%02d", i), "name": "Course",
			"participants": []any{map[string]any{"username": "alice"}, map[string]any{"username": "bob"}}})
	}
	f.src.setJSON(t, list)
	f.ws.SetLatency(moodle.FuncEnrolUsers, 30*time.Millisecond)
	var (
		phases []string
		last   mih.SyncProgress
	)
	done := make(chan *mih.SyncRun, 1)
	go func() {
		run, err := f.runner.Run(context.Background(), RunRequest{Job: "webcourse", Kind: mih.SyncApply, Trigger: mih.TriggerCLI,
			Progress: func(p mih.SyncProgress) {
				if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
					phases = append(phases, p.Phase)
				}
				if p.Phase == last.Phase && p.Done < last.Done {
					t.Errorf("progress went back: %+v after %+v", p, last)
				}
				last = p
			}})
		if err != nil {
			t.Error(err)
		}
		done <- run
	}()
	// While enrolments go in, the stored run shows them progressing.
	eventually(t, 10*time.Second, "stored progress in the enrol phase", func() bool {
		runs, _, err := f.store.FindSyncRuns(f.ctx, mih.SyncRunFilter{Job: "webcourse"})
		if err != nil || len(runs) == 0 {
			return false
		}
		p := runs[0].Progress
		return runs[0].Status == mih.SyncRunning && p.Phase == mih.PhaseEnrol && p.Done > 0 && p.Done < p.Total
	})
	run := <-done
	wantStatus(t, run, mih.SyncSucceeded)
	if want := []string{mih.PhaseSource, mih.PhaseCourses, mih.PhaseUsers, mih.PhaseEnrolments, mih.PhaseCreate, mih.PhaseEnrol}; fmt.Sprint(phases) != fmt.Sprint(want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	stored, _ := f.store.FindSyncRunByID(f.ctx, run.ID)
	if stored.Progress.Phase != mih.PhaseDone {
		t.Errorf("stored progress %+v, want done", stored.Progress)
	}
}
