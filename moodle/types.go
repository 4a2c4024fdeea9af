package moodle

import "slices"

// The types below carry the JSON fields Moodle's functions return (Moodle 3.x to 5.x). Ids
// and timestamps are int64; when a site sends them as strings, or 0/1 where a boolean is
// expected, the decoder converts them (see Call).

// SiteInfo is the answer of core_webservice_get_site_info: who the token belongs to, which
// Moodle it is, and which functions the token's external service lists.
type SiteInfo struct {
	SiteName        string         `json:"sitename"`
	SiteURL         string         `json:"siteurl"`
	SiteID          int64          `json:"siteid"`
	UserID          int64          `json:"userid"`
	Username        string         `json:"username"`
	FirstName       string         `json:"firstname"`
	LastName        string         `json:"lastname"`
	FullName        string         `json:"fullname"`
	Lang            string         `json:"lang"`
	Release         string         `json:"release"` // like "4.5.1+ (Build: 20250117)"
	Version         string         `json:"version"` // like "2024100701.05"
	UserIsSiteAdmin bool           `json:"userissiteadmin"`
	Functions       []SiteFunction `json:"functions"`
}

// SiteFunction is one function the token may call.
type SiteFunction struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Missing returns the functions of want that the token's service does not list, in want's
// order: a site set up for the hub lists every function the hub calls.
func (s *SiteInfo) Missing(want ...string) []string {
	var missing []string
	for _, w := range want {
		if !slices.ContainsFunc(s.Functions, func(f SiteFunction) bool { return f.Name == w }) {
			missing = append(missing, w)
		}
	}
	return missing
}

// User is a user as core_user_get_users_by_field returns it. Moodle leaves out empty optional
// fields (idnumber, department, …), so they come back empty.
type User struct {
	ID              int64             `json:"id"`
	Username        string            `json:"username"`
	FirstName       string            `json:"firstname"`
	LastName        string            `json:"lastname"`
	FullName        string            `json:"fullname"`
	Email           string            `json:"email"`
	IDNumber        string            `json:"idnumber"`
	Department      string            `json:"department"`
	Institution     string            `json:"institution"`
	City            string            `json:"city"`
	Country         string            `json:"country"`
	Lang            string            `json:"lang"`
	Timezone        string            `json:"timezone"`
	Auth            string            `json:"auth"`
	Suspended       bool              `json:"suspended"`
	Confirmed       bool              `json:"confirmed"`
	FirstAccess     int64             `json:"firstaccess"`
	LastAccess      int64             `json:"lastaccess"`
	ProfileImageURL string            `json:"profileimageurl"`
	CustomFields    []UserCustomField `json:"customfields"`
}

// UserCustomField is a user profile field.
type UserCustomField struct {
	Type         string `json:"type"`
	Value        string `json:"value"`
	DisplayValue string `json:"displayvalue"`
	Name         string `json:"name"`
	ShortName    string `json:"shortname"`
}

// EnrolledUser is a participant as core_enrol_get_enrolled_users returns it: the user and the
// roles held in the course context. Moodle does not say whether the enrolment is suspended:
// ask with EnrolledUsersOptions.OnlyActive and compare.
type EnrolledUser struct {
	User
	Roles            []UserRole `json:"roles"`
	LastCourseAccess int64      `json:"lastcourseaccess"`
}

// HasRole reports whether the participant holds roleID in the course.
func (u *EnrolledUser) HasRole(roleID int64) bool {
	return slices.ContainsFunc(u.Roles, func(r UserRole) bool { return r.RoleID == roleID })
}

// UserRole is a role held in a course. Name is empty for Moodle's standard roles, whose names
// come from language strings.
type UserRole struct {
	RoleID    int64  `json:"roleid"`
	Name      string `json:"name"`
	ShortName string `json:"shortname"`
	SortOrder int64  `json:"sortorder"`
}

// Course is a course as core_course_get_courses_by_field returns it to a user who may manage
// it.
type Course struct {
	ID                int64               `json:"id"`
	ShortName         string              `json:"shortname"`
	FullName          string              `json:"fullname"`
	DisplayName       string              `json:"displayname"`
	IDNumber          string              `json:"idnumber"`
	CategoryID        int64               `json:"categoryid"`
	CategoryName      string              `json:"categoryname"`
	Summary           string              `json:"summary"`
	SummaryFormat     int64               `json:"summaryformat"`
	Format            string              `json:"format"`
	StartDate         int64               `json:"startdate"`
	EndDate           int64               `json:"enddate"`
	Visible           bool                `json:"visible"`
	Lang              string              `json:"lang"`
	TimeCreated       int64               `json:"timecreated"`
	TimeModified      int64               `json:"timemodified"`
	EnrollmentMethods []string            `json:"enrollmentmethods"`
	CustomFields      []CourseCustomField `json:"customfields"`
}

// CourseCustomField is a course custom field.
type CourseCustomField struct {
	Name      string `json:"name"`
	ShortName string `json:"shortname"`
	Type      string `json:"type"`
	ValueRaw  string `json:"valueraw"`
	Value     string `json:"value"`
}

// Category is a course category as core_course_get_categories returns it.
type Category struct {
	ID           int64  `json:"id"`
	Name         string `json:"name"`
	IDNumber     string `json:"idnumber"`
	Description  string `json:"description"`
	Parent       int64  `json:"parent"`
	SortOrder    int64  `json:"sortorder"`
	CourseCount  int64  `json:"coursecount"`
	Visible      bool   `json:"visible"`
	Depth        int64  `json:"depth"`
	Path         string `json:"path"` // like "/1/4"
	Theme        string `json:"theme"`
	TimeModified int64  `json:"timemodified"`
}

// Warning is one of Moodle's per-item warnings (external_warnings).
type Warning struct {
	Item        string `json:"item"`
	ItemID      int64  `json:"itemid"`
	WarningCode string `json:"warningcode"`
	Message     string `json:"message"`
}

// CreatedCourse is a course core_course_create_courses created.
type CreatedCourse struct {
	ID        int64  `json:"id"`
	ShortName string `json:"shortname"`
}

// NewCourse is a course to create. FullName, ShortName and CategoryID are required; empty
// optional fields are not sent, so Moodle applies its defaults (its course defaults, and the
// category's visibility when Visible is nil).
type NewCourse struct {
	FullName     string             `moodle:"fullname"`
	ShortName    string             `moodle:"shortname"`
	CategoryID   int64              `moodle:"categoryid"`
	IDNumber     string             `moodle:"idnumber,omitempty"`
	Summary      string             `moodle:"summary,omitempty"`
	Format       string             `moodle:"format,omitempty"`
	StartDate    int64              `moodle:"startdate,omitempty"`
	EndDate      int64              `moodle:"enddate,omitempty"`
	Visible      *bool              `moodle:"visible,omitempty"`
	Lang         string             `moodle:"lang,omitempty"`
	CustomFields []CustomFieldValue `moodle:"customfields,omitempty"`
}

// CourseUpdate changes a course: nil fields are not sent and stay as they are in Moodle
// (sending an empty value would overwrite it).
type CourseUpdate struct {
	ID           int64              `moodle:"id"`
	FullName     *string            `moodle:"fullname,omitempty"`
	ShortName    *string            `moodle:"shortname,omitempty"`
	CategoryID   *int64             `moodle:"categoryid,omitempty"`
	IDNumber     *string            `moodle:"idnumber,omitempty"`
	Summary      *string            `moodle:"summary,omitempty"`
	Format       *string            `moodle:"format,omitempty"`
	StartDate    *int64             `moodle:"startdate,omitempty"`
	EndDate      *int64             `moodle:"enddate,omitempty"`
	Visible      *bool              `moodle:"visible,omitempty"`
	CustomFields []CustomFieldValue `moodle:"customfields,omitempty"`
}

// CustomFieldValue sets a course custom field by its short name.
type CustomFieldValue struct {
	ShortName string `moodle:"shortname"`
	Value     string `moodle:"value"`
}

// Enrolment is the desired state of one manual enrolment. Every field is sent: Moodle treats
// an omitted timestart or timeend as 0 and an omitted suspend as "active", also for a user
// already enrolled.
type Enrolment struct {
	RoleID    int64 `moodle:"roleid"`
	UserID    int64 `moodle:"userid"`
	CourseID  int64 `moodle:"courseid"`
	TimeStart int64 `moodle:"timestart"`
	TimeEnd   int64 `moodle:"timeend"`
	Suspend   bool  `moodle:"suspend"`
}

// Unenrolment removes a user's manual enrolment from a course.
type Unenrolment struct {
	UserID   int64 `moodle:"userid"`
	CourseID int64 `moodle:"courseid"`
}

// RoleAssignment names a role, a user and a context: either ContextID, or ContextLevel
// ("course", "coursecat", "system", …) with InstanceID (the course id for "course").
type RoleAssignment struct {
	RoleID       int64  `moodle:"roleid"`
	UserID       int64  `moodle:"userid"`
	ContextID    int64  `moodle:"contextid,omitempty"`
	ContextLevel string `moodle:"contextlevel,omitempty"`
	InstanceID   int64  `moodle:"instanceid"`
}

// CourseRole is the assignment of roleID to userID in a course.
func CourseRole(roleID, userID, courseID int64) RoleAssignment {
	return RoleAssignment{RoleID: roleID, UserID: userID, ContextLevel: "course", InstanceID: courseID}
}

// Criterion is a core_course_get_categories search key: id, ids, name, parent, idnumber,
// visible or theme.
type Criterion struct {
	Key   string `moodle:"key"`
	Value string `moodle:"value"`
}

// EnrolledUsersOptions are core_enrol_get_enrolled_users' options.
type EnrolledUsersOptions struct {
	// OnlyActive leaves out suspended enrolments and those outside their start and end dates.
	OnlyActive bool
	// UserFields limits the answer to these user fields ("id", "username", "roles", …); id
	// and fullname always come back. Empty: every field.
	UserFields []string
	// WithCapability keeps only users with this capability in the course.
	WithCapability string
	// PageSize, when positive, fetches the participants in pages of this many users.
	PageSize int
}
