package store

import (
	"context"
	"fmt"
	"time"

	"github.com/mihhub/mih"
)

const circuitColumns = `service, state, failures, failing_since, opened_at, retry_at, probe_id, probe_until, version, updated_at, last_success_at`

// FindCircuits returns every stored circuit, ordered by service.
func (s *Store) FindCircuits(ctx context.Context) ([]*mih.Circuit, error) {
	rows, err := s.query(ctx, s.read, `SELECT `+circuitColumns+` FROM circuits ORDER BY service`)
	if err != nil {
		return nil, fmt.Errorf("find circuits: %w", err)
	}
	defer rows.Close()
	var cs []*mih.Circuit
	for rows.Next() {
		c, err := scanCircuit(rows)
		if err != nil {
			return nil, fmt.Errorf("find circuits: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find circuits: %w", err)
	}
	return cs, nil
}

// FindCircuit returns one service's circuit, CodeNotFound when none is stored. It reads from the
// writer so that a process retrying a lost compare-and-set sees the write that beat it.
func (s *Store) FindCircuit(ctx context.Context, service string) (*mih.Circuit, error) {
	c, err := scanCircuit(s.queryRow(ctx, s.db, `SELECT `+circuitColumns+` FROM circuits WHERE service = ?`, service))
	if err != nil {
		return nil, fmt.Errorf("find circuit: %w", s.dbError(err, fmt.Sprintf("circuit of %q", service)))
	}
	return c, nil
}

// SwapCircuit writes c if the stored version is still c.Version; version 0 inserts the first row,
// and loses to a concurrent insert through the primary key rather than failing.
func (s *Store) SwapCircuit(ctx context.Context, c *mih.Circuit) (bool, error) {
	if c.Service == "" {
		return false, mih.Errorf(mih.CodeInvalid, "a circuit needs a service")
	}
	now := s.now().UTC()
	args := []any{c.State, c.Failures, zeroMicros(c.FailingSince), zeroMicros(c.OpenedAt), zeroMicros(c.RetryAt),
		c.ProbeID, zeroMicros(c.ProbeUntil), c.Version + 1, micros(now), zeroMicros(c.LastSuccessAt)}
	var (
		n   int
		err error
	)
	if c.Version == 0 {
		n, err = s.execCount(ctx, s.db, `INSERT INTO circuits (state, failures, failing_since, opened_at, retry_at,
			probe_id, probe_until, version, updated_at, last_success_at, service) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (service) DO NOTHING`, append(args, c.Service)...)
	} else {
		n, err = s.execCount(ctx, s.db, `UPDATE circuits SET state = ?, failures = ?, failing_since = ?, opened_at = ?,
			retry_at = ?, probe_id = ?, probe_until = ?, version = ?, updated_at = ?, last_success_at = ?
			WHERE service = ? AND version = ?`, append(args, c.Service, c.Version)...)
	}
	if err != nil {
		return false, fmt.Errorf("swap circuit: %w", err)
	}
	if n == 0 {
		return false, nil
	}
	c.Version++
	c.UpdatedAt = time.UnixMicro(micros(now)).UTC()
	return true, nil
}

func scanCircuit(r interface{ Scan(...any) error }) (*mih.Circuit, error) {
	var (
		c                                                mih.Circuit
		failingSince, openedAt, retryAt, probeUntil, upd int64
		lastSuccess                                      int64
	)
	if err := r.Scan(&c.Service, &c.State, &c.Failures, &failingSince, &openedAt, &retryAt, &c.ProbeID, &probeUntil,
		&c.Version, &upd, &lastSuccess); err != nil {
		return nil, err
	}
	c.FailingSince, c.OpenedAt, c.RetryAt = fromZeroMicros(failingSince), fromZeroMicros(openedAt), fromZeroMicros(retryAt)
	c.ProbeUntil, c.UpdatedAt = fromZeroMicros(probeUntil), fromZeroMicros(upd)
	c.LastSuccessAt = fromZeroMicros(lastSuccess)
	return &c, nil
}

// zeroMicros stores a zero time as 0, the circuits table's "unset".
func zeroMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromZeroMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}
