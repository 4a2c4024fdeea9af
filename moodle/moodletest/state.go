package moodletest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Context levels, as Moodle numbers them.
const (
	ContextSystem   = 10
	ContextUser     = 30
	ContextCategory = 40
	ContextCourse   = 50
)

// Standard role ids of a fresh Moodle install. Moodle's ids are auto-increment, so a real site
// may differ; the fake uses these unless Options.Roles says otherwise.
const (
	RoleManager        = 1
	RoleCourseCreator  = 2
	RoleEditingTeacher = 3
	RoleTeacher        = 4
	RoleStudent        = 5
	RoleGuest          = 6
	RoleUser           = 7
	RoleFrontpage      = 8
)

// SiteCourseID is the front page course, which every Moodle site has.
const SiteCourseID = 1

// Enrolment statuses (ENROL_USER_ACTIVE, ENROL_USER_SUSPENDED).
const (
	statusActive    = 0
	statusSuspended = 1
)

// Role is a role of the site. Levels lists the context levels it can be assigned at.
type Role struct {
	ID        int64
	ShortName string
	Name      string // empty for standard roles: Moodle shows their names from language strings
	SortOrder int
	Levels    []int
}

// DefaultRoles are the roles of a fresh install with their standard ids and context levels.
func DefaultRoles() []Role {
	return []Role{
		{ID: RoleManager, ShortName: "manager", SortOrder: 1, Levels: []int{ContextSystem, ContextCategory, ContextCourse}},
		{ID: RoleCourseCreator, ShortName: "coursecreator", SortOrder: 2, Levels: []int{ContextSystem, ContextCategory}},
		{ID: RoleEditingTeacher, ShortName: "editingteacher", SortOrder: 3, Levels: []int{ContextCourse}},
		{ID: RoleTeacher, ShortName: "teacher", SortOrder: 4, Levels: []int{ContextCourse}},
		{ID: RoleStudent, ShortName: "student", SortOrder: 5, Levels: []int{ContextCourse}},
		{ID: RoleGuest, ShortName: "guest", SortOrder: 6},
		{ID: RoleUser, ShortName: "user", SortOrder: 7},
		{ID: RoleFrontpage, ShortName: "frontpage", SortOrder: 8},
	}
}

// User is a user account to seed or inspect. Zero ID means "assign the next id".
type User struct {
	ID           int64
	Username     string // must be lowercase, as Moodle refuses anything else
	FirstName    string
	LastName     string
	Email        string
	IDNumber     string
	Auth         string // default "manual"
	Lang         string // default "en"
	Department   string
	Institution  string
	City         string
	Country      string
	Suspended    bool
	CustomFields map[string]string // profile field shortname → value
}

// Category is a course category to seed or inspect. Zero ID means "assign the next id";
// Parent 0 is the top level.
type Category struct {
	ID          int64
	Name        string
	IDNumber    string
	Description string
	Parent      int64
	Hidden      bool
	Theme       string
}

// Course is a course to seed or inspect. Zero ID means "assign the next id".
type Course struct {
	ID         int64
	ShortName  string
	FullName   string
	CategoryID int64 // must exist
	IDNumber   string
	Summary    string
	Format     string // default "topics"
	StartDate  int64
	EndDate    int64
	Hidden     bool
	// NoManualInstance leaves the course without a manual enrolment instance (enrol_manual
	// calls then fail with wsnoinstance); ManualDisabled keeps one but disabled.
	NoManualInstance bool
	ManualDisabled   bool
	CustomFields     map[string]string // course custom field shortname → value
	TimeCreated      int64
	TimeModified     int64
}

// Notification is a message the site sent (or tried to send, Failed) to a user.
type Notification struct {
	// Name is the message provider's name: enrolcoursewelcomemessage for a course welcome.
	Name     string
	UserID   int64
	CourseID int64
	Failed   bool
}

// Enrolment is one user's enrolment in a course through the manual enrolment instance, with
// the roles the user holds in the course context.
type Enrolment struct {
	ID        int64 // the user enrolment's id ({user_enrolments}.id)
	CourseID  int64
	UserID    int64
	Username  string // filled in by Enrolments
	Suspended bool
	TimeStart int64
	TimeEnd   int64
	Roles     []int64 // sorted
}

type role struct {
	Role
	levels map[int]bool
}

type user struct {
	User
	confirmed   bool
	timecreated int64
}

type category struct {
	Category
	path      string
	depth     int
	sortorder int
	ctx       int64
	modified  int64
}

type userEnrolment struct {
	id                   int64
	status               int
	timestart, timeend   int64
	timecreated, changed int64
}

type course struct {
	Course
	ctx       int64
	sortorder int
	hasManual bool
	manualOn  bool
	// noWelcome turns the manual instance's course welcome message off (customint1 = 0).
	noWelcome  bool
	enrolments map[int64]*userEnrolment // user id →
}

type context struct {
	level    int
	instance int64
}

// state is the site's data. The Server guards it with its mutex; every function call runs
// under the lock, which makes each call one transaction.
type state struct {
	now func() int64

	nextUser, nextCourse, nextCategory, nextContext, nextUE int64

	users           map[int64]*user
	usersByName     map[string]int64
	usersByEmail    map[string][]int64
	usersByIDNumber map[string][]int64

	categories map[int64]*category

	courses           map[int64]*course
	coursesByShort    map[string]int64
	coursesByIDNumber map[string]int64
	coursesByCategory map[int64]map[int64]bool

	roles    map[int64]*role
	contexts map[int64]context
	userCtx  map[int64]int64

	// assignments holds role assignments without component: context → user → role.
	assignments map[int64]map[int64]map[int64]bool
	// userCourses indexes enrolments: user → courses.
	userCourses map[int64]map[int64]bool

	// modules and gradeItems are seeded by tests (AddModule, AddGradeItem); grades holds each
	// user's raw grade per item.
	modules    map[int64]Module
	gradeItems map[int64]GradeItem
	grades     map[int64]map[int64]float64
	// ues indexes user enrolments by id: id → course, user.
	ues map[int64][2]int64

	notifications []Notification
}

func newState(now func() int64, roles []Role, siteName string) *state {
	st := &state{
		now:               now,
		nextUser:          1,
		nextCourse:        1,
		nextCategory:      1,
		nextContext:       1,
		nextUE:            1,
		users:             map[int64]*user{},
		usersByName:       map[string]int64{},
		usersByEmail:      map[string][]int64{},
		usersByIDNumber:   map[string][]int64{},
		categories:        map[int64]*category{},
		courses:           map[int64]*course{},
		coursesByShort:    map[string]int64{},
		coursesByIDNumber: map[string]int64{},
		coursesByCategory: map[int64]map[int64]bool{},
		roles:             map[int64]*role{},
		contexts:          map[int64]context{},
		userCtx:           map[int64]int64{},
		assignments:       map[int64]map[int64]map[int64]bool{},
		userCourses:       map[int64]map[int64]bool{},
		modules:           map[int64]Module{},
		gradeItems:        map[int64]GradeItem{},
		grades:            map[int64]map[int64]float64{},
		ues:               map[int64][2]int64{},
	}
	st.newContext(ContextSystem, 0) // context 1
	for _, r := range roles {
		rr := &role{Role: r, levels: map[int]bool{}}
		for _, l := range r.Levels {
			rr.levels[l] = true
		}
		st.roles[r.ID] = rr
	}
	// Every install has the guest user (id 1), the admin (id 2), the front page course (id 1)
	// and one category.
	st.addUser(User{Username: "guest", FirstName: "Guest user", LastName: " ", Email: "root@localhost"})
	st.addUser(User{Username: "admin", FirstName: "Admin", LastName: "User", Email: "admin@example.com"})
	site := &course{Course: Course{ID: SiteCourseID, ShortName: "moodle", FullName: siteName, Format: "site"}}
	st.nextCourse = 2
	site.ctx = st.newContext(ContextCourse, SiteCourseID)
	site.enrolments = map[int64]*userEnrolment{}
	st.courses[SiteCourseID] = site
	st.coursesByShort[site.ShortName] = SiteCourseID
	st.addCategory(Category{Name: "Category 1"})
	return st
}

func (st *state) newContext(level int, instance int64) int64 {
	id := st.nextContext
	st.nextContext++
	st.contexts[id] = context{level: level, instance: instance}
	return id
}

func (st *state) addUser(u User) (int64, error) {
	if u.Username == "" || u.Username != strings.ToLower(strings.TrimSpace(u.Username)) {
		return 0, fmt.Errorf("moodletest: username %q: Moodle keeps usernames trimmed and lowercase", u.Username)
	}
	if _, dup := st.usersByName[u.Username]; dup {
		return 0, fmt.Errorf("moodletest: username %q already exists", u.Username)
	}
	if u.ID == 0 {
		u.ID = st.nextUser
	}
	if _, dup := st.users[u.ID]; dup {
		return 0, fmt.Errorf("moodletest: user id %d already exists", u.ID)
	}
	st.nextUser = max(st.nextUser, u.ID+1)
	if u.Auth == "" {
		u.Auth = "manual"
	}
	if u.Lang == "" {
		u.Lang = "en"
	}
	u.CustomFields = maps.Clone(u.CustomFields)
	st.users[u.ID] = &user{User: u, confirmed: true, timecreated: st.now()}
	st.usersByName[u.Username] = u.ID
	if u.Email != "" {
		st.usersByEmail[u.Email] = append(st.usersByEmail[u.Email], u.ID)
	}
	if u.IDNumber != "" {
		st.usersByIDNumber[u.IDNumber] = append(st.usersByIDNumber[u.IDNumber], u.ID)
	}
	st.userCtx[u.ID] = st.newContext(ContextUser, u.ID)
	return u.ID, nil
}

func (st *state) addCategory(c Category) (int64, error) {
	if c.Name == "" {
		return 0, fmt.Errorf("moodletest: category name is required")
	}
	parent := st.categories[c.Parent]
	if c.Parent != 0 && parent == nil {
		return 0, fmt.Errorf("moodletest: parent category %d does not exist", c.Parent)
	}
	if c.ID == 0 {
		c.ID = st.nextCategory
	}
	if _, dup := st.categories[c.ID]; dup {
		return 0, fmt.Errorf("moodletest: category id %d already exists", c.ID)
	}
	st.nextCategory = max(st.nextCategory, c.ID+1)
	cat := &category{Category: c, depth: 1, path: fmt.Sprintf("/%d", c.ID), modified: st.now()}
	if parent != nil {
		cat.depth = parent.depth + 1
		cat.path = fmt.Sprintf("%s/%d", parent.path, c.ID)
	}
	cat.sortorder = len(st.categories)*10000 + 10000
	cat.ctx = st.newContext(ContextCategory, c.ID)
	st.categories[c.ID] = cat
	return c.ID, nil
}

// insertCourse stores a course whose fields were checked by the caller.
func (st *state) insertCourse(c Course, manual, manualOn bool) *course {
	if c.ID == 0 {
		c.ID = st.nextCourse
	}
	st.nextCourse = max(st.nextCourse, c.ID+1)
	if c.Format == "" {
		c.Format = "topics"
	}
	now := st.now()
	if c.TimeCreated == 0 {
		c.TimeCreated = now
	}
	if c.TimeModified == 0 {
		c.TimeModified = now
	}
	c.CustomFields = maps.Clone(c.CustomFields)
	co := &course{Course: c, hasManual: manual, manualOn: manualOn, enrolments: map[int64]*userEnrolment{}}
	co.ctx = st.newContext(ContextCourse, c.ID)
	co.sortorder = len(st.courses)
	st.courses[c.ID] = co
	st.coursesByShort[c.ShortName] = c.ID
	if c.IDNumber != "" {
		st.coursesByIDNumber[c.IDNumber] = c.ID
	}
	if st.coursesByCategory[c.CategoryID] == nil {
		st.coursesByCategory[c.CategoryID] = map[int64]bool{}
	}
	st.coursesByCategory[c.CategoryID][c.ID] = true
	return co
}

func (st *state) addCourse(c Course) (int64, error) {
	switch {
	case c.ShortName == "" || c.FullName == "":
		return 0, fmt.Errorf("moodletest: course shortname and fullname are required")
	case st.categories[c.CategoryID] == nil:
		return 0, fmt.Errorf("moodletest: course %q: category %d does not exist", c.ShortName, c.CategoryID)
	}
	if _, dup := st.coursesByShort[c.ShortName]; dup {
		return 0, fmt.Errorf("moodletest: course shortname %q already exists", c.ShortName)
	}
	if _, dup := st.coursesByIDNumber[c.IDNumber]; dup && c.IDNumber != "" {
		return 0, fmt.Errorf("moodletest: course idnumber %q already exists", c.IDNumber)
	}
	if _, dup := st.courses[c.ID]; dup && c.ID != 0 {
		return 0, fmt.Errorf("moodletest: course id %d already exists", c.ID)
	}
	co := st.insertCourse(c, !c.NoManualInstance, !c.NoManualInstance && !c.ManualDisabled)
	return co.ID, nil
}

// setCourse changes a stored course and keeps the indexes in line.
func (st *state) setCourse(co *course, next Course) {
	if next.ShortName != co.ShortName {
		delete(st.coursesByShort, co.ShortName)
		st.coursesByShort[next.ShortName] = co.ID
	}
	if next.IDNumber != co.IDNumber {
		if co.IDNumber != "" {
			delete(st.coursesByIDNumber, co.IDNumber)
		}
		if next.IDNumber != "" {
			st.coursesByIDNumber[next.IDNumber] = co.ID
		}
	}
	if next.CategoryID != co.CategoryID {
		delete(st.coursesByCategory[co.CategoryID], co.ID)
		if st.coursesByCategory[next.CategoryID] == nil {
			st.coursesByCategory[next.CategoryID] = map[int64]bool{}
		}
		st.coursesByCategory[next.CategoryID][co.ID] = true
	}
	next.TimeModified = st.now()
	co.Course = next
}

// enrol is enrol_plugin::enrol_user for the manual instance followed by role_assign: an
// existing enrolment is updated in place (times and status), and the role is added to the
// roles the user already holds — never replacing them. As in Moodle 4.4 and later, enrol_user
// then dispatches the after_user_enrolled hook whether the enrolment is new or not, and
// enrol_manual answers it with the course welcome message when the instance sends one: it
// returns whether a welcome message is due. The instance sends it "from the course contact", the
// first user holding the site's course contact role (editingteacher) in the course, looked up
// when the hook runs, before the new role is assigned; a course without one sends nothing.
func (st *state) enrol(co *course, userID, roleID int64, timestart, timeend int64, status int) (welcome bool) {
	now := st.now()
	if ue := co.enrolments[userID]; ue != nil {
		st.updateEnrolment(ue, timestart, timeend, status)
	} else {
		co.enrolments[userID] = &userEnrolment{id: st.nextUE, status: status, timestart: timestart,
			timeend: timeend, timecreated: now, changed: now}
		st.ues[st.nextUE] = [2]int64{co.ID, userID}
		st.nextUE++
		if st.userCourses[userID] == nil {
			st.userCourses[userID] = map[int64]bool{}
		}
		st.userCourses[userID][co.ID] = true
	}
	// The hook runs before enrol_user assigns the role: a teacher's own enrolment finds no
	// contact in a course that had none.
	welcome = !co.noWelcome && st.hasContact(co)
	if roleID != 0 {
		st.assign(co.ctx, userID, roleID)
	}
	return welcome
}

// hasContact reports whether a course has a course contact to send its welcome message from.
func (st *state) hasContact(co *course) bool {
	for _, roles := range st.assignments[co.ctx] {
		if roles[RoleEditingTeacher] {
			return true
		}
	}
	return false
}

// updateEnrolment is enrol_plugin::update_user_enrol: the enrolment's times and status, and
// nothing else (no hook, no message).
func (st *state) updateEnrolment(ue *userEnrolment, timestart, timeend int64, status int) {
	if ue.timestart != timestart || ue.timeend != timeend || ue.status != status {
		ue.timestart, ue.timeend, ue.status, ue.changed = timestart, timeend, status, st.now()
	}
}

// unenrol is enrol_plugin::unenrol_user: with only the manual instance, removing its enrolment
// removes the user's last enrolment in the course, and with it every role in the course.
func (st *state) unenrol(co *course, userID int64) {
	ue := co.enrolments[userID]
	if ue == nil {
		return
	}
	delete(st.ues, ue.id)
	delete(co.enrolments, userID)
	delete(st.userCourses[userID], co.ID)
	delete(st.assignments[co.ctx], userID)
}

func (st *state) assign(ctx, userID, roleID int64) {
	byUser := st.assignments[ctx]
	if byUser == nil {
		byUser = map[int64]map[int64]bool{}
		st.assignments[ctx] = byUser
	}
	if byUser[userID] == nil {
		byUser[userID] = map[int64]bool{}
	}
	byUser[userID][roleID] = true
}

func (st *state) unassign(ctx, userID, roleID int64) {
	delete(st.assignments[ctx][userID], roleID)
	if len(st.assignments[ctx][userID]) == 0 {
		delete(st.assignments[ctx], userID)
	}
}

func (st *state) rolesOf(ctx, userID int64) []int64 {
	return slices.Sorted(maps.Keys(st.assignments[ctx][userID]))
}

// assignable reports whether the web service user (an administrator) may assign roleID in a
// context of the given level: get_assignable_roles lists the roles whose context levels
// include it.
func (st *state) assignable(roleID int64, level int) bool {
	r := st.roles[roleID]
	return r != nil && r.levels[level]
}

func (st *state) enrolmentsOf(courseID int64) []Enrolment {
	co := st.courses[courseID]
	if co == nil {
		return nil
	}
	out := make([]Enrolment, 0, len(co.enrolments))
	for uid, ue := range co.enrolments {
		e := Enrolment{ID: ue.id, CourseID: courseID, UserID: uid, Suspended: ue.status == statusSuspended,
			TimeStart: ue.timestart, TimeEnd: ue.timeend, Roles: st.rolesOf(co.ctx, uid)}
		if u := st.users[uid]; u != nil {
			e.Username = u.Username
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Enrolment) int { return cmp.Compare(a.UserID, b.UserID) })
	return out
}

func (c *course) public() Course {
	out := c.Course
	out.NoManualInstance = !c.hasManual
	out.ManualDisabled = c.hasManual && !c.manualOn
	out.CustomFields = maps.Clone(c.CustomFields)
	return out
}

// contextOf finds the context of an instance at a level.
func (st *state) contextOf(level int, instance int64) (int64, bool) {
	switch level {
	case ContextSystem:
		return 1, instance == 0
	case ContextUser:
		id, ok := st.userCtx[instance]
		return id, ok
	case ContextCategory:
		if c := st.categories[instance]; c != nil {
			return c.ctx, true
		}
	case ContextCourse:
		if c := st.courses[instance]; c != nil {
			return c.ctx, true
		}
	}
	return 0, false
}
