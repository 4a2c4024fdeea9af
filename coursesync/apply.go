package coursesync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html"
	"slices"
	"sync"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
)

// Report is what applying a plan did: the changes made, by kind, and the items that failed.
type Report struct {
	Applied mih.SyncActionCounts
	Errors  []mih.SyncItemError
}

// Item actions, as SyncItemError.Action names them.
const (
	actionCreate     = "create"
	actionUpdate     = "update"
	actionEnrol      = "enrol"
	actionReactivate = "reactivate"
	actionAssign     = "assign"
	actionUnassign   = "unassign"
	actionSuspend    = "suspend"
	actionUnenrol    = "unenrol"
	codeSkipped      = "skipped"
)

func (rep *Report) fail(action, course, user string, err error) {
	e := mih.SyncItemError{Action: action, Course: course, User: user, Code: "error", Message: mih.ErrorMessage(err)}
	if me, ok := errors.AsType[*moodle.Error](err); ok {
		e.Code, e.Message = cmp.Or(me.ErrorCode, string(me.Kind)), me.Message
	}
	rep.Errors = append(rep.Errors, e)
}

func (rep *Report) skip(action, course, user, why string) {
	rep.Errors = append(rep.Errors, mih.SyncItemError{Action: action, Course: course, User: user, Code: codeSkipped, Message: why})
}

// applier carries a plan out, phase by phase: courses first (enrolments need their ids), then
// enrolments and reactivations, then roles, then removals. Within a phase, calls may go
// several at a time (see writer), so what they record is guarded by mu.
type applier struct {
	r        *Runner
	p        *Plan
	client   *moodle.Client // sends each batch whole: the writer sizes and settles them
	progress func(mih.SyncProgress)

	mu           sync.Mutex
	rep          *Report
	courseIDs    map[string]int64  // courses created by this apply
	courseFailed map[string]string // courses that could not be created, with why
	enrolFailed  map[[2]int64]bool // course id, user id
}

// Apply carries out a plan made by Plan. Each phase sends its items in batches sized by how
// long Moodle takes (within the job's batch_max and the site's max_input_vars), several calls
// at once while Moodle keeps up (write_parallel). A call whose outcome is unknown — no answer
// within the timeout, a lost connection, an error page — or that Moodle answered with an
// exception — which it may raise after committing, as when a welcome e-mail cannot be sent —
// is settled by reading what it meant to change: what is done counts as done, what is not is
// sent again (smaller) or, when Moodle refused it, split until the refused items are alone.
// Those are reported in Report.Errors, with what depended on them (the enrolments of a course
// that could not be created) as skipped. A failure no retry can mend (the token, its
// functions), or an outcome still unknown after several tries, stops the apply and is
// returned with the report of what was done.
func (r *Runner) Apply(ctx context.Context, p *Plan, progress func(mih.SyncProgress)) (*Report, error) {
	if progress == nil {
		progress = func(mih.SyncProgress) {}
	}
	a := &applier{r: r, p: p, client: p.client.Whole(), progress: progress, rep: &Report{},
		courseIDs: map[string]int64{}, courseFailed: map[string]string{}, enrolFailed: map[[2]int64]bool{}}
	for _, step := range []func(context.Context) error{a.create, a.update, a.enrol, a.roles, a.remove} {
		if err := step(ctx); err != nil {
			return a.rep, err
		}
	}
	return a.rep, nil
}

// phase reports a phase's progress over the writers that make it up.
type phase struct {
	a     *applier
	name  string
	total int

	mu   sync.Mutex
	base int // items of the phase's earlier writers
	last int
}

func (a *applier) phase(name string, total int) *phase {
	ph := &phase{a: a, name: name, total: total}
	if total > 0 {
		a.progress(mih.SyncProgress{Phase: name, Total: total})
	}
	return ph
}

func (ph *phase) report(done int) {
	ph.mu.Lock()
	n := ph.base + done
	if n > ph.last {
		ph.last = n
	}
	n = ph.last
	ph.mu.Unlock()
	ph.a.progress(mih.SyncProgress{Phase: ph.name, Done: n, Total: ph.total})
}

// next starts the phase's next writer, after one of n items.
func (ph *phase) next(n int) {
	ph.mu.Lock()
	ph.base += n
	ph.mu.Unlock()
}

// newWriter builds a writer for items with the plan's tuning; batchMax 1 sends one per call.
func newWriter[T any](a *applier, ph *phase, param string, items []T) *writer[T] {
	maxSize := a.p.tune.batchMax
	if param == "" {
		maxSize = 1
	}
	return &writer[T]{phase: ph.name, items: items, param: param, client: a.client, pacer: newPacer(a.p.tune, maxSize),
		settleWait: a.p.tune.settleWait, progress: ph.report}
}

func run[T any](ctx context.Context, ph *phase, w *writer[T]) error {
	err := w.run(ctx)
	ph.next(len(w.items))
	return err
}

// state reads the participants of the courses of items, for settling a call.
func (a *applier) state(ctx context.Context, courses []int64) (map[int64]map[int64]*participant, error) {
	slices.Sort(courses)
	courses = slices.Compact(courses)
	return a.p.reader.enrolments(ctx, courses, nil)
}

func (a *applier) create(ctx context.Context) error {
	list := a.p.Create
	ph := a.phase(mih.PhaseCreate, len(list))
	w := newWriter(a, ph, "courses", make([]moodle.NewCourse, len(list)))
	for i, c := range list {
		w.items[i] = moodle.NewCourse{FullName: c.FullName, ShortName: c.ShortName, CategoryID: c.CategoryID,
			IDNumber: c.IDNumber, Summary: c.Summary, StartDate: c.StartDate, EndDate: c.EndDate, Visible: c.Visible}
	}
	w.call = func(ctx context.Context, part []moodle.NewCourse) error {
		created, err := a.client.CreateCourses(ctx, part)
		a.mu.Lock()
		for _, cc := range created {
			a.courseIDs[cc.ShortName] = cc.ID
		}
		a.mu.Unlock()
		return err
	}
	// A course is there when its short name is (short names are unique in Moodle) with the
	// name and category it was to have: a course someone else made under that short name
	// since the plan is not ours.
	w.settle = func(ctx context.Context, part []moodle.NewCourse) ([]bool, error) {
		ok := make([]bool, len(part))
		match := func(i int, found []moodle.Course) {
			for _, c := range found {
				if c.ShortName == part[i].ShortName && c.CategoryID == part[i].CategoryID &&
					html.UnescapeString(c.FullName) == part[i].FullName {
					a.mu.Lock()
					a.courseIDs[c.ShortName] = c.ID
					a.mu.Unlock()
					ok[i] = true
				}
			}
		}
		if a.p.db != nil {
			// One query for the whole batch, rather than a Web Service call per course (a
			// timed-out batch of 100 was 100 calls to a Moodle already struggling).
			all, err := a.p.db.Courses(ctx)
			if err != nil {
				return nil, fmt.Errorf("read courses: %w", err)
			}
			byName := make(map[string][]moodle.Course, len(part))
			for _, c := range all {
				byName[c.ShortName] = append(byName[c.ShortName], c)
			}
			for i := range part {
				match(i, byName[part[i].ShortName])
			}
			return ok, nil
		}
		err := parallel(ctx, len(part), a.p.tune.readParallel, func(ctx context.Context, i int) error {
			found, err := a.p.client.CoursesByField(ctx, moodle.CourseFieldShortName, part[i].ShortName)
			if err != nil {
				return err
			}
			match(i, found)
			return nil
		})
		return ok, err
	}
	w.done = func(c moodle.NewCourse) {
		a.mu.Lock()
		a.rep.Applied.Create++
		a.mu.Unlock()
	}
	w.fail = func(c moodle.NewCourse, err *moodle.Error) {
		a.mu.Lock()
		a.rep.fail(actionCreate, c.ShortName, "", err)
		a.courseFailed[c.ShortName] = fmt.Sprintf("course %s could not be created (%s)", c.ShortName, err.ErrorCode)
		a.mu.Unlock()
	}
	if err := run(ctx, ph, w); err != nil {
		return err
	}
	for _, c := range list {
		if _, ok := a.courseIDs[c.ShortName]; !ok && a.courseFailed[c.ShortName] == "" {
			a.courseFailed[c.ShortName] = "course " + c.ShortName + " was not created"
			a.rep.skip(actionCreate, c.ShortName, "", "Moodle did not report the course as created")
		}
	}
	return nil
}

// courseID returns the id of a course of the plan: known at plan time, or created now; ok is
// false (with why) for a course that could not be created.
func (a *applier) courseID(course string, id int64) (int64, string) {
	if id != 0 {
		return id, ""
	}
	if id, ok := a.courseIDs[course]; ok {
		return id, ""
	}
	return 0, cmp.Or(a.courseFailed[course], "course "+course+" was not created")
}

func (a *applier) update(ctx context.Context) error {
	list := a.p.Update
	ph := a.phase(mih.PhaseUpdate, len(list))
	w := newWriter(a, ph, "courses", list)
	w.wire = func(u mih.SyncCourseUpdate) any { return courseUpdate(u) }
	warned := map[int64]moodle.Warning{}
	// An update changes nothing the second time: no settling read is needed.
	w.call = func(ctx context.Context, part []mih.SyncCourseUpdate) error {
		cu := make([]moodle.CourseUpdate, len(part))
		for i, u := range part {
			cu[i] = courseUpdate(u)
		}
		warnings, err := a.client.UpdateCourses(ctx, cu)
		a.mu.Lock()
		for _, w := range warnings {
			if w.Item == "course" {
				warned[w.ItemID] = w
			}
		}
		a.mu.Unlock()
		return err
	}
	w.done = func(u mih.SyncCourseUpdate) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if wn, ok := warned[u.CourseID]; ok {
			a.rep.Errors = append(a.rep.Errors, mih.SyncItemError{Action: actionUpdate, Course: cmp.Or(u.ShortName, fmt.Sprint(u.CourseID)),
				Code: cmp.Or(wn.WarningCode, "warning"), Message: wn.Message})
			return
		}
		a.rep.Applied.Update++
	}
	w.fail = func(u mih.SyncCourseUpdate, err *moodle.Error) {
		a.mu.Lock()
		a.rep.fail(actionUpdate, u.ShortName, "", err)
		a.mu.Unlock()
	}
	return run(ctx, ph, w)
}

// courseUpdate turns the plan's changes into the fields to send; the others are not sent and
// stay as they are.
func courseUpdate(u mih.SyncCourseUpdate) moodle.CourseUpdate {
	cu := moodle.CourseUpdate{ID: u.CourseID}
	for _, c := range u.Changes {
		switch v := c.To.(type) {
		case string:
			switch c.Field {
			case "fullname":
				cu.FullName = &v
			case "idnumber":
				cu.IDNumber = &v
			case "summary":
				cu.Summary = &v
			}
		case int64:
			switch c.Field {
			case "startdate":
				cu.StartDate = &v
			case "enddate":
				cu.EndDate = &v
			case "category_id":
				cu.CategoryID = &v
			}
		case bool:
			if c.Field == "visible" {
				cu.Visible = &v
			}
		}
	}
	return cu
}

type enrolItem struct {
	action string
	e      mih.SyncEnrolment
	// edit: the existing enrolment's status is set through local_mih_update_enrolments.
	edit bool
}

// enrolment is an enrolment item as enrol_manual_enrol_users takes it, with the plan's item.
type enrolment struct {
	moodle.Enrolment
	it enrolItem
}

// enrolled reports whether an item is in the state its action wants, in a state read from
// Moodle.
func enrolled(st map[int64]map[int64]*participant, it enrolItem) bool {
	p := st[it.e.CourseID][it.e.UserID]
	switch it.action {
	case actionUnenrol:
		return p == nil
	case actionSuspend:
		return p != nil && !p.active
	}
	if p == nil || !p.active {
		return false
	}
	if it.edit {
		return true // set back to active; its roles are role changes
	}
	_, has := p.roles[it.e.RoleID]
	return has
}

// enrol sends new enrolments and reactivations: new ones through enrol_manual_enrol_users with
// the full desired state (active, no dates); reactivations through the hub plugin's
// local_mih_update_enrolments, which sends no welcome message, when the token may call it, else
// through enrol_manual_enrol_users too.
func (a *applier) enrol(ctx context.Context) error {
	var items []enrolItem
	for _, e := range a.p.Enrol {
		items = append(items, enrolItem{action: actionEnrol, e: e})
	}
	for _, e := range a.p.Reactivate {
		items = append(items, enrolItem{actionReactivate, e, a.p.edit})
	}
	items = a.resolve(items)
	ph := a.phase(mih.PhaseEnrol, len(items))
	// Moodle sends a new enrolment's welcome message "from the course contact" (an editing
	// teacher), looked up as the student is enrolled: a course without one yet sends nothing.
	// Participants whose role is not the job's default (its teachers) therefore go in a wave of
	// their own, finished before the students' batches start, which may run in parallel.
	var contacts, batched, edited []enrolItem
	for _, it := range items {
		switch {
		case it.edit:
			edited = append(edited, it)
		case it.e.Role != a.p.job.DefaultRole:
			contacts = append(contacts, it)
		default:
			batched = append(batched, it)
		}
	}
	count := func(it enrolItem) {
		a.mu.Lock()
		if it.action == actionEnrol {
			a.rep.Applied.Enrol++
		} else {
			a.rep.Applied.Reactivate++
		}
		a.mu.Unlock()
	}
	fail := func(it enrolItem, err *moodle.Error) {
		a.mu.Lock()
		a.enrolFailed[[2]int64{it.e.CourseID, it.e.UserID}] = true
		a.rep.fail(it.action, it.e.Course, it.e.User, err)
		a.mu.Unlock()
	}
	for _, wave := range [][]enrolItem{contacts, batched} {
		if err := run(ctx, ph, a.enrolWriter(ph, wave, false, count, fail)); err != nil {
			return err
		}
	}
	return run(ctx, ph, a.editWriter(ph, edited, false, count, fail))
}

// enrolWriter sends items through enrol_manual_enrol_users (suspend: with suspend=1).
func (a *applier) enrolWriter(ph *phase, items []enrolItem, suspend bool, done func(enrolItem), fail func(enrolItem, *moodle.Error)) *writer[enrolment] {
	list := make([]enrolment, len(items))
	for i, it := range items {
		list[i] = enrolment{moodle.Enrolment{RoleID: it.e.RoleID, UserID: it.e.UserID, CourseID: it.e.CourseID, Suspend: suspend}, it}
	}
	w := newWriter(a, ph, "enrolments", list)
	w.wire = func(e enrolment) any { return e.Enrolment }
	w.call = func(ctx context.Context, part []enrolment) error {
		l := make([]moodle.Enrolment, len(part))
		for i, e := range part {
			l[i] = e.Enrolment
		}
		return a.client.EnrolUsers(ctx, l)
	}
	w.settle = settleEnrolments(a, func(e enrolment) enrolItem { return e.it })
	w.done = func(e enrolment) { done(e.it) }
	w.fail = func(e enrolment, err *moodle.Error) { fail(e.it, err) }
	return w
}

// editWriter sets existing enrolments active or suspended through local_mih_update_enrolments.
func (a *applier) editWriter(ph *phase, items []enrolItem, suspend bool, done func(enrolItem), fail func(enrolItem, *moodle.Error)) *writer[enrolItem] {
	update := func(it enrolItem) moodle.EnrolmentUpdate {
		return moodle.EnrolmentUpdate{CourseID: it.e.CourseID, UserID: it.e.UserID, Suspend: suspend}
	}
	warned := map[[2]int64]moodle.Warning{}
	w := newWriter(a, ph, "enrolments", items)
	w.wire = func(it enrolItem) any { return update(it) }
	w.call = func(ctx context.Context, part []enrolItem) error {
		l := make([]moodle.EnrolmentUpdate, len(part))
		for i, it := range part {
			l[i] = update(it)
		}
		warnings, err := a.client.UpdateEnrolments(ctx, l)
		a.mu.Lock()
		for _, wn := range warnings {
			if wn.ItemID >= 0 && int(wn.ItemID) < len(part) {
				warned[[2]int64{l[wn.ItemID].CourseID, l[wn.ItemID].UserID}] = wn
			}
		}
		a.mu.Unlock()
		return err
	}
	w.settle = settleEnrolments(a, func(it enrolItem) enrolItem { return it })
	w.done = func(it enrolItem) {
		a.mu.Lock()
		wn, bad := warned[[2]int64{it.e.CourseID, it.e.UserID}]
		a.mu.Unlock()
		if bad {
			fail(it, &moodle.Error{Function: moodle.FuncUpdateEnrolments, Kind: moodle.KindException,
				ErrorCode: cmp.Or(wn.WarningCode, "warning"), Message: wn.Message})
			return
		}
		done(it)
	}
	w.fail = fail
	return w
}

// settleEnrolments reads the courses of a failed call's items and reports which items are done.
func settleEnrolments[T any](a *applier, item func(T) enrolItem) func(ctx context.Context, part []T) ([]bool, error) {
	return func(ctx context.Context, part []T) ([]bool, error) {
		var courses []int64
		for _, x := range part {
			courses = append(courses, item(x).e.CourseID)
		}
		st, err := a.state(ctx, courses)
		if err != nil {
			return nil, err
		}
		ok := make([]bool, len(part))
		for i, x := range part {
			ok[i] = enrolled(st, item(x))
		}
		return ok, nil
	}
}

// resolve fills in the ids of created courses and drops (reporting them as skipped) the items of
// courses that could not be created.
func (a *applier) resolve(items []enrolItem) []enrolItem {
	out := items[:0]
	for _, it := range items {
		id, why := a.courseID(it.e.Course, it.e.CourseID)
		if id == 0 {
			a.rep.skip(it.action, it.e.Course, it.e.User, why)
			continue
		}
		it.e.CourseID = id
		out = append(out, it)
	}
	return out
}

type roleItem struct {
	change int // index into the plan's RoleChanges
	moodle.RoleAssignment
}

// roles gives and takes the planned roles; a participant whose enrolment failed is left alone.
// Assignments go first, then unassignments: a change from student to teacher never leaves the
// participant without a role in between.
func (a *applier) roles(ctx context.Context) error {
	var assigns, unassigns []roleItem
	failed := map[int]bool{}
	for i, rc := range a.p.RoleChanges {
		id, why := a.courseID(rc.Course, rc.CourseID)
		switch {
		case id == 0:
			a.rep.skip(actionAssign, rc.Course, rc.User, why)
			failed[i] = true
			continue
		case a.enrolFailed[[2]int64{id, rc.UserID}]:
			a.rep.skip(actionAssign, rc.Course, rc.User, "the enrolment failed")
			failed[i] = true
			continue
		}
		for _, r := range rc.Add {
			assigns = append(assigns, roleItem{i, moodle.CourseRole(r.ID, rc.UserID, id)})
		}
		for _, r := range rc.Remove {
			unassigns = append(unassigns, roleItem{i, moodle.CourseRole(r.ID, rc.UserID, id)})
		}
	}
	ph := a.phase(mih.PhaseRoles, len(assigns)+len(unassigns))
	for _, assign := range []bool{true, false} {
		items, param, action := assigns, "assignments", actionAssign
		if !assign {
			items, param, action = unassigns, "unassignments", actionUnassign
		}
		w := newWriter(a, ph, param, items)
		w.wire = func(it roleItem) any { return it.RoleAssignment }
		w.call = func(ctx context.Context, part []roleItem) error {
			l := make([]moodle.RoleAssignment, len(part))
			for i, it := range part {
				l[i] = it.RoleAssignment
			}
			if assign {
				return a.client.AssignRoles(ctx, l)
			}
			return a.client.UnassignRoles(ctx, l)
		}
		w.settle = func(ctx context.Context, part []roleItem) ([]bool, error) {
			var courses []int64
			for _, it := range part {
				courses = append(courses, a.p.RoleChanges[it.change].CourseID)
			}
			for i, it := range part {
				if courses[i] == 0 {
					courses[i], _ = a.courseID(a.p.RoleChanges[it.change].Course, 0)
				}
			}
			st, err := a.state(ctx, courses)
			if err != nil {
				return nil, err
			}
			ok := make([]bool, len(part))
			for i, it := range part {
				p := st[courses[i]][it.UserID]
				has := false
				if p != nil {
					_, has = p.roles[it.RoleID]
				}
				ok[i] = has == assign
			}
			return ok, nil
		}
		w.done = func(roleItem) {}
		w.fail = func(it roleItem, err *moodle.Error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			rc := a.p.RoleChanges[it.change]
			failed[it.change] = true
			a.rep.fail(action, rc.Course, rc.User, err)
		}
		if err := run(ctx, ph, w); err != nil {
			return err
		}
	}
	a.rep.Applied.RoleChanges = len(a.p.RoleChanges) - len(failed)
	return nil
}

// remove suspends (enrolment kept, roles kept, status suspended) or unenrols. A suspension goes
// through local_mih_update_enrolments when the token may call it, else through
// enrol_manual_enrol_users with suspend=1.
func (a *applier) remove(ctx context.Context) error {
	var edited, batched, unenrol []enrolItem
	for _, e := range a.p.Suspend {
		if a.p.edit {
			edited = append(edited, enrolItem{actionSuspend, e, true})
		} else {
			batched = append(batched, enrolItem{action: actionSuspend, e: e})
		}
	}
	for _, e := range a.p.Unenrol {
		unenrol = append(unenrol, enrolItem{action: actionUnenrol, e: e})
	}
	ph := a.phase(mih.PhaseRemove, len(edited)+len(batched)+len(unenrol))
	count := func(it enrolItem) {
		a.mu.Lock()
		if it.action == actionSuspend {
			a.rep.Applied.Suspend++
		} else {
			a.rep.Applied.Unenrol++
		}
		a.mu.Unlock()
	}
	fail := func(it enrolItem, err *moodle.Error) {
		a.mu.Lock()
		a.rep.fail(it.action, it.e.Course, it.e.User, err)
		a.mu.Unlock()
	}
	if err := run(ctx, ph, a.editWriter(ph, edited, true, count, fail)); err != nil {
		return err
	}
	if err := run(ctx, ph, a.enrolWriter(ph, batched, true, count, fail)); err != nil {
		return err
	}
	list := make([]enrolment, len(unenrol))
	for i, it := range unenrol {
		list[i] = enrolment{moodle.Enrolment{UserID: it.e.UserID, CourseID: it.e.CourseID}, it}
	}
	w := newWriter(a, ph, "enrolments", list)
	w.wire = func(e enrolment) any { return moodle.Unenrolment{UserID: e.UserID, CourseID: e.CourseID} }
	w.call = func(ctx context.Context, part []enrolment) error {
		l := make([]moodle.Unenrolment, len(part))
		for i, e := range part {
			l[i] = moodle.Unenrolment{UserID: e.UserID, CourseID: e.CourseID}
		}
		return a.client.UnenrolUsers(ctx, l)
	}
	w.settle = settleEnrolments(a, func(e enrolment) enrolItem { return e.it })
	w.done = func(e enrolment) { count(e.it) }
	w.fail = func(e enrolment, err *moodle.Error) { fail(e.it, err) }
	return run(ctx, ph, w)
}
