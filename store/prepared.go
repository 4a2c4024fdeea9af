package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
)

// The hot paths (ingest, claim, completion, request log) run the same few statements thousands of
// times a second. Sent as text, each call is parsed and planned again: for a multi-row INSERT of
// 100 rows that costs more than running it (SQLite spent an eighth of the hub's CPU in its
// parser). So their statements are prepared once and kept per connection (database/sql reuses a
// Stmt's handle on every connection it was prepared on, a transaction's included).
//
// A multi-row statement is prepared in a few fixed sizes only, so that the set of texts stays
// small: a batch is cut into chunks of bulkShapes rows, largest first (100 rows: 64 + 32 + 4).

// bulkShapes are the row counts of the prepared multi-row statements, largest first; each is
// half the one before, so that any batch takes at most one chunk of each below the largest.
var bulkShapes = [...]int{64, 32, 16, 8, 4, 2, 1}

// bulkDef is a multi-row statement: head, then row repeated once per row joined by commas, then
// tail. cols is how many parameters row takes, extra how many head and tail take.
type bulkDef struct {
	name            string
	head, row, tail string
	cols, extra     int
}

// bulkChunks cuts xs into chunks of the sizes in bulkShapes, largest first, and yields each with
// the index of its shape.
func bulkChunks[T any](xs []T) iter.Seq2[int, []T] {
	return func(yield func(int, []T) bool) {
		for i, n := range bulkShapes {
			for len(xs) >= n {
				if !yield(i, xs[:n]) {
					return
				}
				xs = xs[n:]
			}
		}
	}
}

// hotStmts are the prepared statements of the hot paths, on the write connections, and the one
// read every API request makes: its token.
type hotStmts struct {
	bulk  map[*bulkDef]*[len(bulkShapes)]*sql.Stmt
	claim *sql.Stmt
	token *sql.Stmt // on the read connections
	all   []*sql.Stmt
}

// hot returns the prepared statements, preparing them on first use. It must be called before a
// transaction begins, never inside one: on SQLite the transaction holds the only write
// connection that preparing would wait for.
func (s *Store) hot(ctx context.Context) (*hotStmts, error) {
	if h := s.hotStmts.Load(); h != nil {
		return h, nil
	}
	s.hotMu.Lock()
	defer s.hotMu.Unlock()
	if h := s.hotStmts.Load(); h != nil {
		return h, nil
	}
	h := &hotStmts{bulk: map[*bulkDef]*[len(bulkShapes)]*sql.Stmt{}}
	prepareOn := func(db *sql.DB, name, q string) (*sql.Stmt, error) {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("prepare %s: %w", name, err)
		}
		h.all = append(h.all, st)
		return st, nil
	}
	prepare := func(name, q string) (*sql.Stmt, error) { return prepareOn(s.db, name, q) }
	fail := func(err error) (*hotStmts, error) {
		h.close()
		return nil, err
	}
	for _, d := range []*bulkDef{&eventInsert, &deliveryInsert, &completeUpdate, &attemptInsert, &logInsert} {
		if bulkShapes[0]*d.cols+d.extra > s.dialect.MaxParams {
			return fail(fmt.Errorf("prepare %s: %d rows take more than the %d parameters a statement may have",
				d.name, bulkShapes[0], s.dialect.MaxParams))
		}
		var set [len(bulkShapes)]*sql.Stmt
		for i, n := range bulkShapes {
			st, err := prepare(d.name, s.bulk(d.head, d.row, d.tail, n))
			if err != nil {
				return fail(err)
			}
			set[i] = st
		}
		h.bulk[d] = &set
	}
	var err error
	if h.claim, err = prepare("claim", s.sql(s.claimSQL())); err != nil {
		return fail(err)
	}
	if h.token, err = prepareOn(s.read, "find token", s.sql(tokenByHash)); err != nil {
		return fail(err)
	}
	s.hotStmts.Store(h)
	return h, nil
}

// stmt is d's prepared statement of shape i, bound to q when q is a transaction.
func (h *hotStmts) stmt(ctx context.Context, q querier, d *bulkDef, i int) *sql.Stmt {
	st := h.bulk[d][i]
	if tx, ok := q.(*sql.Tx); ok {
		return tx.StmtContext(ctx, st)
	}
	return st
}

func (h *hotStmts) close() error {
	var errs []error
	for _, st := range h.all {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}
