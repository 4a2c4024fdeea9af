package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/mihhub/mih"
)

const logColumns = `id, logged_at, service, endpoint, method, status, latency_ms, attempts, success, error, delivery_id, source`

// logCols is how many parameters one log row takes.
const logCols = 11

var logInsert = bulkDef{
	name: "insert request log",
	head: `INSERT INTO request_log (logged_at, service, endpoint, method, status, latency_ms, attempts, success, error,
		delivery_id, source) VALUES `,
	row:  `(?,?,?,?,?,?,?,?,?,?,?)`,
	cols: logCols,
}

// insertLogs writes entries with multi-row INSERTs; a zero Time means now. q is the write
// database or a transaction on it.
func (s *Store) insertLogs(ctx context.Context, h *hotStmts, q querier, entries []*mih.LogEntry, now time.Time) error {
	args := make([]any, 0, min(len(entries), bulkShapes[0])*logCols)
	for shape, chunk := range bulkChunks(entries) {
		args = args[:0]
		for _, e := range chunk {
			if e.Time.IsZero() {
				e.Time = now
			}
			e.Time = round(e.Time)
			args = append(args, micros(e.Time), e.Service, e.Endpoint, e.Method, e.Status, e.LatencyMS, e.Attempts,
				e.Success, e.Error, e.DeliveryID, e.Source)
		}
		if _, err := h.stmt(ctx, q, &logInsert, shape).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert log entries: %w", err)
		}
	}
	return nil
}

// CreateLogs appends entries to the request log in one transaction.
func (s *Store) CreateLogs(ctx context.Context, entries []*mih.LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	now := s.now()
	h, err := s.hot(ctx)
	if err != nil {
		return fmt.Errorf("create logs: %w", err)
	}
	if len(entries) == 1 {
		err = s.insertLogs(ctx, h, s.db, entries, now) // one statement needs no transaction
	} else {
		err = s.inTx(ctx, func(tx *sql.Tx) error { return s.insertLogs(ctx, h, tx, entries, now) })
	}
	if err != nil {
		return fmt.Errorf("create logs: %w", err)
	}
	return nil
}

// FindLogs lists log entries newest first.
func (s *Store) FindLogs(ctx context.Context, f mih.LogFilter) ([]*mih.LogEntry, string, error) {
	cursor, err := parseCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var w where
	if f.Service != "" {
		w.add("service = ?", f.Service)
	}
	if f.Success != nil {
		w.add("success = ?", *f.Success)
	}
	if !f.Since.IsZero() {
		w.add("logged_at >= ?", micros(f.Since))
	}
	if cursor > 0 {
		w.add("id < ?", cursor)
	}
	n := limit(f.Limit)
	rows, err := s.read.QueryContext(ctx,
		s.dyn(`SELECT `+logColumns+` FROM request_log`+w.String()+` ORDER BY id DESC LIMIT ?`),
		append(w.args, n+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("find logs: %w", err)
	}
	defer rows.Close()
	out := make([]*mih.LogEntry, 0, n)
	more := false
	for rows.Next() {
		if len(out) == n {
			more = true
			break
		}
		var (
			e  mih.LogEntry
			at int64
		)
		err := rows.Scan(&e.ID, &at, &e.Service, &e.Endpoint, &e.Method, &e.Status, &e.LatencyMS, &e.Attempts,
			&e.Success, &e.Error, &e.DeliveryID, &e.Source)
		if err != nil {
			return nil, "", fmt.Errorf("find logs: %w", err)
		}
		e.Time = fromMicros(at)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("find logs: %w", err)
	}
	var last int64
	if len(out) > 0 {
		last = out[len(out)-1].ID
	}
	return out, nextCursor(more, last), nil
}

// PruneLogs deletes entries logged before the cut-off (none when it is zero), then all but the
// newest keep (no limit when keep <= 0), in batches and without counting rows.
func (s *Store) PruneLogs(ctx context.Context, before time.Time, keep int) (int, error) {
	n, err := s.prune(ctx, `request_log`, `TRUE`, `logged_at`, before, keep)
	if err != nil {
		return n, fmt.Errorf("prune logs: %w", err)
	}
	return n, nil
}

// ServiceStats summarises the log per service since the given time.
func (s *Store) ServiceStats(ctx context.Context, since time.Time) ([]mih.ServiceStat, error) {
	rows, err := s.query(ctx, s.read, `SELECT service, COUNT(*), SUM(CASE WHEN success THEN 0 ELSE 1 END),
		AVG(latency_ms), MAX(logged_at) FROM request_log WHERE logged_at >= ? GROUP BY service ORDER BY service`,
		micros(since))
	if err != nil {
		return nil, fmt.Errorf("service stats: %w", err)
	}
	defer rows.Close()
	out := []mih.ServiceStat{}
	for rows.Next() {
		var (
			st   mih.ServiceStat
			last sql.NullInt64
		)
		if err := rows.Scan(&st.Service, &st.Requests, &st.Errors, &st.AvgLatencyMS, &last); err != nil {
			return nil, fmt.Errorf("service stats: %w", err)
		}
		st.LastUsed = timePtr(last)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("service stats: %w", err)
	}
	return out, nil
}
