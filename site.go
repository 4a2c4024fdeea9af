package mih

import (
	"context"
	"encoding/base64"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Site is a Moodle site (docs/api.md, Sites): where its Web Services answer (enrichment, course
// sync), optionally its database (the log store tailer) and the secret its local_mih plugin signs
// with. Events from a site carry its name.
type Site struct {
	Name string `json:"name"`
	// URL is the site's wwwroot; Token a Web Services token (secret).
	URL   string `json:"url"`
	Token string `json:"token,omitempty"`
	// DB is the Moodle database, postgres://… or mysql://…, read-only access is enough; its
	// password is a secret. Empty: no tailing.
	DB     string `json:"db,omitempty"`
	Prefix string `json:"prefix"`
	// Tail turns the log store tailer on; TailFrom is where a new tailer starts: latest,
	// beginning, or a log row id.
	Tail     bool   `json:"tail"`
	TailFrom string `json:"tail_from"`
	// PluginSecret (whsec_…) verifies the batches local_mih signs (secret).
	PluginSecret string    `json:"plugin_secret,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Site defaults.
const (
	DefaultPrefix   = "mdl_"
	TailFromLatest  = "latest"
	TailFromStart   = "beginning"
	pluginSecretTag = "whsec_"
)

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,20}$`)

// Normalize fills the defaults of a site read from a request or a file.
func (s *Site) Normalize() {
	s.URL = strings.TrimRight(strings.TrimSpace(s.URL), "/")
	if s.Prefix == "" {
		s.Prefix = DefaultPrefix
	}
	if s.TailFrom == "" {
		s.TailFrom = TailFromLatest
	}
}

// Validate checks a site before it is stored.
func (s *Site) Validate() error {
	if !ValidName(s.Name) {
		return Errorf(CodeInvalid, "name %q: want a slug of lowercase letters, digits, '-', '_' or '.' (1-63 characters)", s.Name)
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return Errorf(CodeInvalid, "url: want the site's http(s) address, like https://moodle.example.edu")
	}
	if !prefixRE.MatchString(s.Prefix) {
		return Errorf(CodeInvalid, "prefix %q: want lowercase letters, digits and '_', like mdl_", s.Prefix)
	}
	if s.DB != "" {
		d, err := url.Parse(s.DB)
		if err != nil || !(d.Scheme == "postgres" || d.Scheme == "postgresql" || d.Scheme == "mysql") || d.Host == "" {
			// The message must not quote the DSN: it carries a password.
			return Errorf(CodeInvalid, "db: want postgres://user:pass@host:port/dbname or mysql://user:pass@host:port/dbname")
		}
		// The password must be in the user part, the one place masking covers.
		for k := range d.Query() {
			if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
				return Errorf(CodeInvalid, "db: put the password in the URL's user part (postgres://user:password@host/db), not in the query parameter %s", k)
			}
		}
	}
	if s.Tail && s.DB == "" {
		return Errorf(CodeInvalid, "tail: needs db, the Moodle database to read the log store from")
	}
	if s.TailFrom != TailFromLatest && s.TailFrom != TailFromStart {
		if n, err := strconv.ParseInt(s.TailFrom, 10, 64); err != nil || n < 0 {
			return Errorf(CodeInvalid, "tail_from %q: want latest, beginning or a log row id", s.TailFrom)
		}
	}
	if s.PluginSecret != "" {
		k, ok := strings.CutPrefix(s.PluginSecret, pluginSecretTag)
		if b, err := base64.StdEncoding.DecodeString(k); !ok || err != nil || len(b) < 16 {
			return Errorf(CodeInvalid, "plugin_secret: want whsec_ followed by the base64 of at least 16 random bytes")
		}
	}
	return nil
}

// Masked returns a copy safe to show: the token, the plugin secret and the database password
// replaced by Masked.
func (s *Site) Masked() *Site {
	c := *s
	if c.Token != "" {
		c.Token = Masked
	}
	if c.PluginSecret != "" {
		c.PluginSecret = Masked
	}
	c.DB = RedactURL(s.DB)
	return &c
}

// KeepSecrets copies each secret from old that s leaves empty or masked, so that a form or an
// API client can write a site back without knowing its secrets. A Web Services token is not
// kept when the site's url moves to another destination (scheme, host or port), nor a database
// password when the database's host or port changes: a CodeSecretsRequired error names them.
func (s *Site) KeepSecrets(old *Site) error {
	if err := s.siteMoved(old); err != nil {
		return err
	}
	if s.Token == "" || s.Token == Masked {
		s.Token = old.Token
	}
	if s.PluginSecret == "" || s.PluginSecret == Masked {
		s.PluginSecret = old.PluginSecret
	}
	if s.DB == "" || s.DB == Masked {
		s.DB = old.DB
		return nil
	}
	if u, err := url.Parse(s.DB); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p == Masked {
			if ou, err := url.Parse(old.DB); err == nil && ou.User != nil {
				if op, ok := ou.User.Password(); ok {
					u.User = url.UserPassword(u.User.Username(), op)
					s.DB = u.String()
				}
			}
		}
	}
	return nil
}

// SiteStore keeps the Moodle sites. Secrets come back in clear from Find*: mask them before
// showing them to anyone.
type SiteStore interface {
	FindSiteByName(ctx context.Context, name string) (*Site, error)
	FindSites(ctx context.Context) ([]*Site, error)
	CreateSite(ctx context.Context, s *Site) error
	UpdateSite(ctx context.Context, s *Site) error
	DeleteSite(ctx context.Context, name string) error
}

// LeaseStore hands out named leases so that one process among several runs a singleton job
// (a site's log store tailer, a scheduled sync job).
type LeaseStore interface {
	// TryLease takes the lease name for owner until the given time when it is free, expired or
	// already owner's (a renewal), and reports whether owner holds it now.
	TryLease(ctx context.Context, name, owner string, until, now time.Time) (bool, error)
	// ReleaseLease gives up owner's lease; someone else's lease is left alone.
	ReleaseLease(ctx context.Context, name, owner string) error
}

// TailStatus is what a log store tailer reports about its site (package tailer).
type TailStatus struct {
	Site string `json:"site"`
	// DB is the database URL with its password replaced.
	DB      string `json:"db"`
	Running bool   `json:"running"`
	// Cursor is the highest log id read; every id up to it was handed to the sink except Gaps.
	Cursor int64 `json:"cursor"`
	// MaxID is the log table's highest id at the last poll, and Lag how many ids the cursor is
	// behind it.
	MaxID int64 `json:"max_id"`
	Lag   int64 `json:"lag"`
	// Gaps counts the missing ids below the cursor still awaited.
	Gaps     int       `json:"gaps"`
	LastPoll time.Time `json:"last_poll,omitzero"`
	// Failures counts the failed polls in a row (0 when the last poll worked); LastError is the
	// most recent failure, password scrubbed.
	Failures    int       `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Events counts events handed to the sink since the tailer started, LateEvents those of
	// them found in gaps, GivenUp the gaps that timed out or were dropped over MaxGaps.
	Events     int64 `json:"events"`
	LateEvents int64 `json:"late_events"`
	GivenUp    int64 `json:"given_up"`
	// Queries counts the statements run on the site's database since the tailer started.
	Queries int64 `json:"queries"`
	// Process is the process running the tailer, and SavedAt when it last saved this status in
	// the store; a status read from the store is Running only while SavedAt is recent.
	Process string    `json:"process,omitempty"`
	SavedAt time.Time `json:"saved_at,omitzero"`
}
