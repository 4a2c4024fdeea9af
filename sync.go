package mih

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SyncJob keeps a Moodle site's courses and enrolments in line with an external academic system
// (docs/sync.md): the source is a registered REST service answering JSON at SourcePath, the target
// is the site's Web Services.
type SyncJob struct {
	Name          string `json:"name"`
	Site          string `json:"site"`
	SourceService string `json:"source_service"`
	SourcePath    string `json:"source_path"`
	// Category is where new courses go when the source does not say: a category id, or an
	// idnumber when given as a JSON string.
	Category SyncCategory `json:"category"`
	// MatchField is the Moodle user field participants are matched on: username, idnumber or
	// email.
	MatchField string `json:"match_field"`
	// Roles maps the source's role names (lowercase) to Moodle role short names; DefaultRole is
	// the role of participants without one and of those whose role is not in Roles.
	Roles       map[string]string `json:"roles"`
	DefaultRole string            `json:"default_role"`
	// RoleIDs maps Moodle role short names to their ids on the site: no Web Service lists roles,
	// and ids are auto-increment, so they are configuration. Standard ids fill what is left out.
	RoleIDs map[string]int64 `json:"role_ids"`
	// Removal is what happens to a managed enrolment that is no longer in the source.
	Removal string `json:"removal"`
	// UpdateCourses lets the sync change existing courses whose fields differ from the source.
	UpdateCourses bool `json:"update_courses"`
	// Schedule is a cron expression (five fields, or @hourly, @daily, @every 30m, with an optional
	// CRON_TZ= prefix); empty runs the job only when asked.
	Schedule string `json:"schedule"`
	Enabled  bool   `json:"enabled"`
	// How the job talks to Moodle; zero takes the default. TimeoutS bounds each call (60 s);
	// BatchMax is the most items one write call carries (100; max_input_vars bounds it too);
	// WriteParallel is how many write calls may go at once when Moodle keeps up (4);
	// ReadParallel how many Web Service reads go at once (4).
	TimeoutS      float64   `json:"timeout_s,omitempty"`
	BatchMax      int       `json:"batch_max,omitempty"`
	WriteParallel int       `json:"write_parallel,omitempty"`
	ReadParallel  int       `json:"read_parallel,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Match fields.
const (
	MatchUsername = "username"
	MatchIDNumber = "idnumber"
	MatchEmail    = "email"
)

// Removal policies: what happens to an enrolment the source no longer lists.
const (
	RemovalKeep    = "keep"    // leave it
	RemovalSuspend = "suspend" // suspend it, roles kept; it is reactivated when it comes back
	RemovalUnenrol = "unenrol" // remove it (with its roles, groups and grades in the course)
)

// DefaultSyncCategory is the category of a fresh Moodle install, where new courses go unless the
// job says otherwise.
const DefaultSyncCategory = 1

// DefaultSyncRoles is the role mapping of a job that does not give one: the names academic
// systems use for the one who teaches map to Moodle's editing teacher.
func DefaultSyncRoles() map[string]string {
	return map[string]string{
		"teacher":        "editingteacher",
		"professor":      "editingteacher",
		"editingteacher": "editingteacher",
		"student":        "student",
	}
}

// StandardRoleIDs are the role ids of a fresh Moodle install.
func StandardRoleIDs() map[string]int64 {
	return map[string]int64{
		"manager": 1, "coursecreator": 2, "editingteacher": 3, "teacher": 4,
		"student": 5, "guest": 6, "user": 7, "frontpage": 8,
	}
}

// NewSyncJob returns a job with the defaults that a zero value cannot express, ready to be
// decoded into; Normalize fills the rest.
func NewSyncJob() *SyncJob {
	return &SyncJob{Enabled: true}
}

// Normalize fills the defaults of a job read from a request or a file: category 1, match on
// username, the default role mapping when none is given (a given mapping replaces it whole),
// default role student, standard role ids for the short names role_ids leaves out, removal keep.
// Role names are trimmed and lowercased.
func (j *SyncJob) Normalize() {
	j.SourcePath = strings.TrimSpace(j.SourcePath)
	if j.Category.IsZero() {
		j.Category = SyncCategory{ID: DefaultSyncCategory}
	}
	j.MatchField = strings.ToLower(strings.TrimSpace(j.MatchField))
	if j.MatchField == "" {
		j.MatchField = MatchUsername
	}
	if j.Roles == nil {
		j.Roles = DefaultSyncRoles()
	} else {
		roles := make(map[string]string, len(j.Roles))
		for k, v := range j.Roles {
			roles[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
		j.Roles = roles
	}
	j.DefaultRole = strings.TrimSpace(j.DefaultRole)
	if j.DefaultRole == "" {
		j.DefaultRole = "student"
	}
	ids := StandardRoleIDs()
	maps.Copy(ids, j.RoleIDs)
	j.RoleIDs = ids
	j.Removal = strings.ToLower(strings.TrimSpace(j.Removal))
	if j.Removal == "" {
		j.Removal = RemovalKeep
	}
	j.Schedule = strings.TrimSpace(j.Schedule)
}

// Validate checks a job before it is stored. It does not check that the site and the source
// service exist, nor parse the schedule fully (package sync does both, with the store and the
// cron parser at hand); it refuses a schedule that cannot be a cron expression.
func (j *SyncJob) Validate() error {
	if !ValidName(j.Name) {
		return Errorf(CodeInvalid, "name %q: want a slug of lowercase letters, digits, '-', '_' or '.' (1-63 characters)", j.Name)
	}
	if !ValidName(j.Site) {
		return Errorf(CodeInvalid, "site %q: want the name of a registered Moodle site", j.Site)
	}
	if !ValidName(j.SourceService) {
		return Errorf(CodeInvalid, "source_service %q: want the name of a registered REST service", j.SourceService)
	}
	if !strings.HasPrefix(j.SourcePath, "/") || strings.ContainsAny(j.SourcePath, "\r\n\t ") || len(j.SourcePath) > 2000 {
		return Errorf(CodeInvalid, "source_path %q: want a path under the service's base_url, starting with /", j.SourcePath)
	}
	if err := j.Category.validate("category"); err != nil {
		return err
	}
	switch j.MatchField {
	case MatchUsername, MatchIDNumber, MatchEmail:
	default:
		return Errorf(CodeInvalid, "match_field %q: want username, idnumber or email", j.MatchField)
	}
	for _, name := range slices.Sorted(maps.Keys(j.RoleIDs)) {
		if id := j.RoleIDs[name]; id <= 0 || strings.TrimSpace(name) == "" {
			return Errorf(CodeInvalid, "role_ids[%q]: want a positive role id", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(j.Roles)) {
		if name == "" {
			return Errorf(CodeInvalid, "roles: a role name is empty")
		}
		if _, ok := j.RoleIDs[j.Roles[name]]; !ok {
			return Errorf(CodeInvalid, "roles[%q]: %q has no id in role_ids", name, j.Roles[name])
		}
	}
	if _, ok := j.RoleIDs[j.DefaultRole]; !ok {
		return Errorf(CodeInvalid, "default_role %q: has no id in role_ids", j.DefaultRole)
	}
	switch j.Removal {
	case RemovalKeep, RemovalSuspend, RemovalUnenrol:
	default:
		return Errorf(CodeInvalid, "removal %q: want keep, suspend or unenrol", j.Removal)
	}
	switch {
	case j.TimeoutS < 0 || j.TimeoutS > 3600 || j.TimeoutS != j.TimeoutS:
		return Errorf(CodeInvalid, "timeout_s %v: want seconds between 0 (the default, 60) and 3600", j.TimeoutS)
	case j.BatchMax < 0 || j.BatchMax > 1000:
		return Errorf(CodeInvalid, "batch_max %d: want 0 (the default, 100) to 1000 items per call", j.BatchMax)
	case j.WriteParallel < 0 || j.WriteParallel > 32:
		return Errorf(CodeInvalid, "write_parallel %d: want 0 (the default, 4) to 32 calls at once", j.WriteParallel)
	case j.ReadParallel < 0 || j.ReadParallel > 32:
		return Errorf(CodeInvalid, "read_parallel %d: want 0 (the default, 4) to 32 calls at once", j.ReadParallel)
	}
	if s := j.Schedule; s != "" {
		fields := strings.Fields(s)
		if strings.HasPrefix(fields[0], "CRON_TZ=") || strings.HasPrefix(fields[0], "TZ=") {
			fields = fields[1:]
		}
		if len(fields) == 0 || !strings.HasPrefix(fields[0], "@") && len(fields) != 5 {
			return Errorf(CodeInvalid, "schedule %q: want a cron expression of five fields (minute hour day month weekday) or @hourly, @daily, @every 30m…", s)
		}
	}
	return nil
}

// ManagedRoles returns the ids of the roles the job hands out: the targets of Roles and the
// default role. Only participants holding one of them are ever suspended or unenrolled, and only
// these roles are ever taken away.
func (j *SyncJob) ManagedRoles() map[int64]string {
	out := map[int64]string{}
	for _, short := range j.Roles {
		if id, ok := j.RoleIDs[short]; ok {
			out[id] = short
		}
	}
	if id, ok := j.RoleIDs[j.DefaultRole]; ok {
		out[id] = j.DefaultRole
	}
	return out
}

// SyncCategory names a Moodle course category by id, or by idnumber. In JSON it is a number
// (the id) or a string (the idnumber).
type SyncCategory struct {
	ID       int64
	IDNumber string
}

// IsZero reports whether no category is named.
func (c SyncCategory) IsZero() bool { return c.ID == 0 && c.IDNumber == "" }

func (c SyncCategory) String() string {
	if c.IDNumber != "" {
		return "idnumber " + strconv.Quote(c.IDNumber)
	}
	return "id " + strconv.FormatInt(c.ID, 10)
}

func (c SyncCategory) validate(field string) error {
	if c.ID < 0 || c.ID > 0 && c.IDNumber != "" {
		return Errorf(CodeInvalid, "%s: want a category id (a positive number) or an idnumber (a string)", field)
	}
	return nil
}

// MarshalJSON writes the id as a number, or the idnumber as a string.
func (c SyncCategory) MarshalJSON() ([]byte, error) {
	if c.IDNumber != "" {
		return json.Marshal(c.IDNumber)
	}
	return json.Marshal(c.ID)
}

// UnmarshalJSON reads a number (the id) or a string (the idnumber); null leaves it empty.
func (c *SyncCategory) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*c = SyncCategory{}
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		c.IDNumber = strings.TrimSpace(s)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil || n <= 0 {
		return Errorf(CodeInvalid, "category: want a category id (a positive number) or an idnumber (a string), got %s", b)
	}
	c.ID = n
	return nil
}

// SyncRunKind says what a run does.
type SyncRunKind string

// Kinds of runs.
const (
	SyncPlanOnly SyncRunKind = "plan"  // compute and keep the plan, change nothing
	SyncApply    SyncRunKind = "apply" // compute the plan and carry it out
)

// SyncTrigger says who started a run.
type SyncTrigger string

// Triggers.
const (
	TriggerAPI      SyncTrigger = "api"
	TriggerSchedule SyncTrigger = "schedule"
	TriggerCLI      SyncTrigger = "cli"
	TriggerWeb      SyncTrigger = "web"
)

// SyncRunStatus is where a run is. A run is queued (asked for through the API, waiting for a
// process of the hub to take it), running, then succeeded, partial (it went through, but Moodle
// refused some items: see Errors) or failed (it stopped: the source or Moodle failed as a whole,
// or the process running it went away).
type SyncRunStatus string

// Run statuses.
const (
	SyncQueued    SyncRunStatus = "queued"
	SyncRunning   SyncRunStatus = "running"
	SyncSucceeded SyncRunStatus = "succeeded"
	SyncPartial   SyncRunStatus = "partial"
	SyncFailed    SyncRunStatus = "failed"
)

// Done reports whether the run is over.
func (s SyncRunStatus) Done() bool { return s == SyncSucceeded || s == SyncPartial || s == SyncFailed }

// SyncRunStatuses lists every status.
func SyncRunStatuses() []SyncRunStatus {
	return []SyncRunStatus{SyncQueued, SyncRunning, SyncSucceeded, SyncPartial, SyncFailed}
}

// SyncRun is one run of a job: a plan, or a plan carried out, with its report.
type SyncRun struct {
	ID      int64         `json:"id"`
	Job     string        `json:"job"`
	Kind    SyncRunKind   `json:"kind"`
	Trigger SyncTrigger   `json:"trigger"`
	Status  SyncRunStatus `json:"status"`
	// Runner names the process that runs it (host:pid:…), empty while queued.
	Runner string `json:"runner,omitempty"`
	// Expect, when set, is the fingerprint of the plan the caller confirmed: an apply whose fresh
	// plan differs changes nothing and fails with CodeConflict.
	Expect string `json:"expect,omitempty"`
	// ScheduledAt is the schedule's time that a scheduled run stands for.
	ScheduledAt *time.Time   `json:"scheduled_at,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	StartedAt   *time.Time   `json:"started_at,omitempty"`
	FinishedAt  *time.Time   `json:"finished_at,omitempty"`
	Progress    SyncProgress `json:"progress"`
	Counts      SyncCounts   `json:"counts"`
	// Plan is the plan the run computed (lists cut at SyncStoredItems each); left out of lists.
	Plan *SyncPlan `json:"plan,omitempty"`
	// Errors are the items Moodle refused (at most SyncStoredItems; Counts.Failed has them all);
	// left out of lists.
	Errors []SyncItemError `json:"errors,omitempty"`
	// ErrorCode and Error say why a failed run stopped.
	ErrorCode Code   `json:"error_code,omitempty"`
	Error     string `json:"error,omitempty"`
	// MissingCSV is the missing-users report (username,course_shortname,role), served on its own.
	MissingCSV []byte `json:"-"`
}

// SyncStoredItems bounds each list of a stored plan and the stored item errors; counts stay
// exact.
const SyncStoredItems = 2000

// SyncProgress is how far a run is: its phase and, within it, items done of total.
type SyncProgress struct {
	Phase string `json:"phase"`
	Done  int    `json:"done"`
	Total int    `json:"total"`
}

// Phases of a run, in order.
const (
	PhaseQueued      = "queued"
	PhaseSource      = "source"     // fetching the source
	PhaseCourses     = "courses"    // reading Moodle's courses and categories
	PhaseUsers       = "users"      // finding the participants' accounts
	PhaseEnrolments  = "enrolments" // reading the courses' participants
	PhaseCreate      = "create"     // creating courses
	PhaseUpdate      = "update"     // updating courses
	PhaseEnrol       = "enrol"      // enrolling and reactivating
	PhaseRoles       = "roles"      // assigning and unassigning roles
	PhaseRemove      = "remove"     // suspending or unenrolling
	PhaseDone        = "done"
	PhaseInterrupted = "interrupted"
)

// SyncActionCounts counts the changes of a plan, by kind.
type SyncActionCounts struct {
	Create      int `json:"create"`
	Update      int `json:"update"`
	Enrol       int `json:"enrol"`
	Reactivate  int `json:"reactivate"`
	RoleChanges int `json:"role_changes"`
	Suspend     int `json:"suspend"`
	Unenrol     int `json:"unenrol"`
}

// Total is the number of changes.
func (c SyncActionCounts) Total() int {
	return c.Create + c.Update + c.Enrol + c.Reactivate + c.RoleChanges + c.Suspend + c.Unenrol
}

// SyncCounts sums a run up: what the source held, what the plan found, what was applied.
type SyncCounts struct {
	SourceCourses      int              `json:"source_courses"`
	SourceParticipants int              `json:"source_participants"`
	MissingUsers       int              `json:"missing_users"`
	UnknownRoles       int              `json:"unknown_roles"`
	Invalid            int              `json:"invalid"`
	Planned            SyncActionCounts `json:"planned"`
	Applied            SyncActionCounts `json:"applied"`
	Failed             int              `json:"failed"`
}

// SyncPlan is what a run would change, sorted so that the same source and the same Moodle give
// the same plan. Every list is empty in a plan with nothing to do.
type SyncPlan struct {
	// Fingerprint identifies the changes (not the reports): confirm an apply with it.
	Fingerprint string             `json:"fingerprint"`
	Create      []SyncCourse       `json:"create"`
	Update      []SyncCourseUpdate `json:"update"`
	Enrol       []SyncEnrolment    `json:"enrol"`
	Reactivate  []SyncEnrolment    `json:"reactivate"`
	RoleChanges []SyncRoleChange   `json:"role_changes"`
	Suspend     []SyncEnrolment    `json:"suspend"`
	Unenrol     []SyncEnrolment    `json:"unenrol"`
	Missing     []SyncMissingUser  `json:"missing_users"`
	UnknownRole []SyncUnknownRole  `json:"unknown_roles"`
	Invalid     []SyncInvalidItem  `json:"invalid"`
	Warnings    []string           `json:"warnings"`
	// RemovalsRefused says why no enrolment is suspended or removed although the job's removal
	// policy would: the source listed no course or no participant at all.
	RemovalsRefused string `json:"removals_refused,omitempty"`
	// Truncated is set on a stored plan whose lists were cut at SyncStoredItems.
	Truncated bool `json:"truncated,omitempty"`
}

// Counts counts the plan's changes.
func (p *SyncPlan) Counts() SyncActionCounts {
	return SyncActionCounts{
		Create: len(p.Create), Update: len(p.Update), Enrol: len(p.Enrol), Reactivate: len(p.Reactivate),
		RoleChanges: len(p.RoleChanges), Suspend: len(p.Suspend), Unenrol: len(p.Unenrol),
	}
}

// Cut returns a copy whose lists hold at most n items each, marked Truncated when any was cut.
func (p *SyncPlan) Cut(n int) *SyncPlan {
	c := *p
	cut := func(l int) bool { return l > n }
	if cut(len(p.Create)) || cut(len(p.Update)) || cut(len(p.Enrol)) || cut(len(p.Reactivate)) ||
		cut(len(p.RoleChanges)) || cut(len(p.Suspend)) || cut(len(p.Unenrol)) || cut(len(p.Missing)) ||
		cut(len(p.UnknownRole)) || cut(len(p.Invalid)) || cut(len(p.Warnings)) {
		c.Truncated = true
	}
	c.Create = p.Create[:min(n, len(p.Create))]
	c.Update = p.Update[:min(n, len(p.Update))]
	c.Enrol = p.Enrol[:min(n, len(p.Enrol))]
	c.Reactivate = p.Reactivate[:min(n, len(p.Reactivate))]
	c.RoleChanges = p.RoleChanges[:min(n, len(p.RoleChanges))]
	c.Suspend = p.Suspend[:min(n, len(p.Suspend))]
	c.Unenrol = p.Unenrol[:min(n, len(p.Unenrol))]
	c.Missing = p.Missing[:min(n, len(p.Missing))]
	c.UnknownRole = p.UnknownRole[:min(n, len(p.UnknownRole))]
	c.Invalid = p.Invalid[:min(n, len(p.Invalid))]
	c.Warnings = p.Warnings[:min(n, len(p.Warnings))]
	return &c
}

// SyncCourse is a course the plan creates.
type SyncCourse struct {
	ShortName  string `json:"shortname"`
	FullName   string `json:"fullname"`
	CategoryID int64  `json:"category_id"`
	IDNumber   string `json:"idnumber,omitempty"`
	Summary    string `json:"summary,omitempty"`
	StartDate  int64  `json:"startdate,omitempty"`
	EndDate    int64  `json:"enddate,omitempty"`
	// Visible nil leaves it to Moodle: a new course takes its category's visibility.
	Visible *bool `json:"visible,omitempty"`
}

// SyncCourseUpdate is an existing course whose fields differ from the source.
type SyncCourseUpdate struct {
	CourseID  int64             `json:"course_id"`
	ShortName string            `json:"shortname"`
	Changes   []SyncFieldChange `json:"changes"`
}

// SyncFieldChange is one field of a course update: fullname, idnumber, summary (strings),
// startdate, enddate, category_id (integers) or visible (a boolean).
type SyncFieldChange struct {
	Field string `json:"field"`
	From  any    `json:"from"`
	To    any    `json:"to"`
}

// SyncEnrolment is one participant of one course: to enrol, reactivate, suspend or unenrol.
// User is the participant as the source names it (the value of the job's match field).
type SyncEnrolment struct {
	Course   string `json:"course"`
	CourseID int64  `json:"course_id,omitempty"` // 0: a course the plan creates
	User     string `json:"user"`
	UserID   int64  `json:"user_id"`
	Role     string `json:"role,omitempty"`
	RoleID   int64  `json:"role_id,omitempty"`
}

// SyncRole is a Moodle role.
type SyncRole struct {
	ID        int64  `json:"id"`
	ShortName string `json:"shortname"`
}

// SyncRoleChange gives and takes roles of an enrolled participant. Only managed roles (see
// SyncJob.ManagedRoles) are taken.
type SyncRoleChange struct {
	Course   string     `json:"course"`
	CourseID int64      `json:"course_id,omitempty"`
	User     string     `json:"user"`
	UserID   int64      `json:"user_id"`
	Add      []SyncRole `json:"add,omitempty"`
	Remove   []SyncRole `json:"remove,omitempty"`
}

// SyncMissingUser is a participant with no Moodle account: a line of the missing-users CSV.
type SyncMissingUser struct {
	User   string `json:"user"`
	Course string `json:"course"`
	Role   string `json:"role"`
}

// SyncUnknownRole is a role name of the source that the job does not map; its participants get
// the default role.
type SyncUnknownRole struct {
	Name     string `json:"name"`
	Count    int    `json:"count"`
	MappedTo string `json:"mapped_to"`
	// Course and User are the first participant that carried it.
	Course string `json:"course"`
	User   string `json:"user"`
}

// SyncInvalidItem is a course or a participant of the source that the sync leaves alone, with
// the reason. Index is the course's position in the source (from 0).
type SyncInvalidItem struct {
	Index  int    `json:"index"`
	Course string `json:"course,omitempty"`
	User   string `json:"user,omitempty"`
	Reason string `json:"reason"`
}

// SyncItemError is a change Moodle refused, or one skipped because the change it depended on
// failed (an enrolment in a course that could not be created).
type SyncItemError struct {
	Action  string `json:"action"` // create, update, enrol, reactivate, assign, unassign, suspend, unenrol
	Course  string `json:"course,omitempty"`
	User    string `json:"user,omitempty"`
	Code    string `json:"code"` // Moodle's errorcode, or skipped
	Message string `json:"message"`
}

// SyncRunFilter selects runs, newest first.
type SyncRunFilter struct {
	Job     string
	Status  []SyncRunStatus
	Trigger SyncTrigger
	Limit   int
	Cursor  string
}

// SyncStore keeps sync jobs and their runs.
type SyncStore interface {
	FindSyncJobByName(ctx context.Context, name string) (*SyncJob, error)
	// FindSyncJobs returns every job by name.
	FindSyncJobs(ctx context.Context) ([]*SyncJob, error)
	// CreateSyncJob normalizes, validates and stores a new job; a taken name is CodeConflict.
	CreateSyncJob(ctx context.Context, j *SyncJob) error
	UpdateSyncJob(ctx context.Context, j *SyncJob) error
	// DeleteSyncJob deletes a job with its runs.
	DeleteSyncJob(ctx context.Context, name string) error

	// CreateSyncRun stores a new run, queued or running, and sets its ID and CreatedAt. Its job
	// must exist (CodeNotFound).
	CreateSyncRun(ctx context.Context, r *SyncRun) error
	// FindSyncRunByID returns a run with its plan and errors, without its CSV.
	FindSyncRunByID(ctx context.Context, id int64) (*SyncRun, error)
	// FindSyncRuns returns runs without plans, errors or CSV, newest first.
	FindSyncRuns(ctx context.Context, f SyncRunFilter) ([]*SyncRun, string, error)
	// FindSyncRunCSV returns a run's missing-users CSV (empty when it has none).
	FindSyncRunCSV(ctx context.Context, id int64) ([]byte, error)
	// StartSyncRun moves a queued run to running for runner; CodeConflict when it is no longer
	// queued (another process took it).
	StartSyncRun(ctx context.Context, id int64, runner string, now time.Time) error
	// SetSyncRunProgress records the progress of runner's running run; CodeConflict when the run
	// is not running for runner any more.
	SetSyncRunProgress(ctx context.Context, id int64, runner string, p SyncProgress) error
	// FinishSyncRun records the outcome of runner's running run: status, progress, counts, plan,
	// errors, CSV and finished_at; CodeConflict when the run is not running for runner.
	FinishSyncRun(ctx context.Context, r *SyncRun) error
	// AbandonSyncRuns fails the job's running runs whose runner is not runner, with reason: the
	// caller holds the job's lease, so they are left over from a process that went away.
	AbandonSyncRuns(ctx context.Context, job, runner, reason string, now time.Time) (int, error)
	// PruneSyncRuns deletes the job's finished runs beyond the newest keep.
	PruneSyncRuns(ctx context.Context, job string, keep int) (int, error)
}
