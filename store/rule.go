package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/mihhub/mih"
)

const ruleColumns = `id, name, event, filter, service, method, endpoint, template, format, enrich, active, created_at, updated_at`

func scanRule(row interface{ Scan(...any) error }) (*mih.Rule, error) {
	var (
		r                mih.Rule
		enrich           string
		created, updated int64
	)
	err := row.Scan(&r.ID, &r.Name, &r.Event, &r.Filter, &r.Service, &r.Method, &r.Endpoint, &r.Template, &r.Format,
		&enrich, &r.Active, &created, &updated)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(enrich), &r.Enrich); err != nil {
		return nil, fmt.Errorf("rule %d: decode enrich: %w", r.ID, err)
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

// FindRuleByID returns one rule.
func (s *Store) FindRuleByID(ctx context.Context, id int64) (*mih.Rule, error) {
	r, err := scanRule(s.queryRow(ctx, s.read, `SELECT `+ruleColumns+` FROM rules WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("find rule: %w", s.dbError(err, fmt.Sprintf("rule %d", id)))
	}
	return r, nil
}

// FindRules returns the rules f selects, oldest first: the order they were defined in.
func (s *Store) FindRules(ctx context.Context, f mih.RuleFilter) ([]*mih.Rule, error) {
	var w where
	if f.Service != "" {
		w.add("service = ?", f.Service)
	}
	if f.Active != nil {
		w.add("active = ?", *f.Active)
	}
	rows, err := s.read.QueryContext(ctx, s.dyn(`SELECT `+ruleColumns+` FROM rules`+w.String()+` ORDER BY id`), w.args...)
	if err != nil {
		return nil, fmt.Errorf("find rules: %w", err)
	}
	out, err := scanAll(rows, scanRule)
	if err != nil {
		return nil, fmt.Errorf("find rules: %w", err)
	}
	return out, nil
}

// ruleError reports a rule whose service does not exist as invalid input: the rule package checks
// it first, so this only happens when the service goes away at the same moment.
func (s *Store) ruleError(err error, r *mih.Rule) error {
	if s.dialect.Violation(err) == ForeignKeyConstraint {
		return mih.WrapError(mih.CodeInvalid, err, "service %q not found", r.Service)
	}
	return s.dbError(err, fmt.Sprintf("rule %d", r.ID))
}

// CreateRule validates and stores a new rule and sets its ID. Its service must exist.
func (s *Store) CreateRule(ctx context.Context, r *mih.Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	enrich, err := json.Marshal(r.Enrich)
	if err != nil {
		return fmt.Errorf("create rule: %w", err)
	}
	now := round(s.now())
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.queryRow(ctx, tx, `INSERT INTO rules
			(name, event, filter, service, method, endpoint, template, format, enrich, active, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.Name, r.Event, r.Filter, r.Service, r.Method, r.Endpoint, r.Template, r.Format, string(enrich), r.Active,
			micros(now), micros(now)).Scan(&r.ID)
		if err != nil {
			return s.ruleError(err, r)
		}
		return s.bumpConfigVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("create rule: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = now, now
	return nil
}

// UpdateRule replaces the stored rule with r.ID.
func (s *Store) UpdateRule(ctx context.Context, r *mih.Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	enrich, err := json.Marshal(r.Enrich)
	if err != nil {
		return fmt.Errorf("update rule: %w", err)
	}
	now := round(s.now())
	var created int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.queryRow(ctx, tx, `UPDATE rules
			SET name = ?, event = ?, filter = ?, service = ?, method = ?, endpoint = ?, template = ?, format = ?,
				enrich = ?, active = ?, updated_at = ?
			WHERE id = ? RETURNING created_at`,
			r.Name, r.Event, r.Filter, r.Service, r.Method, r.Endpoint, r.Template, r.Format, string(enrich), r.Active,
			micros(now), r.ID).Scan(&created)
		if err != nil {
			return s.ruleError(err, r)
		}
		return s.bumpConfigVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("update rule: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), now
	return nil
}

// DeleteRule deletes a rule. Its deliveries stay: they carry everything needed to send or replay.
func (s *Store) DeleteRule(ctx context.Context, id int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return s.deleteConfig(ctx, tx, `DELETE FROM rules WHERE id = ?`, id, mih.Errorf(mih.CodeNotFound, "rule %d not found", id))
	})
	if err != nil {
		return fmt.Errorf("delete rule: %w", err)
	}
	return nil
}
