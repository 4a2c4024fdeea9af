package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/mihhub/mih"
)

const tokenColumns = `id, name, hash, scope, created_at, last_used_at`

// tokenByHash is every API request's read; it is prepared (hotStmts).
const tokenByHash = `SELECT ` + tokenColumns + ` FROM tokens WHERE hash = ?`

func scanToken(row interface{ Scan(...any) error }) (*mih.Token, error) {
	var (
		t       mih.Token
		created int64
		used    sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &t.Scope, &created, &used); err != nil {
		return nil, err
	}
	t.CreatedAt, t.LastUsedAt = fromMicros(created), timePtr(used)
	return &t, nil
}

// CreateToken stores a token (its hash only) and sets its ID. Names and hashes are unique: a
// taken one is CodeConflict.
func (s *Store) CreateToken(ctx context.Context, t *mih.Token) error {
	if t.Name == "" || t.Hash == "" {
		return mih.Errorf(mih.CodeInvalid, "token: name and hash are required")
	}
	if err := t.Validate(); err != nil {
		return err
	}
	now := round(s.now())
	err := s.queryRow(ctx, s.db, `INSERT INTO tokens (name, hash, scope, created_at) VALUES (?, ?, ?, ?) RETURNING id`,
		t.Name, t.Hash, t.Scope, micros(now)).Scan(&t.ID)
	if err != nil {
		return fmt.Errorf("create token: %w", s.dbError(err, fmt.Sprintf("token %q", t.Name)))
	}
	t.CreatedAt, t.LastUsedAt = now, nil
	return nil
}

// FindTokenByHash returns the token with the given hash.
func (s *Store) FindTokenByHash(ctx context.Context, hash string) (*mih.Token, error) {
	h, err := s.hot(ctx)
	if err != nil {
		return nil, fmt.Errorf("find token: %w", err)
	}
	t, err := scanToken(h.token.QueryRowContext(ctx, hash))
	if err != nil {
		return nil, fmt.Errorf("find token: %w", s.dbError(err, "token"))
	}
	return t, nil
}

// FindTokens returns every token, oldest first.
func (s *Store) FindTokens(ctx context.Context) ([]*mih.Token, error) {
	rows, err := s.query(ctx, s.read, `SELECT `+tokenColumns+` FROM tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("find tokens: %w", err)
	}
	out, err := scanAll(rows, scanToken)
	if err != nil {
		return nil, fmt.Errorf("find tokens: %w", err)
	}
	return out, nil
}

// DeleteToken deletes a token.
func (s *Store) DeleteToken(ctx context.Context, id int64) error {
	n, err := s.execCount(ctx, s.db, `DELETE FROM tokens WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if n == 0 {
		return mih.Errorf(mih.CodeNotFound, "token %d not found", id)
	}
	return nil
}

// TouchToken records when a token was last used. Each call is a write: callers on the request
// path should touch a token only when its last use is older than a minute or so.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	n, err := s.execCount(ctx, s.db, `UPDATE tokens SET last_used_at = ? WHERE id = ?`, micros(at), id)
	if err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	if n == 0 {
		return mih.Errorf(mih.CodeNotFound, "token %d not found", id)
	}
	return nil
}
