package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/mihhub/mih"
)

// inboundSecrets is sealed as a whole.
type inboundSecrets struct {
	Secrets []string `json:"secrets,omitempty"`
	Token   string   `json:"token,omitempty"`
	Source  string   `json:"source,omitempty"`
}

const inboundEndpointColumns = `name, description, tolerance_s, active, secrets, created_at, updated_at`

func (s *Store) scanInboundEndpoint(row interface{ Scan(...any) error }) (*mih.InboundEndpoint, error) {
	var (
		e                mih.InboundEndpoint
		sealed           []byte
		created, updated int64
		sec              inboundSecrets
	)
	if err := row.Scan(&e.Name, &e.Description, &e.ToleranceS, &e.Active, &sealed, &created, &updated); err != nil {
		return nil, err
	}
	plain, err := s.box.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("inbound endpoint %q: open secrets: %w", e.Name, err)
	}
	if err := json.Unmarshal(plain, &sec); err != nil {
		return nil, fmt.Errorf("inbound endpoint %q: decode secrets: %w", e.Name, err)
	}
	e.Secrets, e.Token, e.Source = sec.Secrets, sec.Token, sec.Source
	if e.Secrets == nil {
		e.Secrets = []string{}
	}
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &e, nil
}

func (s *Store) sealInbound(e *mih.InboundEndpoint) ([]byte, error) {
	plain, err := json.Marshal(inboundSecrets{Secrets: e.Secrets, Token: e.Token, Source: e.Source})
	if err != nil {
		return nil, err
	}
	sealed, err := s.box.Seal(plain)
	if err != nil {
		return nil, fmt.Errorf("seal secrets: %w", err)
	}
	return sealed, nil
}

// FindInboundEndpoint returns the endpoint with its secrets in clear.
func (s *Store) FindInboundEndpoint(ctx context.Context, name string) (*mih.InboundEndpoint, error) {
	e, err := s.scanInboundEndpoint(s.queryRow(ctx, s.read, `SELECT `+inboundEndpointColumns+` FROM inbound_endpoints WHERE name = ?`, name))
	if err != nil {
		return nil, fmt.Errorf("find inbound endpoint: %w", s.dbError(err, fmt.Sprintf("inbound endpoint %q", name)))
	}
	return e, nil
}

// FindInboundEndpoints returns every endpoint by name.
func (s *Store) FindInboundEndpoints(ctx context.Context) ([]*mih.InboundEndpoint, error) {
	rows, err := s.query(ctx, s.read, `SELECT `+inboundEndpointColumns+` FROM inbound_endpoints ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find inbound endpoints: %w", err)
	}
	out, err := scanAll(rows, s.scanInboundEndpoint)
	if err != nil {
		return nil, fmt.Errorf("find inbound endpoints: %w", err)
	}
	return out, nil
}

// CreateInboundEndpoint validates and stores a new endpoint; a taken name is CodeConflict.
func (s *Store) CreateInboundEndpoint(ctx context.Context, e *mih.InboundEndpoint) error {
	if err := e.Validate(); err != nil {
		return err
	}
	sealed, err := s.sealInbound(e)
	if err != nil {
		return fmt.Errorf("create inbound endpoint: %w", err)
	}
	now := round(s.now())
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `INSERT INTO inbound_endpoints (name, description, tolerance_s, active, secrets, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, e.Name, e.Description, e.ToleranceS, e.Active, sealed, micros(now), micros(now))
		if err != nil {
			return s.dbError(err, fmt.Sprintf("inbound endpoint %q", e.Name))
		}
		return s.bumpConfigVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("create inbound endpoint: %w", err)
	}
	e.CreatedAt, e.UpdatedAt = now, now
	return nil
}

// UpdateInboundEndpoint replaces the stored endpoint of the same name. Secrets are stored as
// given: merge them with mih.InboundEndpoint.KeepSecrets first.
func (s *Store) UpdateInboundEndpoint(ctx context.Context, e *mih.InboundEndpoint) error {
	if err := e.Validate(); err != nil {
		return err
	}
	sealed, err := s.sealInbound(e)
	if err != nil {
		return fmt.Errorf("update inbound endpoint: %w", err)
	}
	now := round(s.now())
	var created int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.queryRow(ctx, tx, `UPDATE inbound_endpoints SET description = ?, tolerance_s = ?, active = ?, secrets = ?, updated_at = ?
			WHERE name = ? RETURNING created_at`, e.Description, e.ToleranceS, e.Active, sealed, micros(now), e.Name).Scan(&created)
		if err != nil {
			return s.dbError(err, fmt.Sprintf("inbound endpoint %q", e.Name))
		}
		return s.bumpConfigVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("update inbound endpoint: %w", err)
	}
	e.CreatedAt, e.UpdatedAt = fromMicros(created), now
	return nil
}

// DeleteInboundEndpoint deletes an endpoint with its rules. Its messages and their deliveries
// stay: they are history, and calls may still be waiting.
func (s *Store) DeleteInboundEndpoint(ctx context.Context, name string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, `DELETE FROM inbound_rules WHERE endpoint = ?`, name); err != nil {
			return err
		}
		return s.deleteConfig(ctx, tx, `DELETE FROM inbound_endpoints WHERE name = ?`, name, mih.Errorf(mih.CodeNotFound, "inbound endpoint %q not found", name))
	})
	if err != nil {
		return fmt.Errorf("delete inbound endpoint: %w", err)
	}
	return nil
}

const inboundRuleColumns = `id, endpoint, name, filter, site, function, template, active, created_at, updated_at`

func scanInboundRule(row interface{ Scan(...any) error }) (*mih.InboundRule, error) {
	var (
		r                mih.InboundRule
		created, updated int64
	)
	if err := row.Scan(&r.ID, &r.Endpoint, &r.Name, &r.Filter, &r.Site, &r.Function, &r.Template, &r.Active, &created, &updated); err != nil {
		return nil, err
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

// FindInboundRule returns one inbound rule.
func (s *Store) FindInboundRule(ctx context.Context, id int64) (*mih.InboundRule, error) {
	r, err := scanInboundRule(s.queryRow(ctx, s.read, `SELECT `+inboundRuleColumns+` FROM inbound_rules WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("find inbound rule: %w", s.dbError(err, fmt.Sprintf("inbound rule %d", id)))
	}
	return r, nil
}

// FindInboundRules returns the rules of an endpoint ("" for every endpoint), oldest first.
func (s *Store) FindInboundRules(ctx context.Context, endpoint string) ([]*mih.InboundRule, error) {
	var w where
	if endpoint != "" {
		w.add("endpoint = ?", endpoint)
	}
	rows, err := s.read.QueryContext(ctx, s.dyn(`SELECT `+inboundRuleColumns+` FROM inbound_rules`+w.String()+` ORDER BY id`), w.args...)
	if err != nil {
		return nil, fmt.Errorf("find inbound rules: %w", err)
	}
	out, err := scanAll(rows, scanInboundRule)
	if err != nil {
		return nil, fmt.Errorf("find inbound rules: %w", err)
	}
	return out, nil
}

func (s *Store) inboundRuleError(err error, r *mih.InboundRule) error {
	if s.dialect.Violation(err) == ForeignKeyConstraint {
		return mih.WrapError(mih.CodeInvalid, err, "inbound endpoint %q not found", r.Endpoint)
	}
	return s.dbError(err, fmt.Sprintf("inbound rule %d", r.ID))
}

// CreateInboundRule validates and stores a new rule and sets its ID; its endpoint must exist.
func (s *Store) CreateInboundRule(ctx context.Context, r *mih.InboundRule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := round(s.now())
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.queryRow(ctx, tx, `INSERT INTO inbound_rules (endpoint, name, filter, site, function, template, active, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.Endpoint, r.Name, r.Filter, r.Site, r.Function, r.Template, r.Active, micros(now), micros(now)).Scan(&r.ID)
		if err != nil {
			return s.inboundRuleError(err, r)
		}
		return s.bumpConfigVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("create inbound rule: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = now, now
	return nil
}

// UpdateInboundRule replaces the stored rule with r.ID.
func (s *Store) UpdateInboundRule(ctx context.Context, r *mih.InboundRule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := round(s.now())
	var created int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.queryRow(ctx, tx, `UPDATE inbound_rules SET endpoint = ?, name = ?, filter = ?, site = ?, function = ?, template = ?,
			active = ?, updated_at = ? WHERE id = ? RETURNING created_at`,
			r.Endpoint, r.Name, r.Filter, r.Site, r.Function, r.Template, r.Active, micros(now), r.ID).Scan(&created)
		if err != nil {
			return s.inboundRuleError(err, r)
		}
		return s.bumpConfigVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("update inbound rule: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = fromMicros(created), now
	return nil
}

// DeleteInboundRule deletes a rule; its deliveries stay.
func (s *Store) DeleteInboundRule(ctx context.Context, id int64) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return s.deleteConfig(ctx, tx, `DELETE FROM inbound_rules WHERE id = ?`, id, mih.Errorf(mih.CodeNotFound, "inbound rule %d not found", id))
	})
	if err != nil {
		return fmt.Errorf("delete inbound rule: %w", err)
	}
	return nil
}
