package coursesync

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
)

// Plan is a job's plan with what applying it needs: the site's client and the job.
type Plan struct {
	*mih.SyncPlan
	// Counts has the source's counts and the planned changes; Applied and Failed are zero.
	Counts mih.SyncCounts

	job    *mih.SyncJob
	client *moodle.Client
	tune   tuning
	reader enrolmentReader
	db     MoodleDB // nil: the Web Services are read
	// edit: suspensions and reactivations go through local_mih_update_enrolments.
	edit bool
}

// Job returns the job the plan is for.
func (p *Plan) Job() *mih.SyncJob { return p.job }

// Close releases the plan's connections to Moodle.
func (p *Plan) Close() error {
	if p.db != nil {
		p.db.Close()
	}
	return p.client.Close()
}

// Plan reads the job's source and the site's current state and computes what would change. It
// changes nothing. progress (may be nil) is told how far it is.
//
// A source that cannot be fetched or is not a course list, a site whose Web Services refuse the
// reads, or a category for new courses that does not exist, is an error: nothing may be
// planned from it. Items of the source that cannot be used are reported in the plan (Invalid)
// and the rest is planned.
func (r *Runner) Plan(ctx context.Context, job *mih.SyncJob, progress func(mih.SyncProgress)) (*Plan, error) {
	if progress == nil {
		progress = func(mih.SyncProgress) {}
	}
	site, err := r.store.FindSiteByName(ctx, job.Site)
	if err != nil {
		if mih.ErrorCode(err) == mih.CodeNotFound {
			return nil, mih.Errorf(mih.CodeInvalid, "site %q does not exist", job.Site)
		}
		return nil, fmt.Errorf("find site: %w", err)
	}
	progress(mih.SyncProgress{Phase: mih.PhaseSource, Total: 1})
	body, err := r.fetchSource(ctx, job)
	if err != nil {
		return nil, err
	}
	src, err := parseSource(body, job)
	if err != nil {
		return nil, err
	}
	progress(mih.SyncProgress{Phase: mih.PhaseSource, Done: 1, Total: 1})
	client, err := r.client(site)
	if err != nil {
		return nil, mih.WrapError(mih.CodeInvalid, err, "site %q: %v", site.Name, err)
	}
	tune := r.tuning(job)
	client = client.WithTimeout(tune.timeout)
	pl := &planner{r: r, job: job, client: client, src: src, progress: progress, managed: job.ManagedRoles(), tune: tune}
	pl.reader = &wsEnrolments{client: client, parallel: tune.readParallel, name: matchValue(job.MatchField)}
	if site.DB != "" {
		db, err := r.database(site)
		if err != nil {
			pl.warnings = append(pl.warnings, "the site's database cannot be used, Moodle is read through its Web Services: "+mih.ErrorMessage(err))
		} else {
			pl.db = db
			pl.reader = &dbEnrolments{db: db, name: matchValue(job.MatchField)}
		}
	}
	sp, err := pl.plan(ctx)
	if err != nil {
		if pl.db != nil {
			pl.db.Close()
		}
		client.Close()
		return nil, err
	}
	p := &Plan{SyncPlan: sp, job: job, client: client, tune: tune, reader: pl.reader, db: pl.db, edit: pl.canEdit}
	p.Counts = mih.SyncCounts{
		SourceCourses: len(src.courses), SourceParticipants: src.participants,
		MissingUsers: len(sp.Missing), UnknownRoles: len(sp.UnknownRole), Invalid: len(sp.Invalid),
		Planned: sp.Counts(),
	}
	return p, nil
}

type planner struct {
	r        *Runner
	job      *mih.SyncJob
	client   *moodle.Client
	src      *source
	progress func(mih.SyncProgress)
	managed  map[int64]string
	siteID   int64
	tune     tuning
	reader   enrolmentReader
	db       MoodleDB
	// canEdit: the token may call the hub plugin's local_mih_update_enrolments; welcomeOnUpdate:
	// the site sends the welcome message when enrol_manual_enrol_users updates an enrolment.
	canEdit, welcomeOnUpdate bool

	courses    map[string]moodle.Course // existing, by short name
	categories []moodle.Category
	users      map[string][]moodle.User // by match key
	enrolled   map[int64]map[int64]*participant
	warnings   []string
}

func (pl *planner) plan(ctx context.Context) (*mih.SyncPlan, error) {
	if err := pl.checkFunctions(ctx); err != nil {
		return nil, err
	}
	if err := pl.readCourses(ctx); err != nil {
		return nil, err
	}
	if err := pl.readUsers(ctx); err != nil {
		return nil, err
	}
	if err := pl.readEnrolments(ctx); err != nil {
		return nil, err
	}
	return pl.diff(ctx)
}

// checkFunctions asks the site which functions the token may call: a missing read function
// stops the plan with a message that names it; missing write functions are warned about.
func (pl *planner) checkFunctions(ctx context.Context) error {
	info, err := pl.client.SiteInfo(ctx)
	if err != nil {
		return moodleError("read the site's information", err)
	}
	pl.siteID = cmp.Or(info.SiteID, 1)
	reads := []string{moodle.FuncCoursesByField, moodle.FuncUsersByField, moodle.FuncEnrolledUsers, moodle.FuncCategories}
	if missing := info.Missing(reads...); len(missing) > 0 {
		return mih.Errorf(mih.CodeForbidden, "the site's Web Services token may not call %s: add them to the token's external service",
			strings.Join(missing, ", "))
	}
	writes := []string{moodle.FuncCreateCourses, moodle.FuncEnrolUsers, moodle.FuncAssignRoles, moodle.FuncUnassignRoles}
	if pl.job.UpdateCourses {
		writes = append(writes, moodle.FuncUpdateCourses)
	}
	if pl.job.Removal == mih.RemovalUnenrol {
		writes = append(writes, moodle.FuncUnenrolUsers)
	}
	if missing := info.Missing(writes...); len(missing) > 0 {
		pl.warnings = append(pl.warnings, fmt.Sprintf("the site's token may not call %s: changes that need them will fail", strings.Join(missing, ", ")))
	}
	pl.canEdit = len(info.Missing(moodle.FuncUpdateEnrolments)) == 0
	// Moodle 4.4 (version 2024042200) and later send the course welcome message from
	// enrol_user, also when it only updates an enrolment.
	pl.welcomeOnUpdate = info.Version >= "2024042200"
	return nil
}

// editWarning is the plan's warning when suspensions or reactivations must go through
// enrol_manual_enrol_users on a Moodle that then sends the welcome message again.
func (pl *planner) editWarning(p *mih.SyncPlan) {
	n := len(p.Suspend) + len(p.Reactivate)
	if n == 0 || pl.canEdit || !pl.welcomeOnUpdate {
		return
	}
	p.Warnings = append(p.Warnings, fmt.Sprintf("%d suspension(s) or reactivation(s) go through %s, and this Moodle (4.4 or later) sends the course welcome message again for each: install the hub's Moodle plugin (local_mih) and add %s to the token's service to change enrolments without a message",
		n, moodle.FuncEnrolUsers, moodle.FuncUpdateEnrolments))
}

// moodleError classifies a failed read: its code comes from the Moodle error (unavailable,
// unauthorized, forbidden…), with what was being done in the message.
func moodleError(what string, err error) error {
	if e, ok := errors.AsType[*moodle.Error](err); ok {
		return mih.WrapError(e.MihCode(), err, "%s: %s", what, mih.ErrorMessage(err))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return mih.WrapError(mih.CodeUnavailable, err, "%s: %v", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// readCourses finds the source's courses in Moodle: one call per short name for a small source;
// above ListAllAbove courses, one call listing every course, unless the answer is too large for
// the client, when it goes back to one call per short name.
func (pl *planner) readCourses(ctx context.Context) error {
	courses := pl.src.courses
	pl.courses = make(map[string]moodle.Course, len(courses))
	pl.progress(mih.SyncProgress{Phase: mih.PhaseCourses, Total: len(courses)})
	// keep takes the source's courses out of a list of every course of the site.
	keep := func(all []moodle.Course) {
		want := make(map[string]bool, len(courses))
		for _, c := range courses {
			want[c.shortName] = true
		}
		for _, c := range all {
			if want[c.ShortName] {
				pl.courses[c.ShortName] = c
			}
		}
		pl.progress(mih.SyncProgress{Phase: mih.PhaseCourses, Done: len(courses), Total: len(courses)})
	}
	if pl.db != nil {
		all, err := pl.db.Courses(ctx)
		if err != nil {
			return err
		}
		keep(all)
		return nil
	}
	if len(courses) > pl.r.listAllAbove {
		all, err := pl.client.CoursesByField(ctx, "", "")
		if err == nil {
			keep(all)
			return nil
		}
		e, ok := errors.AsType[*moodle.Error](err)
		if !ok || e.Kind != moodle.KindTooLarge && e.Kind != moodle.KindTimeout {
			return moodleError("list the site's courses", err)
		}
		pl.warnings = append(pl.warnings, "the site's course list is too large to read in one call ("+e.Message+"): courses were looked up one by one; give the site a db URL to read them in one query")
	}
	var (
		mu   sync.Mutex
		done atomic.Int64
	)
	err := parallel(ctx, len(courses), pl.tune.readParallel, func(ctx context.Context, i int) error {
		found, err := pl.client.CoursesByField(ctx, moodle.CourseFieldShortName, courses[i].shortName)
		if err != nil {
			return moodleError(fmt.Sprintf("look up course %q", courses[i].shortName), err)
		}
		mu.Lock()
		for _, c := range found {
			if c.ShortName == courses[i].shortName {
				pl.courses[c.ShortName] = c
			}
		}
		mu.Unlock()
		pl.progress(mih.SyncProgress{Phase: mih.PhaseCourses, Done: int(done.Add(1)), Total: len(courses)})
		return nil
	})
	return err
}

// readCategories lists the site's categories, once, when a course needs one resolved.
func (pl *planner) readCategories(ctx context.Context) error {
	if pl.categories != nil {
		return nil
	}
	var cats []moodle.Category
	var err error
	if pl.db != nil {
		cats, err = pl.db.Categories(ctx)
	} else if cats, err = pl.client.Categories(ctx, nil, false); err != nil {
		err = moodleError("list the site's categories", err)
	}
	if err != nil {
		return err
	}
	pl.categories = cats
	if pl.categories == nil {
		pl.categories = []moodle.Category{}
	}
	return nil
}

// category resolves a category by id or idnumber.
func (pl *planner) category(ref mih.SyncCategory) (moodle.Category, bool) {
	for _, c := range pl.categories {
		if ref.ID != 0 && c.ID == ref.ID || ref.IDNumber != "" && c.IDNumber == ref.IDNumber {
			return c, true
		}
	}
	return moodle.Category{}, false
}

// matchKey is how a match value is compared: usernames and emails without case (Moodle keeps
// usernames lowercase; databases compare emails without case on MySQL), idnumbers exactly.
func (pl *planner) matchKey(v string) string {
	if pl.job.MatchField == mih.MatchIDNumber {
		return v
	}
	return strings.ToLower(v)
}

func (pl *planner) userValue(u moodle.User) string { return matchValue(pl.job.MatchField)(u) }

// matchValue returns a user's value of the match field. The readers kept by a plan use it
// rather than the planner's method, which would keep everything the planner read alive.
func matchValue(field string) func(u moodle.User) string {
	switch field {
	case mih.MatchIDNumber:
		return func(u moodle.User) string { return u.IDNumber }
	case mih.MatchEmail:
		return func(u moodle.User) string { return u.Email }
	}
	return func(u moodle.User) string { return u.Username }
}

// readUsers finds the participants' accounts, 100 values per call, calls in parallel.
func (pl *planner) readUsers(ctx context.Context) error {
	seen := map[string]bool{}
	var values []string
	for _, c := range pl.src.courses {
		for _, p := range c.participants {
			if !seen[p.value] {
				seen[p.value] = true
				values = append(values, p.value)
			}
		}
	}
	slices.Sort(values)
	pl.users = make(map[string][]moodle.User, len(values))
	pl.progress(mih.SyncProgress{Phase: mih.PhaseUsers, Total: len(values)})
	if pl.db != nil {
		query := values
		if pl.job.MatchField == mih.MatchUsername {
			// Moodle keeps usernames lowercase.
			query = make([]string, len(values))
			for i, v := range values {
				query[i] = strings.ToLower(strings.TrimSpace(v))
			}
		}
		users, err := pl.db.Users(ctx, pl.job.MatchField, query)
		if err != nil {
			return err
		}
		for _, u := range users {
			k := pl.matchKey(pl.userValue(u))
			if k != "" && !slices.ContainsFunc(pl.users[k], func(x moodle.User) bool { return x.ID == u.ID }) {
				pl.users[k] = append(pl.users[k], u)
			}
		}
		pl.progress(mih.SyncProgress{Phase: mih.PhaseUsers, Done: len(values), Total: len(values)})
		return nil
	}
	const chunk = 100
	chunks := (len(values) + chunk - 1) / chunk
	var (
		mu   sync.Mutex
		done atomic.Int64
	)
	return parallel(ctx, chunks, pl.tune.readParallel, func(ctx context.Context, i int) error {
		part := values[i*chunk : min(len(values), (i+1)*chunk)]
		users, err := pl.client.UsersByField(ctx, pl.job.MatchField, part)
		if err != nil {
			return moodleError("look up users by "+pl.job.MatchField, err)
		}
		mu.Lock()
		for _, u := range users {
			k := pl.matchKey(pl.userValue(u))
			if k != "" && !slices.ContainsFunc(pl.users[k], func(x moodle.User) bool { return x.ID == u.ID }) {
				pl.users[k] = append(pl.users[k], u)
			}
		}
		mu.Unlock()
		pl.progress(mih.SyncProgress{Phase: mih.PhaseUsers, Done: int(done.Add(int64(len(part)))), Total: len(values)})
		return nil
	})
}

// readEnrolments lists the participants of every existing course of the source, with their
// roles and whether their enrolment is active.
func (pl *planner) readEnrolments(ctx context.Context) error {
	var ids []int64
	for _, c := range pl.src.courses {
		if mc, ok := pl.courses[c.shortName]; ok && mc.ID != pl.siteID {
			ids = append(ids, mc.ID)
		}
	}
	slices.Sort(ids)
	pl.progress(mih.SyncProgress{Phase: mih.PhaseEnrolments, Total: len(ids)})
	enrolled, err := pl.reader.enrolments(ctx, ids, func(done int) {
		pl.progress(mih.SyncProgress{Phase: mih.PhaseEnrolments, Done: done, Total: len(ids)})
	})
	if err != nil {
		return err
	}
	pl.enrolled = enrolled
	return nil
}

// diff computes the plan from the source and what was read.
func (pl *planner) diff(ctx context.Context) (*mih.SyncPlan, error) {
	job := pl.job
	p := &mih.SyncPlan{
		Create: []mih.SyncCourse{}, Update: []mih.SyncCourseUpdate{}, Enrol: []mih.SyncEnrolment{},
		Reactivate: []mih.SyncEnrolment{}, RoleChanges: []mih.SyncRoleChange{}, Suspend: []mih.SyncEnrolment{},
		Unenrol: []mih.SyncEnrolment{}, Missing: []mih.SyncMissingUser{}, Invalid: slices.Clone(pl.src.invalid),
		UnknownRole: pl.src.unknownRoleList(), Warnings: pl.warnings,
	}
	if p.Invalid == nil {
		p.Invalid = []mih.SyncInvalidItem{}
	}
	if p.Warnings == nil {
		p.Warnings = []string{}
	}

	// Categories are read only when a course needs one.
	needCats := false
	for _, c := range pl.src.courses {
		_, exists := pl.courses[c.shortName]
		if !exists || c.category != nil && job.UpdateCourses {
			needCats = true
			break
		}
	}
	if needCats {
		if err := pl.readCategories(ctx); err != nil {
			return nil, err
		}
	}
	var defaultCat *moodle.Category
	if cat, ok := pl.category(job.Category); ok && needCats {
		defaultCat = &cat
	}

	refuse := ""
	if job.Removal != mih.RemovalKeep {
		switch {
		case len(pl.src.courses) == 0:
			refuse = "the source listed no usable course"
		case pl.src.participants == 0:
			refuse = "the source listed no participant in any course"
		}
		if refuse != "" {
			p.RemovalsRefused = refuse + ": nothing is suspended or unenrolled from a source that looks empty"
		}
	}

	roleNames := map[int64]string{}
	for _, name := range slices.Sorted(maps.Keys(job.RoleIDs)) {
		if _, taken := roleNames[job.RoleIDs[name]]; !taken {
			roleNames[job.RoleIDs[name]] = name
		}
	}
	roleName := func(id int64) string { return cmp.Or(roleNames[id], fmt.Sprint(id)) }

	for _, c := range pl.src.courses {
		mc, exists := pl.courses[c.shortName]
		if exists && mc.ID == pl.siteID {
			p.Invalid = append(p.Invalid, mih.SyncInvalidItem{Index: c.index, Course: c.shortName,
				Reason: "shortname is the site's front page"})
			continue
		}
		courseID := int64(0)
		if !exists {
			nc, bad := pl.newCourse(c, defaultCat)
			if bad != "" {
				p.Invalid = append(p.Invalid, mih.SyncInvalidItem{Index: c.index, Course: c.shortName, Reason: bad})
				continue
			}
			p.Create = append(p.Create, nc)
		} else {
			courseID = mc.ID
			if job.UpdateCourses {
				up, bad := pl.courseUpdate(c, mc)
				if bad != "" {
					p.Invalid = append(p.Invalid, mih.SyncInvalidItem{Index: c.index, Course: c.shortName, Reason: bad})
				} else if len(up.Changes) > 0 {
					p.Update = append(p.Update, up)
				}
			}
		}

		current := pl.enrolled[courseID] // nil for a new course
		desired := map[int64]bool{}
		for _, sp := range c.participants {
			role := sp.roles[0]
			users := pl.users[pl.matchKey(sp.value)]
			switch {
			case len(users) == 0:
				for _, r := range sp.roles {
					p.Missing = append(p.Missing, mih.SyncMissingUser{User: sp.value, Course: c.shortName, Role: r})
				}
				continue
			case len(users) > 1:
				p.Invalid = append(p.Invalid, mih.SyncInvalidItem{Index: c.index, Course: c.shortName, User: sp.value,
					Reason: fmt.Sprintf("%d Moodle users have %s %q: none is enrolled", len(users), job.MatchField, sp.value)})
				continue
			}
			u := users[0]
			if desired[u.ID] {
				continue // the same account under two spellings of its value
			}
			desired[u.ID] = true
			want := make([]mih.SyncRole, 0, len(sp.roles))
			for _, r := range sp.roles {
				want = append(want, mih.SyncRole{ID: job.RoleIDs[r], ShortName: r})
			}
			slices.SortFunc(want, func(a, b mih.SyncRole) int { return cmp.Compare(a.ID, b.ID) })
			cur := current[u.ID]
			if cur == nil {
				p.Enrol = append(p.Enrol, mih.SyncEnrolment{Course: c.shortName, CourseID: courseID, User: sp.value,
					UserID: u.ID, Role: role, RoleID: job.RoleIDs[role]})
				var add []mih.SyncRole
				for _, w := range want {
					if w.ShortName != role {
						add = append(add, w)
					}
				}
				if len(add) > 0 {
					p.RoleChanges = append(p.RoleChanges, mih.SyncRoleChange{Course: c.shortName, CourseID: courseID,
						User: sp.value, UserID: u.ID, Add: add})
				}
				continue
			}
			var add, remove []mih.SyncRole
			for _, w := range want {
				if _, held := cur.roles[w.ID]; !held {
					add = append(add, w)
				}
			}
			for _, id := range slices.Sorted(maps.Keys(cur.roles)) {
				if _, isManaged := pl.managed[id]; isManaged && !slices.ContainsFunc(want, func(w mih.SyncRole) bool { return w.ID == id }) {
					remove = append(remove, mih.SyncRole{ID: id, ShortName: cmp.Or(cur.roles[id], roleName(id))})
				}
			}
			switch {
			case !cur.active && pl.canEdit:
				// The enrolment is set back to active (no welcome message); the roles to add
				// are role changes.
				p.Reactivate = append(p.Reactivate, mih.SyncEnrolment{Course: c.shortName, CourseID: courseID, User: sp.value,
					UserID: u.ID, Role: want[0].ShortName, RoleID: want[0].ID})
			case !cur.active:
				// Re-enrolling makes the enrolment active; its role is one the participant holds
				// already, or the first one to add, which the enrolment then gives.
				re := mih.SyncEnrolment{Course: c.shortName, CourseID: courseID, User: sp.value, UserID: u.ID}
				if len(add) > 0 {
					re.Role, re.RoleID = add[0].ShortName, add[0].ID
					add = add[1:]
				} else {
					re.Role, re.RoleID = want[0].ShortName, want[0].ID
				}
				p.Reactivate = append(p.Reactivate, re)
			}
			if len(add) > 0 || len(remove) > 0 {
				p.RoleChanges = append(p.RoleChanges, mih.SyncRoleChange{Course: c.shortName, CourseID: courseID,
					User: sp.value, UserID: u.ID, Add: add, Remove: remove})
			}
		}

		// Participants Moodle has and the source does not: only those holding a role the job
		// hands out are the job's to remove.
		if job.Removal == mih.RemovalKeep || refuse != "" {
			continue
		}
		for _, uid := range slices.Sorted(maps.Keys(current)) {
			cur := current[uid]
			if desired[uid] {
				continue
			}
			var held []int64
			for id := range cur.roles {
				if _, ok := pl.managed[id]; ok {
					held = append(held, id)
				}
			}
			if len(held) == 0 {
				continue
			}
			slices.Sort(held)
			e := mih.SyncEnrolment{Course: c.shortName, CourseID: courseID, User: cur.name, UserID: uid,
				Role: cmp.Or(cur.roles[held[0]], roleName(held[0])), RoleID: held[0]}
			switch {
			case job.Removal == mih.RemovalUnenrol:
				p.Unenrol = append(p.Unenrol, e)
			case cur.active:
				p.Suspend = append(p.Suspend, e)
			}
		}
	}
	if len(p.Create) > 0 && defaultCat == nil && slices.ContainsFunc(p.Create, func(c mih.SyncCourse) bool { return c.CategoryID == 0 }) {
		return nil, mih.Errorf(mih.CodeInvalid, "category %s does not exist on the site: new courses have nowhere to go (set the job's category)", job.Category)
	}
	pl.editWarning(p)
	sortPlan(p)
	p.Fingerprint = fingerprint(p)
	return p, nil
}

// newCourse builds a course to create; it needs a name (local_webcourse named courses after
// their short names, which nobody wants; docs/architecture.md, What mih replaces) and a category.
func (pl *planner) newCourse(c *sourceCourse, defaultCat *moodle.Category) (mih.SyncCourse, string) {
	nc := mih.SyncCourse{ShortName: c.shortName, FullName: c.fullName, Visible: c.visible}
	if nc.FullName == "" {
		return nc, "name: required to create the course"
	}
	if c.idNumber != nil {
		nc.IDNumber = *c.idNumber
	}
	if c.summary != nil {
		nc.Summary = *c.summary
	}
	if c.startDate != nil {
		nc.StartDate = *c.startDate
	}
	if c.endDate != nil {
		nc.EndDate = *c.endDate
	}
	switch {
	case c.category != nil:
		cat, ok := pl.category(*c.category)
		if !ok {
			return nc, fmt.Sprintf("category %s does not exist on the site", c.category)
		}
		nc.CategoryID = cat.ID
	case defaultCat != nil:
		nc.CategoryID = defaultCat.ID
	}
	return nc, ""
}

// courseUpdate compares the fields the source gives with the course. Moodle answers names and
// summaries formatted for HTML ("&" as "&amp;"), so they are compared unescaped.
func (pl *planner) courseUpdate(c *sourceCourse, mc moodle.Course) (mih.SyncCourseUpdate, string) {
	up := mih.SyncCourseUpdate{CourseID: mc.ID, ShortName: mc.ShortName}
	change := func(field string, from, to any) {
		up.Changes = append(up.Changes, mih.SyncFieldChange{Field: field, From: from, To: to})
	}
	same := func(moodleText, source string) bool {
		return strings.TrimSpace(html.UnescapeString(moodleText)) == strings.TrimSpace(html.UnescapeString(source))
	}
	if c.fullName != "" && !same(mc.FullName, c.fullName) {
		change("fullname", mc.FullName, c.fullName)
	}
	if c.idNumber != nil && mc.IDNumber != *c.idNumber {
		change("idnumber", mc.IDNumber, *c.idNumber)
	}
	if c.summary != nil && !same(mc.Summary, *c.summary) {
		change("summary", mc.Summary, *c.summary)
	}
	if c.startDate != nil && mc.StartDate != *c.startDate {
		change("startdate", mc.StartDate, *c.startDate)
	}
	if c.endDate != nil && mc.EndDate != *c.endDate {
		change("enddate", mc.EndDate, *c.endDate)
	}
	if c.visible != nil && mc.Visible != *c.visible {
		change("visible", mc.Visible, *c.visible)
	}
	if c.category != nil {
		cat, ok := pl.category(*c.category)
		if !ok {
			return up, fmt.Sprintf("category %s does not exist on the site", c.category)
		}
		if cat.ID != mc.CategoryID {
			change("category_id", mc.CategoryID, cat.ID)
		}
	}
	return up, ""
}

// sortPlan orders every list, so that the same inputs give the same plan.
func sortPlan(p *mih.SyncPlan) {
	byCourseUser := func(a, b mih.SyncEnrolment) int {
		return cmp.Or(strings.Compare(a.Course, b.Course), strings.Compare(a.User, b.User), cmp.Compare(a.UserID, b.UserID))
	}
	slices.SortFunc(p.Create, func(a, b mih.SyncCourse) int { return strings.Compare(a.ShortName, b.ShortName) })
	slices.SortFunc(p.Update, func(a, b mih.SyncCourseUpdate) int { return strings.Compare(a.ShortName, b.ShortName) })
	slices.SortFunc(p.Enrol, byCourseUser)
	slices.SortFunc(p.Reactivate, byCourseUser)
	slices.SortFunc(p.Suspend, byCourseUser)
	slices.SortFunc(p.Unenrol, byCourseUser)
	slices.SortFunc(p.RoleChanges, func(a, b mih.SyncRoleChange) int {
		return cmp.Or(strings.Compare(a.Course, b.Course), strings.Compare(a.User, b.User), cmp.Compare(a.UserID, b.UserID))
	})
	slices.SortFunc(p.Missing, func(a, b mih.SyncMissingUser) int {
		return cmp.Or(strings.Compare(a.Course, b.Course), strings.Compare(a.User, b.User), strings.Compare(a.Role, b.Role))
	})
	slices.SortStableFunc(p.Invalid, func(a, b mih.SyncInvalidItem) int {
		return cmp.Or(cmp.Compare(a.Index, b.Index), strings.Compare(a.User, b.User))
	})
}

// fingerprint hashes the plan's changes (not its reports), for an apply to confirm.
func fingerprint(p *mih.SyncPlan) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, part := range []any{p.Create, p.Update, p.Enrol, p.Reactivate, p.RoleChanges, p.Suspend, p.Unenrol} {
		_ = enc.Encode(part)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// parallel runs fn for 0 ≤ i < n on up to workers goroutines. The first error stops the others
// (through their context) and is returned.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
