package moodletest

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// RESTPath is where Moodle's REST server answers, under the site's root.
const RESTPath = "/webservice/rest/server.php"

// DefaultPostMaxSize is PHP's post_max_size: a larger body is thrown away before Moodle runs,
// so the call arrives without a token.
const DefaultPostMaxSize = 8 << 20

// Options configures a Server. The zero value is usable.
type Options struct {
	// Token is the site's web service token; a random one when empty.
	Token string
	// Functions are the functions Token's external service lists; nil means every function
	// the fake implements.
	Functions []string
	// SiteName, Release and Version are what core_webservice_get_site_info reports.
	SiteName string
	Release  string
	Version  string
	// MaxInputVars is PHP's max_input_vars (default 1000; negative: no limit).
	MaxInputVars int
	// PostMaxSize is PHP's post_max_size in bytes (default 8 MiB).
	PostMaxSize int64
	// Debug adds debuginfo to exceptions, as Moodle does with debugging on.
	Debug bool
	// ExtendedUsernameChars is the site setting of that name: usernames may then hold any
	// character, else only [-.@_a-z0-9].
	ExtendedUsernameChars bool
	// Roles replaces DefaultRoles.
	Roles []Role
	// Now is the clock for timestamps and active enrolments (default time.Now).
	Now func() time.Time
}

// Failure is an answer a Server gives instead of running a function; see FailNext.
type Failure struct {
	// Status is the HTTP status (0: 200).
	Status int
	// Exception, when set, is reported in the request's format, as Moodle reports errors.
	Exception *Exception
	// Body and ContentType are sent as they are when Exception is nil: an HTML error page, an
	// empty answer, broken JSON.
	Body        string
	ContentType string
	// Prefix, when set, makes the call run normally and prints Prefix before its answer, as
	// PHP does with notices and warnings when display_errors is on.
	Prefix string
}

// Calls counts the calls a Server received that named a function, whatever their outcome.
type Calls struct {
	Total      int
	Writes     int // calls of functions that change the site
	Reads      int // calls of functions that only read
	ByFunction map[string]int
}

// Server is an in-process Moodle site that speaks the REST web service protocol on 127.0.0.1,
// following Moodle's own code (webservice/rest, external_api, and the external functions it
// implements; see Functions): tokens and per-service function lists, PHP's decoding of
// bracket-form parameters with max_input_vars and post_max_size, parameter validation,
// errors as HTTP 200 bodies, XML unless moodlewsrestformat=json, one transaction per call
// where Moodle has one. Tests seed and inspect its data directly.
//
// A Server is safe for concurrent use. Each function call holds the site's lock, so calls are
// serialised like transactions; reads share it.
type Server struct {
	URL   string // the site's root, like Moodle's wwwroot
	Token string

	opts Options
	srv  *httptest.Server
	tb   testing.TB

	mu sync.RWMutex // guards st
	st *state
	// wmu serialises the calls that write, as the database's locks do: a write that takes time
	// (see SetCreateCost) holds it while reads go on and see the data as it was before.
	wmu sync.Mutex

	ctl      sync.Mutex // guards the fields below
	tokens   map[string][]string
	failures []failure
	latency  map[string]time.Duration
	disabled bool
	calls    Calls
	// createBase and createPerCourse make core_course_create_courses take time: see
	// SetCreateCost.
	createBase, createPerCourse time.Duration
	listPerCourse               time.Duration
	mailFails                   bool
}

type failure struct {
	function string
	left     int
	Failure
}

// NewServer starts a Server and stops it when the test ends.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Token == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		opts.Token = hex.EncodeToString(b)
	}
	if opts.SiteName == "" {
		opts.SiteName = "Moodle test site"
	}
	if opts.Release == "" {
		opts.Release = "4.5.1+ (Build: 20250117)"
	}
	if opts.Version == "" {
		opts.Version = "2024100701.05"
	}
	if opts.MaxInputVars == 0 {
		opts.MaxInputVars = DefaultMaxInputVars
	}
	if opts.PostMaxSize == 0 {
		opts.PostMaxSize = DefaultPostMaxSize
	}
	if opts.Roles == nil {
		opts.Roles = DefaultRoles()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		Token:   opts.Token,
		opts:    opts,
		tb:      tb,
		tokens:  map[string][]string{opts.Token: opts.Functions},
		latency: map[string]time.Duration{},
		calls:   Calls{ByFunction: map[string]int{}},
	}
	s.st = newState(func() int64 { return s.opts.Now().Unix() }, opts.Roles, opts.SiteName)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AddToken adds another token of the admin user, for an external service that lists only
// functions (none: every function).
func (s *Server) AddToken(token string, functions ...string) {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if len(functions) == 0 {
		functions = nil
	}
	s.tokens[token] = functions
}

// SetProtocolEnabled turns the REST protocol on or off. Off, Moodle answers 403 with an empty
// body, before it reads any parameter.
func (s *Server) SetProtocolEnabled(on bool) {
	s.ctl.Lock()
	s.disabled = !on
	s.ctl.Unlock()
}

// FailNext makes the next times calls of function (every function when empty) answer f
// instead of running.
func (s *Server) FailNext(function string, times int, f Failure) {
	s.ctl.Lock()
	s.failures = append(s.failures, failure{function: function, left: times, Failure: f})
	s.ctl.Unlock()
}

// SetLatency delays every call of function (every function when empty) by d before it runs;
// a client that gives up ends the wait.
func (s *Server) SetLatency(function string, d time.Duration) {
	s.ctl.Lock()
	s.latency[function] = d
	s.ctl.Unlock()
}

// SetCreateCost makes core_course_create_courses take base plus perCourse for every course
// already in the category, for each course it creates: on PostgreSQL, Moodle's course creation
// rewrites the sort order of every course of the category in the call's transaction, so a
// batch of a hundred courses takes longer and longer as the category fills. The call runs to
// its end and commits even when the client has given up waiting (PHP carries on after the
// client is gone), and reads made meanwhile see the site as it was before the call.
func (s *Server) SetCreateCost(base, perCourse time.Duration) {
	s.ctl.Lock()
	s.createBase, s.createPerCourse = base, perCourse
	s.ctl.Unlock()
}

// SetListCost makes core_course_get_courses_by_field without a field (every course) take
// perCourse for each course of the site.
func (s *Server) SetListCost(perCourse time.Duration) {
	s.ctl.Lock()
	s.listPerCourse = perCourse
	s.ctl.Unlock()
}

// SetMailFailing makes every message the site sends fail, as on a site whose outgoing mail
// does not work. Moodle sends the course welcome message after the enrolment's transaction
// committed; when it fails, the call answers the exception {"exception":
// "core\\exception\\moodle_exception","errorcode":"Message was not sent."} although every
// enrolment of the call was made. Notifications still lists the messages, as failed.
func (s *Server) SetMailFailing(on bool) {
	s.ctl.Lock()
	s.mailFails = on
	s.ctl.Unlock()
}

// Notifications returns the messages the site sent (or tried to), in order.
func (s *Server) Notifications() []Notification {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.st.notifications)
}

// Calls reports the calls received so far.
func (s *Server) Calls() Calls {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	c := s.calls
	c.ByFunction = make(map[string]int, len(s.calls.ByFunction))
	for k, v := range s.calls.ByFunction {
		c.ByFunction[k] = v
	}
	return c
}

// ResetCalls sets the counters back to zero.
func (s *Server) ResetCalls() {
	s.ctl.Lock()
	s.calls = Calls{ByFunction: map[string]int{}}
	s.ctl.Unlock()
}

// Seeding and inspection. The Add methods fail the test on data Moodle would refuse.

// AddUser adds a user and returns its id.
func (s *Server) AddUser(u User) int64 {
	s.mu.Lock()
	id, err := s.st.addUser(u)
	s.mu.Unlock()
	if err != nil {
		s.tb.Helper()
		s.tb.Fatal(err)
	}
	return id
}

// AddCategory adds a course category and returns its id. Category 1 exists from the start.
func (s *Server) AddCategory(c Category) int64 {
	s.mu.Lock()
	id, err := s.st.addCategory(c)
	s.mu.Unlock()
	if err != nil {
		s.tb.Helper()
		s.tb.Fatal(err)
	}
	return id
}

// AddCourse adds a course (with an enabled manual enrolment instance unless the course says
// otherwise) and returns its id. Course 1 is the front page.
func (s *Server) AddCourse(c Course) int64 {
	s.mu.Lock()
	id, err := s.st.addCourse(c)
	s.mu.Unlock()
	if err != nil {
		s.tb.Helper()
		s.tb.Fatal(err)
	}
	return id
}

// Enrol enrols a user through the manual instance with one role (0: none), with the same
// upsert semantics as enrol_manual_enrol_users.
func (s *Server) Enrol(e Enrolment, roleID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	co := s.st.courses[e.CourseID]
	if co == nil || s.st.users[e.UserID] == nil || !co.hasManual {
		s.tb.Helper()
		s.tb.Fatalf("moodletest: cannot enrol user %d in course %d", e.UserID, e.CourseID)
		return
	}
	status := statusActive
	if e.Suspended {
		status = statusSuspended
	}
	s.st.enrol(co, e.UserID, roleID, e.TimeStart, e.TimeEnd, status)
}

// AssignRole gives a user a role in a course without touching the enrolment.
func (s *Server) AssignRole(courseID, userID, roleID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	co := s.st.courses[courseID]
	if co == nil || s.st.users[userID] == nil {
		s.tb.Helper()
		s.tb.Fatalf("moodletest: cannot assign role %d to user %d in course %d", roleID, userID, courseID)
		return
	}
	s.st.assign(co.ctx, userID, roleID)
}

// SetManualInstance gives a course a manual enrolment instance (enabled or not) or removes it.
func (s *Server) SetManualInstance(courseID int64, exists, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if co := s.st.courses[courseID]; co != nil {
		co.hasManual, co.manualOn = exists, exists && enabled
	}
}

// SetWelcomeMessage turns the course welcome message of a course's manual instance on (the
// default, as for a new course in Moodle 4.4 and later) or off.
func (s *Server) SetWelcomeMessage(courseID int64, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if co := s.st.courses[courseID]; co != nil {
		co.noWelcome = !on
	}
}

// Enrolments returns a course's enrolments, ordered by user id.
func (s *Server) Enrolments(courseID int64) []Enrolment {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.enrolmentsOf(courseID)
}

// Course returns a course by id.
func (s *Server) Course(id int64) (Course, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.st.courses[id]; c != nil {
		return c.public(), true
	}
	return Course{}, false
}

// CourseByShortName returns a course by short name.
func (s *Server) CourseByShortName(name string) (Course, bool) {
	s.mu.RLock()
	id, ok := s.st.coursesByShort[name]
	s.mu.RUnlock()
	if !ok {
		return Course{}, false
	}
	return s.Course(id)
}

// Courses returns every course but the front page, ordered by id.
func (s *Server) Courses() []Course {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Course, 0, len(s.st.courses))
	for _, c := range s.st.courses {
		if c.ID != SiteCourseID {
			out = append(out, c.public())
		}
	}
	slices.SortFunc(out, func(a, b Course) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Users returns every user, ordered by id.
func (s *Server) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]User, 0, len(s.st.users))
	for _, u := range s.st.users {
		out = append(out, u.User)
	}
	slices.SortFunc(out, func(a, b User) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Categories returns every category, ordered by id.
func (s *Server) Categories() []Category {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Category, 0, len(s.st.categories))
	for _, c := range s.st.categories {
		out = append(out, c.Category)
	}
	slices.SortFunc(out, func(a, b Category) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// User returns a user by id.
func (s *Server) User(id int64) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u := s.st.users[id]; u != nil {
		return u.User, true
	}
	return User{}, false
}

// UserByUsername returns a user by username.
func (s *Server) UserByUsername(username string) (User, bool) {
	s.mu.RLock()
	id, ok := s.st.usersByName[username]
	s.mu.RUnlock()
	if !ok {
		return User{}, false
	}
	return s.User(id)
}

// CourseContext returns the id of a course's context, for core_role_assign_roles.
func (s *Server) CourseContext(courseID int64) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ctx, _ := s.st.contextOf(ContextCourse, courseID)
	return ctx
}

// request is what serveHTTP learned from one request.
type request struct {
	format    string // "json" or "xml"
	function  string
	token     string
	params    *Array
	functions []string // the token's service, nil: all
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != RESTPath {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>")
		return
	}
	s.ctl.Lock()
	disabled := s.disabled
	s.ctl.Unlock()
	if disabled {
		w.WriteHeader(http.StatusForbidden) // server.php: web services or REST disabled
		return
	}

	req := s.parse(r)
	s.ctl.Lock()
	var fail *Failure
	if req.function != "" {
		s.calls.Total++
		s.calls.ByFunction[req.function]++
		if fn, ok := functions[req.function]; ok {
			if fn.write {
				s.calls.Writes++
			} else {
				s.calls.Reads++
			}
		}
		for i := range s.failures {
			f := &s.failures[i]
			if f.left > 0 && (f.function == "" || f.function == req.function) {
				f.left--
				ff := f.Failure
				fail = &ff
				break
			}
		}
	}
	delay := s.latency[req.function]
	if delay == 0 {
		delay = s.latency[""]
	}
	functionsOf, tokenOK := s.tokens[req.token]
	s.ctl.Unlock()

	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	prefix := ""
	if fail != nil {
		if fail.Prefix == "" {
			s.writeFailure(w, req, fail)
			return
		}
		prefix = fail.Prefix
	}
	req.functions = functionsOf
	result, exc := s.call(req, tokenOK)
	s.write(w, req, prefix, result, exc)
}

// parse reads the request as Moodle's REST server does: GET and POST variables merged (POST
// wins), the format, the token and the function taken out, moodlewssetting* dropped.
func (s *Server) parse(r *http.Request) *request {
	get, _ := ParseForm(r.URL.RawQuery, s.opts.MaxInputVars)
	post := newArray()
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(io.LimitReader(r.Body, s.opts.PostMaxSize+1))
		if int64(len(body)) <= s.opts.PostMaxSize &&
			strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			post, _ = ParseForm(string(body), s.opts.MaxInputVars)
		}
	}
	for _, k := range post.keys {
		get.set(k, post.vals[k])
	}
	req := &request{format: "xml", params: get}
	take := func(name string) string {
		v := get.Get(name)
		get.delete(name)
		if v == nil || v.Arr != nil {
			return ""
		}
		return v.Str
	}
	if f := take("moodlewsrestformat"); f == "json" {
		req.format = "json"
	}
	req.token = take("wstoken")
	req.function = take("wsfunction")
	for _, k := range get.Keys() {
		if strings.HasPrefix(k, "moodlewssetting") {
			get.delete(k)
		}
	}
	return req
}

// call authenticates, checks access, validates the parameters and runs the function, in
// webservice_base_server::run's order.
func (s *Server) call(req *request, tokenOK bool) (any, *Exception) {
	if !tokenOK || req.token == "" {
		return nil, moodleException("invalidtoken", "Invalid token - token not found")
	}
	if req.function == "" {
		return nil, invalidParameter("Missing function name")
	}
	fn, ok := functions[req.function]
	if !ok {
		return nil, missingRecord("external_functions")
	}
	if req.functions != nil && !slices.Contains(req.functions, req.function) {
		return nil, &Exception{Class: "webservice_access_exception", ErrorCode: "accessexception",
			Message: "Access control exception", DebugInfo: "Access to the function " + req.function +
				"() is not allowed. There could be multiple reasons for this: 1. The service linked to the user token does not contain the function. 2. The service is user-restricted and the user is not listed. 3. The service is IP-restricted and the user IP is not listed. 4. The service is time-restricted and the time has expired. 5. The token is time-restricted and the time has expired. 6. The user has a capability restriction on this service. 7. The service is disabled. 8. The user is suspended or deleted."}
	}
	params, exc := validate(fn.params, req.params)
	if exc != nil {
		return nil, exc
	}
	if fn.write {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		s.mu.Lock()
		defer s.mu.Unlock()
	} else {
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	c := &caller{functions: req.functions}
	if c.functions == nil {
		c.functions = Functions()
	}
	return fn.run(s, c, params.(map[string]any))
}

func (s *Server) writeFailure(w http.ResponseWriter, req *request, f *Failure) {
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	if f.Exception != nil {
		body, ctype := s.encodeError(req.format, f.Exception)
		w.Header().Set("Content-Type", ctype)
		w.WriteHeader(status)
		w.Write(body)
		return
	}
	if f.ContentType != "" {
		w.Header().Set("Content-Type", f.ContentType)
	}
	w.WriteHeader(status)
	io.WriteString(w, f.Body)
}

func (s *Server) write(w http.ResponseWriter, req *request, prefix string, result any, exc *Exception) {
	var body []byte
	var ctype string
	if exc != nil {
		body, ctype = s.encodeError(req.format, exc)
	} else if req.format == "json" {
		body, ctype = phpJSON(result), "application/json"
	} else {
		body, ctype = xmlResponse(result), "application/xml; charset=utf-8"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "private, must-revalidate, pre-check=0, post-check=0, max-age=0")
	io.WriteString(w, prefix)
	w.Write(body)
}

func (s *Server) encodeError(format string, e *Exception) ([]byte, string) {
	if format == "json" {
		// The fields in webservice_rest_server::generate_error's order.
		m := struct {
			Exception string `json:"exception"`
			ErrorCode string `json:"errorcode"`
			Message   string `json:"message"`
			DebugInfo string `json:"debuginfo,omitempty"`
		}{e.Class, e.ErrorCode, e.Message, ""}
		if s.opts.Debug {
			m.DebugInfo = e.DebugInfo
		}
		return phpJSON(m), "application/json"
	}
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n")
	fmt.Fprintf(&b, "<EXCEPTION class=\"%s\">\n", xmlEscape(e.Class))
	fmt.Fprintf(&b, "<ERRORCODE>%s</ERRORCODE>\n", xmlEscape(e.ErrorCode))
	fmt.Fprintf(&b, "<MESSAGE>%s</MESSAGE>\n", xmlEscape(e.Message))
	if s.opts.Debug && e.DebugInfo != "" {
		fmt.Fprintf(&b, "<DEBUGINFO>%s</DEBUGINFO>\n", xmlEscape(e.DebugInfo))
	}
	b.WriteString("</EXCEPTION>\n")
	return []byte(b.String()), "application/xml; charset=utf-8"
}

// phpJSON encodes v the way PHP's json_encode does without flags: "/" escaped as "\/" and
// every non-ASCII character as \uXXXX, HTML characters left alone.
func phpJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("moodletest: encode answer: %v", err))
	}
	in := bytes.TrimRight(buf.Bytes(), "\n")
	out := make([]byte, 0, len(in)+len(in)/8)
	for i := 0; i < len(in); {
		c := in[i]
		switch {
		case c == '/':
			out = append(out, '\\', '/')
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, n := utf8.DecodeRune(in[i:])
			i += n
			if r >= 0x10000 {
				r -= 0x10000
				out = fmt.Appendf(out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
		}
	}
	return out
}
