package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
)

// eventCols is how many parameters one event row takes.
const eventCols = 7

var eventInsert = bulkDef{
	name: "insert events",
	head: `INSERT INTO events (id, site, eventname, userid, courseid, received_at, data) VALUES `,
	row:  `(?,?,?,?,?,?,?)`,
	tail: ` ON CONFLICT (id) DO NOTHING RETURNING id`,
	cols: eventCols,
}

// CreateEvents writes the new events of items with their deliveries in one transaction, or nothing.
// Each table gets multi-row INSERTs of the prepared sizes (bulkShapes); ON CONFLICT DO NOTHING …
// RETURNING id tells which events were new, so that a duplicate costs no extra statement. Within items the first occurrence of an id wins.
//
// The store sets what the caller left empty: an event's ReceivedAt (now), and a delivery's
// EventID, State (pending), NextAttemptAt (now), IdempotencyKey (<event id>:<rule id>),
// CreatedAt and UpdatedAt. It sets the ID of every delivery it writes.
func (s *Store) CreateEvents(ctx context.Context, items []mih.IngestItem) (mih.IngestResult, error) {
	var res mih.IngestResult
	if len(items) == 0 {
		return res, nil
	}
	now := round(s.now())
	first := make(map[string]bool, len(items)) // ids seen in this call
	events := make([]mih.IngestItem, 0, len(items))
	for i, it := range items {
		e := it.Event
		if e == nil || e.ID == "" {
			return res, mih.Errorf(mih.CodeInvalid, "events[%d]: id is required", i)
		}
		if first[e.ID] {
			continue
		}
		first[e.ID] = true
		if e.ReceivedAt.IsZero() {
			e.ReceivedAt = now
		}
		e.ReceivedAt = round(e.ReceivedAt)
		events = append(events, it)
	}
	// Encode before the transaction: on SQLite it holds the only write lock.
	data := make(map[string]string, len(events))
	for _, it := range events {
		b, err := json.Marshal(it.Event)
		if err != nil {
			return res, fmt.Errorf("create events: event %q: %w", it.Event.ID, err)
		}
		data[it.Event.ID] = string(b)
	}
	// Concurrent batches insert their ids in one order, so that two batches sharing ids wait for
	// each other instead of deadlocking. Deliveries keep the order of items: it is the order they
	// are sent in.
	byID := slices.SortedFunc(slices.Values(events), func(a, b mih.IngestItem) int {
		return strings.Compare(a.Event.ID, b.Event.ID)
	})
	h, err := s.hot(ctx)
	if err != nil {
		return res, fmt.Errorf("create events: %w", err)
	}
	args := make([]any, 0, min(len(events), bulkShapes[0])*eventCols)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		created := make(map[string]bool, len(events))
		for shape, chunk := range bulkChunks(byID) {
			args = args[:0]
			for _, it := range chunk {
				e := it.Event
				args = append(args, e.ID, e.Site, e.EventName, e.UserID, e.CourseID, micros(e.ReceivedAt), data[e.ID])
			}
			rows, err := h.stmt(ctx, tx, &eventInsert, shape).QueryContext(ctx, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				created[id] = true
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		var ds []*mih.Delivery
		for _, it := range events {
			if !created[it.Event.ID] {
				continue
			}
			for _, d := range it.Deliveries {
				if d.EventID == "" {
					d.EventID = it.Event.ID
				}
				if d.IdempotencyKey == "" {
					d.IdempotencyKey = mih.IdempotencyKey(d.EventID, d.RuleID)
				}
				ds = append(ds, d)
			}
		}
		res.Accepted = len(created)
		res.Deliveries = len(ds)
		return s.insertDeliveries(ctx, h, tx, ds, now)
	})
	if err != nil {
		return mih.IngestResult{}, fmt.Errorf("create events: %w", err)
	}
	res.Duplicates = len(items) - res.Accepted
	return res, nil
}

func scanEvent(data string, received int64) (*mih.Event, error) {
	var e mih.Event
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return nil, err
	}
	e.ReceivedAt = fromMicros(received)
	return &e, nil
}

// FindEventByID returns one event as stored.
func (s *Store) FindEventByID(ctx context.Context, id string) (*mih.Event, error) {
	var (
		data     string
		received int64
	)
	err := s.queryRow(ctx, s.read, `SELECT data, received_at FROM events WHERE id = ?`, id).Scan(&data, &received)
	if err != nil {
		return nil, fmt.Errorf("find event: %w", s.dbError(err, fmt.Sprintf("event %q", id)))
	}
	e, err := scanEvent(data, received)
	if err != nil {
		return nil, fmt.Errorf("find event %q: %w", id, err)
	}
	return e, nil
}

// FindEvents lists events newest first, each with a brief of its deliveries; those come from one
// extra query for the whole page.
func (s *Store) FindEvents(ctx context.Context, f mih.EventFilter) ([]*mih.EventRecord, string, error) {
	cursor, err := parseCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	var w where
	if f.EventName != "" {
		w.add("eventname = ?", f.EventName)
	}
	if f.Site != "" {
		w.add("site = ?", f.Site)
	}
	if f.UserID != nil {
		w.add("userid = ?", *f.UserID)
	}
	if f.CourseID != nil {
		w.add("courseid = ?", *f.CourseID)
	}
	if !f.Since.IsZero() {
		w.add("received_at >= ?", micros(f.Since))
	}
	if cursor > 0 {
		w.add("seq < ?", cursor)
	}
	n := limit(f.Limit)
	rows, err := s.read.QueryContext(ctx,
		s.dyn(`SELECT seq, data, received_at FROM events`+w.String()+` ORDER BY seq DESC LIMIT ?`),
		append(w.args, n+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("find events: %w", err)
	}
	defer rows.Close()
	out := make([]*mih.EventRecord, 0, n)
	byID := make(map[string]*mih.EventRecord, n)
	var last int64
	more := false
	for rows.Next() {
		if len(out) == n {
			more = true
			break
		}
		var (
			data     string
			received int64
		)
		if err := rows.Scan(&last, &data, &received); err != nil {
			return nil, "", fmt.Errorf("find events: %w", err)
		}
		e, err := scanEvent(data, received)
		if err != nil {
			return nil, "", fmt.Errorf("find events: seq %d: %w", last, err)
		}
		r := &mih.EventRecord{Event: e, Deliveries: []mih.DeliveryBrief{}}
		out = append(out, r)
		byID[e.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("find events: %w", err)
	}
	rows.Close()
	if err := s.briefDeliveries(ctx, byID); err != nil {
		return nil, "", fmt.Errorf("find events: %w", err)
	}
	return out, nextCursor(more, last), nil
}

// briefDeliveries fills in the deliveries of the events in byID.
func (s *Store) briefDeliveries(ctx context.Context, byID map[string]*mih.EventRecord) error {
	if len(byID) == 0 {
		return nil
	}
	ids := make([]any, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	rows, err := s.read.QueryContext(ctx, s.dyn(`SELECT id, event_id, rule_id, service, state FROM deliveries
		WHERE event_id IN (`+placeholders(len(ids))+`) ORDER BY id`), ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			b       mih.DeliveryBrief
			eventID string
		)
		if err := rows.Scan(&b.ID, &eventID, &b.RuleID, &b.Service, &b.State); err != nil {
			return err
		}
		if r := byID[eventID]; r != nil {
			r.Deliveries = append(r.Deliveries, b)
		}
	}
	return rows.Err()
}

// PruneEvents deletes events received before the cut-off whose deliveries have all succeeded (or
// been pruned): an event with a delivery still waiting or dead stays, since a replay may render
// it again. pruneBatch events per statement, without counting rows.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	q := `DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE received_at < ?
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.state <> 'succeeded')
		ORDER BY seq LIMIT ` + strconv.Itoa(pruneBatch) + `)`
	total := 0
	for {
		n, err := s.execCount(ctx, s.db, q, micros(before))
		total += n
		if err != nil {
			return total, fmt.Errorf("prune events: %w", err)
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}
