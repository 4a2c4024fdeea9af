package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
)

// Config is every setting of the hub. Each one has a flag (--max-body-bytes), an environment
// variable (MIH_MAX_BODY_BYTES) and a YAML key (max_body_bytes). Precedence, highest first:
// flags, environment, the --config file, defaults.
type Config struct {
	Listen   string `koanf:"listen"`
	Data     string `koanf:"data"`
	Database string `koanf:"database"`
	// SQLiteSynchronous is the embedded database's PRAGMA synchronous: FULL (default) or NORMAL.
	SQLiteSynchronous string `koanf:"sqlite_synchronous"`

	LogLevel  string `koanf:"log_level"`
	LogFormat string `koanf:"log_format"`

	MaxBodyBytes  int64 `koanf:"max_body_bytes"`
	PublicMetrics bool  `koanf:"public_metrics"`
	SecureCookies bool  `koanf:"secure_cookies"`

	WorkerConcurrency int           `koanf:"worker_concurrency"`
	WorkerBatch       int           `koanf:"worker_batch"`
	Lease             time.Duration `koanf:"lease"`
	PollInterval      time.Duration `koanf:"poll_interval"`
	ShutdownTimeout   time.Duration `koanf:"shutdown_timeout"`

	LogMaxAge        time.Duration `koanf:"log_max_age"`
	LogMaxRows       int           `koanf:"log_max_rows"`
	SucceededMaxAge  time.Duration `koanf:"succeeded_max_age"`
	SucceededMaxRows int           `koanf:"succeeded_max_rows"`
	EventMaxAge      time.Duration `koanf:"event_max_age"`
	MaintainEvery    time.Duration `koanf:"maintain_every"`
	CircuitSync      time.Duration `koanf:"circuit_sync"`

	OTLPEndpoint string `koanf:"otlp_endpoint"`

	// Secrets come only from the environment, never from flags (visible in ps) or the file.
	AdminToken string `koanf:"-"`
	SecretKey  string `koanf:"-"`
}

// storeFlags are the settings every subcommand that opens the store needs.
func storeFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (keys as the flags, with _ for -)")
	fs.String("data", "./mih-data", "data folder: embedded database, secret key")
	fs.String("database", "", "PostgreSQL URL (postgres://…); empty uses the embedded SQLite database in --data")
	fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.String("log-format", "text", "log format: text or json")
}

// serveFlags are the settings of `mih serve`.
func serveFlags(fs *pflag.FlagSet) {
	storeFlags(fs)
	fs.String("listen", "127.0.0.1:8080", "address to listen on")
	fs.String("sqlite-synchronous", "full", "embedded database: full (an acknowledged event survives a power cut) or normal (it survives a crash of the hub, not of the machine; about a tenth less CPU)")
	fs.Int64("max-body-bytes", 10<<20, "largest request body accepted (ingest batches)")
	fs.Bool("public-metrics", false, "serve /metrics without a token")
	fs.Bool("secure-cookies", false, "mark the web UI's session cookie Secure on every answer: set it when a proxy in front of the hub ends TLS (requests that come over TLS to the hub itself always get it)")
	fs.Int("worker-concurrency", 64, "deliveries sent at once")
	fs.Int("worker-batch", 100, "deliveries claimed per database round trip")
	fs.Duration("lease", 30*time.Second, "how long a claimed delivery stays with a worker before another may take it (renewed while it runs)")
	fs.Duration("poll-interval", time.Second, "how often workers look for due deliveries when nothing wakes them")
	fs.Duration("shutdown-timeout", 20*time.Second, "how long in-flight deliveries may finish on shutdown")
	fs.Duration("log-max-age", 7*24*time.Hour, "request log entries older than this are pruned")
	fs.Int("log-max-rows", 100000, "request log entries kept at most")
	fs.Duration("succeeded-max-age", 7*24*time.Hour, "succeeded deliveries older than this are pruned (dead ones never are)")
	fs.Int("succeeded-max-rows", 100000, "succeeded deliveries kept at most")
	fs.Duration("event-max-age", 30*24*time.Hour, "received events older than this are pruned once all their deliveries succeeded (negative: never)")
	fs.Duration("maintain-every", 30*time.Second, "how often pruning, pausing and expiry run")
	fs.String("otlp-endpoint", "", "OpenTelemetry: send traces over OTLP/HTTP to this collector URL (like http://127.0.0.1:4318); empty: no tracing")
	fs.Duration("circuit-sync", time.Second, "how often circuit states are reread from the database (how soon other processes' openings and resets are seen)")
}

// loadConfig merges defaults, the config file, MIH_* variables and the flags given. Unknown keys
// in the file or the environment are errors, not silently ignored settings.
func loadConfig(fs *pflag.FlagSet, environ []string) (*Config, error) {
	k := koanf.New(".")
	// Known settings are those of this command and those of `mih serve`: one configuration
	// file and one environment serve the hub and the commands run beside it (`mih token create
	// --config /etc/mih/mih.yaml`), and a setting another command uses is not a typo.
	known := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { known[key(f.Name)] = true })
	all := pflag.NewFlagSet("all", pflag.ContinueOnError)
	serveFlags(all)
	all.VisitAll(func(f *pflag.Flag) { known[key(f.Name)] = true })

	if path, _ := fs.GetString("config"); path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		for _, kk := range k.Keys() {
			if !known[kk] || kk == "config" {
				return nil, fmt.Errorf("config file %s: unknown setting %q (settings: %s)", path, kk, strings.Join(sortedKeys(known), ", "))
			}
		}
	}
	var envErr error
	err := k.Load(env.Provider(".", env.Opt{
		Prefix:      "MIH_",
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, v string) (string, any) {
			kk := strings.ToLower(strings.TrimPrefix(name, "MIH_"))
			switch {
			case known[kk] && kk != "config":
				return kk, v
			case kk == "config":
				return "", nil // only a flag: it has to be known before anything is loaded
			case kk == "admin_token" || kk == "secret_key" || strings.HasPrefix(kk, "test_"):
				return "", nil
			}
			if envErr == nil {
				envErr = fmt.Errorf("environment: unknown setting %s", name)
			}
			return "", nil
		},
	}), nil)
	if err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	if envErr != nil {
		return nil, envErr
	}
	if err := k.Load(posflag.ProviderWithFlag(fs, ".", k, func(f *pflag.Flag) (string, any) {
		return key(f.Name), posflag.FlagVal(fs, f)
	}), nil); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	for _, kv := range environ {
		name, v, _ := strings.Cut(kv, "=")
		switch name {
		case "MIH_ADMIN_TOKEN":
			c.AdminToken = v
		case "MIH_SECRET_KEY":
			c.SecretKey = v
		}
	}
	return &c, c.validate()
}

func (c *Config) validate() error {
	if c.Data == "" {
		return fmt.Errorf("data: required")
	}
	if c.Database != "" && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return fmt.Errorf("database: want a postgres:// URL (leave empty for the embedded SQLite database)")
	}
	if s := strings.ToLower(c.SQLiteSynchronous); s != "" && s != "full" && s != "normal" {
		return fmt.Errorf("sqlite_synchronous %q: want full or normal", c.SQLiteSynchronous)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		return fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log_format %q: want text or json", c.LogFormat)
	}
	if c.CircuitSync < 0 || c.CircuitSync > time.Minute {
		return fmt.Errorf("circuit_sync %s: want at most 1m", c.CircuitSync)
	}
	if c.AdminToken != "" && len(c.AdminToken) < mih.MinAdminTokenLen {
		// An admin token guards everything, so it must be beyond guessing.
		return fmt.Errorf("MIH_ADMIN_TOKEN: use at least %d characters (make one with: openssl rand -base64 33)", mih.MinAdminTokenLen)
	}
	return nil
}

func key(flag string) string { return strings.ReplaceAll(flag, "-", "_") }

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		if k != "config" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
