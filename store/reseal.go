package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// sealedTables are the tables whose secrets column holds sealed values, keyed by name.
var sealedTables = []string{"services", "sites", "inbound_endpoints"}

// Reseal rewrites every sealed value for which reseal returns changed, one row per statement
// (so one short transaction each, and nothing half-written if interrupted: a row holds either
// its old sealed value or its new one). The update only applies when the row still holds what
// was read; a row changed meanwhile is read again. It returns how many rows it rewrote and how
// many it left as they were.
func (s *Store) Reseal(ctx context.Context, reseal func(sealed []byte) (out []byte, changed bool, err error)) (rewritten, kept int, err error) {
	for _, table := range sealedTables {
		names, err := s.sealedNames(ctx, table)
		if err != nil {
			return rewritten, kept, err
		}
		for _, name := range names {
			for try := 0; ; try++ {
				var old []byte
				err := s.queryRow(ctx, s.db, `SELECT secrets FROM `+table+` WHERE name = ?`, name).Scan(&old)
				if errors.Is(err, sql.ErrNoRows) {
					break // deleted meanwhile
				}
				if err != nil {
					return rewritten, kept, fmt.Errorf("reseal %s %q: %w", table, name, err)
				}
				out, changed, err := reseal(old)
				if err != nil {
					return rewritten, kept, fmt.Errorf("reseal %s %q: %w", table, name, err)
				}
				if !changed {
					kept++
					break
				}
				n, err := s.execCount(ctx, s.db, `UPDATE `+table+` SET secrets = ? WHERE name = ? AND secrets = ?`, out, name, old)
				if err != nil {
					return rewritten, kept, fmt.Errorf("reseal %s %q: %w", table, name, err)
				}
				if n == 1 {
					rewritten++
					break
				}
				if try >= 10 {
					return rewritten, kept, fmt.Errorf("reseal %s %q: changed by another process ten times in a row", table, name)
				}
			}
		}
	}
	return rewritten, kept, nil
}

func (s *Store) sealedNames(ctx context.Context, table string) ([]string, error) {
	rows, err := s.query(ctx, s.db, `SELECT name FROM `+table+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list %s: %w", table, err)
		}
		names = append(names, n)
	}
	return names, rows.Err()
}
