package coursesync

import (
	"cmp"
	"context"
	"errors"
	"fmt"

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
// enrolments and reactivations, then roles, then removals.
type applier struct {
	r        *Runner
	p        *Plan
	client   *moodle.Client
	progress func(mih.SyncProgress)
	rep      *Report

	courseIDs    map[string]int64  // courses created by this apply
	courseFailed map[string]string // courses that could not be created, with why
	enrolFailed  map[[2]int64]bool // course id, user id
}

// Apply carries out a plan made by Plan, in batched Web Service calls. Moodle refusing single
// items (a short name taken since the plan, a course without a manual enrolment instance) is
// reported in Report.Errors and the rest goes on; changes that depended on a refused one (the
// enrolments of a course that could not be created) are reported as skipped. A failure of a
// whole call (network, token, timeout, maintenance) stops the apply and is returned with the
// report of what was done; plan again to go on, since a call that timed out may or may not have
// been carried out by Moodle.
func (r *Runner) Apply(ctx context.Context, p *Plan, progress func(mih.SyncProgress)) (*Report, error) {
	if progress == nil {
		progress = func(mih.SyncProgress) {}
	}
	a := &applier{r: r, p: p, client: p.client, progress: progress, rep: &Report{},
		courseIDs: map[string]int64{}, courseFailed: map[string]string{}, enrolFailed: map[[2]int64]bool{}}
	for _, step := range []func(context.Context) error{a.create, a.update, a.enrol, a.roles, a.remove} {
		if err := step(ctx); err != nil {
			return a.rep, err
		}
	}
	return a.rep, nil
}

// chunks calls fn for consecutive parts of n items of at most size, reporting progress after
// each.
func (a *applier) chunks(ctx context.Context, phase string, n int, fn func(ctx context.Context, lo, hi int) error) error {
	if n == 0 {
		return nil
	}
	a.progress(mih.SyncProgress{Phase: phase, Total: n})
	for lo := 0; lo < n; lo += a.r.batch {
		hi := min(n, lo+a.r.batch)
		if err := ctx.Err(); err != nil {
			return mih.WrapError(mih.CodeUnavailable, err, "%s: interrupted", phase)
		}
		if err := fn(ctx, lo, hi); err != nil {
			return err
		}
		a.progress(mih.SyncProgress{Phase: phase, Done: hi, Total: n})
	}
	return nil
}

// itemErrors returns the refused items of a batched call, or nil when the call failed as a
// whole (or did not fail).
func itemErrors(err error) []moodle.ItemError {
	if be, ok := errors.AsType[*moodle.BatchError](err); ok {
		return be.Items
	}
	return nil
}

func (a *applier) create(ctx context.Context) error {
	list := a.p.Create
	err := a.chunks(ctx, mih.PhaseCreate, len(list), func(ctx context.Context, lo, hi int) error {
		part := make([]moodle.NewCourse, 0, hi-lo)
		for _, c := range list[lo:hi] {
			part = append(part, moodle.NewCourse{FullName: c.FullName, ShortName: c.ShortName, CategoryID: c.CategoryID,
				IDNumber: c.IDNumber, Summary: c.Summary, StartDate: c.StartDate, EndDate: c.EndDate, Visible: c.Visible})
		}
		created, err := a.client.CreateCourses(ctx, part)
		for _, cc := range created {
			a.courseIDs[cc.ShortName] = cc.ID
		}
		a.rep.Applied.Create += len(created)
		items := itemErrors(err)
		for _, it := range items {
			c := list[lo+it.Index]
			a.rep.fail(actionCreate, c.ShortName, "", it.Err)
			a.courseFailed[c.ShortName] = fmt.Sprintf("course %s could not be created (%s)", c.ShortName, it.Err.ErrorCode)
		}
		if err != nil && items == nil {
			return moodleError("create courses", err)
		}
		return nil
	})
	if err != nil {
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
	return a.chunks(ctx, mih.PhaseUpdate, len(list), func(ctx context.Context, lo, hi int) error {
		part := make([]moodle.CourseUpdate, 0, hi-lo)
		byID := map[int64]string{}
		for _, u := range list[lo:hi] {
			part = append(part, courseUpdate(u))
			byID[u.CourseID] = u.ShortName
		}
		warnings, err := a.client.UpdateCourses(ctx, part)
		items := itemErrors(err)
		if err != nil && items == nil {
			return moodleError("update courses", err)
		}
		failed := map[int64]bool{}
		for _, it := range items {
			u := list[lo+it.Index]
			failed[u.CourseID] = true
			a.rep.fail(actionUpdate, u.ShortName, "", it.Err)
		}
		for _, w := range warnings {
			if w.Item != "course" || failed[w.ItemID] {
				continue
			}
			failed[w.ItemID] = true
			a.rep.Errors = append(a.rep.Errors, mih.SyncItemError{Action: actionUpdate, Course: cmp.Or(byID[w.ItemID], fmt.Sprint(w.ItemID)),
				Code: cmp.Or(w.WarningCode, "warning"), Message: w.Message})
		}
		a.rep.Applied.Update += len(part) - len(failed)
		return nil
	})
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
}

// enrol sends new enrolments and reactivations: the full desired state (active, no dates), as
// enrol_manual_enrol_users wants it.
func (a *applier) enrol(ctx context.Context) error {
	var items []enrolItem
	for _, e := range a.p.Enrol {
		items = append(items, enrolItem{actionEnrol, e})
	}
	for _, e := range a.p.Reactivate {
		items = append(items, enrolItem{actionReactivate, e})
	}
	items = a.resolve(items)
	return a.chunks(ctx, mih.PhaseEnrol, len(items), func(ctx context.Context, lo, hi int) error {
		part := make([]moodle.Enrolment, 0, hi-lo)
		for _, it := range items[lo:hi] {
			part = append(part, moodle.Enrolment{RoleID: it.e.RoleID, UserID: it.e.UserID, CourseID: it.e.CourseID})
		}
		err := a.client.EnrolUsers(ctx, part)
		refused := itemErrors(err)
		if err != nil && refused == nil {
			return moodleError("enrol users", err)
		}
		bad := map[int]bool{}
		for _, r := range refused {
			it := items[lo+r.Index]
			bad[r.Index] = true
			a.enrolFailed[[2]int64{it.e.CourseID, it.e.UserID}] = true
			a.rep.fail(it.action, it.e.Course, it.e.User, r.Err)
		}
		for i, it := range items[lo:hi] {
			switch {
			case bad[i]:
			case it.action == actionEnrol:
				a.rep.Applied.Enrol++
			default:
				a.rep.Applied.Reactivate++
			}
		}
		return nil
	})
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
	assign bool
	a      moodle.RoleAssignment
}

// roles gives and takes the planned roles; a participant whose enrolment failed is left alone.
func (a *applier) roles(ctx context.Context) error {
	var items []roleItem
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
			items = append(items, roleItem{i, true, moodle.CourseRole(r.ID, rc.UserID, id)})
		}
		for _, r := range rc.Remove {
			items = append(items, roleItem{i, false, moodle.CourseRole(r.ID, rc.UserID, id)})
		}
	}
	// Assignments first, then unassignments: a change from student to teacher never leaves the
	// participant without a role in between.
	var assigns, unassigns []roleItem
	for _, it := range items {
		if it.assign {
			assigns = append(assigns, it)
		} else {
			unassigns = append(unassigns, it)
		}
	}
	ordered := append(assigns, unassigns...)
	err := a.chunks(ctx, mih.PhaseRoles, len(ordered), func(ctx context.Context, lo, hi int) error {
		part := ordered[lo:hi]
		// A chunk may hold both kinds at the boundary between them: send each kind on its own.
		for _, kind := range []bool{true, false} {
			var sel []roleItem
			for _, it := range part {
				if it.assign == kind {
					sel = append(sel, it)
				}
			}
			if len(sel) == 0 {
				continue
			}
			list := make([]moodle.RoleAssignment, len(sel))
			for i, it := range sel {
				list[i] = it.a
			}
			var err error
			action := actionAssign
			if kind {
				err = a.client.AssignRoles(ctx, list)
			} else {
				action = actionUnassign
				err = a.client.UnassignRoles(ctx, list)
			}
			refused := itemErrors(err)
			if err != nil && refused == nil {
				return moodleError(action+" roles", err)
			}
			for _, r := range refused {
				rc := a.p.RoleChanges[sel[r.Index].change]
				failed[sel[r.Index].change] = true
				a.rep.fail(action, rc.Course, rc.User, r.Err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.rep.Applied.RoleChanges = len(a.p.RoleChanges) - len(failed)
	return nil
}

// remove suspends (enrolment kept, roles kept, status suspended) or unenrols.
func (a *applier) remove(ctx context.Context) error {
	var items []enrolItem
	for _, e := range a.p.Suspend {
		items = append(items, enrolItem{actionSuspend, e})
	}
	for _, e := range a.p.Unenrol {
		items = append(items, enrolItem{actionUnenrol, e})
	}
	return a.chunks(ctx, mih.PhaseRemove, len(items), func(ctx context.Context, lo, hi int) error {
		part := items[lo:hi]
		for _, kind := range []string{actionSuspend, actionUnenrol} {
			var sel []enrolItem
			for _, it := range part {
				if it.action == kind {
					sel = append(sel, it)
				}
			}
			if len(sel) == 0 {
				continue
			}
			var err error
			if kind == actionSuspend {
				list := make([]moodle.Enrolment, len(sel))
				for i, it := range sel {
					list[i] = moodle.Enrolment{RoleID: it.e.RoleID, UserID: it.e.UserID, CourseID: it.e.CourseID, Suspend: true}
				}
				err = a.client.EnrolUsers(ctx, list)
			} else {
				list := make([]moodle.Unenrolment, len(sel))
				for i, it := range sel {
					list[i] = moodle.Unenrolment{UserID: it.e.UserID, CourseID: it.e.CourseID}
				}
				err = a.client.UnenrolUsers(ctx, list)
			}
			refused := itemErrors(err)
			if err != nil && refused == nil {
				return moodleError(kind+" users", err)
			}
			for _, r := range refused {
				a.rep.fail(kind, sel[r.Index].e.Course, sel[r.Index].e.User, r.Err)
			}
			n := len(sel) - len(refused)
			if kind == actionSuspend {
				a.rep.Applied.Suspend += n
			} else {
				a.rep.Applied.Unenrol += n
			}
		}
		return nil
	})
}
