package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/mihhub/mih"
)

// siteSecrets is sealed as a whole; the database URL is in it because it carries a password.
type siteSecrets struct {
	Token        string `json:"token,omitempty"`
	DB           string `json:"db,omitempty"`
	PluginSecret string `json:"plugin_secret,omitempty"`
}

const siteColumns = `name, url, prefix, tail, tail_from, secrets, created_at, updated_at`

func (s *Store) sealSite(site *mih.Site) ([]byte, error) {
	plain, err := json.Marshal(siteSecrets{Token: site.Token, DB: site.DB, PluginSecret: site.PluginSecret})
	if err != nil {
		return nil, err
	}
	sealed, err := s.box.Seal(plain)
	if err != nil {
		return nil, fmt.Errorf("seal secrets: %w", err)
	}
	return sealed, nil
}

func (s *Store) scanSite(row interface{ Scan(...any) error }) (*mih.Site, error) {
	var (
		site             mih.Site
		sealed           []byte
		created, updated int64
		sec              siteSecrets
	)
	if err := row.Scan(&site.Name, &site.URL, &site.Prefix, &site.Tail, &site.TailFrom, &sealed, &created, &updated); err != nil {
		return nil, err
	}
	plain, err := s.box.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("site %q: open secrets: %w", site.Name, err)
	}
	if err := json.Unmarshal(plain, &sec); err != nil {
		return nil, fmt.Errorf("site %q: decode secrets: %w", site.Name, err)
	}
	site.Token, site.DB, site.PluginSecret = sec.Token, sec.DB, sec.PluginSecret
	site.CreatedAt, site.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &site, nil
}

// FindSiteByName returns the site with its secrets in clear.
func (s *Store) FindSiteByName(ctx context.Context, name string) (*mih.Site, error) {
	site, err := s.scanSite(s.queryRow(ctx, s.read, `SELECT `+siteColumns+` FROM sites WHERE name = ?`, name))
	if err != nil {
		return nil, fmt.Errorf("find site: %w", s.dbError(err, fmt.Sprintf("site %q", name)))
	}
	return site, nil
}

// FindSites returns every site by name.
func (s *Store) FindSites(ctx context.Context) ([]*mih.Site, error) {
	rows, err := s.query(ctx, s.read, `SELECT `+siteColumns+` FROM sites ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("find sites: %w", err)
	}
	out, err := scanAll(rows, s.scanSite)
	if err != nil {
		return nil, fmt.Errorf("find sites: %w", err)
	}
	return out, nil
}

// SitesVersion changes whenever a site is created, updated or deleted: the number of sites and
// the latest update, one indexless scan of a table of a few rows, cheap enough to ask every
// second.
func (s *Store) SitesVersion(ctx context.Context) (string, error) {
	var n, last int64
	if err := s.queryRow(ctx, s.read, `SELECT COUNT(*), COALESCE(MAX(updated_at), 0) FROM sites`).Scan(&n, &last); err != nil {
		return "", fmt.Errorf("sites version: %w", err)
	}
	return strconv.FormatInt(n, 10) + ":" + strconv.FormatInt(last, 10), nil
}

// CreateSite validates and stores a new site; a taken name is CodeConflict.
func (s *Store) CreateSite(ctx context.Context, site *mih.Site) error {
	site.Normalize()
	if err := site.Validate(); err != nil {
		return err
	}
	sealed, err := s.sealSite(site)
	if err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	now := round(s.now())
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := s.exec(ctx, tx, `INSERT INTO sites (name, url, prefix, tail, tail_from, db, secrets, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			site.Name, site.URL, site.Prefix, site.Tail, site.TailFrom, mih.RedactURL(site.DB), sealed, micros(now), micros(now))
		if err != nil {
			return s.dbError(err, fmt.Sprintf("site %q", site.Name))
		}
		return s.bumpConfigVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	site.CreatedAt, site.UpdatedAt = now, now
	return nil
}

// UpdateSite replaces the stored site of the same name. Secrets are stored as given: merge them
// with mih.Site.KeepSecrets first.
func (s *Store) UpdateSite(ctx context.Context, site *mih.Site) error {
	site.Normalize()
	if err := site.Validate(); err != nil {
		return err
	}
	sealed, err := s.sealSite(site)
	if err != nil {
		return fmt.Errorf("update site: %w", err)
	}
	now := round(s.now())
	var created int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := s.queryRow(ctx, tx, `UPDATE sites SET url = ?, prefix = ?, tail = ?, tail_from = ?, db = ?, secrets = ?, updated_at = ?
			WHERE name = ? RETURNING created_at`,
			site.URL, site.Prefix, site.Tail, site.TailFrom, mih.RedactURL(site.DB), sealed, micros(now), site.Name).Scan(&created)
		if err != nil {
			return s.dbError(err, fmt.Sprintf("site %q", site.Name))
		}
		return s.bumpConfigVersion(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("update site: %w", err)
	}
	site.CreatedAt, site.UpdatedAt = fromMicros(created), now
	return nil
}

// DeleteSite deletes a site. Its events stay: they are history, and their deliveries may still
// be waiting.
func (s *Store) DeleteSite(ctx context.Context, name string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		return s.deleteConfig(ctx, tx, `DELETE FROM sites WHERE name = ?`, name, mih.Errorf(mih.CodeNotFound, "site %q not found", name))
	})
	if err != nil {
		return fmt.Errorf("delete site: %w", err)
	}
	return nil
}
