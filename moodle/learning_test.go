package moodle_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
)

// The records an xAPI statement names: a course module (cached) and a user's grade item.
func TestDirectory_ModulesAndGrades(t *testing.T) {
	ws := moodletest.NewServer(t, moodletest.Options{})
	course := ws.AddCourse(moodletest.Course{ShortName: "BIO101", FullName: "Biology", CategoryID: 1})
	uid := ws.AddUser(moodletest.User{Username: "ada", FirstName: "Ada", LastName: "L", Email: "ada@example.edu"})
	ws.AddModule(moodletest.Module{ID: 31, CourseID: course, ModName: "page", Name: "Cell structure", Instance: 3})
	ws.AddGradeItem(moodletest.GradeItem{ID: 88, CourseID: course, ItemName: "Lab report", ItemType: "mod", ItemModule: "assign",
		Instance: 4, CMID: 33, GradeMin: 0, GradeMax: 20})
	ws.SetGrade(88, uid, 17)
	c, err := moodle.New(ws.URL, ws.Token, moodle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := moodle.NewDirectory(c, moodle.DirectoryOptions{})
	ctx := t.Context()

	m, err := d.CourseModule(ctx, 31)
	if err != nil || m["name"] != "Cell structure" || m["modname"] != "page" || m["id"] != json.Number("31") {
		t.Fatalf("module %v %v", m, err)
	}
	calls := ws.Calls().Total
	if _, err := d.CourseModule(ctx, 31); err != nil || ws.Calls().Total != calls {
		t.Errorf("second lookup called Moodle again (%v)", err)
	}
	if _, err := d.CourseModule(ctx, 99); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("unknown module: %v, want not found", err)
	}

	g, err := d.GradeItem(ctx, course, uid, 88)
	if err != nil || g["grademax"] != 20.0 || g["itemmodule"] != "assign" || g["cmid"] != json.Number("33") || g["itemname"] != "Lab report" {
		t.Fatalf("grade item %v %v", g, err)
	}
	if _, err := d.GradeItem(ctx, course, uid, 77); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("unknown item: %v", err)
	}
}

// The same lookups against a real Moodle, when MIH_TEST_MOODLE_URL and MIH_TEST_MOODLE_TOKEN
// name one whose token allows core_course_get_course_module and
// gradereport_user_get_grade_items: every site has course module 1 (a course's announcements
// forum) once a course exists, and a course total item in each course.
func TestDirectory_ModulesAndGrades_RealMoodle(t *testing.T) {
	site, token := os.Getenv("MIH_TEST_MOODLE_URL"), os.Getenv("MIH_TEST_MOODLE_TOKEN")
	if site == "" || token == "" {
		t.Skip("MIH_TEST_MOODLE_URL and MIH_TEST_MOODLE_TOKEN name a real Moodle")
	}
	c, err := moodle.New(site, token, moodle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := moodle.NewDirectory(c, moodle.DirectoryOptions{})
	m, err := d.CourseModule(t.Context(), 1)
	if err != nil || m["modname"] == "" || m["name"] == "" || m["course"] == json.Number("0") {
		t.Fatalf("module 1: %v %v", m, err)
	}
	if _, err := d.CourseModule(t.Context(), 1<<40); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("unknown module: %v, want not found", err)
	}
	course, _ := m["course"].(json.Number)
	cid, _ := course.Int64()
	items, err := c.GradeItems(t.Context(), cid, 2)
	if err != nil || len(items) == 0 {
		t.Fatalf("grade items of course %d: %v %v", cid, items, err)
	}
	total := items[len(items)-1]
	if total.ItemType != "course" {
		t.Errorf("last item %+v, want the course total", total)
	}
}
