package tailer

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mihhub/mih"
)

// columns are logstore_standard_log's columns (admin/tool/log/store/standard/db/install.xml),
// in the order scanRow reads them.
const columns = `id, eventname, component, action, target, objecttable, objectid, crud, edulevel,
	contextid, contextlevel, contextinstanceid, userid, courseid, relateduserid, anonymous, other,
	timecreated, origin, ip, realuserid`

// source reads one site's log table. It only ever runs SELECT on that table.
type source struct {
	db      *sql.DB
	kind    string
	site    string
	timeout time.Duration
	qNext   string
	qMax    string
	qIDs    string
	qByIDs  string // followed by the condition on id
	qSince  string
	// queries counts the statements run, for Status.Queries.
	queries *atomic.Int64
}

func newSource(db *sql.DB, kind, table, site string, timeout time.Duration, queries *atomic.Int64) *source {
	arg := func(n int) string { return "?" }
	if kind == Postgres {
		arg = func(n int) string { return "$" + strconv.Itoa(n) }
	}
	return &source{
		db: db, kind: kind, site: site, timeout: timeout, queries: queries,
		qNext:  `SELECT ` + columns + ` FROM ` + table + ` WHERE id > ` + arg(1) + ` ORDER BY id LIMIT ` + arg(2),
		qMax:   `SELECT MAX(id) FROM ` + table,
		qIDs:   `SELECT id FROM ` + table + ` WHERE id > ` + arg(1) + ` AND id <= ` + arg(2) + ` ORDER BY id`,
		qByIDs: `SELECT ` + columns + ` FROM ` + table + ` WHERE id `,
		// Moodle indexes timecreated, so this reads a short range of that index.
		qSince: `SELECT MIN(id) FROM ` + table + ` WHERE timecreated >= ` + arg(1),
	}
}

// row is one log row turned into an event, with what the tailer needs beside it.
type row struct {
	id       int64
	event    *mih.Event
	otherErr error // other could not be decoded and is kept as the raw text
}

// next returns up to limit rows above cursor, in id order.
func (s *source) next(ctx context.Context, cursor int64, limit int) ([]row, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.queries.Add(1)
	rows, err := s.db.QueryContext(ctx, s.qNext, cursor, limit)
	if err != nil {
		return nil, fmt.Errorf("read log rows after id %d: %w", cursor, err)
	}
	out, err := s.scan(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("read log rows after id %d: %w", cursor, err)
	}
	return out, nil
}

// byIDs returns the rows among ids that exist now, in id order.
func (s *source) byIDs(ctx context.Context, ids []int64) ([]row, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var q string
	var args []any
	if s.kind == Postgres {
		// One array parameter: a single prepared statement whatever the ids, where a list of
		// literals would be a new statement for pgx to prepare and cache on every poll.
		q, args = s.qByIDs+`= ANY($1) ORDER BY id`, []any{ids}
	} else {
		// MySQL has no array parameter; the ids are our own integers, written into the
		// statement, which then goes over the text protocol without a prepare.
		var b strings.Builder
		b.Grow(len(s.qByIDs) + len(ids)*8 + 16)
		b.WriteString(s.qByIDs)
		b.WriteString(`IN (`)
		for i, id := range ids {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(id, 10))
		}
		b.WriteString(`) ORDER BY id`)
		q = b.String()
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.queries.Add(1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("re-read %d missing log ids: %w", len(ids), err)
	}
	out, err := s.scan(rows, len(ids))
	if err != nil {
		return nil, fmt.Errorf("re-read %d missing log ids: %w", len(ids), err)
	}
	return out, nil
}

// maxID returns MAX(id), and false when the table is empty.
func (s *source) maxID(ctx context.Context) (int64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var n sql.NullInt64
	s.queries.Add(1)
	if err := s.db.QueryRowContext(ctx, s.qMax).Scan(&n); err != nil {
		return 0, false, fmt.Errorf("read the log table's id range: %w", err)
	}
	return n.Int64, n.Valid, nil
}

// firstSince returns the lowest id of the rows logged at or after the Unix second since, and
// false when there is none.
func (s *source) firstSince(ctx context.Context, since int64) (int64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var n sql.NullInt64
	s.queries.Add(1)
	if err := s.db.QueryRowContext(ctx, s.qSince, since).Scan(&n); err != nil {
		return 0, false, fmt.Errorf("find the first log row since %d: %w", since, err)
	}
	return n.Int64, n.Valid, nil
}

// ids returns the ids in (lo, hi], ascending, reading the primary key only.
func (s *source) ids(ctx context.Context, lo, hi int64) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.queries.Add(1)
	rows, err := s.db.QueryContext(ctx, s.qIDs, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read log ids %d to %d: %w", lo+1, hi, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read log ids %d to %d: %w", lo+1, hi, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read log ids %d to %d: %w", lo+1, hi, err)
	}
	return ids, nil
}

func (s *source) scan(rows *sql.Rows, capacity int) ([]row, error) {
	defer rows.Close()
	out := make([]row, 0, min(capacity, 1024))
	for rows.Next() {
		r, err := scanRow(rows, s.site)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// scanRow maps a row to an event. Every integer is read as nullable: install.xml makes
// objectid, courseid, relateduserid and realuserid nullable, and older Moodle versions also
// userid; the drivers hand over BIGINT (MySQL), int8/int2 (PostgreSQL) and TINYINT alike as
// int64. A NULL where the event has a plain number (courseid, userid) is 0, Moodle's "none";
// where the event has a pointer it stays null.
func scanRow(rows *sql.Rows, site string) (row, error) {
	var (
		id                                          int64
		eventname, component, action, target, crud  sql.NullString
		objecttable, other, origin, ip              sql.NullString
		objectid, edulevel, contextid, contextlevel sql.NullInt64
		contextinstanceid, userid, courseid         sql.NullInt64
		relateduserid, anonymous, timecreated       sql.NullInt64
		realuserid                                  sql.NullInt64
	)
	if err := rows.Scan(&id, &eventname, &component, &action, &target, &objecttable, &objectid,
		&crud, &edulevel, &contextid, &contextlevel, &contextinstanceid, &userid, &courseid,
		&relateduserid, &anonymous, &other, &timecreated, &origin, &ip, &realuserid); err != nil {
		return row{}, fmt.Errorf("scan log row: %w", err)
	}
	ev := &mih.Event{
		ID:                EventID(site, id),
		Site:              site,
		EventName:         eventname.String,
		Component:         component.String,
		Action:            action.String,
		Target:            target.String,
		ObjectTable:       strPtr(objecttable),
		ObjectID:          intPtr(objectid),
		CRUD:              crud.String,
		EduLevel:          edulevel.Int64,
		ContextID:         contextid.Int64,
		ContextLevel:      contextlevel.Int64,
		ContextInstanceID: contextinstanceid.Int64,
		UserID:            userid.Int64,
		CourseID:          courseid.Int64,
		RelatedUserID:     intPtr(relateduserid),
		Anonymous:         anonymous.Int64,
		TimeCreated:       timecreated.Int64,
		Origin:            origin.String,
		IP:                ip.String,
		RealUserID:        intPtr(realuserid),
	}
	r := row{id: id, event: ev}
	o, err := DecodeOther(other.String)
	if err != nil {
		// Kept rather than dropped: the event still happened, and a rule can still match it.
		o, _ = json.Marshal(other.String)
		r.otherErr = err
	}
	ev.Other = o
	return r, nil
}

// EventID is the id of the event made from log row id of a site: stable, so that reading a row
// twice (after a restart, or a late row found again) is a duplicate the store drops.
func EventID(site string, id int64) string {
	return "logstore:" + site + ":" + strconv.FormatInt(id, 10)
}

func strPtr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

func intPtr(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}
