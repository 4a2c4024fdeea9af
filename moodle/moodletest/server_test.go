package moodletest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih/moodle/moodletest"
)

// These tests speak raw HTTP, so that the fake is checked against Moodle's protocol and not
// against the client that is tested with it.

type answer struct {
	status int
	ctype  string
	body   string
}

func post(t *testing.T, s *moodletest.Server, form string) answer {
	t.Helper()
	resp, err := http.Post(s.URL+moodletest.RESTPath, "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// call posts a JSON call with the server's token; params is already in bracket form.
func call(t *testing.T, s *moodletest.Server, function, params string) answer {
	t.Helper()
	form := "wstoken=" + s.Token + "&wsfunction=" + function + "&moodlewsrestformat=json"
	if params != "" {
		form += "&" + params
	}
	return post(t, s, form)
}

type exception struct {
	Exception string `json:"exception"`
	ErrorCode string `json:"errorcode"`
	Message   string `json:"message"`
	DebugInfo string `json:"debuginfo"`
}

// wantException checks that a is Moodle's error: HTTP 200, a JSON exception with code.
func wantException(t *testing.T, a answer, code string) exception {
	t.Helper()
	var e exception
	if a.status != 200 || json.Unmarshal([]byte(a.body), &e) != nil || e.Exception == "" {
		t.Fatalf("got %d %q, want a JSON exception in HTTP 200", a.status, a.body)
	}
	if e.ErrorCode != code {
		t.Fatalf("errorcode %q (%s: %s), want %q", e.ErrorCode, e.Message, e.DebugInfo, code)
	}
	return e
}

func wantOK(t *testing.T, a answer, out any) {
	t.Helper()
	if a.status != 200 || strings.HasPrefix(a.body, `{"exception"`) {
		t.Fatalf("got %d %s, want a result", a.status, a.body)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(a.body), out); err != nil {
			t.Fatalf("decode %s: %v", a.body, err)
		}
	}
}

func TestServer_Protocol(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{Debug: true})
	s.AddToken("limited", "core_webservice_get_site_info")

	t.Run("invalid token is an exception in HTTP 200", func(t *testing.T) {
		e := wantException(t, post(t, s, "wstoken=nope&wsfunction=core_webservice_get_site_info&moodlewsrestformat=json"), "invalidtoken")
		if e.Exception != "moodle_exception" || e.Message != "Invalid token - token not found" {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("no token", func(t *testing.T) {
		wantException(t, post(t, s, "wsfunction=core_webservice_get_site_info&moodlewsrestformat=json"), "invalidtoken")
	})
	t.Run("XML unless JSON is asked for", func(t *testing.T) {
		a := post(t, s, "wstoken="+s.Token+"&wsfunction=core_webservice_get_site_info")
		if a.status != 200 || !strings.HasPrefix(a.body, "<?xml") || !strings.Contains(a.body, "<RESPONSE>") ||
			!strings.HasPrefix(a.ctype, "application/xml") {
			t.Errorf("got %d %s %.80q", a.status, a.ctype, a.body)
		}
		a = post(t, s, "wstoken=nope&wsfunction=core_webservice_get_site_info&moodlewsrestformat=JSON")
		if !strings.Contains(a.body, `<EXCEPTION class="moodle_exception">`) || !strings.Contains(a.body, "<ERRORCODE>invalidtoken</ERRORCODE>") {
			t.Errorf("XML error: %s", a.body)
		}
	})
	t.Run("function outside the token's service", func(t *testing.T) {
		a := post(t, s, "wstoken=limited&wsfunction=core_course_get_courses_by_field&moodlewsrestformat=json")
		e := wantException(t, a, "accessexception")
		if e.Exception != "webservice_access_exception" || !strings.Contains(e.DebugInfo, "core_course_get_courses_by_field() is not allowed") {
			t.Errorf("got %+v", e)
		}
		wantOK(t, post(t, s, "wstoken=limited&wsfunction=core_webservice_get_site_info&moodlewsrestformat=json"), nil)
	})
	t.Run("unknown function", func(t *testing.T) {
		e := wantException(t, call(t, s, "core_no_such_function", ""), "invalidrecord")
		if !strings.Contains(e.Message, "external_functions") {
			t.Errorf("message %q", e.Message)
		}
	})
	t.Run("missing function", func(t *testing.T) {
		wantException(t, post(t, s, "wstoken="+s.Token+"&moodlewsrestformat=json"), "invalidparameter")
	})
	t.Run("GET works too", func(t *testing.T) {
		resp, err := http.Get(s.URL + moodletest.RESTPath + "?wstoken=" + s.Token + "&wsfunction=core_webservice_get_site_info&moodlewsrestformat=json")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("other paths are 404 HTML", func(t *testing.T) {
		resp, err := http.Get(s.URL + "/webservice/rest/nothere.php")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("REST protocol off", func(t *testing.T) {
		s.SetProtocolEnabled(false)
		defer s.SetProtocolEnabled(true)
		a := call(t, s, "core_webservice_get_site_info", "")
		if a.status != 403 || a.body != "" {
			t.Errorf("got %d %q, want 403 with no body", a.status, a.body)
		}
	})
	t.Run("site info lists the service's functions", func(t *testing.T) {
		var info struct {
			UserID    int64 `json:"userid"`
			Username  string
			Functions []struct{ Name string }
		}
		wantOK(t, post(t, s, "wstoken=limited&wsfunction=core_webservice_get_site_info&moodlewsrestformat=json"), &info)
		if info.UserID != 2 || info.Username != "admin" || len(info.Functions) != 1 || info.Functions[0].Name != "core_webservice_get_site_info" {
			t.Errorf("got %+v", info)
		}
	})
}

func TestServer_ParameterValidation(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{Debug: true})
	tests := []struct {
		name, function, params, debug string
	}{
		{"missing required list", "core_user_get_users_by_field", "field=id", "Missing required key in single structure: values"},
		{"unexpected key", "core_user_get_users_by_field", "field=id&values[0]=2&extra=1", "Unexpected keys (extra) detected"},
		{"scalar for a list", "core_user_get_users_by_field", "field=id&values=2", "Only arrays accepted"},
		{"list for a scalar", "core_user_get_users_by_field", "field[0]=id&values[0]=2", "Scalar type expected"},
		{"integer with leading zero", "core_enrol_get_enrolled_users", "courseid=012", `the value is "012"`},
		{"integer with sign", "core_enrol_get_enrolled_users", "courseid=%2B5", `the value is "+5"`},
		{"boolean as true", "core_course_get_categories", "addsubcategories=true", `the server was expecting "bool" type`},
		{"tags in a PARAM_TEXT", "core_course_create_courses", "courses[0][fullname]=%3Cb%3EX&courses[0][shortname]=X&courses[0][categoryid]=1",
			"courses => Invalid parameter value detected: fullname => Invalid parameter value detected"},
		{"missing key deep down", "core_course_create_courses", "courses[0][fullname]=X&courses[0][shortname]=X",
			"courses => Invalid parameter value detected: Missing required key in single structure: categoryid"},
		{"invalid UTF-8", "core_user_get_users_by_field", "field=idnumber&values[0]=%FF", "Invalid external api parameter"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := wantException(t, call(t, s, tc.function, tc.params), "invalidparameter")
			if e.Exception != "invalid_parameter_exception" || e.Message != "Invalid parameter value detected" || !strings.Contains(e.DebugInfo, tc.debug) {
				t.Errorf("got %+v, want debuginfo with %q", e, tc.debug)
			}
		})
	}
	t.Run("booleans 1 and 0 pass", func(t *testing.T) {
		wantOK(t, call(t, s, "core_course_get_categories", "addsubcategories=0"), nil)
	})
	t.Run("no debuginfo without debugging", func(t *testing.T) {
		quiet := moodletest.NewServer(t, moodletest.Options{})
		e := wantException(t, call(t, quiet, "core_user_get_users_by_field", "field=id"), "invalidparameter")
		if e.DebugInfo != "" {
			t.Errorf("debuginfo %q", e.DebugInfo)
		}
	})
}

func TestServer_CreateCoursesIsOneTransaction(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	s.AddCourse(moodletest.Course{ShortName: "TAKEN", FullName: "Taken", CategoryID: 1})
	course := func(i int, short string, cat int) string {
		return fmt.Sprintf("courses[%d][fullname]=F%d&courses[%d][shortname]=%s&courses[%d][categoryid]=%d", i, i, i, short, i, cat)
	}
	tests := []struct {
		name, params, code string
	}{
		{"short name taken", course(0, "A", 1) + "&" + course(1, "TAKEN", 1) + "&" + course(2, "C", 1), "shortnametaken"},
		{"short name twice in the batch", course(0, "A", 1) + "&" + course(1, "A", 1), "shortnametaken"},
		{"unknown category", course(0, "A", 1) + "&" + course(1, "B", 99), "errorcatcontextnotvalid"},
		{"empty full name", course(0, "A", 1) + "&courses[1][fullname]=+&courses[1][shortname]=B&courses[1][categoryid]=1", "errorinvalidparam"},
		{"end before start", "courses[0][fullname]=F&courses[0][shortname]=A&courses[0][categoryid]=1&courses[0][startdate]=200&courses[0][enddate]=100", "enddatebeforestartdate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantException(t, call(t, s, "core_course_create_courses", tc.params), tc.code)
			if got := len(s.Courses()); got != 1 {
				t.Errorf("%d courses after a refused batch, want only the seeded one", got)
			}
		})
	}
	t.Run("a good batch", func(t *testing.T) {
		var created []struct {
			ID        int64  `json:"id"`
			ShortName string `json:"shortname"`
		}
		wantOK(t, call(t, s, "core_course_create_courses", course(0, "A", 1)+"&"+course(1, "B", 1)), &created)
		if len(created) != 2 || created[0].ShortName != "A" || created[1].ShortName != "B" || created[1].ID != created[0].ID+1 {
			t.Fatalf("created %+v", created)
		}
		c, ok := s.Course(created[0].ID)
		if !ok || c.FullName != "F0" || c.Format != "topics" || c.Hidden || c.NoManualInstance {
			t.Errorf("course %+v", c)
		}
	})
	t.Run("visibility follows the category unless given", func(t *testing.T) {
		hidden := s.AddCategory(moodletest.Category{Name: "Hidden", Hidden: true})
		wantOK(t, call(t, s, "core_course_create_courses", course(0, "H1", int(hidden))+"&"+course(1, "H2", int(hidden))+"&courses[1][visible]=1"), nil)
		h1, _ := s.CourseByShortName("H1")
		h2, _ := s.CourseByShortName("H2")
		if !h1.Hidden || h2.Hidden {
			t.Errorf("H1 hidden %v (want true), H2 hidden %v (want false)", h1.Hidden, h2.Hidden)
		}
	})
}

func TestServer_UpdateCoursesWarnsPerCourse(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	a := s.AddCourse(moodletest.Course{ShortName: "A", FullName: "A", CategoryID: 1, IDNumber: "ida", Summary: "keep"})
	b := s.AddCourse(moodletest.Course{ShortName: "B", FullName: "B", CategoryID: 1})
	params := fmt.Sprintf("courses[0][id]=%d&courses[0][fullname]=A2&courses[0][visible]=0"+
		"&courses[1][id]=%d&courses[1][shortname]=A"+
		"&courses[2][id]=999&courses[2][fullname]=X", a, b)
	var res struct {
		Warnings []struct {
			Item        string `json:"item"`
			ItemID      int64  `json:"itemid"`
			WarningCode string `json:"warningcode"`
		} `json:"warnings"`
	}
	wantOK(t, call(t, s, "core_course_update_courses", params), &res)
	if len(res.Warnings) != 2 || res.Warnings[0].ItemID != b || res.Warnings[0].WarningCode != "shortnametaken" ||
		res.Warnings[1].ItemID != 999 || res.Warnings[1].WarningCode != "invalidrecord" || res.Warnings[0].Item != "course" {
		t.Errorf("warnings %+v", res.Warnings)
	}
	got, _ := s.Course(a)
	if got.FullName != "A2" || !got.Hidden || got.Summary != "keep" || got.IDNumber != "ida" {
		t.Errorf("course A %+v: fullname and visibility change, absent fields stay", got)
	}
	if got, _ := s.Course(b); got.ShortName != "B" {
		t.Errorf("course B %+v changed", got)
	}
}

func TestServer_UsersByField(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{Debug: true})
	jdoe := s.AddUser(moodletest.User{Username: "jdoe", FirstName: "Jane", LastName: "Doe", Email: "jane@example.com"})
	s.AddUser(moodletest.User{Username: "asmith", FirstName: "Al", LastName: "Smith", Email: "al@example.com", IDNumber: "S1"})
	type user struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		FullName string `json:"fullname"`
		IDNumber string `json:"idnumber"`
	}
	t.Run("unknown values are left out", func(t *testing.T) {
		var users []user
		wantOK(t, call(t, s, "core_user_get_users_by_field", "field=username&values[0]=nobody&values[1]=jdoe&values[2]=jdoe"), &users)
		if len(users) != 1 || users[0].ID != jdoe || users[0].FullName != "Jane Doe" {
			t.Errorf("got %+v", users)
		}
	})
	t.Run("a username that is not lowercase fails the call", func(t *testing.T) {
		e := wantException(t, call(t, s, "core_user_get_users_by_field", "field=username&values[0]=jdoe&values[1]=JDoe"), "invalidparameter")
		if !strings.Contains(e.DebugInfo, "cleaned value: jdoe") {
			t.Errorf("debuginfo %q", e.DebugInfo)
		}
	})
	t.Run("characters outside the username set fail the call", func(t *testing.T) {
		wantException(t, call(t, s, "core_user_get_users_by_field", "field=username&values[0]=j+doe"), "invalidparameter")
	})
	t.Run("by id, ordered by id", func(t *testing.T) {
		var users []user
		wantOK(t, call(t, s, "core_user_get_users_by_field", fmt.Sprintf("field=id&values[0]=%d&values[1]=2&values[2]=12345", jdoe)), &users)
		if len(users) != 2 || users[0].ID != 2 || users[1].ID != jdoe {
			t.Errorf("got %+v", users)
		}
	})
	t.Run("by idnumber; empty idnumbers never match", func(t *testing.T) {
		var users []user
		wantOK(t, call(t, s, "core_user_get_users_by_field", "field=idnumber&values[0]=S1&values[1]="), &users)
		if len(users) != 1 || users[0].Username != "asmith" {
			t.Errorf("got %+v", users)
		}
	})
	t.Run("unknown field", func(t *testing.T) {
		wantException(t, call(t, s, "core_user_get_users_by_field", "field=lastname&values[0]=x"), "codingerror")
	})
}

func TestServer_Enrolments(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{Debug: true})
	u1 := s.AddUser(moodletest.User{Username: "u1", FirstName: "U", LastName: "One"})
	u2 := s.AddUser(moodletest.User{Username: "u2", FirstName: "U", LastName: "Two"})
	c := s.AddCourse(moodletest.Course{ShortName: "C", FullName: "C", CategoryID: 1})
	bare := s.AddCourse(moodletest.Course{ShortName: "NOMANUAL", FullName: "No manual", CategoryID: 1, NoManualInstance: true})
	enrol := func(i int, user, course, role int64, extra string) string {
		p := fmt.Sprintf("enrolments[%d][roleid]=%d&enrolments[%d][userid]=%d&enrolments[%d][courseid]=%d", i, role, i, user, i, course)
		if extra != "" {
			p += "&" + strings.ReplaceAll(extra, "%i", fmt.Sprint(i))
		}
		return p
	}

	a := call(t, s, "enrol_manual_enrol_users", enrol(0, u1, c, 5, "enrolments[%i][timestart]=100&enrolments[%i][timeend]=0&enrolments[%i][suspend]=1"))
	if a.status != 200 || a.body != "null" {
		t.Fatalf("enrol answered %d %q, want null", a.status, a.body)
	}
	want := []moodletest.Enrolment{{ID: 1, CourseID: c, UserID: u1, Username: "u1", Suspended: true, TimeStart: 100, Roles: []int64{5}}}
	if got := s.Enrolments(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	t.Run("re-enrolling is an upsert that adds the role", func(t *testing.T) {
		wantOK(t, call(t, s, "enrol_manual_enrol_users", enrol(0, u1, c, 3, "")), nil)
		want := []moodletest.Enrolment{{ID: 1, CourseID: c, UserID: u1, Username: "u1", Roles: []int64{3, 5}}}
		if got := s.Enrolments(c); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v (times 0, active, roles added)", got, want)
		}
	})
	t.Run("one transaction", func(t *testing.T) {
		for _, tc := range []struct{ name, params, code string }{
			{"no manual instance", enrol(0, u2, c, 5, "") + "&" + enrol(1, u2, bare, 5, ""), "wsnoinstance"},
			{"role not assignable in a course", enrol(0, u2, c, 5, "") + "&" + enrol(1, u2, c, 7, ""), "wsusercannotassign"},
			{"unknown course", enrol(0, u2, c, 5, "") + "&" + enrol(1, u2, 999, 5, ""), "invalidparameter"},
			{"unknown user", enrol(0, u2, c, 5, "") + "&" + enrol(1, 999, c, 5, ""), "codingerror"},
		} {
			wantException(t, call(t, s, "enrol_manual_enrol_users", tc.params), tc.code)
			if got := s.Enrolments(c); len(got) != 1 {
				t.Errorf("%s: %d enrolments, want the batch rolled back", tc.name, len(got))
			}
		}
	})
	t.Run("enrolled users with roles", func(t *testing.T) {
		wantOK(t, call(t, s, "enrol_manual_enrol_users", enrol(0, u2, c, 5, "enrolments[%i][suspend]=1")), nil)
		type participant struct {
			ID    int64  `json:"id"`
			Email string `json:"email"`
			Roles []struct {
				RoleID    int64  `json:"roleid"`
				ShortName string `json:"shortname"`
			} `json:"roles"`
		}
		var all, active []participant
		wantOK(t, call(t, s, "core_enrol_get_enrolled_users", fmt.Sprintf("courseid=%d", c)), &all)
		wantOK(t, call(t, s, "core_enrol_get_enrolled_users", fmt.Sprintf("courseid=%d&options[0][name]=onlyactive&options[0][value]=1", c)), &active)
		if len(all) != 2 || all[0].ID != u1 || len(all[0].Roles) != 2 || all[0].Roles[0].ShortName != "editingteacher" || all[1].ID != u2 {
			t.Errorf("all %+v", all)
		}
		if len(active) != 1 || active[0].ID != u1 {
			t.Errorf("active %+v", active)
		}
		wantException(t, call(t, s, "core_enrol_get_enrolled_users", "courseid=999"), "invalidrecord")
		wantException(t, call(t, s, "core_enrol_get_enrolled_users", fmt.Sprintf("courseid=%d&options[0][name]=sortby&options[0][value]=email", c)), "invalidparameter")
	})
	t.Run("unenrolling removes the roles", func(t *testing.T) {
		wantException(t, call(t, s, "enrol_manual_unenrol_users", fmt.Sprintf("enrolments[0][userid]=%d&enrolments[0][courseid]=%d&enrolments[1][userid]=999&enrolments[1][courseid]=%d", u1, c, c)), "invalidparameter")
		if len(s.Enrolments(c)) != 2 {
			t.Fatal("a refused unenrol batch changed something")
		}
		wantOK(t, call(t, s, "enrol_manual_unenrol_users", fmt.Sprintf("enrolments[0][userid]=%d&enrolments[0][courseid]=%d", u1, c)), nil)
		got := s.Enrolments(c)
		if len(got) != 1 || got[0].UserID != u2 {
			t.Errorf("got %+v", got)
		}
		// Enrolling again starts without the old roles.
		wantOK(t, call(t, s, "enrol_manual_enrol_users", enrol(0, u1, c, 5, "")), nil)
		if got := s.Enrolments(c); !reflect.DeepEqual(got[0].Roles, []int64{5}) {
			t.Errorf("roles %v, want [5]", got[0].Roles)
		}
	})
	t.Run("role assignments", func(t *testing.T) {
		wantOK(t, call(t, s, "core_role_assign_roles", fmt.Sprintf("assignments[0][roleid]=4&assignments[0][userid]=%d&assignments[0][contextlevel]=course&assignments[0][instanceid]=%d", u1, c)), nil)
		wantOK(t, call(t, s, "core_role_unassign_roles", fmt.Sprintf("unassignments[0][roleid]=5&unassignments[0][userid]=%d&unassignments[0][contextid]=%d", u1, s.CourseContext(c))), nil)
		if got := s.Enrolments(c); !reflect.DeepEqual(got[0].Roles, []int64{4}) {
			t.Errorf("roles %v, want [4]", got[0].Roles)
		}
		wantException(t, call(t, s, "core_role_assign_roles", fmt.Sprintf("assignments[0][roleid]=2&assignments[0][userid]=%d&assignments[0][contextlevel]=course&assignments[0][instanceid]=%d", u1, c)), "invalidparameter")
		wantException(t, call(t, s, "core_role_assign_roles", fmt.Sprintf("assignments[0][roleid]=5&assignments[0][userid]=%d", u1)), "invalidparameter")
	})
}

func TestServer_MaxInputVars(t *testing.T) {
	// PHP keeps the first max_input_vars fields and drops the rest without telling Moodle:
	// a user named past the limit is simply not found.
	s := moodletest.NewServer(t, moodletest.Options{MaxInputVars: 10})
	s.AddUser(moodletest.User{Username: "early"})
	s.AddUser(moodletest.User{Username: "late"})
	var b strings.Builder
	for i := range 12 {
		name := fmt.Sprintf("x%d", i)
		switch i {
		case 0:
			name = "early"
		case 11:
			name = "late"
		}
		fmt.Fprintf(&b, "&values[%d]=%s", i, name)
	}
	var users []struct{ Username string }
	wantOK(t, call(t, s, "core_user_get_users_by_field", "field=username"+b.String()), &users)
	if len(users) != 1 || users[0].Username != "early" {
		t.Errorf("got %+v, want only the user before the limit", users)
	}
}

func TestServer_PHPJSON(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	s.AddCourse(moodletest.Course{ShortName: "S", FullName: "Été/Hiver <b>", CategoryID: 1})
	a := call(t, s, "core_course_get_courses_by_field", "field=shortname&value=S")
	if !strings.Contains(a.body, `"fullname":"\u00c9t\u00e9\/Hiver <b>"`) {
		t.Errorf("body %s: want json_encode's escaping", a.body)
	}
}

func TestServer_Injection(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	s.FailNext("core_webservice_get_site_info", 2, moodletest.Failure{Status: 500, Body: "<h1>Internal Server Error</h1>", ContentType: "text/html"})
	s.FailNext("", 1, moodletest.Failure{Exception: &moodletest.Exception{Class: "moodle_exception", ErrorCode: "sitemaintenance", Message: "The site is undergoing maintenance"}})
	for range 2 {
		if a := call(t, s, "core_webservice_get_site_info", ""); a.status != 500 || !strings.Contains(a.body, "Internal") {
			t.Fatalf("got %d %q, want the injected 500", a.status, a.body)
		}
	}
	wantException(t, call(t, s, "core_webservice_get_site_info", ""), "sitemaintenance")
	wantOK(t, call(t, s, "core_webservice_get_site_info", ""), nil)

	s.FailNext("core_webservice_get_site_info", 1, moodletest.Failure{Prefix: "<br />\n<b>Warning</b>:  x in <b>/var/www/lib.php</b> on line <b>3</b><br />\n"})
	if a := call(t, s, "core_webservice_get_site_info", ""); !strings.HasPrefix(a.body, "<br />") || !strings.Contains(a.body, `"sitename"`) {
		t.Errorf("got %q, want the answer after the prefix", a.body)
	}

	s.SetLatency("core_webservice_get_site_info", 50*time.Millisecond)
	start := time.Now()
	call(t, s, "core_webservice_get_site_info", "")
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("answered in %v, want the injected latency", d)
	}

	c := s.Calls()
	if c.Total != 6 || c.Reads != 6 || c.Writes != 0 || c.ByFunction["core_webservice_get_site_info"] != 6 {
		t.Errorf("calls %+v", c)
	}
	call(t, s, "enrol_manual_enrol_users", "")
	if c := s.Calls(); c.Writes != 1 || c.Total != 7 {
		t.Errorf("calls %+v, want the write counted even when it failed", c)
	}
	s.ResetCalls()
	if c := s.Calls(); c.Total != 0 || len(c.ByFunction) != 0 {
		t.Errorf("calls %+v after reset", c)
	}
}

func TestServer_Concurrent(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	c := s.AddCourse(moodletest.Course{ShortName: "C", FullName: "C", CategoryID: 1})
	const n = 40
	ids := make([]int64, n)
	for i := range n {
		ids[i] = s.AddUser(moodletest.User{Username: fmt.Sprintf("user%d", i)})
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			call(t, s, "enrol_manual_enrol_users", fmt.Sprintf("enrolments[0][roleid]=5&enrolments[0][userid]=%d&enrolments[0][courseid]=%d", ids[i], c))
			call(t, s, "core_enrol_get_enrolled_users", fmt.Sprintf("courseid=%d", c))
		})
	}
	wg.Wait()
	if got := len(s.Enrolments(c)); got != n {
		t.Errorf("%d enrolments, want %d", got, n)
	}
}

// Moodle 4.5: enrol_manual_enrol_users on an existing enrolment (a suspension) sends the course
// welcome message again; core_enrol_submit_user_enrolment_form cannot be used with a token;
// the plugin's local_mih_update_enrolments changes the status and sends nothing; a failing
// mail answers an exception after the enrolment was made.
func TestServer_WelcomeMessages(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	u := s.AddUser(moodletest.User{Username: "u1", FirstName: "U", LastName: "One", Email: "u1@example.edu"})
	c := s.AddCourse(moodletest.Course{ShortName: "C1", FullName: "Course", CategoryID: 1})
	teacher := s.AddUser(moodletest.User{Username: "t1", FirstName: "T", LastName: "One", Email: "t1@example.edu"})
	// The message comes from the course contact: none yet, no message.
	wantOK(t, call(t, s, "enrol_manual_enrol_users", fmt.Sprintf("enrolments[0][roleid]=5&enrolments[0][userid]=%d&enrolments[0][courseid]=%d", u, c)), nil)
	if n := len(s.Notifications()); n != 0 {
		t.Fatalf("%d notifications in a course without a teacher, want 0", n)
	}
	wantOK(t, call(t, s, "enrol_manual_unenrol_users", fmt.Sprintf("enrolments[0][userid]=%d&enrolments[0][courseid]=%d", u, c)), nil)
	s.Enrol(moodletest.Enrolment{CourseID: c, UserID: teacher}, moodletest.RoleEditingTeacher)
	enrol := func(suspend int) answer {
		return call(t, s, "enrol_manual_enrol_users", fmt.Sprintf("enrolments[0][roleid]=5&enrolments[0][userid]=%d&enrolments[0][courseid]=%d&enrolments[0][suspend]=%d", u, c, suspend))
	}
	wantOK(t, enrol(0), nil)
	wantOK(t, enrol(1), nil)
	if n := len(s.Notifications()); n != 2 {
		t.Fatalf("%d notifications, want 2: the enrolment and the suspension", n)
	}
	ue := s.Enrolments(c)[0].ID
	form := func(f string) answer {
		return call(t, s, "core_enrol_submit_user_enrolment_form", "formdata="+url.QueryEscape(f))
	}
	if a := form(fmt.Sprintf("ue=%d&status=0&_qf__enrol_user_enrolment_form=1", ue)); !strings.Contains(a.body, `"missingparam"`) {
		t.Errorf("the form with a token: %s, want missingparam (sesskey)", a.body)
	}
	var res struct {
		Result          bool `json:"result"`
		ValidationError bool `json:"validationerror"`
	}
	wantOK(t, form(fmt.Sprintf("ue=%d&status=0", ue)), &res)
	if res.Result || !res.ValidationError || !s.Enrolments(c)[0].Suspended {
		t.Errorf("form without its submission marker: %+v: want a validation error and nothing changed", res)
	}

	var upd struct {
		Updated  int `json:"updated"`
		Warnings []struct {
			ItemID      int    `json:"itemid"`
			WarningCode string `json:"warningcode"`
		} `json:"warnings"`
	}
	wantOK(t, call(t, s, "local_mih_update_enrolments", fmt.Sprintf(
		"enrolments[0][courseid]=%d&enrolments[0][userid]=%d&enrolments[0][suspend]=0&enrolments[1][courseid]=%d&enrolments[1][userid]=999", c, u, c)), &upd)
	if upd.Updated != 1 || len(upd.Warnings) != 1 || upd.Warnings[0].ItemID != 1 || upd.Warnings[0].WarningCode != "notenrolled" {
		t.Errorf("update: %+v", upd)
	}
	if s.Enrolments(c)[0].Suspended || len(s.Notifications()) != 2 {
		t.Errorf("enrolment %+v, %d notifications: want active and no message", s.Enrolments(c)[0], len(s.Notifications()))
	}

	// Dates given are set; omitted ones, as in a suspension, are kept.
	wantOK(t, call(t, s, "local_mih_update_enrolments", fmt.Sprintf(
		"enrolments[0][courseid]=%d&enrolments[0][userid]=%d&enrolments[0][timestart]=100&enrolments[0][timeend]=200", c, u)), &upd)
	wantOK(t, call(t, s, "local_mih_update_enrolments", fmt.Sprintf(
		"enrolments[0][courseid]=%d&enrolments[0][userid]=%d&enrolments[0][suspend]=1", c, u)), &upd)
	if e := s.Enrolments(c)[0]; !e.Suspended || e.TimeStart != 100 || e.TimeEnd != 200 || len(s.Notifications()) != 2 {
		t.Errorf("after a suspension: %+v, %d notifications: want suspended, window 100-200 kept, no message", e, len(s.Notifications()))
	}

	s.SetMailFailing(true)
	u2 := s.AddUser(moodletest.User{Username: "u2", FirstName: "U", LastName: "Two", Email: "u2@example.edu"})
	a := call(t, s, "enrol_manual_enrol_users", fmt.Sprintf("enrolments[0][roleid]=5&enrolments[0][userid]=%d&enrolments[0][courseid]=%d", u2, c))
	if !strings.Contains(a.body, `"errorcode":"Message was not sent."`) || len(s.Enrolments(c)) != 3 {
		t.Errorf("failing mail: %s, %d enrolments: want the exception and the enrolment made", a.body, len(s.Enrolments(c)))
	}
}

// A slow course creation commits after the client gave up; reads meanwhile see the site as it
// was.
func TestServer_CreateCost(t *testing.T) {
	s := moodletest.NewServer(t, moodletest.Options{})
	s.SetCreateCost(200*time.Millisecond, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+moodletest.RESTPath, strings.NewReader(
		"wstoken="+s.Token+"&wsfunction=core_course_create_courses&moodlewsrestformat=json&courses[0][fullname]=F&courses[0][shortname]=S&courses[0][categoryid]=1"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the call answered within 50 ms")
	}
	if _, ok := s.CourseByShortName("S"); ok {
		t.Fatal("the course is visible before the call committed")
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok := s.CourseByShortName("S"); !ok {
		t.Fatal("the call did not commit after the client gave up")
	}
}
