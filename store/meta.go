package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/mihhub/mih"
)

// configVersionKey names the meta row that counts service and rule changes.
const configVersionKey = "config_version"

// GetMeta returns a named value; an unknown name is CodeNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.queryRow(ctx, s.read, `SELECT value FROM meta WHERE name = ?`, key).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("get meta: %w", s.dbError(err, fmt.Sprintf("meta %q", key)))
	}
	return v, nil
}

// SetMeta creates or replaces a named value.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if key == configVersionKey {
		return mih.Errorf(mih.CodeInvalid, "meta %q is kept by the store", key)
	}
	_, err := s.exec(ctx, s.db, `INSERT INTO meta (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("set meta: %w", err)
	}
	return nil
}

// ConfigVersion returns the counter that every service and rule change raises.
func (s *Store) ConfigVersion(ctx context.Context) (int64, error) {
	var v string
	err := s.queryRow(ctx, s.read, `SELECT value FROM meta WHERE name = ?`, configVersionKey).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("config version: %w", err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("config version: %w", err)
	}
	return n, nil
}

// bumpConfigVersion raises the config version inside the transaction that changes a service or
// rule, so that a process reading the new version also reads the change.
func (s *Store) bumpConfigVersion(ctx context.Context, tx *sql.Tx) error {
	_, err := s.exec(ctx, tx, `UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE name = ?`,
		configVersionKey)
	if err != nil {
		return fmt.Errorf("bump config version: %w", err)
	}
	return nil
}

// deleteConfig runs in tx the DELETE of one row of the configuration (a service, rule, site,
// inbound endpoint or rule) by its key, answers notFound when there was none, and bumps the
// configuration version so that every process reloads it.
func (s *Store) deleteConfig(ctx context.Context, tx *sql.Tx, query string, key any, notFound error) error {
	n, err := s.execCount(ctx, tx, query, key)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return s.bumpConfigVersion(ctx, tx)
}
