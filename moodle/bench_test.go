package moodle_test

import (
	"fmt"
	"testing"

	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
)

// Benchmarks run against moodletest over loopback HTTP: they measure the client and the fake,
// not a real Moodle (whose PHP takes milliseconds per call).

func BenchmarkEncodeParams_Enrolments(b *testing.B) {
	enrolments := make([]moodle.Enrolment, 166) // one full call under max_input_vars
	for i := range enrolments {
		enrolments[i] = moodle.Enrolment{RoleID: 5, UserID: int64(1000 + i), CourseID: 42, TimeStart: 1700000000}
	}
	params := map[string]any{"enrolments": enrolments}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := moodle.EncodeParams(params); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCall_SiteInfo(b *testing.B) {
	s := moodletest.NewServer(b, moodletest.Options{})
	c := newClient(b, s, moodle.Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SiteInfo(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUsersByField_100(b *testing.B) {
	s := moodletest.NewServer(b, moodletest.Options{})
	c := newClient(b, s, moodle.Options{})
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("user%03d", i)
		s.AddUser(moodletest.User{Username: names[i], FirstName: "F", LastName: "L", Email: names[i] + "@example.com"})
	}
	b.ReportAllocs()
	for b.Loop() {
		users, err := c.UsersByField(b.Context(), moodle.UserFieldUsername, names)
		if err != nil || len(users) != 100 {
			b.Fatal(len(users), err)
		}
	}
}

func BenchmarkEnrolledUsers_40(b *testing.B) {
	s := moodletest.NewServer(b, moodletest.Options{})
	c := newClient(b, s, moodle.Options{})
	course := s.AddCourse(moodletest.Course{ShortName: "C", FullName: "C", CategoryID: 1})
	for i := range 40 {
		id := s.AddUser(moodletest.User{Username: fmt.Sprintf("p%d", i), FirstName: "P", LastName: "Q", Email: "p@example.com"})
		s.Enrol(moodletest.Enrolment{CourseID: course, UserID: id}, moodletest.RoleStudent)
	}
	b.ReportAllocs()
	for b.Loop() {
		users, err := c.EnrolledUsers(b.Context(), course, moodle.EnrolledUsersOptions{})
		if err != nil || len(users) != 40 {
			b.Fatal(len(users), err)
		}
	}
}

// BenchmarkSiteScale enrols 1,000 courses × 30 participants through EnrolUsers and reads every
// course back with EnrolledUsers: the shape of a course sync's first run and of its check.
func BenchmarkSiteScale_1000x30(b *testing.B) {
	const courses, per = 1000, 30
	for b.Loop() {
		b.StopTimer()
		s := moodletest.NewServer(b, moodletest.Options{})
		c := newClient(b, s, moodle.Options{BatchSize: 500})
		users := make([]int64, per*10)
		for i := range users {
			users[i] = s.AddUser(moodletest.User{Username: fmt.Sprintf("u%d", i), FirstName: "U", LastName: fmt.Sprint(i)})
		}
		var enrolments []moodle.Enrolment
		ids := make([]int64, courses)
		for i := range ids {
			ids[i] = s.AddCourse(moodletest.Course{ShortName: fmt.Sprintf("C%d", i), FullName: "Course", CategoryID: 1})
			for j := range per {
				enrolments = append(enrolments, moodle.Enrolment{RoleID: 5, UserID: users[(i+j*7)%len(users)], CourseID: ids[i]})
			}
		}
		b.StartTimer()
		if err := c.EnrolUsers(b.Context(), enrolments); err != nil {
			b.Fatal(err)
		}
		for _, id := range ids {
			got, err := c.EnrolledUsers(b.Context(), id, moodle.EnrolledUsersOptions{UserFields: []string{"id", "username", "roles"}})
			if err != nil || len(got) != per {
				b.Fatal(len(got), err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(s.Calls().Total), "calls/op")
		s.Close()
		b.StartTimer()
	}
}

func BenchmarkDirectory_Hit(b *testing.B) {
	s := moodletest.NewServer(b, moodletest.Options{})
	d := moodle.NewDirectory(newClient(b, s, moodle.Options{}), moodle.DirectoryOptions{})
	uid := s.AddUser(moodletest.User{Username: "u"})
	if _, err := d.User(b.Context(), uid); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.User(b.Context(), uid); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkDirectory_Miss(b *testing.B) {
	s := moodletest.NewServer(b, moodletest.Options{})
	d := moodle.NewDirectory(newClient(b, s, moodle.Options{}), moodle.DirectoryOptions{})
	uid := s.AddUser(moodletest.User{Username: "u"})
	b.ReportAllocs()
	for b.Loop() {
		d.ForgetUser(uid)
		if _, err := d.User(b.Context(), uid); err != nil {
			b.Fatal(err)
		}
	}
}
