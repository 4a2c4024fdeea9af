package store

import (
	"context"
	"fmt"
	"time"

	"github.com/mihhub/mih"
)

// TryLease takes or renews a named lease in one statement: the insert wins when nobody holds the
// name, the conditional update when the holder is owner or its lease ran out. Two processes
// racing for a free lease meet on the primary key, so only one gets it.
func (s *Store) TryLease(ctx context.Context, name, owner string, until, now time.Time) (bool, error) {
	if name == "" || owner == "" {
		return false, mih.Errorf(mih.CodeInvalid, "a lease needs a name and an owner")
	}
	n, err := s.execCount(ctx, s.db, `INSERT INTO leases (name, owner, leased_until) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, leased_until = excluded.leased_until
		WHERE leases.owner = excluded.owner OR leases.leased_until <= ?`,
		name, owner, micros(until), micros(now))
	if err != nil {
		return false, fmt.Errorf("try lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease deletes owner's lease on name.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	if _, err := s.exec(ctx, s.db, `DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}
