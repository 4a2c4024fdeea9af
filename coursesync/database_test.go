package coursesync

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/moodle/moodletest"
	"github.com/mihhub/mih/moodle/sitedb/sitedbtest"
)

// The tables the sync reads, as Moodle's XMLDB creates them from lib/db/install.xml (the
// columns the sync reads and those around them; int(10) is BIGINT, int(1)/int(2) SMALLINT,
// char NOT NULL has DEFAULT ”, the sequence a BIGSERIAL or AUTO_INCREMENT).
var moodleTables = []string{
	`CREATE TABLE {config} (id BIGSERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL DEFAULT '', value TEXT NOT NULL)`,
	`CREATE TABLE {course_categories} (id BIGSERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL DEFAULT '', idnumber VARCHAR(100),
		description TEXT, descriptionformat SMALLINT NOT NULL DEFAULT 0, parent BIGINT NOT NULL DEFAULT 0, sortorder BIGINT NOT NULL DEFAULT 0,
		coursecount BIGINT NOT NULL DEFAULT 0, visible SMALLINT NOT NULL DEFAULT 1, visibleold SMALLINT NOT NULL DEFAULT 1,
		timemodified BIGINT NOT NULL DEFAULT 0, depth BIGINT NOT NULL DEFAULT 0, path VARCHAR(255) NOT NULL DEFAULT '', theme VARCHAR(50))`,
	`CREATE TABLE {course} (id BIGSERIAL PRIMARY KEY, category BIGINT NOT NULL DEFAULT 0, sortorder BIGINT NOT NULL DEFAULT 0,
		fullname VARCHAR(254) NOT NULL DEFAULT '', shortname VARCHAR(255) NOT NULL DEFAULT '', idnumber VARCHAR(100) NOT NULL DEFAULT '',
		summary TEXT, summaryformat SMALLINT NOT NULL DEFAULT 0, format VARCHAR(21) NOT NULL DEFAULT 'topics',
		startdate BIGINT NOT NULL DEFAULT 0, enddate BIGINT NOT NULL DEFAULT 0, visible SMALLINT NOT NULL DEFAULT 1,
		timecreated BIGINT NOT NULL DEFAULT 0, timemodified BIGINT NOT NULL DEFAULT 0)`,
	`CREATE INDEX {course_sho_ix} ON {course} (shortname)`,
	`CREATE INDEX {course_cat_ix} ON {course} (category)`,
	`CREATE TABLE {user} (id BIGSERIAL PRIMARY KEY, auth VARCHAR(20) NOT NULL DEFAULT 'manual', confirmed SMALLINT NOT NULL DEFAULT 0,
		deleted SMALLINT NOT NULL DEFAULT 0, suspended SMALLINT NOT NULL DEFAULT 0, mnethostid BIGINT NOT NULL DEFAULT 0,
		username VARCHAR(100) NOT NULL DEFAULT '', idnumber VARCHAR(255) NOT NULL DEFAULT '', firstname VARCHAR(100) NOT NULL DEFAULT '',
		lastname VARCHAR(100) NOT NULL DEFAULT '', email VARCHAR(100) NOT NULL DEFAULT '')`,
	`CREATE UNIQUE INDEX {user_mneuse_uix} ON {user} (mnethostid, username)`,
	`CREATE INDEX {user_idn_ix} ON {user} (idnumber)`,
	`CREATE INDEX {user_ema_ix} ON {user} (email)`,
	`CREATE TABLE {enrol} (id BIGSERIAL PRIMARY KEY, enrol VARCHAR(20) NOT NULL DEFAULT '', status BIGINT NOT NULL DEFAULT 0,
		courseid BIGINT NOT NULL, sortorder BIGINT NOT NULL DEFAULT 0, roleid BIGINT DEFAULT 0, customint1 BIGINT,
		timecreated BIGINT NOT NULL DEFAULT 0, timemodified BIGINT NOT NULL DEFAULT 0)`,
	`CREATE INDEX {enro_cou_ix} ON {enrol} (courseid)`,
	`CREATE TABLE {user_enrolments} (id BIGSERIAL PRIMARY KEY, status BIGINT NOT NULL DEFAULT 0, enrolid BIGINT NOT NULL,
		userid BIGINT NOT NULL, timestart BIGINT NOT NULL DEFAULT 0, timeend BIGINT NOT NULL DEFAULT 2147483647,
		modifierid BIGINT NOT NULL DEFAULT 0, timecreated BIGINT NOT NULL DEFAULT 0, timemodified BIGINT NOT NULL DEFAULT 0)`,
	`CREATE UNIQUE INDEX {userenro_enrust_uix} ON {user_enrolments} (enrolid, userid)`,
	`CREATE INDEX {userenro_use_ix} ON {user_enrolments} (userid)`,
	`CREATE TABLE {context} (id BIGSERIAL PRIMARY KEY, contextlevel BIGINT NOT NULL DEFAULT 0, instanceid BIGINT NOT NULL DEFAULT 0,
		path VARCHAR(255), depth SMALLINT NOT NULL DEFAULT 0, locked SMALLINT NOT NULL DEFAULT 0)`,
	`CREATE UNIQUE INDEX {cont_conins_uix} ON {context} (contextlevel, instanceid)`,
	`CREATE TABLE {role} (id BIGSERIAL PRIMARY KEY, name VARCHAR(255) NOT NULL DEFAULT '', shortname VARCHAR(100) NOT NULL DEFAULT '',
		description TEXT NOT NULL, sortorder BIGINT NOT NULL DEFAULT 0, archetype VARCHAR(30) NOT NULL DEFAULT '')`,
	`CREATE TABLE {role_assignments} (id BIGSERIAL PRIMARY KEY, roleid BIGINT NOT NULL DEFAULT 0, contextid BIGINT NOT NULL DEFAULT 0,
		userid BIGINT NOT NULL DEFAULT 0, timemodified BIGINT NOT NULL DEFAULT 0, modifierid BIGINT NOT NULL DEFAULT 0,
		component VARCHAR(100) NOT NULL DEFAULT '', itemid BIGINT NOT NULL DEFAULT 0, sortorder BIGINT NOT NULL DEFAULT 0)`,
	`CREATE INDEX {roleassi_rolcon_ix} ON {role_assignments} (roleid, contextid)`,
	`CREATE INDEX {roleassi_useconrol_ix} ON {role_assignments} (userid, contextid, roleid)`,
	`CREATE INDEX {roleassi_con_ix} ON {role_assignments} (contextid)`,
}

// testDB is a Moodle-shaped database on a real server, dropped when the test ends.
type testDB struct {
	kind   string // "postgres" or "mysql"
	admin  *sql.DB
	url    string // of a user that may only SELECT
	prefix string
}

func dbBackends(t testing.TB) map[string]string {
	out := map[string]string{}
	if u := os.Getenv("MIH_TEST_POSTGRES_URL"); u != "" {
		out["postgres"] = u
	}
	if u := os.Getenv("MIH_TEST_MYSQL_URL"); u != "" {
		out["mysql"] = u
	}
	return out
}

// newTestDB creates a database with Moodle's tables under prefix and a SELECT-only user.
func newTestDB(tb testing.TB, kind, adminURL, prefix string) *testDB {
	tb.Helper()
	db := sitedbtest.New(tb, kind, adminURL, "mihcs")
	d := &testDB{kind: kind, prefix: prefix, admin: db.Admin, url: db.ReaderURL}
	for _, q := range moodleTables {
		q = strings.ReplaceAll(strings.ReplaceAll(q, "{", prefix), "}", "")
		if kind == "mysql" {
			q = strings.ReplaceAll(q, "BIGSERIAL PRIMARY KEY", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY")
			q = strings.ReplaceAll(q, "TEXT NOT NULL)", "LONGTEXT NOT NULL)")
			q = strings.Replace(q, prefix+"user ", "`"+prefix+"user` ", 1)
			if strings.HasPrefix(q, "CREATE TABLE") {
				q += " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci ROW_FORMAT=DYNAMIC"
			}
		}
		sitedbtest.Exec(tb, d.admin, q)
	}
	db.GrantSelect(tb)
	sitedbtest.Exec(tb, d.admin, d.q(`INSERT INTO {config} (name, value) VALUES ('mnet_localhost_id', '1')`))
	return d
}

func (d *testDB) q(s string) string {
	s = strings.ReplaceAll(s, "{user}", "{user_table}")
	s = strings.ReplaceAll(strings.ReplaceAll(s, "{", d.prefix), "}", "")
	if d.kind == "mysql" {
		return strings.ReplaceAll(s, d.prefix+"user_table", "`"+d.prefix+"user`")
	}
	return strings.ReplaceAll(s, d.prefix+"user_table", d.prefix+"user")
}

// load copies a moodletest site's courses, categories, users, manual enrolments and course
// roles into the database, with the same ids, so that the site's database and its Web
// Services agree. The tables are emptied first.
func (d *testDB) load(tb testing.TB, ws *moodletest.Server) {
	tb.Helper()
	for _, t := range []string{"course", "course_categories", "user", "enrol", "user_enrolments", "context", "role", "role_assignments"} {
		sitedbtest.Exec(tb, d.admin, d.q(`DELETE FROM {`+t+`}`))
	}
	batch := func(table, cols string, rows [][]any) {
		const per = 500
		for lo := 0; lo < len(rows); lo += per {
			part := rows[lo:min(len(rows), lo+per)]
			var b strings.Builder
			var args []any
			b.WriteString(d.q(`INSERT INTO {` + table + `} (` + cols + `) VALUES `))
			for i, r := range part {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteByte('(')
				for j, v := range r {
					if j > 0 {
						b.WriteByte(',')
					}
					args = append(args, v)
					if d.kind == "postgres" {
						fmt.Fprintf(&b, "$%d", len(args))
					} else {
						b.WriteByte('?')
					}
				}
				b.WriteByte(')')
			}
			sitedbtest.Exec(tb, d.admin, b.String(), args...)
		}
	}
	var rows [][]any
	for _, r := range moodletest.DefaultRoles() {
		rows = append(rows, []any{r.ID, r.ShortName, "", r.SortOrder})
	}
	batch("role", "id, shortname, description, sortorder", rows)
	rows = nil
	for _, c := range ws.Categories() {
		vis := 1
		if c.Hidden {
			vis = 0
		}
		rows = append(rows, []any{c.ID, c.Name, c.IDNumber, c.Parent, vis, 1, fmt.Sprintf("/%d", c.ID)})
	}
	batch("course_categories", "id, name, idnumber, parent, visible, depth, path", rows)
	rows = nil
	for _, u := range ws.Users() {
		rows = append(rows, []any{u.ID, u.Username, u.IDNumber, u.Email, u.FirstName, u.LastName, 1})
	}
	batch("user", "id, username, idnumber, email, firstname, lastname, mnethostid", rows)
	var courses, enrols, ues, ctxs, ras [][]any
	front, _ := ws.Course(moodletest.SiteCourseID)
	for _, c := range append([]moodletest.Course{front}, ws.Courses()...) {
		vis := 1
		if c.Hidden {
			vis = 0
		}
		courses = append(courses, []any{c.ID, c.CategoryID, c.FullName, c.ShortName, c.IDNumber, c.Summary, c.StartDate, c.EndDate, vis})
		if c.ID == moodletest.SiteCourseID {
			continue
		}
		status := 0
		if c.ManualDisabled {
			status = 1
		}
		if !c.NoManualInstance {
			enrols = append(enrols, []any{c.ID, "manual", status, c.ID})
		}
		ctxs = append(ctxs, []any{c.ID, contextCourse, c.ID})
		for _, e := range ws.Enrolments(c.ID) {
			st := 0
			if e.Suspended {
				st = 1
			}
			ues = append(ues, []any{e.ID, st, c.ID, e.UserID, e.TimeStart, e.TimeEnd})
			for _, r := range e.Roles {
				ras = append(ras, []any{r, c.ID, e.UserID})
			}
		}
	}
	batch("course", "id, category, fullname, shortname, idnumber, summary, startdate, enddate, visible", courses)
	batch("enrol", "id, enrol, status, courseid", enrols)
	batch("user_enrolments", "id, status, enrolid, userid, timestart, timeend", ues)
	batch("context", "id, contextlevel, instanceid", ctxs)
	batch("role_assignments", "roleid, contextid, userid", ras)
	if d.kind == "postgres" {
		for _, t := range []string{"course", "course_categories", "user", "enrol", "user_enrolments", "context", "role"} {
			sitedbtest.Exec(tb, d.admin, d.q(`SELECT setval(pg_get_serial_sequence('{`+t+`}', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM {`+t+`}), false)`))
		}
	}
}

// The queries against Moodle's tables on PostgreSQL and MariaDB, with a table prefix, as a
// SELECT-only user: courses, categories, users by each match field (deleted ones and MNet
// visitors left out), participants with their roles, activity and manual enrolment id.
func TestMoodleDB_Queries(t *testing.T) {
	backends := dbBackends(t)
	if len(backends) == 0 {
		t.Skip("MIH_TEST_POSTGRES_URL and MIH_TEST_MYSQL_URL are not set; start servers with scripts/postgres.sh start DIR and scripts/mariadb.sh start DIR")
	}
	for kind, admin := range backends {
		t.Run(kind, func(t *testing.T) {
			ws := moodletest.NewServer(t, moodletest.Options{})
			cat := ws.AddCategory(moodletest.Category{Name: "Sci & Tech", IDNumber: "SCI"})
			alice := ws.AddUser(moodletest.User{Username: "alice", Email: "Alice@Example.edu", IDNumber: "A1", FirstName: "A", LastName: "L"})
			bob := ws.AddUser(moodletest.User{Username: "bob", Email: "bob@example.edu", IDNumber: "B1", FirstName: "B", LastName: "L"})
			carol := ws.AddUser(moodletest.User{Username: "carol", Email: "carol@example.edu", IDNumber: "C1", FirstName: "C", LastName: "L"})
			geo := ws.AddCourse(moodletest.Course{ShortName: "GEO", FullName: "Geo & Maps", CategoryID: cat, StartDate: 100, EndDate: 200})
			ws.Enrol(moodletest.Enrolment{CourseID: geo, UserID: alice}, moodletest.RoleStudent)
			ws.AssignRole(geo, alice, moodletest.RoleTeacher)
			ws.Enrol(moodletest.Enrolment{CourseID: geo, UserID: bob, Suspended: true}, moodletest.RoleStudent)
			ws.Enrol(moodletest.Enrolment{CourseID: geo, UserID: carol, TimeEnd: 1000}, moodletest.RoleEditingTeacher)
			d := newTestDB(t, kind, admin, "m_")
			d.load(t, ws)
			// A deleted account and an MNet visitor with the same username are not found.
			sitedbtest.Exec(t, d.admin, d.q(`INSERT INTO {user} (username, email, idnumber, deleted, mnethostid) VALUES ('alice2', 'gone@example.edu', 'A1', 1, 1)`))
			sitedbtest.Exec(t, d.admin, d.q(`INSERT INTO {user} (username, email, mnethostid) VALUES ('bob', 'visitor@example.edu', 3)`))

			db, err := OpenMoodleDB(d.url, "m_")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			courses, err := db.Courses(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(courses) != 2 || courses[1].ShortName != "GEO" && courses[0].ShortName != "GEO" {
				t.Fatalf("courses %+v", courses)
			}
			for _, c := range courses {
				if c.ShortName == "GEO" && (c.FullName != "Geo &amp; Maps" || c.CategoryID != cat || c.StartDate != 100 || c.EndDate != 200 || !c.Visible) {
					t.Errorf("GEO read as %+v", c)
				}
			}
			cats, err := db.Categories(ctx)
			if err != nil || len(cats) != 2 {
				t.Fatalf("categories %+v, %v", cats, err)
			}
			for field, values := range map[string][]string{"username": {"alice", "bob", "nobody"}, "idnumber": {"A1", "B1"}, "email": {"Alice@Example.edu", "bob@example.edu"}} {
				users, err := db.Users(ctx, field, values)
				if err != nil {
					t.Fatal(err)
				}
				if len(users) != 2 || users[0].ID+users[1].ID != alice+bob {
					t.Errorf("users by %s: %+v", field, users)
				}
			}
			parts, err := db.Enrolments(ctx, []int64{geo})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, p := range parts {
				got[p.Username] = fmt.Sprintf("active=%v roles=%d", p.Active, len(p.Roles))
			}
			want := map[string]string{"alice": "active=true roles=2", "bob": "active=false roles=1", "carol": "active=false roles=1"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("participants %v, want %v", got, want)
			}
			for _, p := range parts {
				if p.Username == "alice" && p.Roles[moodletest.RoleStudent] != "student" {
					t.Errorf("alice: %+v", p)
				}
			}
		})
	}
}

// A wrong URL or password fails with a message that does not quote the password; the plan
// then reads through the Web Services and says why.
func TestMoodleDB_BadURL(t *testing.T) {
	for _, raw := range []string{"ftp://x", "mysql://u:Secr3t-pass@127.0.0.1:1/", "::"} {
		_, err := OpenMoodleDB(raw, "mdl_")
		if err == nil || strings.Contains(err.Error(), "Secr3t") || mih.ErrorCode(err) != mih.CodeInvalid {
			t.Errorf("%q: %v", raw, err)
		}
	}
	db, err := OpenMoodleDB("postgres://u:Secr3t-pass@127.0.0.1:1/moodle?connect_timeout=1", "mdl_")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := db.Courses(ctx); err == nil || strings.Contains(err.Error(), "Secr3t") {
		t.Errorf("courses from a closed port: %v", err)
	}
}

// End to end with the site's database on PostgreSQL and MariaDB: the plan reads the database,
// the writes go through the Web Services (a suspension and a reactivation through the hub
// plugin: no welcome message), and once the database holds what was written the next run plans
// nothing.
func TestRun_RealDatabase(t *testing.T) {
	backends := dbBackends(t)
	if len(backends) == 0 {
		t.Skip("MIH_TEST_POSTGRES_URL and MIH_TEST_MYSQL_URL are not set")
	}
	for kind, admin := range backends {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t, func(j *mih.SyncJob) { j.Removal = mih.RemovalSuspend })
			d := newTestDB(t, kind, admin, "mdl_")
			f.setSiteDB(d.url)
			changes(f)
			d.load(t, f.ws)
			run := f.run(mih.SyncApply)
			wantStatus(t, run, mih.SyncSucceeded)
			if run.Counts.Applied != (mih.SyncActionCounts{Enrol: 1, Reactivate: 1, RoleChanges: 1, Suspend: 1}) || len(run.Plan.Warnings) != 0 {
				t.Errorf("applied %+v, warnings %q", run.Counts.Applied, run.Plan.Warnings)
			}
			if n := len(f.ws.Notifications()); n != 1 {
				t.Errorf("%d messages, want the new enrolment's only", n)
			}
			if c := f.ws.Calls(); c.ByFunction[moodle.FuncEnrolledUsers] != 0 || c.ByFunction[moodle.FuncUpdateEnrolments] != 2 {
				t.Errorf("calls %v: want no participant list read, 2 enrolment updates (suspension, reactivation)", c.ByFunction)
			}
			d.load(t, f.ws)
			f.noChanges()
		})
	}
}
