package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

const deliveryColumns = `id, event_id, rule_id, service, state, attempts, method, endpoint, headers, payload,
	idempotency_key, next_attempt_at, last_status, last_error, dead_reason, created_at, updated_at, delivered_at`

// notLeased selects deliveries no worker holds at the time given as its parameter: never claimed,
// completed or released (lease_until NULL), or whose lease ran out.
const notLeased = `(lease_until IS NULL OR lease_until < ?)`

// stateIn is the guard of a transition: the condition that the row is in one of its from-states.
// The states are the domain's own constants, never input, so they are written into the SQL.
func stateIn(col string, states []mih.DeliveryState) string {
	q := make([]string, len(states))
	for i, st := range states {
		q[i] = "'" + string(st) + "'"
	}
	return col + ` IN (` + strings.Join(q, ", ") + `)`
}

// pruneBatch bounds the rows one pruning statement deletes, so that a large backlog never holds
// the (SQLite: only) writer for long.
const pruneBatch = 2000

func scanDelivery(row interface{ Scan(...any) error }) (*mih.Delivery, error) {
	var (
		d                      mih.Delivery
		headers, payload       string
		next, created, updated int64
		delivered              sql.NullInt64
	)
	err := row.Scan(&d.ID, &d.EventID, &d.RuleID, &d.Service, &d.State, &d.Attempts, &d.Method, &d.Endpoint,
		&headers, &payload, &d.IdempotencyKey, &next, &d.LastStatus, &d.LastError, &d.DeadReason,
		&created, &updated, &delivered)
	if err != nil {
		return nil, err
	}
	if d.Headers, err = decodeHeaders(headers); err != nil {
		return nil, fmt.Errorf("delivery %d: headers: %w", d.ID, err)
	}
	if payload != "" {
		d.Payload = json.RawMessage(payload)
	}
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
	d.DeliveredAt = timePtr(delivered)
	return &d, nil
}

func scanDeliveries(rows *sql.Rows) ([]*mih.Delivery, error) {
	defer rows.Close()
	var out []*mih.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// encodeHeaders stores a header map as JSON text, an empty one as "". The text is exactly what
// json.Marshal writes (keys sorted); maps of plain ASCII, which is what HTTP headers almost
// always are, are written without reflection, since every attempt stores two of them.
func encodeHeaders(h map[string]string) (string, error) {
	if len(h) == 0 {
		return "", nil
	}
	var keys [16]string
	ks := keys[:0]
	size := 2
	for k, v := range h {
		if !plainJSON(k) || !plainJSON(v) {
			b, err := json.Marshal(h)
			return string(b), err
		}
		ks = append(ks, k)
		size += len(k) + len(v) + 6
	}
	slices.Sort(ks)
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range ks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":"`...)
		b = append(b, h[k]...)
		b = append(b, '"')
	}
	b = append(b, '}')
	return string(b), nil
}

// plainJSON reports whether json.Marshal writes s between quotes unchanged: printable ASCII
// without the characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func decodeHeaders(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	var h map[string]string
	err := json.Unmarshal([]byte(s), &h)
	return h, err
}

// deliveryInsertCols is how many parameters one delivery row takes.
const deliveryInsertCols = 19

var deliveryInsert = bulkDef{
	name: "insert deliveries",
	head: `INSERT INTO deliveries (event_id, rule_id, service, state, attempts, method, endpoint, headers, payload,
		idempotency_key, next_attempt_at, last_status, last_error, dead_reason, created_at, updated_at, delivered_at,
		lease_owner, lease_until) VALUES `,
	row:  `(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
	tail: ` RETURNING id`,
	cols: deliveryInsertCols,
}

// insertDeliveries writes ds with multi-row INSERTs and sets their IDs, filling in the defaults
// that CreateEvents documents.
func (s *Store) insertDeliveries(ctx context.Context, h *hotStmts, tx *sql.Tx, ds []*mih.Delivery, now time.Time) error {
	args := make([]any, 0, min(len(ds), bulkShapes[0])*deliveryInsertCols)
	for shape, chunk := range bulkChunks(ds) {
		args = args[:0]
		for _, d := range chunk {
			if d.State == "" {
				d.State = mih.DeliveryPending
			}
			if d.NextAttemptAt.IsZero() {
				d.NextAttemptAt = now
			}
			if d.CreatedAt.IsZero() {
				d.CreatedAt = now
			}
			if d.State == mih.DeliverySucceeded && d.DeliveredAt == nil {
				at := now
				d.DeliveredAt = &at
			}
			d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = round(d.NextAttemptAt), round(d.CreatedAt), now
			headers, err := encodeHeaders(d.Headers)
			if err != nil {
				return fmt.Errorf("delivery headers: %w", err)
			}
			var delivered sql.NullInt64
			if d.DeliveredAt != nil {
				delivered = nullMicros(*d.DeliveredAt)
			}
			var owner sql.NullString
			var until sql.NullInt64
			if d.Lease != nil {
				if d.Lease.Owner == "" || d.Lease.Until.IsZero() {
					return mih.Errorf(mih.CodeInvalid, "delivery of event %q: a lease needs an owner and an end", d.EventID)
				}
				owner, until = sql.NullString{String: d.Lease.Owner, Valid: true}, nullMicros(d.Lease.Until)
			}
			args = append(args, d.EventID, d.RuleID, d.Service, string(d.State), d.Attempts, d.Method, d.Endpoint,
				headers, string(d.Payload), d.IdempotencyKey, micros(d.NextAttemptAt), d.LastStatus, d.LastError,
				d.DeadReason, micros(d.CreatedAt), micros(d.UpdatedAt), delivered, owner, until)
		}
		ids, err := queryInt64s(ctx, h.stmt(ctx, tx, &deliveryInsert, shape), args...)
		if err != nil {
			return err
		}
		if len(ids) != len(chunk) {
			return fmt.Errorf("insert deliveries: %d ids returned for %d rows", len(ids), len(chunk))
		}
		// One INSERT takes its ids from the sequence in the order of its VALUES, whatever order
		// RETURNING reports them in.
		slices.Sort(ids)
		for i, d := range chunk {
			d.ID = ids[i]
		}
	}
	return nil
}

// queryInt64s runs a prepared query whose rows are one integer each (ids).
func queryInt64s(ctx context.Context, st *sql.Stmt, args ...any) ([]int64, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]int64, 0, bulkShapes[0])
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// CreateDeliveries writes deliveries without an event (asynchronous gateway calls) in one
// transaction, with the defaults CreateEvents documents, and sets their IDs.
func (s *Store) CreateDeliveries(ctx context.Context, ds []*mih.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	now := round(s.now())
	h, err := s.hot(ctx)
	if err != nil {
		return fmt.Errorf("create deliveries: %w", err)
	}
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return s.insertDeliveries(ctx, h, tx, ds, now) }); err != nil {
		return fmt.Errorf("create deliveries: %w", err)
	}
	return nil
}

// FindDeliveryByID returns one delivery.
func (s *Store) FindDeliveryByID(ctx context.Context, id int64) (*mih.Delivery, error) {
	d, err := scanDelivery(s.queryRow(ctx, s.read, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("find delivery: %w", s.dbError(err, fmt.Sprintf("delivery %d", id)))
	}
	return d, nil
}

// deliveryWhere turns a filter's selecting fields into conditions; Limit and Cursor are the
// caller's business.
func deliveryWhere(f mih.DeliveryFilter) (where, error) {
	var w where
	if len(f.IDs) > maxLimit {
		return w, mih.Errorf(mih.CodeInvalid, "ids: at most %d at once", maxLimit)
	}
	if f.IDs != nil {
		ids := make([]any, len(f.IDs))
		for i, id := range f.IDs {
			ids[i] = id
		}
		if len(ids) == 0 {
			w.add("1 = 0") // an empty list selects nothing, not everything
		} else {
			w.add("id IN ("+placeholders(len(ids))+")", ids...)
		}
	}
	if f.State != "" {
		if !f.State.Valid() {
			return w, mih.Errorf(mih.CodeInvalid, "state %q: want one of pending, retrying, paused, dead, succeeded", f.State)
		}
		w.add("state = ?", string(f.State))
	}
	if f.Service != "" {
		w.add("service = ?", f.Service)
	}
	if f.RuleID != 0 {
		w.add("rule_id = ?", f.RuleID)
	}
	if f.EventID != "" {
		w.add("event_id = ?", f.EventID)
	}
	return w, nil
}

// FindDeliveries lists the deliveries f selects, newest first.
func (s *Store) FindDeliveries(ctx context.Context, f mih.DeliveryFilter) ([]*mih.Delivery, string, error) {
	cursor, err := parseCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	w, err := deliveryWhere(f)
	if err != nil {
		return nil, "", err
	}
	if cursor > 0 {
		w.add("id < ?", cursor)
	}
	n := limit(f.Limit)
	rows, err := s.read.QueryContext(ctx,
		s.dyn(`SELECT `+deliveryColumns+` FROM deliveries`+w.String()+` ORDER BY id DESC LIMIT ?`),
		append(w.args, n+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("find deliveries: %w", err)
	}
	ds, err := scanDeliveries(rows)
	if err != nil {
		return nil, "", fmt.Errorf("find deliveries: %w", err)
	}
	if ds == nil {
		ds = []*mih.Delivery{}
	}
	if len(ds) > n {
		return ds[:n], nextCursor(true, ds[n-1].ID), nil
	}
	return ds, "", nil
}

const attemptColumns = `id, delivery_id, started_at, latency_ms, status, outcome, error_code, error, request_url,
	request_headers, response_headers, response_body`

// FindAttempts returns a delivery's attempts, first to last.
func (s *Store) FindAttempts(ctx context.Context, deliveryID int64) ([]*mih.Attempt, error) {
	rows, err := s.query(ctx, s.read, `SELECT `+attemptColumns+` FROM attempts WHERE delivery_id = ? ORDER BY id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("find attempts: %w", err)
	}
	defer rows.Close()
	out := []*mih.Attempt{}
	for rows.Next() {
		var (
			a                 mih.Attempt
			started           int64
			reqH, respH, body string
		)
		err := rows.Scan(&a.ID, &a.DeliveryID, &started, &a.LatencyMS, &a.Status, &a.Outcome, &a.ErrorCode, &a.Error,
			&a.RequestURL, &reqH, &respH, &body)
		if err != nil {
			return nil, fmt.Errorf("find attempts: %w", err)
		}
		a.StartedAt, a.ResponseBody = fromMicros(started), body
		if a.RequestHeaders, err = decodeHeaders(reqH); err != nil {
			return nil, fmt.Errorf("find attempts: attempt %d: %w", a.ID, err)
		}
		if a.ResponseHeaders, err = decodeHeaders(respH); err != nil {
			return nil, fmt.Errorf("find attempts: attempt %d: %w", a.ID, err)
		}
		out = append(out, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find attempts: %w", err)
	}
	if len(out) == 0 {
		// Tell a delivery not tried yet from one that does not exist.
		var id int64
		if err := s.queryRow(ctx, s.read, `SELECT id FROM deliveries WHERE id = ?`, deliveryID).Scan(&id); err != nil {
			return nil, fmt.Errorf("find attempts: %w", s.dbError(err, fmt.Sprintf("delivery %d", deliveryID)))
		}
	}
	return out, nil
}

// CountDeliveries counts deliveries per service and state.
func (s *Store) CountDeliveries(ctx context.Context) ([]mih.DeliveryCount, error) {
	rows, err := s.query(ctx, s.read, `SELECT service, state, COUNT(*) FROM deliveries GROUP BY service, state ORDER BY service, state`)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	defer rows.Close()
	out := []mih.DeliveryCount{}
	for rows.Next() {
		var c mih.DeliveryCount
		if err := rows.Scan(&c.Service, &c.State, &c.Count); err != nil {
			return nil, fmt.Errorf("count deliveries: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	return out, nil
}

// ClaimDeliveries leases due deliveries to p.Owner with one UPDATE … RETURNING. On PostgreSQL the
// inner SELECT skips rows other claimers hold locked; on SQLite the single writer makes the
// statement exclusive by itself. A zero p.Now means now.
func (s *Store) ClaimDeliveries(ctx context.Context, p mih.ClaimParams) ([]*mih.Delivery, error) {
	if err := checkClaim(p); err != nil {
		return nil, err
	}
	if p.Limit <= 0 {
		return nil, nil
	}
	h, err := s.hot(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	ds, err := s.claim(ctx, h.claim, p)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return ds, nil
}

func checkClaim(p mih.ClaimParams) error {
	if p.Owner == "" || p.Lease <= 0 {
		return mih.Errorf(mih.CodeInvalid, "claim deliveries: owner and a positive lease are required")
	}
	return nil
}

// claim runs the claim statement (on its own, or bound to a transaction) and returns the
// deliveries oldest due first.
func (s *Store) claim(ctx context.Context, stmt *sql.Stmt, p mih.ClaimParams) ([]*mih.Delivery, error) {
	now := p.Now
	if now.IsZero() {
		now = s.now()
	}
	rows, err := stmt.QueryContext(ctx, p.Owner, micros(now.Add(p.Lease)), micros(now), micros(now), p.Limit)
	if err != nil {
		return nil, err
	}
	ds, err := scanDeliveries(rows)
	if err != nil {
		return nil, err
	}
	// RETURNING promises no order; callers get oldest due first.
	slices.SortFunc(ds, func(a, b *mih.Delivery) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return ds, nil
}

// claimSQL leases up to a limit of due deliveries; its parameters are the owner, the end of the
// lease, now (due), now (lease run out) and the limit. On PostgreSQL the inner SELECT skips rows
// other claimers hold locked. The limit is cast because SQLite recompiles a prepared statement
// whose plan may depend on a bound LIMIT every time the value changes; as an expression it is
// only a value, and the claim keeps its compiled plan.
func (s *Store) claimSQL() string {
	lock := ""
	if s.dialect.SkipLocked {
		lock = ` FOR UPDATE SKIP LOCKED`
	}
	return `UPDATE deliveries SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM ` + s.dialect.ClaimFrom + `
			WHERE ` + stateIn("state", mih.ClaimableStates()) + ` AND next_attempt_at <= ? AND ` + notLeased + `
			ORDER BY next_attempt_at, id LIMIT CAST(? AS INTEGER)` + lock + `)
		RETURNING ` + deliveryColumns
}

// completeCols is how many parameters one result row of CompleteDeliveries takes.
const completeCols = 13

var completeUpdate = bulkDef{
	name: "complete deliveries",
	head: `UPDATE deliveries SET state = v.column2, attempts = deliveries.attempts + v.column3,
		next_attempt_at = COALESCE(v.column4, deliveries.next_attempt_at), last_status = v.column5,
		last_error = v.column6, dead_reason = v.column7, delivered_at = COALESCE(v.column8, deliveries.delivered_at),
		payload = COALESCE(v.column9, deliveries.payload), updated_at = v.column10,
		method = CASE WHEN v.column11 = '' THEN deliveries.method ELSE v.column11 END,
		endpoint = CASE WHEN v.column12 = '' THEN deliveries.endpoint ELSE v.column12 END,
		headers = COALESCE(v.column13, deliveries.headers),
		lease_owner = NULL, lease_until = NULL
		FROM (VALUES `,
	row: `(CAST(? AS BIGINT),CAST(? AS TEXT),CAST(? AS INTEGER),CAST(? AS BIGINT),CAST(? AS INTEGER),` +
		`CAST(? AS TEXT),CAST(? AS TEXT),CAST(? AS BIGINT),CAST(? AS TEXT),CAST(? AS BIGINT),` +
		`CAST(? AS TEXT),CAST(? AS TEXT),CAST(? AS TEXT))`,
	// Every outcome leaves the same states, the ones a claim takes: the guard is one condition.
	// The cast keeps it a filter on both databases: as an index term, SQLite's planner would drive
	// the update from deliveries_state and read every waiting delivery for each batch, instead of
	// looking the batch's ids up by primary key.
	tail: `) AS v WHERE deliveries.id = v.column1 AND deliveries.lease_owner = ? AND ` +
		stateIn("CAST(deliveries.state AS TEXT)", mih.Succeed.From) + ` RETURNING deliveries.id`,
	cols:  completeCols,
	extra: 1,
}

// CompleteDeliveries applies results in one transaction: UPDATE … FROM (VALUES …) guarded by the
// lease owner and by the from-states of the outcome's transition (mih.OutcomeTransition), then
// INSERTs for the attempts and log entries of the results it applied (each of the prepared sizes,
// bulkShapes). Results whose lease owner is gone are skipped, with their attempt and log entry.
func (s *Store) CompleteDeliveries(ctx context.Context, owner string, rs []mih.DeliveryResult) (int, error) {
	n, _, err := s.complete(ctx, owner, rs, nil)
	return n, err
}

// CompleteAndClaim is CompleteDeliveries followed by ClaimDeliveries in the same transaction:
// a busy worker commits its finished rounds and leases its next deliveries with one commit (and,
// on SQLite with synchronous=FULL, one fsync) instead of two. Either both happen or neither.
func (s *Store) CompleteAndClaim(ctx context.Context, owner string, rs []mih.DeliveryResult, p mih.ClaimParams) (int, []*mih.Delivery, error) {
	if err := checkClaim(p); err != nil {
		return 0, nil, err
	}
	if p.Owner != owner {
		return 0, nil, mih.Errorf(mih.CodeInvalid, "complete and claim: results of %q, claim for %q", owner, p.Owner)
	}
	return s.complete(ctx, owner, rs, &p)
}

func (s *Store) complete(ctx context.Context, owner string, rs []mih.DeliveryResult, claim *mih.ClaimParams) (int, []*mih.Delivery, error) {
	if len(rs) == 0 && (claim == nil || claim.Limit <= 0) {
		return 0, nil, nil
	}
	// The last result for an ID wins: one UPDATE must not see an ID twice.
	idx := make(map[int64]int, len(rs))
	uniq := make([]*mih.DeliveryResult, 0, len(rs))
	for i := range rs {
		r := &rs[i]
		if j, ok := idx[r.ID]; ok {
			uniq[j] = r
			continue
		}
		idx[r.ID] = len(uniq)
		uniq = append(uniq, r)
	}
	// Every completion locks its rows in id order, so that two of them never wait for each other
	// in a cycle (a lost lease puts the same delivery in two workers' batches).
	slices.SortFunc(uniq, func(a, b *mih.DeliveryResult) int { return cmp.Compare(a.ID, b.ID) })
	for _, r := range uniq {
		if _, ok := mih.OutcomeTransition(r.State); !ok {
			return 0, nil, mih.Errorf(mih.CodeInvalid, "complete deliveries: delivery %d: a round cannot end in state %q", r.ID, r.State)
		}
	}
	fallback := s.now()
	applied := make(map[int64]bool, len(uniq))
	h, err := s.hot(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("complete deliveries: %w", err)
	}
	var claimed []*mih.Delivery
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		args := make([]any, 0, min(len(uniq), bulkShapes[0])*completeCols+1)
		for shape, chunk := range bulkChunks(uniq) {
			args = args[:0]
			for _, r := range chunk {
				now := r.Now
				if now.IsZero() {
					now = fallback
				}
				inc := 0
				if r.CountAttempt {
					inc = 1
				}
				var delivered sql.NullInt64
				if r.State == mih.DeliverySucceeded {
					delivered = nullMicros(now)
				}
				var payload, headers sql.NullString
				if r.Payload != nil {
					payload = sql.NullString{String: string(r.Payload), Valid: true}
				}
				if r.Headers != nil {
					hs, err := encodeHeaders(r.Headers)
					if err != nil {
						return fmt.Errorf("delivery %d headers: %w", r.ID, err)
					}
					headers = sql.NullString{String: hs, Valid: true}
				}
				args = append(args, r.ID, string(r.State), inc, nullMicros(r.NextAttemptAt), r.LastStatus, r.LastError,
					r.DeadReason, delivered, payload, micros(now), r.Method, r.Endpoint, headers)
			}
			args = append(args, owner)
			ids, err := queryInt64s(ctx, h.stmt(ctx, tx, &completeUpdate, shape), args...)
			if err != nil {
				return err
			}
			for _, id := range ids {
				applied[id] = true
			}
		}
		var (
			attempts []*mih.Attempt
			logs     []*mih.LogEntry
		)
		for _, r := range uniq {
			if !applied[r.ID] {
				continue
			}
			if r.Attempt != nil {
				r.Attempt.DeliveryID = r.ID
				attempts = append(attempts, r.Attempt)
			}
			if r.Log != nil {
				if r.Log.DeliveryID == 0 {
					r.Log.DeliveryID = r.ID
				}
				if r.Log.Source == "" {
					r.Log.Source = "delivery"
				}
				logs = append(logs, r.Log)
			}
		}
		if err := s.insertAttempts(ctx, h, tx, attempts, fallback); err != nil {
			return err
		}
		if err := s.insertLogs(ctx, h, tx, logs, fallback); err != nil {
			return err
		}
		if claim == nil || claim.Limit <= 0 {
			return nil
		}
		// After the results: a delivery a result just set to retry at once may be claimed again.
		stmt := tx.StmtContext(ctx, h.claim)
		defer stmt.Close()
		var err error
		if claimed, err = s.claim(ctx, stmt, *claim); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("complete deliveries: %w", err)
	}
	return len(applied), claimed, nil
}

// attemptCols is how many parameters one attempt row takes.
const attemptCols = 11

var attemptInsert = bulkDef{
	name: "insert attempts",
	head: `INSERT INTO attempts (delivery_id, started_at, latency_ms, status, outcome, error_code, error, request_url,
		request_headers, response_headers, response_body) VALUES `,
	row:  `(?,?,?,?,?,?,?,?,?,?,?)`,
	cols: attemptCols,
}

func (s *Store) insertAttempts(ctx context.Context, h *hotStmts, tx *sql.Tx, as []*mih.Attempt, now time.Time) error {
	args := make([]any, 0, min(len(as), bulkShapes[0])*attemptCols)
	for shape, chunk := range bulkChunks(as) {
		args = args[:0]
		for _, a := range chunk {
			if a.StartedAt.IsZero() {
				a.StartedAt = now
			}
			a.StartedAt = round(a.StartedAt)
			reqH, err := encodeHeaders(a.RequestHeaders)
			if err != nil {
				return fmt.Errorf("attempt request headers: %w", err)
			}
			respH, err := encodeHeaders(a.ResponseHeaders)
			if err != nil {
				return fmt.Errorf("attempt response headers: %w", err)
			}
			args = append(args, a.DeliveryID, micros(a.StartedAt), a.LatencyMS, a.Status, a.Outcome, a.ErrorCode, a.Error,
				a.RequestURL, reqH, respH, a.ResponseBody)
		}
		if _, err := h.stmt(ctx, tx, &attemptInsert, shape).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert attempts: %w", err)
		}
	}
	return nil
}

// ExtendLeases moves the end of owner's leases on ids to until.
func (s *Store) ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) error {
	err := s.leaseUpdate(ctx, `UPDATE deliveries SET lease_until = ?`, []any{micros(until)}, owner, ids)
	if err != nil {
		return fmt.Errorf("extend leases: %w", err)
	}
	return nil
}

// ReleaseDeliveries drops owner's leases on ids: they are due again at their next_attempt_at.
func (s *Store) ReleaseDeliveries(ctx context.Context, owner string, ids []int64) error {
	err := s.leaseUpdate(ctx, `UPDATE deliveries SET lease_owner = NULL, lease_until = NULL`, nil, owner, ids)
	if err != nil {
		return fmt.Errorf("release deliveries: %w", err)
	}
	return nil
}

// leaseUpdate runs head … WHERE lease_owner = owner AND id IN ids, in chunks of one transaction.
func (s *Store) leaseUpdate(ctx context.Context, head string, args []any, owner string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for chunk := range slices.Chunk(ids, maxLimit) {
			a := append(append(make([]any, 0, len(args)+1+len(chunk)), args...), owner)
			for _, id := range chunk {
				a = append(a, id)
			}
			q := s.dyn(head + ` WHERE lease_owner = ? AND id IN (` + placeholders(len(chunk)) + `)`)
			if _, err := tx.ExecContext(ctx, q, a...); err != nil {
				return err
			}
		}
		return nil
	})
}

// PauseDeliveries moves the service's pending and retrying deliveries no worker holds to paused.
func (s *Store) PauseDeliveries(ctx context.Context, service string, now time.Time) (int, error) {
	n, err := s.execCount(ctx, s.db, `UPDATE deliveries
		SET state = 'paused', lease_owner = NULL, lease_until = NULL, updated_at = ?
		WHERE service = ? AND `+stateIn("state", mih.Pause.From)+` AND `+notLeased,
		micros(now), service, micros(now))
	if err != nil {
		return 0, fmt.Errorf("pause deliveries: %w", err)
	}
	return n, nil
}

// ResumeDeliveries moves up to limit (0: all) of the service's paused deliveries back to pending
// (never tried) or retrying, due now; the claim then takes them in id order, so the oldest goes
// first. A limit of one is how the circuit breaker sends its half-open probe: it takes the
// delivery whose last try is oldest, so that a failed probe (paused again with its next attempt
// set to then) goes to the back, and one delivery the service keeps refusing cannot be the probe
// every time.
func (s *Store) ResumeDeliveries(ctx context.Context, service string, limit int, now time.Time) (int, error) {
	q := `UPDATE deliveries
		SET state = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END, next_attempt_at = ?, updated_at = ?
		WHERE service = ? AND ` + stateIn("state", mih.Resume.From)
	args := []any{micros(now), micros(now), service}
	if limit > 0 {
		q += ` AND id IN (SELECT id FROM deliveries WHERE service = ? AND ` + stateIn("state", mih.Resume.From) + ` ORDER BY next_attempt_at, id LIMIT ?)`
		args = append(args, service, limit)
	}
	n, err := s.execCount(ctx, s.db, q, args...)
	if err != nil {
		return 0, fmt.Errorf("resume deliveries: %w", err)
	}
	return n, nil
}

// FirstAttemptAt returns when the first of the delivery's last n counted attempts started: the
// start of its current attempt budget, since a replay keeps the history but starts the count
// again. Paused attempts (failed probes, attempts given back) do not count. Zero when there is
// none.
func (s *Store) FirstAttemptAt(ctx context.Context, id int64, n int) (time.Time, error) {
	if n <= 0 {
		return time.Time{}, nil
	}
	var us int64
	err := s.queryRow(ctx, s.read, `SELECT started_at FROM attempts WHERE delivery_id = ? AND outcome <> ?
		ORDER BY id DESC LIMIT 1 OFFSET ?`, id, mih.OutcomePaused, n-1).Scan(&us)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("first attempt of delivery %d: %w", id, err)
	}
	return fromMicros(us), nil
}

// ExpireDeliveries moves the service's waiting deliveries (pending, retrying, paused) created
// before the cut-off, and not held by a worker, to the DLQ as expired.
func (s *Store) ExpireDeliveries(ctx context.Context, service string, createdBefore, now time.Time) (int, error) {
	n, err := s.execCount(ctx, s.db, `UPDATE deliveries
		SET state = 'dead', dead_reason = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
		WHERE service = ? AND `+stateIn("state", mih.Expire.From)+` AND created_at < ? AND `+notLeased,
		mih.ReasonExpired, micros(now), service, micros(createdBefore), micros(now))
	if err != nil {
		return 0, fmt.Errorf("expire deliveries: %w", err)
	}
	return n, nil
}

// ReplayDeliveries moves the dead deliveries f selects (Limit and Cursor aside) back to pending
// with no attempts used, due now. Their idempotency key, attempts history, last status and last
// error stay. A filter on another state than dead selects nothing.
func (s *Store) ReplayDeliveries(ctx context.Context, f mih.DeliveryFilter, now time.Time) (int, error) {
	if f.State != "" && f.State != mih.DeliveryDead {
		return 0, nil
	}
	f.State = ""
	w, err := deliveryWhere(f)
	if err != nil {
		return 0, err
	}
	w.add(stateIn("state", mih.Replay.From))
	res, err := s.db.ExecContext(ctx, s.dyn(`UPDATE deliveries
		SET state = 'pending', attempts = 0, dead_reason = '', next_attempt_at = ?, lease_owner = NULL,
			lease_until = NULL, updated_at = ?`+w.String()),
		append([]any{micros(now), micros(now)}, w.args...)...)
	if err != nil {
		return 0, fmt.Errorf("replay deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("replay deliveries: %w", err)
	}
	return int(n), nil
}

// SetDeliveryPayload replaces a dead delivery's request. A delivery in another state is
// CodeConflict: it may be in flight.
func (s *Store) SetDeliveryPayload(ctx context.Context, id int64, method, endpoint string, payload []byte) error {
	n, err := s.execCount(ctx, s.db, `UPDATE deliveries SET method = ?, endpoint = ?, payload = ?, updated_at = ?
		WHERE id = ? AND `+stateIn("state", mih.Replay.From), method, endpoint, string(payload), micros(s.now()), id)
	if err != nil {
		return fmt.Errorf("set delivery payload: %w", err)
	}
	if n == 1 {
		return nil
	}
	var state string
	if err := s.queryRow(ctx, s.db, `SELECT state FROM deliveries WHERE id = ?`, id).Scan(&state); err != nil {
		return fmt.Errorf("set delivery payload: %w", s.dbError(err, fmt.Sprintf("delivery %d", id)))
	}
	return mih.Errorf(mih.CodeConflict, "delivery %d is %s: only a dead delivery's payload can be replaced", id, state)
}

// DeleteDeliveries deletes what f selects (Limit and Cursor aside) with their attempts, except
// deliveries a worker holds. An empty filter selects every delivery.
func (s *Store) DeleteDeliveries(ctx context.Context, f mih.DeliveryFilter) (int, error) {
	w, err := deliveryWhere(f)
	if err != nil {
		return 0, err
	}
	w.add(notLeased, micros(s.now()))
	res, err := s.db.ExecContext(ctx, s.dyn(`DELETE FROM deliveries`+w.String()), w.args...)
	if err != nil {
		return 0, fmt.Errorf("delete deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete deliveries: %w", err)
	}
	return int(n), nil
}

// PruneDeliveries deletes succeeded deliveries delivered before the cut-off (none when it is
// zero), then all but the newest keep succeeded ones (no limit when keep <= 0), in batches.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time, keep int) (int, error) {
	n, err := s.prune(ctx, `deliveries`, `state = 'succeeded'`, `delivered_at`, before, keep)
	if err != nil {
		return n, fmt.Errorf("prune deliveries: %w", err)
	}
	return n, nil
}

// prune deletes the rows of table matching cond that are older than before by timeCol, then those
// below the keep-th newest id, without counting rows, pruneBatch rows per statement.
func (s *Store) prune(ctx context.Context, table, cond, timeCol string, before time.Time, keep int) (int, error) {
	total := 0
	del := func(extra string, arg any) error {
		q := `DELETE FROM ` + table + ` WHERE id IN (SELECT id FROM ` + table + ` WHERE ` + cond + ` AND ` + extra +
			` LIMIT ` + strconv.Itoa(pruneBatch) + `)`
		for {
			n, err := s.execCount(ctx, s.db, q, arg)
			total += n
			if err != nil || n < pruneBatch {
				return err
			}
		}
	}
	if !before.IsZero() {
		if err := del(timeCol+` < ?`, micros(before)); err != nil {
			return total, err
		}
	}
	if keep > 0 {
		var cut int64
		err := s.queryRow(ctx, s.db, `SELECT id FROM `+table+` WHERE `+cond+` ORDER BY id DESC LIMIT 1 OFFSET ?`,
			keep-1).Scan(&cut)
		if errors.Is(err, sql.ErrNoRows) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if err := del(`id < ?`, cut); err != nil {
			return total, err
		}
	}
	return total, nil
}
