package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/mihhub/mih"
)

// serviceSettings are the columns of a service that hold no secret, kept as one JSON value so that
// a new tunable needs no migration.
type serviceSettings struct {
	TimeoutS        float64           `json:"timeout_s"`
	MaxRetries      int               `json:"max_retries"`
	InitialBackoffS float64           `json:"initial_backoff_s"`
	MaxBackoffS     float64           `json:"max_backoff_s"`
	MaxAgeH         float64           `json:"max_age_h"`
	Circuit         mih.CircuitConfig `json:"circuit"`
}

// serviceSecrets is sealed as a whole. The base URL is in it because an AMQP URL carries a
// password; headers because operators put API keys in them.
type serviceSecrets struct {
	BaseURL       string            `json:"base_url"`
	Auth          mih.Auth          `json:"auth"`
	Headers       map[string]string `json:"headers,omitempty"`
	SigningSecret string            `json:"signing_secret,omitempty"`
}

const serviceColumns = `name, type, enabled, settings, secrets, created_at, updated_at`

func (s *Store) seal(svc *mih.Service) (settings string, sealed []byte, err error) {
	b, err := json.Marshal(serviceSettings{
		TimeoutS:        svc.TimeoutS,
		MaxRetries:      svc.MaxRetries,
		InitialBackoffS: svc.InitialBackoffS,
		MaxBackoffS:     svc.MaxBackoffS,
		MaxAgeH:         svc.MaxAgeH,
		Circuit:         svc.Circuit,
	})
	if err != nil {
		return "", nil, err
	}
	plain, err := json.Marshal(serviceSecrets{
		BaseURL:       svc.BaseURL,
		Auth:          svc.Auth,
		Headers:       svc.Headers,
		SigningSecret: svc.SigningSecret,
	})
	if err != nil {
		return "", nil, err
	}
	sealed, err = s.box.Seal(plain)
	if err != nil {
		return "", nil, fmt.Errorf("seal secrets: %w", err)
	}
	return string(b), sealed, nil
}

func (s *Store) scanService(row interface{ Scan(...any) error }) (*mih.Service, error) {
	var (
		svc              mih.Service
		settings         string
		sealed           []byte
		created, updated int64
		st               serviceSettings
		sec              serviceSecrets
	)
	if err := row.Scan(&svc.Name, &svc.Type, &svc.Enabled, &settings, &sealed, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(settings), &st); err != nil {
		return nil, fmt.Errorf("service %q: decode settings: %w", svc.Name, err)
	}
	plain, err := s.box.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("service %q: open secrets: %w", svc.Name, err)
	}
	if err := json.Unmarshal(plain, &sec); err != nil {
		return nil, fmt.Errorf("service %q: decode secrets: %w", svc.Name, err)
	}
	svc.BaseURL, svc.Auth, svc.Headers, svc.SigningSecret = sec.BaseURL, sec.Auth, sec.Headers, sec.SigningSecret
	svc.TimeoutS, svc.MaxRetries, svc.InitialBackoffS = st.TimeoutS, st.MaxRetries, st.InitialBackoffS
	svc.MaxBackoffS, svc.MaxAgeH, svc.Circuit = st.MaxBackoffS, st.MaxAgeH, st.Circuit
	svc.CreatedAt, svc.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &svc, nil
}

// FindServiceByName returns the service with its secrets in clear.
func (s *Store) FindServiceByName(ctx context.Context, name string) (*mih.Service, error) {
	row := s.queryRow(ctx, s.read, `SELECT `+serviceColumns+` FROM services WHERE name = ?`, name)
	svc, err := s.scanService(row)
	if err != nil {
		return nil, fmt.Errorf("find service: %w", s.dbError(err, fmt.Sprintf("service %q", name)))
	}
	return svc, nil
}

// FindServices returns every service by name.
func (s *Store) FindServices(ctx context.Context) ([]*mih.Service, error) {
	rows, err := s.query(ctx, s.read, `SELECT `+serviceColumns+` FROM services ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find services: %w", err)
	}
	out, err := scanAll(rows, s.scanService)
	if err != nil {
		return nil, fmt.Errorf("find services: %w", err)
	}
	return out, nil
}

// CreateService validates and stores a new service; a taken name is CodeConflict.
func (s *Store) CreateService(ctx context.Context, svc *mih.Service) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	settings, sealed, err := s.seal(svc)
	if err != nil {
		return fmt.Errorf("create service: %w", err)
	}
	now := round(s.now())
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `INSERT INTO services (name, type, enabled, base_url, settings, secrets, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			svc.Name, svc.Type, svc.Enabled, mih.RedactURL(svc.BaseURL), settings, sealed, micros(now), micros(now))
		if err != nil {
			return s.dbError(err, fmt.Sprintf("service %q", svc.Name))
		}
		return s.bumpConfigVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("create service: %w", err)
	}
	svc.CreatedAt, svc.UpdatedAt = now, now
	return nil
}

// UpdateService replaces the stored service of the same name. Secrets are stored as given: merge
// them with mih.Service.KeepSecrets first.
func (s *Store) UpdateService(ctx context.Context, svc *mih.Service) error {
	if err := svc.Validate(); err != nil {
		return err
	}
	settings, sealed, err := s.seal(svc)
	if err != nil {
		return fmt.Errorf("update service: %w", err)
	}
	now := round(s.now())
	var created int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.queryRow(ctx, tx, `UPDATE services
			SET type = ?, enabled = ?, base_url = ?, settings = ?, secrets = ?, updated_at = ?
			WHERE name = ? RETURNING created_at`,
			svc.Type, svc.Enabled, mih.RedactURL(svc.BaseURL), settings, sealed, micros(now), svc.Name).Scan(&created)
		if err != nil {
			return s.dbError(err, fmt.Sprintf("service %q", svc.Name))
		}
		return s.bumpConfigVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("update service: %w", err)
	}
	svc.CreatedAt, svc.UpdatedAt = fromMicros(created), now
	return nil
}

// DeleteService deletes a service with its rules and log entries and moves its waiting deliveries
// that no worker holds to the DLQ, all in one transaction. Deliveries under lease finish their
// attempt; the worker then finds no service.
func (s *Store) DeleteService(ctx context.Context, name string) (mih.ServiceDeletion, error) {
	var del mih.ServiceDeletion
	now := micros(s.now())
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if del.Rules, err = s.execCount(ctx, tx, `DELETE FROM rules WHERE service = ?`, name); err != nil {
			return err
		}
		if del.Logs, err = s.execCount(ctx, tx, `DELETE FROM request_log WHERE service = ?`, name); err != nil {
			return err
		}
		if _, err = s.exec(ctx, tx, `DELETE FROM circuits WHERE service = ?`, name); err != nil {
			return err
		}
		del.Deliveries, err = s.execCount(ctx, tx, `UPDATE deliveries
			SET state = 'dead', dead_reason = ?, lease_owner = NULL, lease_until = NULL, updated_at = ?
			WHERE service = ? AND `+stateIn("state", mih.Expire.From)+` AND `+notLeased,
			mih.ReasonServiceDeleted, now, name, now)
		if err != nil {
			return err
		}
		return s.deleteConfig(ctx, tx, `DELETE FROM services WHERE name = ?`, name, mih.Errorf(mih.CodeNotFound, "service %q not found", name))
	})
	if err != nil {
		return mih.ServiceDeletion{}, fmt.Errorf("delete service: %w", err)
	}
	return del, nil
}
