package moodle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Functions the typed helpers call. A site's external service for the hub lists them.
const (
	FuncSiteInfo       = "core_webservice_get_site_info"
	FuncUsersByField   = "core_user_get_users_by_field"
	FuncCoursesByField = "core_course_get_courses_by_field"
	FuncCreateCourses  = "core_course_create_courses"
	FuncUpdateCourses  = "core_course_update_courses"
	FuncCategories     = "core_course_get_categories"
	FuncEnrolUsers     = "enrol_manual_enrol_users"
	FuncUnenrolUsers   = "enrol_manual_unenrol_users"
	FuncEnrolledUsers  = "core_enrol_get_enrolled_users"
	FuncAssignRoles    = "core_role_assign_roles"
	FuncUnassignRoles  = "core_role_unassign_roles"
	// FuncUpdateEnrolments is the hub's Moodle plugin's (local_mih): see UpdateEnrolments.
	FuncUpdateEnrolments = "local_mih_update_enrolments"
)

// usersByFieldBatchSize caps the values per core_user_get_users_by_field call: Moodle loads
// and formats every user it finds, so larger calls get slow on big sites.
const usersByFieldBatchSize = 100

// Fields core_user_get_users_by_field searches.
const (
	UserFieldID       = "id"
	UserFieldIDNumber = "idnumber"
	UserFieldUsername = "username"
	UserFieldEmail    = "email"
)

// Fields core_course_get_courses_by_field searches ("" lists every course).
const (
	CourseFieldID        = "id"
	CourseFieldIDs       = "ids" // comma-separated ids
	CourseFieldShortName = "shortname"
	CourseFieldIDNumber  = "idnumber"
	CourseFieldCategory  = "category"
)

// SiteInfo calls core_webservice_get_site_info: the check that the URL and token work, and
// (SiteInfo.Missing) that the token's service lists the functions the hub needs.
func (c *Client) SiteInfo(ctx context.Context) (*SiteInfo, error) {
	var info SiteInfo
	if err := c.Call(ctx, FuncSiteInfo, nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// UsersByField finds users whose field (UserFieldID, UserFieldUsername, …) matches one of
// values, 100 values per call; users come back once each, in Moodle's order (by id within a
// call). Values that match nobody are left out, as Moodle does.
//
// Usernames are trimmed and lowercased first: Moodle keeps them lowercase and refuses the
// whole call when one value is not in that form. A value Moodle still refuses (a username
// with characters the site does not allow, say) cannot match anyone: it is left out like an
// unknown value, after the batch is split to let the other values through.
func (c *Client) UsersByField(ctx context.Context, field string, values []string) ([]User, error) {
	switch field {
	case UserFieldID, UserFieldIDNumber, UserFieldUsername, UserFieldEmail:
	default:
		return nil, &Error{Function: FuncUsersByField, Kind: KindRequest,
			Message: fmt.Sprintf("field %q: want id, idnumber, username or email", field)}
	}
	seen := make(map[string]bool, len(values))
	uniq := make([]string, 0, len(values))
	for _, v := range values {
		switch field {
		case UserFieldUsername:
			v = strings.ToLower(strings.TrimSpace(v))
		case UserFieldEmail:
			v = strings.TrimSpace(v)
		}
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		uniq = append(uniq, v)
	}
	if len(uniq) == 0 {
		return nil, nil
	}

	var users []User
	found := map[int64]bool{}
	err := inBatches(ctx, c, FuncUsersByField, "values", uniq, min(c.batch, usersByFieldBatchSize), func(ctx context.Context, part []string) error {
		var got []User
		err := c.Call(ctx, FuncUsersByField, map[string]any{"field": field, "values": part}, &got)
		for _, u := range got {
			if !found[u.ID] {
				found[u.ID] = true
				users = append(users, u)
			}
		}
		return err
	})
	if be, ok := errors.AsType[*BatchError](err); ok {
		// Values Moodle refused as invalid for the field match nobody.
		be.Items = slices.DeleteFunc(be.Items, func(it ItemError) bool { return it.Err.ErrorCode == CodeInvalidParameter })
		if len(be.Items) == 0 {
			err = nil
		}
	}
	return users, err
}

// userByID returns one user by id; found is false when Moodle does not know the id.
func (c *Client) userByID(ctx context.Context, id int64) (user *User, found bool, err error) {
	var got []User
	err = c.Call(ctx, FuncUsersByField, map[string]any{"field": UserFieldID, "values": []int64{id}}, &got)
	if err != nil || len(got) == 0 {
		return nil, false, err
	}
	return &got[0], true, nil
}

// courseByID returns one course by id; found is false when Moodle does not know the id.
func (c *Client) courseByID(ctx context.Context, id int64) (course *Course, found bool, err error) {
	courses, err := c.CoursesByField(ctx, CourseFieldID, formatID(id))
	if err != nil || len(courses) == 0 {
		return nil, false, err
	}
	return &courses[0], true, nil
}

// CoursesByField finds courses by a field (CourseFieldID, CourseFieldShortName,
// CourseFieldCategory, …; "" lists every course, the front page included). Unknown values
// find nothing.
func (c *Client) CoursesByField(ctx context.Context, field, value string) ([]Course, error) {
	var res struct {
		Courses  []Course  `json:"courses"`
		Warnings []Warning `json:"warnings"`
	}
	params := map[string]string{}
	if field != "" {
		params["field"], params["value"] = field, value
	}
	if err := c.Call(ctx, FuncCoursesByField, params, &res); err != nil {
		return nil, err
	}
	return res.Courses, nil
}

// CreateCourses creates courses in batches and returns those created, in input order.
// Moodle creates a batch in one transaction: one refused course (short name taken, unknown
// category) would roll back all of them, so a refused batch is split until the refused
// courses are alone; they come back in a *BatchError (ItemError.Index into courses), the
// others are created. Other failures stop at once, with the courses created so far.
func (c *Client) CreateCourses(ctx context.Context, courses []NewCourse) ([]CreatedCourse, error) {
	var created []CreatedCourse
	err := inBatches(ctx, c, FuncCreateCourses, "courses", courses, c.batch, func(ctx context.Context, part []NewCourse) error {
		var got []CreatedCourse
		if err := c.Call(ctx, FuncCreateCourses, map[string]any{"courses": part}, &got); err != nil {
			return err
		}
		created = append(created, got...)
		return nil
	})
	return created, err
}

// UpdateCourses updates courses in batches. Moodle updates each course on its own and
// reports the ones it could not update as warnings (item "course", itemid the course id),
// which come back here; an error means a whole batch failed (refused items are isolated as
// in CreateCourses).
func (c *Client) UpdateCourses(ctx context.Context, updates []CourseUpdate) ([]Warning, error) {
	var warnings []Warning
	err := inBatches(ctx, c, FuncUpdateCourses, "courses", updates, c.batch, func(ctx context.Context, part []CourseUpdate) error {
		var res struct {
			Warnings []Warning `json:"warnings"`
		}
		if err := c.Call(ctx, FuncUpdateCourses, map[string]any{"courses": part}, &res); err != nil {
			return err
		}
		warnings = append(warnings, res.Warnings...)
		return nil
	})
	return warnings, err
}

// Categories lists categories matching every criterion (none: all of them), with all their
// subcategories when addSubcategories is set.
func (c *Client) Categories(ctx context.Context, criteria []Criterion, addSubcategories bool) ([]Category, error) {
	var cats []Category
	params := map[string]any{"criteria": criteria, "addsubcategories": addSubcategories}
	if err := c.Call(ctx, FuncCategories, params, &cats); err != nil {
		return nil, err
	}
	return cats, nil
}

// EnrolUsers enrols users through each course's manual enrolment instance, in batches, each
// one transaction in Moodle (refused enrolments are isolated as in CreateCourses: an unknown
// course, wsnoinstance, a role the token may not assign, an unknown user).
//
// Re-enrolling a user updates the enrolment's times and status; the role is added to the
// roles the user already holds in the course, never replacing them: take a role away with
// UnassignRoles.
func (c *Client) EnrolUsers(ctx context.Context, enrolments []Enrolment) error {
	return inBatches(ctx, c, FuncEnrolUsers, "enrolments", enrolments, c.batch, func(ctx context.Context, part []Enrolment) error {
		return c.Call(ctx, FuncEnrolUsers, map[string]any{"enrolments": part}, nil)
	})
}

// UnenrolUsers removes manual enrolments, in batches of one transaction each. Removing a
// user's last enrolment in a course also removes their roles, groups and grades there.
// A user who is not enrolled is skipped by Moodle.
func (c *Client) UnenrolUsers(ctx context.Context, unenrolments []Unenrolment) error {
	return inBatches(ctx, c, FuncUnenrolUsers, "enrolments", unenrolments, c.batch, func(ctx context.Context, part []Unenrolment) error {
		return c.Call(ctx, FuncUnenrolUsers, map[string]any{"enrolments": part}, nil)
	})
}

// AssignRoles assigns roles, in batches of one transaction each.
func (c *Client) AssignRoles(ctx context.Context, assignments []RoleAssignment) error {
	return inBatches(ctx, c, FuncAssignRoles, "assignments", assignments, c.batch, func(ctx context.Context, part []RoleAssignment) error {
		return c.Call(ctx, FuncAssignRoles, map[string]any{"assignments": part}, nil)
	})
}

// UnassignRoles takes roles away, in batches of one transaction each; a role the user does not
// hold is skipped by Moodle.
func (c *Client) UnassignRoles(ctx context.Context, assignments []RoleAssignment) error {
	return inBatches(ctx, c, FuncUnassignRoles, "unassignments", assignments, c.batch, func(ctx context.Context, part []RoleAssignment) error {
		return c.Call(ctx, FuncUnassignRoles, map[string]any{"unassignments": part}, nil)
	})
}

// EnrolledUsers lists a course's participants with their roles, by user id.
func (c *Client) EnrolledUsers(ctx context.Context, courseID int64, opts EnrolledUsersOptions) ([]EnrolledUser, error) {
	type option struct {
		Name  string `moodle:"name"`
		Value string `moodle:"value"`
	}
	var base []option
	if opts.OnlyActive {
		base = append(base, option{"onlyactive", "1"})
	}
	if len(opts.UserFields) > 0 {
		base = append(base, option{"userfields", strings.Join(opts.UserFields, ",")})
	}
	if opts.WithCapability != "" {
		base = append(base, option{"withcapability", opts.WithCapability})
	}
	if opts.PageSize <= 0 {
		var users []EnrolledUser
		err := c.Call(ctx, FuncEnrolledUsers, map[string]any{"courseid": courseID, "options": base}, &users)
		return users, err
	}
	var all []EnrolledUser
	for from := 0; ; from += opts.PageSize {
		options := append(slices.Clone(base),
			option{"limitfrom", fmt.Sprint(from)}, option{"limitnumber", fmt.Sprint(opts.PageSize)})
		var page []EnrolledUser
		if err := c.Call(ctx, FuncEnrolledUsers, map[string]any{"courseid": courseID, "options": options}, &page); err != nil {
			return all, err
		}
		all = append(all, page...)
		if len(page) < opts.PageSize {
			return all, nil
		}
	}
}

// EnrolmentUpdate is the wanted status and dates of an existing manual enrolment.
type EnrolmentUpdate struct {
	CourseID int64 `moodle:"courseid"`
	UserID   int64 `moodle:"userid"`
	Suspend  bool  `moodle:"suspend"`
	// TimeStart and TimeEnd, when nil, are not sent and the enrolment keeps its dates (0 clears
	// one): a suspension or reactivation must not wipe an enrolment's time window.
	TimeStart *int64 `moodle:"timestart,omitempty"`
	TimeEnd   *int64 `moodle:"timeend,omitempty"`
}

// UpdateEnrolments sets the status and dates of existing manual enrolments through the hub's
// Moodle plugin (local_mih_update_enrolments), in batches: the plugin calls the enrolment
// plugin's update_user_enrol, as the participants page's "Edit enrolment" does, so nothing is
// created and no message is sent. Moodle's own functions cannot do that with a token:
// enrol_manual_enrol_users on an existing enrolment goes through enrol_user, which in Moodle 4.4
// and later sends the course welcome message again, and core_enrol_submit_user_enrolment_form
// refuses token calls (its form checks the session's sesskey).
//
// An enrolment the plugin could not update (not enrolled, no enabled manual instance) comes back
// as a Warning whose ItemID is its index in updates.
func (c *Client) UpdateEnrolments(ctx context.Context, updates []EnrolmentUpdate) ([]Warning, error) {
	var warnings []Warning
	err := inBatches(ctx, c, FuncUpdateEnrolments, "enrolments", updates, c.batch, func(ctx context.Context, part []EnrolmentUpdate) error {
		var res struct {
			Warnings []Warning `json:"warnings"`
		}
		if err := c.Call(ctx, FuncUpdateEnrolments, map[string]any{"enrolments": part}, &res); err != nil {
			return err
		}
		// part is updates[lo:hi]: the warnings' indexes are made relative to updates.
		lo := cap(updates) - cap(part)
		for _, w := range res.Warnings {
			w.ItemID += int64(lo)
			warnings = append(warnings, w)
		}
		return nil
	})
	return warnings, err
}
