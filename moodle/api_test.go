package moodle_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
)

func TestClient_SiteInfo(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{Functions: []string{moodle.FuncSiteInfo, moodle.FuncUsersByField}})
	info, err := newClient(t, s, moodle.Options{}).SiteInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.UserID != 2 || info.Username != "admin" || info.SiteURL != s.URL || info.Release == "" || !info.UserIsSiteAdmin {
		t.Errorf("got %+v", info)
	}
	if got := info.Missing(moodle.FuncUsersByField, moodle.FuncEnrolUsers, moodle.FuncSiteInfo); !slices.Equal(got, []string{moodle.FuncEnrolUsers}) {
		t.Errorf("missing %v", got)
	}
}

func TestClient_UsersByField(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	c := newClient(t, s, moodle.Options{})
	ctx := t.Context()
	jdoe := s.AddUser(moodletest.User{Username: "jdoe", FirstName: "Jane", LastName: "Doe", Email: "jane@example.com",
		IDNumber: "S-1", Suspended: true, CustomFields: map[string]string{"faculty": "Science"}})

	t.Run("usernames are lowercased, unknown ones left out", func(t *testing.T) {
		s.ResetCalls()
		users, err := c.UsersByField(ctx, moodle.UserFieldUsername, []string{" JDoe ", "nobody", "JDOE"})
		if err != nil {
			t.Fatal(err)
		}
		// One call: Moodle would refuse the whole call for a username that is not lowercase.
		if len(users) != 1 || s.Calls().Total != 1 {
			t.Fatalf("got %+v in %d calls", users, s.Calls().Total)
		}
		u := users[0]
		if u.ID != jdoe || u.Username != "jdoe" || u.FullName != "Jane Doe" || u.Email != "jane@example.com" || u.IDNumber != "S-1" ||
			!u.Suspended || !u.Confirmed || len(u.CustomFields) != 1 || u.CustomFields[0].ShortName != "faculty" {
			t.Errorf("got %+v", u)
		}
	})
	t.Run("by id, email and idnumber", func(t *testing.T) {
		for field, value := range map[string]string{moodle.UserFieldID: fmt.Sprint(jdoe), moodle.UserFieldEmail: " jane@example.com", moodle.UserFieldIDNumber: "S-1"} {
			users, err := c.UsersByField(ctx, field, []string{value})
			if err != nil || len(users) != 1 || users[0].ID != jdoe {
				t.Errorf("%s: got %+v, %v", field, users, err)
			}
		}
	})
	t.Run("no values, no call", func(t *testing.T) {
		s.ResetCalls()
		users, err := c.UsersByField(ctx, moodle.UserFieldUsername, []string{"", "  "})
		if err != nil || users != nil || s.Calls().Total != 0 {
			t.Errorf("got %v %v after %d calls", users, err, s.Calls().Total)
		}
	})
	t.Run("unknown field", func(t *testing.T) {
		if _, err := c.UsersByField(ctx, "lastname", []string{"x"}); err == nil {
			t.Error("want an error")
		}
	})
	t.Run("batches of 100", func(t *testing.T) {
		var names []string
		for i := range 250 {
			name := fmt.Sprintf("batch%03d", i)
			names = append(names, name)
			if i%50 == 0 {
				s.AddUser(moodletest.User{Username: name})
			}
		}
		s.ResetCalls()
		users, err := c.UsersByField(ctx, moodle.UserFieldUsername, names)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 5 || s.Calls().Total != 3 {
			t.Errorf("%d users in %d calls, want 5 in 3", len(users), s.Calls().Total)
		}
	})
	t.Run("a value Moodle refuses is left out, the others found", func(t *testing.T) {
		// "j doe" has a character the site's usernames cannot hold: Moodle refuses the
		// whole call, the client splits it.
		s.ResetCalls()
		users, err := c.UsersByField(ctx, moodle.UserFieldUsername, []string{"batch000", "j doe", "batch050", "jdoe"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range users {
			got = append(got, u.Username)
		}
		slices.Sort(got)
		if !slices.Equal(got, []string{"batch000", "batch050", "jdoe"}) {
			t.Errorf("got %v", got)
		}
		if n := s.Calls().Total; n > 7 {
			t.Errorf("%d calls to isolate one value in four", n)
		}
	})
}

func TestClient_Courses(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	c := newClient(t, s, moodle.Options{})
	ctx := t.Context()
	science := s.AddCategory(moodletest.Category{Name: "Science", IDNumber: "SCI"})
	physics := s.AddCategory(moodletest.Category{Name: "Physics", Parent: science})
	existing := s.AddCourse(moodletest.Course{ShortName: "EXIST", FullName: "Existing", CategoryID: science, IDNumber: "E1",
		CustomFields: map[string]string{"code": "X9"}})

	t.Run("courses by field", func(t *testing.T) {
		courses, err := c.CoursesByField(ctx, moodle.CourseFieldShortName, "EXIST")
		if err != nil || len(courses) != 1 {
			t.Fatalf("got %+v, %v", courses, err)
		}
		co := courses[0]
		if co.ID != existing || co.FullName != "Existing" || co.CategoryID != science || co.CategoryName != "Science" ||
			co.IDNumber != "E1" || !co.Visible || co.Format != "topics" || !slices.Equal(co.EnrollmentMethods, []string{"manual"}) ||
			len(co.CustomFields) != 1 || co.CustomFields[0].Value != "X9" {
			t.Errorf("got %+v", co)
		}
		if courses, err := c.CoursesByField(ctx, moodle.CourseFieldShortName, "NOPE"); err != nil || len(courses) != 0 {
			t.Errorf("unknown: %+v, %v", courses, err)
		}
		if courses, err := c.CoursesByField(ctx, "", ""); err != nil || len(courses) != 2 || courses[0].ID != moodletest.SiteCourseID {
			t.Errorf("all: %+v, %v", courses, err)
		}
	})

	t.Run("create: the refused course alone, the others created", func(t *testing.T) {
		hidden := false
		var batch []moodle.NewCourse
		for i := range 8 {
			batch = append(batch, moodle.NewCourse{FullName: fmt.Sprintf("Course %d", i), ShortName: fmt.Sprintf("C%d", i), CategoryID: physics})
		}
		batch[3].ShortName = "EXIST"
		batch[6].CategoryID = 999
		batch[7].Visible = &hidden
		s.ResetCalls()
		created, err := c.CreateCourses(ctx, batch)
		var be *moodle.BatchError
		if !errors.As(err, &be) || len(be.Items) != 2 || be.Items[0].Index != 3 || be.Items[0].Err.ErrorCode != moodle.CodeShortNameTaken ||
			be.Items[1].Index != 6 || be.Items[1].Err.ErrorCode != "errorcatcontextnotvalid" {
			t.Fatalf("got %v", err)
		}
		if moodle.ErrorCode(err) != moodle.CodeShortNameTaken {
			t.Errorf("ErrorCode %q: want the first refused item's", moodle.ErrorCode(err))
		}
		var names []string
		for _, cc := range created {
			names = append(names, cc.ShortName)
		}
		if !slices.Equal(names, []string{"C0", "C1", "C2", "C4", "C5", "C7"}) {
			t.Errorf("created %v", names)
		}
		// Halving isolates each refused course in at most 2·log2(8) calls after the first.
		if n := s.Calls().Total; n != 11 {
			t.Errorf("%d calls for 8 courses with 2 refused, want 11", n)
		}
		if c7, _ := s.CourseByShortName("C7"); !c7.Hidden {
			t.Error("C7 should be hidden")
		}
	})

	t.Run("update: warnings per course, absent fields unchanged", func(t *testing.T) {
		full := "Existing, renamed"
		visible := false
		taken := "C0"
		warnings, err := c.UpdateCourses(ctx, []moodle.CourseUpdate{
			{ID: existing, FullName: &full, Visible: &visible},
			{ID: existing, ShortName: &taken},
			{ID: 999, FullName: &full},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(warnings) != 2 || warnings[0].ItemID != existing || warnings[0].WarningCode != moodle.CodeShortNameTaken ||
			warnings[1].ItemID != 999 || warnings[1].WarningCode != moodle.CodeInvalidRecord {
			t.Errorf("warnings %+v", warnings)
		}
		got, _ := s.Course(existing)
		if got.FullName != full || !got.Hidden || got.IDNumber != "E1" || got.ShortName != "EXIST" {
			t.Errorf("course %+v", got)
		}
	})

	t.Run("categories", func(t *testing.T) {
		cats, err := c.Categories(ctx, []moodle.Criterion{{Key: "idnumber", Value: "SCI"}}, true)
		if err != nil || len(cats) != 2 || cats[0].ID != science || cats[1].ID != physics || cats[1].Parent != science ||
			cats[1].Path != fmt.Sprintf("/%d/%d", science, physics) || !cats[0].Visible || cats[0].CourseCount != 1 {
			t.Errorf("got %+v, %v", cats, err)
		}
		cats, err = c.Categories(ctx, []moodle.Criterion{{Key: "idnumber", Value: "SCI"}}, false)
		if err != nil || len(cats) != 1 {
			t.Errorf("without subcategories: %+v, %v", cats, err)
		}
		all, err := c.Categories(ctx, nil, false)
		if err != nil || len(all) != 3 {
			t.Errorf("all: %+v, %v", all, err)
		}
		if _, err := c.Categories(ctx, []moodle.Criterion{{Key: "colour", Value: "x"}}, false); moodle.ErrorCode(err) != moodle.CodeInvalidParameter {
			t.Errorf("bad key: %v", err)
		}
	})
}

func TestClient_Enrolments(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	c := newClient(t, s, moodle.Options{})
	ctx := t.Context()
	course := s.AddCourse(moodletest.Course{ShortName: "C", FullName: "C", CategoryID: 1})
	bare := s.AddCourse(moodletest.Course{ShortName: "BARE", FullName: "Bare", CategoryID: 1, NoManualInstance: true})
	var users []int64
	for i := range 6 {
		users = append(users, s.AddUser(moodletest.User{Username: fmt.Sprintf("p%d", i), FirstName: "P", LastName: fmt.Sprint(i)}))
	}

	t.Run("enrol with a refused item", func(t *testing.T) {
		err := c.EnrolUsers(ctx, []moodle.Enrolment{
			{RoleID: 3, UserID: users[0], CourseID: course},
			{RoleID: 5, UserID: users[1], CourseID: course, Suspend: true},
			{RoleID: 5, UserID: users[2], CourseID: bare},
			{RoleID: 5, UserID: users[3], CourseID: course, TimeStart: 100, TimeEnd: 4102444800},
		})
		var be *moodle.BatchError
		if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 2 || be.Items[0].Err.ErrorCode != moodle.CodeNoInstance {
			t.Fatalf("got %v", err)
		}
		got := s.Enrolments(course)
		for i := range got {
			got[i].ID = 0
		}
		want := []moodletest.Enrolment{
			{CourseID: course, UserID: users[0], Username: "p0", Roles: []int64{3}},
			{CourseID: course, UserID: users[1], Username: "p1", Suspended: true, Roles: []int64{5}},
			{CourseID: course, UserID: users[3], Username: "p3", TimeStart: 100, TimeEnd: 4102444800, Roles: []int64{5}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	})

	t.Run("enrolled users, all and active only", func(t *testing.T) {
		all, err := c.EnrolledUsers(ctx, course, moodle.EnrolledUsersOptions{})
		if err != nil || len(all) != 3 || all[0].ID != users[0] || !all[0].HasRole(3) || all[0].Roles[0].ShortName != "editingteacher" ||
			all[0].Username != "p0" {
			t.Fatalf("got %+v, %v", all, err)
		}
		active, err := c.EnrolledUsers(ctx, course, moodle.EnrolledUsersOptions{OnlyActive: true, UserFields: []string{"id", "username", "roles"}})
		if err != nil || len(active) != 2 || active[0].ID != users[0] || active[1].ID != users[3] || active[0].Email != "" || !active[1].HasRole(5) {
			t.Errorf("active %+v, %v", active, err)
		}
		s.ResetCalls()
		paged, err := c.EnrolledUsers(ctx, course, moodle.EnrolledUsersOptions{PageSize: 2})
		if err != nil || len(paged) != 3 || paged[2].ID != users[3] || s.Calls().Total != 2 {
			t.Errorf("paged %d users in %d calls, %v", len(paged), s.Calls().Total, err)
		}
		if _, err := c.EnrolledUsers(ctx, 999, moodle.EnrolledUsersOptions{}); moodle.ErrorCode(err) != moodle.CodeInvalidRecord {
			t.Errorf("unknown course: %v", err)
		}
	})

	t.Run("a role change is an assign and an unassign", func(t *testing.T) {
		// Enrolling again with another role adds it: the old one stays.
		if err := c.EnrolUsers(ctx, []moodle.Enrolment{{RoleID: 4, UserID: users[0], CourseID: course}}); err != nil {
			t.Fatal(err)
		}
		if got := s.Enrolments(course)[0].Roles; !slices.Equal(got, []int64{3, 4}) {
			t.Fatalf("roles %v, want [3 4]", got)
		}
		if err := c.UnassignRoles(ctx, []moodle.RoleAssignment{moodle.CourseRole(3, users[0], course)}); err != nil {
			t.Fatal(err)
		}
		if err := c.AssignRoles(ctx, []moodle.RoleAssignment{{RoleID: 1, UserID: users[0], ContextID: s.CourseContext(course)}}); err != nil {
			t.Fatal(err)
		}
		if got := s.Enrolments(course)[0].Roles; !slices.Equal(got, []int64{1, 4}) {
			t.Errorf("roles %v, want [1 4]", got)
		}
		err := c.AssignRoles(ctx, []moodle.RoleAssignment{moodle.CourseRole(7, users[0], course)})
		if moodle.ErrorCode(err) != moodle.CodeInvalidParameter {
			t.Errorf("a role not assignable in courses: %v", err)
		}
	})

	t.Run("unenrol", func(t *testing.T) {
		if err := c.UnenrolUsers(ctx, []moodle.Unenrolment{{UserID: users[0], CourseID: course}, {UserID: users[5], CourseID: course}}); err != nil {
			t.Fatal(err)
		}
		for _, e := range s.Enrolments(course) {
			if e.UserID == users[0] {
				t.Errorf("still enrolled: %+v", e)
			}
		}
	})

	t.Run("batches fit max_input_vars", func(t *testing.T) {
		big := s.AddCourse(moodletest.Course{ShortName: "BIG", FullName: "Big", CategoryID: 1})
		var enrolments []moodle.Enrolment
		for i := range 500 {
			id := s.AddUser(moodletest.User{Username: fmt.Sprintf("big%d", i)})
			enrolments = append(enrolments, moodle.Enrolment{RoleID: 5, UserID: id, CourseID: big})
		}
		s.ResetCalls()
		big1000 := newClient(t, s, moodle.Options{BatchSize: 1000})
		if err := big1000.EnrolUsers(ctx, enrolments); err != nil {
			t.Fatal(err)
		}
		// 6 fields per enrolment, 997 fields per call: 166 per call.
		if got, calls := len(s.Enrolments(big)), s.Calls().Total; got != 500 || calls != 4 {
			t.Errorf("%d enrolled in %d calls, want 500 in 4", got, calls)
		}
	})

	t.Run("a failure of the whole call stops at once", func(t *testing.T) {
		s.FailNext(moodle.FuncEnrolUsers, 1, moodletest.Failure{Status: 503})
		s.ResetCalls()
		err := c.EnrolUsers(ctx, []moodle.Enrolment{{RoleID: 5, UserID: users[4], CourseID: course}, {RoleID: 5, UserID: users[5], CourseID: course}})
		if !moodle.Retryable(err) || s.Calls().Total != 1 {
			t.Errorf("got %v after %d calls, want one retryable failure", err, s.Calls().Total)
		}
		limited := moodletest.NewServer(t, moodletest.Options{Functions: []string{moodle.FuncSiteInfo}})
		lc := newClient(t, limited, moodle.Options{})
		err = lc.EnrolUsers(ctx, []moodle.Enrolment{{RoleID: 5, UserID: 2, CourseID: 1}, {RoleID: 5, UserID: 2, CourseID: 1}})
		if !moodle.IsAccessException(err) || limited.Calls().Total != 1 {
			t.Errorf("got %v after %d calls, want one access exception", err, limited.Calls().Total)
		}
	})
}
