package store

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// Migrate brings the schema in db up to date with the goose SQL migrations in fsys. It uses goose's
// provider, so nothing is registered globally; opts may add a locker for concurrent starts.
func Migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, fsys fs.FS, opts ...goose.ProviderOption) error {
	opts = append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}, opts...)
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// SchemaVersion reports the highest migration recorded in the database and the latest this
// build knows. They differ when the database is behind (a migration failed or never ran) or
// ahead (a newer mih migrated it): either way this process should not take traffic.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	if s.migrations == nil {
		return 0, 0, fmt.Errorf("schema version: the store was opened without its migrations")
	}
	p, err := goose.NewProvider(s.migrationDialect, s.read, s.migrations, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	if current, err = p.GetDBVersion(ctx); err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	if srcs := p.ListSources(); len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}
