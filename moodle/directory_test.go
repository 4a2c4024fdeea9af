package moodle_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
)

// clock is a settable time source for TTL tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newDirectory(t *testing.T, opts moodle.DirectoryOptions) (*moodletest.Server, *moodle.Directory, *clock) {
	t.Helper()
	s := moodletest.NewServer(t, moodletest.Options{})
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	if opts.Now == nil {
		opts.Now = clk.Now
	}
	return s, moodle.NewDirectory(newClient(t, s, moodle.Options{Timeout: 5 * time.Second}), opts), clk
}

func TestDirectory_Shapes(t *testing.T) {
	s, d, _ := newDirectory(t, moodle.DirectoryOptions{})
	ctx := t.Context()
	uid := s.AddUser(moodletest.User{Username: "jdoe", FirstName: "Jane", LastName: "O'Doe", Email: "jane@example.com", IDNumber: "S1",
		CustomFields: map[string]string{"faculty": "Science"}})
	cat := s.AddCategory(moodletest.Category{Name: "Science"})
	cid := s.AddCourse(moodletest.Course{ShortName: "PHY", FullName: "Physique \"101\" été/hiver", CategoryID: cat, StartDate: 1700000000})

	u, err := d.User(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": json.Number("3"), "username": "jdoe", "email": "jane@example.com", "firstname": "Jane",
		"lastname": "O'Doe", "fullname": "Jane O'Doe", "idnumber": "S1", "suspended": false}
	for k, v := range want {
		if u[k] != v {
			t.Errorf("user[%s] = %#v, want %#v", k, u[k], v)
		}
	}
	if cf, _ := u["customfields"].(map[string]any); cf["faculty"] != "Science" {
		t.Errorf("customfields %#v", u["customfields"])
	}

	co, err := d.Course(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	wantCourse := map[string]any{"id": json.Number("2"), "shortname": "PHY", "fullname": "Physique \"101\" été/hiver",
		"category": json.Number(strconv.FormatInt(cat, 10)), "categoryname": "Science", "startdate": json.Number("1700000000"),
		"visible": json.Number("1"), "format": "topics"}
	for k, v := range wantCourse {
		if co[k] != v {
			t.Errorf("course[%s] = %#v, want %#v", k, co[k], v)
		}
	}
}

func TestDirectory_Cache(t *testing.T) {
	s, d, clk := newDirectory(t, moodle.DirectoryOptions{TTL: time.Minute, NegativeTTL: 10 * time.Second})
	ctx := t.Context()
	uid := s.AddUser(moodletest.User{Username: "jdoe"})
	cid := s.AddCourse(moodletest.Course{ShortName: "C", FullName: "Old name", CategoryID: 1})
	calls := func() int { return s.Calls().Total }

	// Miss, then hit.
	for range 3 {
		if _, err := d.User(ctx, uid); err != nil {
			t.Fatal(err)
		}
	}
	if calls() != 1 {
		t.Errorf("%d calls for three lookups of one user", calls())
	}
	if st := d.Stats(); st.Hits != 2 || st.Misses != 1 || st.Calls != 1 || st.Entries != 1 {
		t.Errorf("stats %+v", st)
	}

	// A change in Moodle shows once the TTL has passed.
	if co, err := d.Course(ctx, cid); err != nil || co["fullname"] != "Old name" {
		t.Fatalf("got %v, %v", co, err)
	}
	client := newClient(t, s, moodle.Options{})
	renamed := "New name"
	if _, err := client.UpdateCourses(ctx, []moodle.CourseUpdate{{ID: cid, FullName: &renamed}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Second)
	if co, _ := d.Course(ctx, cid); co["fullname"] != "Old name" {
		t.Errorf("within the TTL: %v", co["fullname"])
	}
	clk.Advance(2 * time.Second)
	if co, _ := d.Course(ctx, cid); co["fullname"] != "New name" {
		t.Errorf("after the TTL: %v", co["fullname"])
	}

	// ForgetCourse drops it at once.
	s.ResetCalls()
	d.ForgetCourse(cid)
	d.Course(ctx, cid)
	if calls() != 1 {
		t.Errorf("%d calls after ForgetCourse, want 1", calls())
	}
}

func TestDirectory_NotFound(t *testing.T) {
	s, d, clk := newDirectory(t, moodle.DirectoryOptions{TTL: time.Hour, NegativeTTL: 10 * time.Second})
	ctx := t.Context()
	for range 3 {
		_, err := d.User(ctx, 50)
		if mih.ErrorCode(err) != mih.CodeNotFound {
			t.Fatalf("got %v, want not found", err)
		}
	}
	if n := s.Calls().Total; n != 1 {
		t.Errorf("%d calls for an unknown user looked up three times", n)
	}
	if st := d.Stats(); st.NotFoundHits != 2 {
		t.Errorf("stats %+v", st)
	}
	// The user appears in Moodle; the hub sees it once "not found" expires.
	s.AddUser(moodletest.User{ID: 50, Username: "late"})
	clk.Advance(11 * time.Second)
	if u, err := d.User(ctx, 50); err != nil || u["username"] != "late" {
		t.Errorf("got %v, %v", u, err)
	}
	// Nobody (0) and other users (-1) are never looked up.
	s.ResetCalls()
	for _, id := range []int64{0, -1} {
		if _, err := d.User(ctx, id); mih.ErrorCode(err) != mih.CodeNotFound {
			t.Errorf("user %d: %v", id, err)
		}
		if _, err := d.Course(ctx, id); mih.ErrorCode(err) != mih.CodeNotFound {
			t.Errorf("course %d: %v", id, err)
		}
	}
	if _, err := d.Course(ctx, 999); mih.ErrorCode(err) != mih.CodeNotFound {
		t.Errorf("course 999: %v", err)
	}
	if n := s.Calls().Total; n != 1 {
		t.Errorf("%d calls, want only the one for course 999", n)
	}
}

func TestDirectory_SizeBound(t *testing.T) {
	s, d, _ := newDirectory(t, moodle.DirectoryOptions{Size: 2})
	ctx := t.Context()
	a := s.AddUser(moodletest.User{Username: "a"})
	b := s.AddUser(moodletest.User{Username: "b"})
	c := s.AddUser(moodletest.User{Username: "c"})
	for _, id := range []int64{a, b, c} {
		d.User(ctx, id)
	}
	if st := d.Stats(); st.Entries != 2 {
		t.Errorf("%d entries, want 2", st.Entries)
	}
	s.ResetCalls()
	d.User(ctx, c) // most recent: kept
	d.User(ctx, a) // least recent: evicted
	if n := s.Calls().Total; n != 1 {
		t.Errorf("%d calls, want one for the evicted user", n)
	}
}

func TestDirectory_CollapsesConcurrentLookups(t *testing.T) {
	s, d, _ := newDirectory(t, moodle.DirectoryOptions{})
	uid := s.AddUser(moodletest.User{Username: "popular"})
	s.SetLatency(moodle.FuncUsersByField, 100*time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			u, err := d.User(t.Context(), uid)
			if err == nil && u["username"] != "popular" {
				err = errors.New("wrong user")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Calls().Total; n != 1 {
		t.Errorf("%d calls for 20 concurrent lookups, want 1", n)
	}
	if st := d.Stats(); st.Misses+st.Hits != 20 || st.Calls != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDirectory_Errors(t *testing.T) {
	s, d, _ := newDirectory(t, moodle.DirectoryOptions{})
	ctx := t.Context()
	uid := s.AddUser(moodletest.User{Username: "u"})

	// A failed call is not cached, and is an error the delivery worker retries.
	s.FailNext(moodle.FuncUsersByField, 1, moodletest.Failure{Status: 502})
	_, err := d.User(ctx, uid)
	if mih.ErrorCode(err) != mih.CodeUnavailable || !moodle.Retryable(err) {
		t.Fatalf("got %v, want CodeUnavailable", err)
	}
	if e, ok := errors.AsType[*moodle.Error](err); !ok || e.Status != 502 {
		t.Errorf("the Moodle error is not in the chain: %v", err)
	}
	if mih.ErrorMessage(err) == "internal error" {
		t.Error("no user-safe message")
	}
	if _, err := d.User(ctx, uid); err != nil {
		t.Errorf("after the failure: %v", err)
	}
	if st := d.Stats(); st.Errors != 1 || st.Calls != 2 {
		t.Errorf("stats %+v", st)
	}

	// A refused token waits for an administrator: still retryable for deliveries.
	bad, err := moodle.New(s.URL, "revoked", moodle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = moodle.NewDirectory(bad, moodle.DirectoryOptions{}).User(ctx, uid)
	if mih.ErrorCode(err) != mih.CodeUnavailable || !moodle.IsInvalidToken(err) {
		t.Errorf("got %v (%s), want CodeUnavailable around invalidtoken", err, mih.ErrorCode(err))
	}
}

func TestDirectory_CallerGivesUp(t *testing.T) {
	s, d, _ := newDirectory(t, moodle.DirectoryOptions{})
	uid := s.AddUser(moodletest.User{Username: "slow"})
	s.SetLatency(moodle.FuncUsersByField, 200*time.Millisecond)

	impatient, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	patient := make(chan error, 1)
	go func() {
		// Joins the impatient caller's lookup once Moodle has it (it takes 200 ms).
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(5 * time.Second); s.Calls().Total == 0 && time.Now().Before(deadline); {
			<-tick.C
		}
		_, err := d.User(t.Context(), uid)
		patient <- err
	}()
	_, err := d.User(impatient, uid)
	if !errors.Is(err, context.DeadlineExceeded) || mih.ErrorCode(err) != mih.CodeUnavailable {
		t.Errorf("impatient: %v", err)
	}
	if err := <-patient; err != nil {
		t.Errorf("patient: %v: one caller giving up must not fail the others", err)
	}
	if n := s.Calls().Total; n != 1 {
		t.Errorf("%d calls, want the patient served by the impatient caller's lookup", n)
	}
	s.SetLatency(moodle.FuncUsersByField, 0)
	s.ResetCalls()
	if _, err := d.User(t.Context(), uid); err != nil || s.Calls().Total != 0 {
		t.Errorf("got %v after %d calls, want the result cached", err, s.Calls().Total)
	}
}
