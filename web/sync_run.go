package web

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/coursesync"
)

// syncItemsShown is how many items of each list of a plan, and of a report's errors, a run's
// page shows unless asked for all that the record keeps (?full=1); the totals are always shown.
const syncItemsShown = 100

// syncPhase is one step of a run as its page lists them.
type syncPhase struct {
	ID, Label string
	State     string // "done", "current" or ""
}

var (
	syncPlanPhases = []syncPhase{
		{ID: mih.PhaseSource, Label: "Fetch the source"},
		{ID: mih.PhaseCourses, Label: "Read Moodle's courses and categories"},
		{ID: mih.PhaseUsers, Label: "Find the participants' accounts"},
		{ID: mih.PhaseEnrolments, Label: "Read the courses' participants"},
	}
	syncApplyPhases = []syncPhase{
		{ID: mih.PhaseCreate, Label: "Create courses"},
		{ID: mih.PhaseUpdate, Label: "Update courses"},
		{ID: mih.PhaseEnrol, Label: "Enrol and reactivate"},
		{ID: mih.PhaseRoles, Label: "Assign and unassign roles"},
		{ID: mih.PhaseRemove, Label: "Suspend or unenrol"},
	}
)

// syncProgressView is a run's progress: the phase, done of total as a bar and as text, and the
// steps of the run with the ones behind it marked.
type syncProgressView struct {
	Phase  string
	Label  string
	Done   int
	Total  int
	Pct    int
	Phases []syncPhase
}

func newSyncProgressView(run *mih.SyncRun) syncProgressView {
	p := run.Progress
	v := syncProgressView{Phase: p.Phase, Done: p.Done, Total: p.Total, Label: "Waiting for a hub process to take it"}
	if p.Total > 0 {
		v.Pct = min(100, p.Done*100/p.Total)
	}
	phases := syncPlanPhases
	if run.Kind == mih.SyncApply {
		phases = append(phases[:len(phases):len(phases)], syncApplyPhases...)
	}
	current := -1
	switch p.Phase {
	case mih.PhaseDone:
		current, v.Label = len(phases), "Done"
	case mih.PhaseInterrupted:
		v.Label = "Interrupted"
	}
	for i, ph := range phases {
		if ph.ID == p.Phase {
			current = i
			v.Label = ph.Label
		}
	}
	for i, ph := range phases {
		switch {
		case current >= 0 && i < current:
			ph.State = "done"
		case i == current:
			ph.State = "current"
		}
		v.Phases = append(v.Phases, ph)
	}
	return v
}

// syncTable is one list of a plan or a report, as a table of text cells: the template draws
// every list the same way.
type syncTable struct {
	ID, Title, Hint string
	Head            []string
	Rows            [][]string
	// Total is the list's full length (the run's counts are exact; the record keeps at most
	// mih.SyncStoredItems of each list and the page shows syncItemsShown of them).
	Total  int
	Danger bool
	// MoreHref shows the whole list as the record keeps it, when the page cut it.
	MoreHref string
}

// Cut reports whether the table shows fewer rows than the list has.
func (t syncTable) Cut() bool { return t.Total > len(t.Rows) }

type syncCountRow struct {
	Label            string
	Planned, Applied int
}

type syncRunData struct {
	Job      *mih.SyncJob
	Run      *mih.SyncRun
	Badge    badge
	Trigger  string
	Done     bool
	Duration string
	Progress syncProgressView
	// Error is why a failed run stopped, with every secret of the site and the source masked.
	Error  string
	Counts []syncCountRow
	// Lists are the plan's lists and, for an apply, the items Moodle refused.
	Lists  []syncTable
	Errors *syncTable
	// Warnings, RemovalsRefused and Truncated come from the plan.
	Warnings        []string
	RemovalsRefused string
	Truncated       bool
	Stored          int
	Full            bool
	FullHref        string
	CSVHref         string
	LiveHref        string
	// Confirm is set when the run is a preview that can be applied; Blocked says why one
	// cannot (a disabled job).
	Confirm   bool
	Blocked   string
	Removals  int
	Unenrols  int
	Conflict  bool
	QueuedFor string
}

// syncRunPath is a run's page.
func syncRunPath(job string, id int64) string {
	return syncJobPath(job) + "/" + strconv.FormatInt(id, 10)
}

// syncRun shows a run: its progress while it is queued or going on (the page refreshes itself
// until it is over), then its plan, and for an apply its report with the items Moodle refused.
// A finished preview with changes offers to apply exactly that plan.
func (h *Handler) syncRun(w http.ResponseWriter, r *http.Request) error {
	d, err := h.loadSyncRun(r)
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "sync_run", fmt.Sprintf("Sync run %d", d.Run.ID), "sync", d)
}

// syncRunLive is the run page's changing part alone, which app.js fetches while the run goes on.
func (h *Handler) syncRunLive(w http.ResponseWriter, r *http.Request) error {
	d, err := h.loadSyncRun(r)
	if err != nil {
		return err
	}
	return h.renderFragment(w, r, "sync_run", "live", d)
}

// findSyncRun reads the run the path names; a run of another job is no page of this one.
func (h *Handler) findSyncRun(r *http.Request) (*mih.SyncRun, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	run, err := h.store.FindSyncRunByID(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if run.Job != r.PathValue("job") {
		return nil, errPageNotFound
	}
	return run, nil
}

func (h *Handler) loadSyncRun(r *http.Request) (*syncRunData, error) {
	ctx := r.Context()
	run, err := h.findSyncRun(r)
	if err != nil {
		return nil, err
	}
	job, err := h.store.FindSyncJobByName(ctx, run.Job)
	if err != nil {
		return nil, err
	}
	rd, err := h.syncSecrets(ctx, job)
	if err != nil {
		return nil, err
	}
	now := h.now()
	full := r.URL.Query().Get("full") == "1"
	runPath := syncRunPath(job.Name, run.ID)
	d := &syncRunData{Job: job, Run: run, Badge: syncRunBadge(run.Status), Trigger: syncTriggerLabel(run.Trigger),
		Done: run.Status.Done(), Duration: runDuration(run, now), Progress: newSyncProgressView(run),
		Error: rd.apply(run.Error), Full: full, LiveHref: runPath + "/live", FullHref: runPath + "?full=1"}
	if full {
		d.LiveHref += "?full=1"
	}
	if run.Status == mih.SyncQueued {
		d.QueuedFor = formatDuration(now.Sub(run.CreatedAt))
	}
	if run.Counts.MissingUsers > 0 {
		d.CSVHref = runPath + "/missing.csv"
	}
	d.Conflict = run.Status == mih.SyncFailed && run.ErrorCode == mih.CodeConflict && run.Kind == mih.SyncApply
	c := run.Counts
	d.Counts = []syncCountRow{
		{"Courses to create", c.Planned.Create, c.Applied.Create},
		{"Courses to update", c.Planned.Update, c.Applied.Update},
		{"Enrolments to add", c.Planned.Enrol, c.Applied.Enrol},
		{"Enrolments to reactivate", c.Planned.Reactivate, c.Applied.Reactivate},
		{"Role changes", c.Planned.RoleChanges, c.Applied.RoleChanges},
		{"Enrolments to suspend", c.Planned.Suspend, c.Applied.Suspend},
		{"Enrolments to remove (unenrol)", c.Planned.Unenrol, c.Applied.Unenrol},
	}
	limit := syncItemsShown
	if full {
		limit = mih.SyncStoredItems
	}
	if p := run.Plan; p != nil {
		d.Lists = planTables(p, c, limit)
		d.Warnings = p.Warnings
		d.RemovalsRefused = p.RemovalsRefused
		d.Truncated, d.Stored = p.Truncated, mih.SyncStoredItems
	}
	if !full {
		for i := range d.Lists {
			if d.Lists[i].Cut() {
				d.Lists[i].MoreHref = d.FullHref + "#list-" + d.Lists[i].ID
			}
		}
	}
	if len(run.Errors) > 0 || c.Failed > 0 {
		t := syncTable{ID: "errors", Title: "Items Moodle refused", Head: []string{"Action", "Course", "User", "Code", "Message"},
			Total: max(c.Failed, len(run.Errors)), Danger: true,
			Hint: "Everything else went through. The next run plans again from Moodle's state, so fixing the cause and running again finishes the job."}
		for _, e := range run.Errors[:min(limit, len(run.Errors))] {
			t.Rows = append(t.Rows, []string{e.Action, e.Course, e.User, e.Code, rd.apply(e.Message)})
		}
		if t.Cut() && !full {
			t.MoreHref = d.FullHref + "#list-errors"
		}
		d.Errors = &t
	}
	d.Removals, d.Unenrols = c.Planned.Suspend+c.Planned.Unenrol, c.Planned.Unenrol
	if run.Kind == mih.SyncPlanOnly && run.Status == mih.SyncSucceeded && run.Plan != nil && c.Planned.Total() > 0 {
		if job.Enabled {
			d.Confirm = true
		} else {
			d.Blocked = "The job is disabled: enable it to apply a plan."
		}
	}
	return d, nil
}

// planTables turns a plan into its lists, each cut at limit rows, with the exact totals of the
// run's counts.
func planTables(p *mih.SyncPlan, c mih.SyncCounts, limit int) []syncTable {
	enrolRows := func(list []mih.SyncEnrolment) [][]string {
		var rows [][]string
		for _, e := range list[:min(limit, len(list))] {
			rows = append(rows, []string{e.Course, e.User, e.Role})
		}
		return rows
	}
	var out []syncTable

	t := syncTable{ID: "create", Title: "Courses to create", Total: c.Planned.Create,
		Head: []string{"Short name", "Full name", "Category id", "ID number", "Start", "End", "Visible"}}
	for _, co := range p.Create[:min(limit, len(p.Create))] {
		visible := "as its category"
		if co.Visible != nil {
			visible = strconv.FormatBool(*co.Visible)
		}
		t.Rows = append(t.Rows, []string{co.ShortName, co.FullName, strconv.FormatInt(co.CategoryID, 10), co.IDNumber,
			syncDate(co.StartDate), syncDate(co.EndDate), visible})
	}
	out = append(out, t)

	t = syncTable{ID: "update", Title: "Courses to update", Total: c.Planned.Update, Head: []string{"Short name", "Changes"}}
	for _, u := range p.Update[:min(limit, len(p.Update))] {
		var ch []string
		for _, fc := range u.Changes {
			ch = append(ch, fmt.Sprintf("%s: %s → %s", fc.Field, syncValue(fc.Field, fc.From), syncValue(fc.Field, fc.To)))
		}
		t.Rows = append(t.Rows, []string{u.ShortName, strings.Join(ch, "; ")})
	}
	out = append(out, t)

	head := []string{"Course", "User", "Role"}
	out = append(out,
		syncTable{ID: "enrol", Title: "Enrolments to add", Total: c.Planned.Enrol, Head: head, Rows: enrolRows(p.Enrol)},
		syncTable{ID: "reactivate", Title: "Enrolments to reactivate", Hint: "Suspended (or out of their dates) and listed by the source again.",
			Total: c.Planned.Reactivate, Head: head, Rows: enrolRows(p.Reactivate)})

	t = syncTable{ID: "roles", Title: "Role changes", Total: c.Planned.RoleChanges, Head: []string{"Course", "User", "Roles given", "Roles taken"},
		Hint: "Roles are given before others are taken, so nobody goes without a role in between; only the roles the job hands out are ever taken."}
	for _, rc := range p.RoleChanges[:min(limit, len(p.RoleChanges))] {
		t.Rows = append(t.Rows, []string{rc.Course, rc.User, syncRoles(rc.Add), syncRoles(rc.Remove)})
	}
	out = append(out, t)

	out = append(out,
		syncTable{ID: "suspend", Title: "Enrolments to suspend", Hint: "No longer listed by the source; roles and grades are kept.",
			Total: c.Planned.Suspend, Head: head, Rows: enrolRows(p.Suspend)},
		syncTable{ID: "unenrol", Title: "Enrolments to remove (unenrol)", Danger: true,
			Hint:  "No longer listed by the source. Unenrolling removes their roles, groups and grades in the course.",
			Total: c.Planned.Unenrol, Head: head, Rows: enrolRows(p.Unenrol)})

	t = syncTable{ID: "missing", Title: "Missing users", Total: c.MissingUsers, Head: []string{"User", "Course", "Role"},
		Hint: "Participants without a Moodle account: nothing is done for them. The CSV lists them all."}
	for _, m := range p.Missing[:min(limit, len(p.Missing))] {
		t.Rows = append(t.Rows, []string{m.User, m.Course, m.Role})
	}
	out = append(out, t)

	t = syncTable{ID: "unknown-roles", Title: "Unknown roles", Total: c.UnknownRoles, Head: []string{"Source role", "Participants", "Given", "First seen"},
		Hint: "Role names the job's mapping does not know: their participants get the default role. Map them in the job to change that."}
	for _, u := range p.UnknownRole[:min(limit, len(p.UnknownRole))] {
		t.Rows = append(t.Rows, []string{u.Name, strconv.Itoa(u.Count), u.MappedTo, u.User + " in " + u.Course})
	}
	out = append(out, t)

	t = syncTable{ID: "invalid", Title: "Invalid items", Total: c.Invalid, Head: []string{"Course #", "Course", "User", "Reason"},
		Hint: "Items of the source that cannot be used; they are left alone and the rest is planned."}
	for _, it := range p.Invalid[:min(limit, len(p.Invalid))] {
		t.Rows = append(t.Rows, []string{strconv.Itoa(it.Index + 1), it.Course, it.User, it.Reason})
	}
	out = append(out, t)
	return out
}

// syncDate shows a course date (Unix seconds) as a UTC day; empty for none.
func syncDate(s int64) string {
	if s == 0 {
		return ""
	}
	return time.Unix(s, 0).UTC().Format("2006-01-02")
}

// syncValue shows a field's value in a course update: strings quoted, dates as days, numbers
// as integers (a stored plan reads them back from JSON as float64).
func syncValue(field string, v any) string {
	var n float64
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "none"
	case bool:
		return strconv.FormatBool(x)
	case float64:
		n = x
	case int64:
		n = float64(x)
	case int:
		n = float64(x)
	default:
		return fmt.Sprint(x)
	}
	if (field == "startdate" || field == "enddate") && n > 0 {
		return syncDate(int64(n))
	}
	return strconv.FormatFloat(n, 'f', -1, 64)
}

func syncRoles(roles []mih.SyncRole) string {
	var out []string
	for _, r := range roles {
		out = append(out, fmt.Sprintf("%s (%d)", r.ShortName, r.ID))
	}
	return strings.Join(out, ", ")
}

// syncSecrets is a redactor of every secret the run's text could echo: the source service's
// credentials and the site's Web Services token, plugin secret and database password.
func (h *Handler) syncSecrets(ctx context.Context, job *mih.SyncJob) (redactor, error) {
	var rd redactor
	svc, err := findOptional(ctx, job.SourceService, h.store.FindServiceByName)
	if err != nil {
		return nil, err
	}
	if svc != nil {
		rd = secretsOf(svc)
	}
	site, err := findOptional(ctx, job.Site, h.store.FindSiteByName)
	if err != nil {
		return nil, err
	}
	if site != nil {
		rd = append(rd, siteSecrets(site)...)
	}
	// Longest first, so that a secret containing another is replaced whole.
	slices.SortFunc(rd, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return rd, nil
}

// syncMissingCSV serves a run's missing-users report as a download named after the job and
// the run; a header line alone when the run found nobody missing (or has not planned yet), as
// the API serves it.
func (h *Handler) syncMissingCSV(w http.ResponseWriter, r *http.Request) error {
	run, err := h.findSyncRun(r)
	if err != nil {
		return err
	}
	b, err := h.store.FindSyncRunCSV(r.Context(), run.ID)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		b = coursesync.MissingCSV(nil)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%d-missing.csv"`, run.Job, run.ID))
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	// A failed write means the client went away.
	w.Write(b)
	return nil
}
