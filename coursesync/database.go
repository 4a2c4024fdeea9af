package coursesync

import (
	"context"
	"database/sql"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/redact"
)

// MoodleDB reads, from a Moodle site's database, what a plan needs: with it the planner makes
// a handful of SELECT queries where the Web Services would take two calls per course. Writes
// always go through the Web Services.
type MoodleDB interface {
	// Courses lists every course (the front page included).
	Courses(ctx context.Context) ([]moodle.Course, error)
	// Categories lists every course category.
	Categories(ctx context.Context) ([]moodle.Category, error)
	// Users finds the users (not deleted) whose field — username, idnumber or email — is one of
	// values, compared as the database compares them (as core_user_get_users_by_field does).
	Users(ctx context.Context, field string, values []string) ([]moodle.User, error)
	// Enrolments lists the participants of courses: users with an enrolment of any method, with
	// their roles in the course, and whether one of their enrolments is active.
	Enrolments(ctx context.Context, courseIDs []int64) ([]DBParticipant, error)
	Close() error
}

// DBParticipant is a participant of a course as Moodle's database holds it.
type DBParticipant struct {
	CourseID int64
	moodle.User
	// Active: one of the user's enrolments in the course is active (enrolment and instance
	// enabled, within its dates), as core_enrol_get_enrolled_users' onlyactive tells.
	Active bool
	Roles  map[int64]string // role id → short name, in the course's context
}

// Moodle's constants the queries use.
const (
	contextCourse   = 50 // CONTEXT_COURSE
	enrolUserActive = 0  // ENROL_USER_ACTIVE
	enrolInstanceOn = 0  // ENROL_INSTANCE_ENABLED
	dbChunk         = 1000
)

// sqlMoodleDB is MoodleDB on PostgreSQL (pgx) or MySQL/MariaDB (go-sql-driver/mysql).
type sqlMoodleDB struct {
	db       *sql.DB
	postgres bool
	prefix   string
	password string // scrubbed from errors
	now      func() time.Time
}

// NewMoodleDB reads Moodle's tables with the prefix from db, an open connection to a site's
// database (package coursesync/moodledb opens one from the site's URL). postgres selects
// PostgreSQL's placeholders; password is scrubbed from every error.
func NewMoodleDB(db *sql.DB, postgres bool, prefix, password string) MoodleDB {
	return &sqlMoodleDB{db: db, postgres: postgres, prefix: prefix, password: password, now: time.Now}
}

func (m *sqlMoodleDB) Close() error { return m.db.Close() }

func (m *sqlMoodleDB) fail(what string, err error) error {
	return mih.Errorf(mih.CodeUnavailable, "read %s from the site's database: %s", what, redact.Password(err.Error(), m.password))
}

// q names the tables with the prefix ({course} → mdl_course) and numbers the placeholders for
// PostgreSQL (? → $1, $2…).
func (m *sqlMoodleDB) q(query string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		switch c := query[i]; {
		case c == '{':
			b.WriteString(m.prefix)
		case c == '}':
		case c == '?' && m.postgres:
			n++
			b.WriteString("$" + strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Names and summaries are escaped as the Web Services answer them (formatted for HTML), so the
// planner compares both sources alike.
func (m *sqlMoodleDB) Courses(ctx context.Context) ([]moodle.Course, error) {
	rows, err := m.db.QueryContext(ctx, m.q(`SELECT id, category, shortname, fullname, idnumber, COALESCE(summary, ''), startdate, enddate, visible FROM {course}`))
	if err != nil {
		return nil, m.fail("the courses", err)
	}
	defer rows.Close()
	var out []moodle.Course
	for rows.Next() {
		var c moodle.Course
		var visible int
		if err := rows.Scan(&c.ID, &c.CategoryID, &c.ShortName, &c.FullName, &c.IDNumber, &c.Summary, &c.StartDate, &c.EndDate, &visible); err != nil {
			return nil, m.fail("the courses", err)
		}
		c.FullName, c.Summary, c.Visible = html.EscapeString(c.FullName), html.EscapeString(c.Summary), visible != 0
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, m.fail("the courses", err)
	}
	return out, nil
}

func (m *sqlMoodleDB) Categories(ctx context.Context) ([]moodle.Category, error) {
	rows, err := m.db.QueryContext(ctx, m.q(`SELECT id, name, COALESCE(idnumber, ''), parent, visible, depth, path FROM {course_categories}`))
	if err != nil {
		return nil, m.fail("the categories", err)
	}
	defer rows.Close()
	var out []moodle.Category
	for rows.Next() {
		var c moodle.Category
		var visible int
		if err := rows.Scan(&c.ID, &c.Name, &c.IDNumber, &c.Parent, &visible, &c.Depth, &c.Path); err != nil {
			return nil, m.fail("the categories", err)
		}
		c.Visible = visible != 0
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, m.fail("the categories", err)
	}
	return out, nil
}

func (m *sqlMoodleDB) Users(ctx context.Context, field string, values []string) ([]moodle.User, error) {
	switch field {
	case moodle.UserFieldUsername, moodle.UserFieldIDNumber, moodle.UserFieldEmail:
	default:
		return nil, mih.Errorf(mih.CodeInvalid, "users by %q: want username, idnumber or email", field)
	}
	// Usernames are those of this site's accounts (not MNet visitors'), as Moodle finds them.
	mnet := ""
	if field == moodle.UserFieldUsername {
		var host string
		err := m.db.QueryRowContext(ctx, m.q(`SELECT value FROM {config} WHERE name = ?`), "mnet_localhost_id").Scan(&host)
		if err != nil && err != sql.ErrNoRows {
			return nil, m.fail("the site's configuration", err)
		}
		if id, err := strconv.ParseInt(host, 10, 64); err == nil {
			mnet = " AND mnethostid = " + strconv.FormatInt(id, 10)
		}
	}
	var out []moodle.User
	for lo := 0; lo < len(values); lo += dbChunk {
		part := values[lo:min(len(values), lo+dbChunk)]
		args := make([]any, len(part))
		for i, v := range part {
			args[i] = v
		}
		rows, err := m.db.QueryContext(ctx, m.q(`SELECT id, username, idnumber, email, firstname, lastname, suspended FROM {user}
			WHERE deleted = 0`+mnet+` AND `+field+` IN (`+placeholders(len(part))+`)`), args...)
		if err != nil {
			return nil, m.fail("the users", err)
		}
		for rows.Next() {
			var u moodle.User
			var suspended int
			if err := rows.Scan(&u.ID, &u.Username, &u.IDNumber, &u.Email, &u.FirstName, &u.LastName, &suspended); err != nil {
				rows.Close()
				return nil, m.fail("the users", err)
			}
			u.Suspended = suspended != 0
			out = append(out, u)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, m.fail("the users", err)
		}
	}
	return out, nil
}

func (m *sqlMoodleDB) Enrolments(ctx context.Context, courseIDs []int64) ([]DBParticipant, error) {
	now := m.now().Unix()
	var out []DBParticipant
	for lo := 0; lo < len(courseIDs); lo += dbChunk {
		part := courseIDs[lo:min(len(courseIDs), lo+dbChunk)]
		args := make([]any, len(part))
		for i, v := range part {
			args[i] = v
		}
		byKey := map[[2]int64]*DBParticipant{}
		var order [][2]int64
		rows, err := m.db.QueryContext(ctx, m.q(`SELECT e.courseid, u.id, u.username, u.idnumber, u.email,
				ue.status, e.status, ue.timestart, ue.timeend
			FROM {user_enrolments} ue
			JOIN {enrol} e ON e.id = ue.enrolid
			JOIN {user} u ON u.id = ue.userid
			WHERE u.deleted = 0 AND e.courseid IN (`+placeholders(len(part))+`)
			ORDER BY e.courseid, u.id`), args...)
		if err != nil {
			return nil, m.fail("the enrolments", err)
		}
		for rows.Next() {
			var p DBParticipant
			var ueStatus, eStatus, start, end int64
			if err := rows.Scan(&p.CourseID, &p.ID, &p.Username, &p.IDNumber, &p.Email, &ueStatus, &eStatus, &start, &end); err != nil {
				rows.Close()
				return nil, m.fail("the enrolments", err)
			}
			k := [2]int64{p.CourseID, p.ID}
			cur := byKey[k]
			if cur == nil {
				p.Roles = map[int64]string{}
				cur = &p
				byKey[k] = cur
				order = append(order, k)
			}
			// core_enrol_get_enrolled_users' onlyactive: get_enrolled_join's conditions.
			if ueStatus == enrolUserActive && eStatus == enrolInstanceOn && start < now && (end == 0 || end > now) {
				cur.Active = true
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, m.fail("the enrolments", err)
		}
		rows, err = m.db.QueryContext(ctx, m.q(`SELECT ctx.instanceid, ra.userid, ra.roleid, r.shortname
			FROM {role_assignments} ra
			JOIN {context} ctx ON ctx.id = ra.contextid
			JOIN {role} r ON r.id = ra.roleid
			WHERE ctx.contextlevel = `+strconv.Itoa(contextCourse)+` AND ctx.instanceid IN (`+placeholders(len(part))+`)`), args...)
		if err != nil {
			return nil, m.fail("the role assignments", err)
		}
		for rows.Next() {
			var course, user, role int64
			var short string
			if err := rows.Scan(&course, &user, &role, &short); err != nil {
				rows.Close()
				return nil, m.fail("the role assignments", err)
			}
			if p := byKey[[2]int64{course, user}]; p != nil {
				p.Roles[role] = short
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, m.fail("the role assignments", err)
		}
		for _, k := range order {
			out = append(out, *byKey[k])
		}
	}
	return out, nil
}

// dbEnrolments is enrolmentReader on the site's database.
type dbEnrolments struct {
	db   MoodleDB
	name func(u moodle.User) string
}

func (r *dbEnrolments) enrolments(ctx context.Context, ids []int64, progress func(int)) (map[int64]map[int64]*participant, error) {
	out := make(map[int64]map[int64]*participant, len(ids))
	for _, id := range ids {
		out[id] = map[int64]*participant{}
	}
	list, err := r.db.Enrolments(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, dp := range list {
		p := &participant{id: dp.ID, name: r.name(dp.User), roles: dp.Roles, active: dp.Active}
		if p.name == "" {
			p.name = dp.Username
		}
		if p.name == "" {
			p.name = fmt.Sprintf("#%d", dp.ID)
		}
		if p.roles == nil {
			p.roles = map[int64]string{}
		}
		if out[dp.CourseID] == nil {
			out[dp.CourseID] = map[int64]*participant{}
		}
		out[dp.CourseID][dp.ID] = p
	}
	if progress != nil {
		progress(len(ids))
	}
	return out, nil
}
