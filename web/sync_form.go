package web

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/coursesync"
)

// syncForm is the add/edit form of a course sync job, with every field of the job's JSON
// (docs/api.md, Course sync). Field names are the JSON names, so that an error of
// coursesync.CheckJob, which starts with the field ("schedule \"…\": …", "roles[\"x\"]: …"), lands
// next to its field. The role mapping and the role ids are rows of two inputs each: the form always
// has a few empty rows, and "More rows" adds some without saving, so that it works without script.
type syncForm struct {
	New     bool
	Name    string // the job's name when editing
	Action  string
	V       map[string]string
	Roles   []syncRoleRow
	RoleIDs []syncRoleIDRow
	Errors  map[string]string
	// Error is a fault no single field owns.
	Error string
	// NextRuns are the next times a valid schedule fires: the parser's feedback.
	NextRuns []time.Time
}

type syncRoleRow struct{ Name, Role string }

type syncRoleIDRow struct{ Name, ID string }

// Empty rows the form offers below the filled ones, and how many "More rows" adds.
const (
	syncBlankRows = 2
	syncMoreRows  = 3
	// syncMaxRows bounds the rows a form may hold: a mapping is a handful of names.
	syncMaxRows = 200
)

// syncFields are the form fields an error message may start with.
var syncFields = []string{"name", "site", "source_service", "source_path", "category", "match_field",
	"roles", "role_ids", "default_role", "removal", "update_courses", "schedule", "enabled",
	"timeout_s", "batch_max", "write_parallel", "read_parallel"}

func (f *syncForm) fail(field, format string, args ...any) {
	if field == "" {
		f.Error = fmt.Sprintf(format, args...)
		return
	}
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	if _, ok := f.Errors[field]; !ok {
		f.Errors[field] = fmt.Sprintf(format, args...)
	}
}

// syncFieldOf names the field an error message of the job's validation is about: the message
// starts with the JSON name, followed by a space, a colon or an index ("role_ids[\"x\"]").
func syncFieldOf(msg string) string {
	head := msg
	if i := strings.IndexAny(msg, " :["); i >= 0 {
		head = msg[:i]
	}
	if slices.Contains(syncFields, head) {
		return head
	}
	return ""
}

// newSyncForm fills the form from a job: a stored one, or the defaults of a new one.
func newSyncForm(j *mih.SyncJob, isNew bool) *syncForm {
	f := &syncForm{New: isNew, Name: j.Name, V: map[string]string{}}
	f.Action = "/sync"
	if !isNew {
		f.Action = "/sync/" + url.PathEscape(j.Name) + "/edit"
	}
	v := f.V
	v["name"] = j.Name
	v["site"] = j.Site
	v["source_service"] = j.SourceService
	v["source_path"] = j.SourcePath
	v["category_kind"] = "id"
	switch {
	case j.Category.IDNumber != "":
		v["category_kind"], v["category"] = "idnumber", j.Category.IDNumber
	case j.Category.ID > 0:
		v["category"] = strconv.FormatInt(j.Category.ID, 10)
	}
	v["match_field"] = cmp.Or(j.MatchField, mih.MatchUsername)
	v["default_role"] = j.DefaultRole
	v["removal"] = cmp.Or(j.Removal, mih.RemovalKeep)
	v["update_courses"] = strconv.FormatBool(j.UpdateCourses)
	v["schedule"] = j.Schedule
	v["enabled"] = strconv.FormatBool(j.Enabled)
	v["timeout_s"], v["batch_max"], v["write_parallel"], v["read_parallel"] = "", "", "", ""
	if j.TimeoutS > 0 {
		v["timeout_s"] = num64(j.TimeoutS)
	}
	for k, n := range map[string]int{"batch_max": j.BatchMax, "write_parallel": j.WriteParallel, "read_parallel": j.ReadParallel} {
		if n > 0 {
			v[k] = strconv.Itoa(n)
		}
	}
	f.Roles = syncRoleRows(j)
	ids := slices.SortedFunc(maps.Keys(j.RoleIDs), func(a, b string) int {
		return cmp.Or(cmp.Compare(j.RoleIDs[a], j.RoleIDs[b]), cmp.Compare(a, b))
	})
	for _, name := range ids {
		f.RoleIDs = append(f.RoleIDs, syncRoleIDRow{Name: name, ID: strconv.FormatInt(j.RoleIDs[name], 10)})
	}
	f.blanks(syncBlankRows)
	return f
}

// syncRoleRows is the job's role mapping, sorted by source name.
func syncRoleRows(j *mih.SyncJob) []syncRoleRow {
	rows := make([]syncRoleRow, 0, len(j.Roles))
	for _, name := range slices.Sorted(maps.Keys(j.Roles)) {
		rows = append(rows, syncRoleRow{Name: name, Role: j.Roles[name]})
	}
	return rows
}

// newSyncJobDefaults is a new job as the form first shows it: the defaults the API would fill
// in, written out, so that the administrator sees the role mapping and ids they get.
func newSyncJobDefaults() *mih.SyncJob {
	j := mih.NewSyncJob()
	j.Normalize()
	return j
}

// blanks adds n empty rows to both lists.
func (f *syncForm) blanks(n int) {
	for range n {
		f.Roles = append(f.Roles, syncRoleRow{})
		f.RoleIDs = append(f.RoleIDs, syncRoleIDRow{})
	}
}

// parseSyncForm builds a job from a submitted form. old is the stored job when editing (nil when
// adding). The returned form holds what was typed and the errors by field; the job is nil when
// the form itself is wrong (a role id that is not a number, a role name given twice). The
// job's own rules are checked afterwards by coursesync.CheckJob, as the API does.
func parseSyncForm(r *http.Request, old *mih.SyncJob) (*mih.SyncJob, *syncForm) {
	base := newSyncJobDefaults()
	if old != nil {
		base = old
	}
	f := newSyncForm(base, old == nil)
	get := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	v := f.V
	for _, k := range []string{"name", "site", "source_service", "source_path", "category_kind", "category",
		"match_field", "default_role", "removal", "schedule", "timeout_s", "batch_max", "write_parallel", "read_parallel"} {
		v[k] = get(k)
	}
	v["update_courses"] = strconv.FormatBool(r.PostFormValue("update_courses") != "")
	v["enabled"] = strconv.FormatBool(r.PostFormValue("enabled") != "")
	if old != nil {
		v["name"] = old.Name // a job cannot be renamed
	}

	j := mih.NewSyncJob()
	j.Name, j.Site, j.SourceService, j.SourcePath = v["name"], v["site"], v["source_service"], v["source_path"]
	j.MatchField, j.DefaultRole, j.Removal, j.Schedule = v["match_field"], v["default_role"], v["removal"], v["schedule"]
	j.UpdateCourses, j.Enabled = v["update_courses"] == "true", v["enabled"] == "true"
	// The settings of the job's calls to Moodle: empty is 0, the default; their ranges are
	// the job's own rules, checked with the rest.
	if t := v["timeout_s"]; t != "" {
		n, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			f.fail("timeout_s", "want a number of seconds, or nothing for the default (60)")
		} else {
			j.TimeoutS = n
		}
	}
	for _, in := range []struct {
		field string
		dst   *int
	}{{"batch_max", &j.BatchMax}, {"write_parallel", &j.WriteParallel}, {"read_parallel", &j.ReadParallel}} {
		if t := v[in.field]; t != "" {
			n, err := strconv.Atoi(t)
			if err != nil {
				f.fail(in.field, "want a whole number, or nothing for the default")
				continue
			}
			*in.dst = n
		}
	}

	switch c := v["category"]; {
	case c == "":
		// The default category (1) fills in.
	case v["category_kind"] == "idnumber":
		j.Category = mih.SyncCategory{IDNumber: c}
	default:
		id, err := strconv.ParseInt(c, 10, 64)
		if err != nil || id <= 0 {
			f.fail("category", "want a category id (a positive whole number), or choose \"idnumber\" for %q", c)
		} else {
			j.Category = mih.SyncCategory{ID: id}
		}
	}

	// The role mapping: rows of source name and Moodle role; an empty row is no row.
	names, roles := r.PostForm["roles.name"], r.PostForm["roles.role"]
	f.Roles = nil
	j.Roles = map[string]string{}
	seen := map[string]int{}
	for i := range min(max(len(names), len(roles)), syncMaxRows) {
		row := syncRoleRow{Name: strings.TrimSpace(at(names, i)), Role: strings.TrimSpace(at(roles, i))}
		if row.Name == "" && row.Role == "" {
			continue
		}
		f.Roles = append(f.Roles, row)
		n := len(f.Roles)
		key := strings.ToLower(row.Name)
		switch {
		case row.Name == "":
			f.fail("roles", "row %d: the source's role name is empty (clear the row to remove it)", n)
		case row.Role == "":
			f.fail("roles", "row %d: %q maps to no Moodle role (clear the row to remove it)", n, row.Name)
		case seen[key] > 0:
			f.fail("roles", "rows %d and %d: %q is mapped twice (names are compared without case)", seen[key], n, row.Name)
		default:
			seen[key] = n
			j.Roles[key] = row.Role
		}
	}

	// The role ids: rows of Moodle role short name and id; the standard ids fill in the rest.
	names, ids := r.PostForm["role_ids.name"], r.PostForm["role_ids.id"]
	f.RoleIDs = nil
	j.RoleIDs = map[string]int64{}
	for i := range min(max(len(names), len(ids)), syncMaxRows) {
		row := syncRoleIDRow{Name: strings.TrimSpace(at(names, i)), ID: strings.TrimSpace(at(ids, i))}
		if row.Name == "" && row.ID == "" {
			continue
		}
		f.RoleIDs = append(f.RoleIDs, row)
		n := len(f.RoleIDs)
		id, err := strconv.ParseInt(row.ID, 10, 64)
		switch {
		case row.Name == "":
			f.fail("role_ids", "row %d: the role's short name is empty (clear the row to remove it)", n)
		case err != nil || id <= 0:
			f.fail("role_ids", "row %d: %s: want the role's id on the site (a positive whole number)", n, row.Name)
		case j.RoleIDs[row.Name] != 0:
			f.fail("role_ids", "row %d: %s is given twice", n, row.Name)
		default:
			j.RoleIDs[row.Name] = id
		}
	}
	f.blanks(syncBlankRows)
	if len(f.Errors) > 0 {
		return nil, f
	}
	if old != nil {
		j.CreatedAt = old.CreatedAt
	}
	return j, f
}

func at(list []string, i int) string {
	if i < len(list) {
		return list[i]
	}
	return ""
}

// nextRuns returns the next n times a schedule fires, or nil when it has none or does not parse.
func nextRuns(spec string, now time.Time, n int) []time.Time {
	if spec == "" {
		return nil
	}
	s, err := coursesync.ParseSchedule(spec)
	if err != nil {
		return nil
	}
	var out []time.Time
	t := now
	for range n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// syncFormView is what the form's template gets: the form, and the choices of its selects.
type syncFormView struct {
	*syncForm
	Sites []string
	// Services are the REST services. The job's own site and service stay offered when they no
	// longer exist, so that an edit never moves a job by accident; the check reports them.
	Services    []serviceOption
	MatchFields []struct{ Value, Label string }
	Removals    []syncRemoval
	// RoleNames are the Moodle role short names the ids list: the choices of the role fields.
	RoleNames []string
}

type syncRemoval struct {
	Value, Label, Hint string
	Danger             bool
}

var (
	syncMatchFields = []struct{ Value, Label string }{
		{mih.MatchUsername, "username"}, {mih.MatchIDNumber, "idnumber (ID number)"}, {mih.MatchEmail, "email"},
	}
	syncRemovals = []syncRemoval{
		{mih.RemovalKeep, "Keep", "Participants the source no longer lists stay enrolled.", false},
		{mih.RemovalSuspend, "Suspend", "Their enrolment is suspended, roles and grades kept; it is reactivated when they come back.", false},
		{mih.RemovalUnenrol, "Unenrol", "Their enrolment is removed, with their roles, groups and grades in the course. This cannot be undone from the hub.", true},
	}
)

func (h *Handler) renderSyncForm(w http.ResponseWriter, r *http.Request, status int, f *syncForm) error {
	ctx := r.Context()
	sites, err := h.store.FindSites(ctx)
	if err != nil {
		return err
	}
	services, err := h.store.FindServices(ctx)
	if err != nil {
		return err
	}
	v := syncFormView{syncForm: f, MatchFields: syncMatchFields, Removals: syncRemovals}
	for _, s := range sites {
		v.Sites = append(v.Sites, s.Name)
	}
	if s := f.V["site"]; s != "" && !slices.Contains(v.Sites, s) {
		v.Sites = append(v.Sites, s)
	}
	slices.Sort(v.Sites)
	// The source is a REST service answering JSON: other types are not offered.
	for _, s := range services {
		if s.Type == mih.ServiceREST {
			v.Services = append(v.Services, serviceOption{s.Name, s.Type, s.Enabled})
		}
	}
	if s := f.V["source_service"]; s != "" && !slices.ContainsFunc(v.Services, func(o serviceOption) bool { return o.Name == s }) {
		v.Services = append(v.Services, serviceOption{Name: s, Enabled: true})
	}
	slices.SortFunc(v.Services, func(a, b serviceOption) int { return cmp.Compare(a.Name, b.Name) })
	for _, row := range f.RoleIDs {
		if row.Name != "" && !slices.Contains(v.RoleNames, row.Name) {
			v.RoleNames = append(v.RoleNames, row.Name)
		}
	}
	if f.Errors["schedule"] == "" {
		f.NextRuns = nextRuns(f.V["schedule"], h.now(), 3)
	}
	title := "Add a sync job"
	if !f.New {
		title = "Sync job " + f.Name
	}
	return h.render(w, r, status, "sync_form", title, "sync", v)
}
