package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestLoadConfig_Precedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mih.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:7000\nworker_concurrency: 8\nlease: 45s\nlog_level: debug\n"), 0o600)
	tests := []struct {
		name        string
		args        []string
		env         []string
		listen      string
		concurrency int
		lease       time.Duration
	}{
		{"defaults", nil, nil, "127.0.0.1:8080", 64, 30 * time.Second},
		{"file over defaults", []string{"--config", file}, nil, "127.0.0.1:7000", 8, 45 * time.Second},
		{"env over file", []string{"--config", file}, []string{"MIH_WORKER_CONCURRENCY=16", "MIH_LISTEN=127.0.0.1:7001"}, "127.0.0.1:7001", 16, 45 * time.Second},
		{"flags over env", []string{"--config", file, "--listen", "127.0.0.1:7002"}, []string{"MIH_LISTEN=127.0.0.1:7001"}, "127.0.0.1:7002", 8, 45 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			serveFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(fs, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tc.listen || c.WorkerConcurrency != tc.concurrency || c.Lease != tc.lease {
				t.Errorf("got listen=%s concurrency=%d lease=%s, want %s %d %s", c.Listen, c.WorkerConcurrency, c.Lease, tc.listen, tc.concurrency, tc.lease)
			}
		})
	}
}

func TestLoadConfig_Errors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	tests := []struct {
		name    string
		args    []string
		env     []string
		wantErr string
	}{
		{"unknown file key", []string{"--config", write("a.yaml", "listn: x\n")}, nil, `unknown setting "listn"`},
		{"unknown env", nil, []string{"MIH_LISTN=x"}, "unknown setting MIH_LISTN"},
		{"bad duration", nil, []string{"MIH_LEASE=soon"}, "lease"},
		{"bad level", nil, []string{"MIH_LOG_LEVEL=loud"}, "log_level"},
		{"bad durability", nil, []string{"MIH_SQLITE_SYNCHRONOUS=off"}, `sqlite_synchronous "off": want full or normal`},
		{"bad database", []string{"--database", "mysql://x"}, nil, "postgres://"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml")}, nil, "none.yaml"},
		{"short admin token", nil, []string{"MIH_ADMIN_TOKEN=abc"}, "MIH_ADMIN_TOKEN"},
		{"admin token under 32", nil, []string{"MIH_ADMIN_TOKEN=0123456789abcdef0123456789abcde"}, "at least 32 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
			serveFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(fs, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestLoadConfig_Secrets(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	serveFlags(fs)
	c, err := loadConfig(fs, []string{"MIH_ADMIN_TOKEN=0123456789abcdefXYZ0123456789abcdef", "MIH_SECRET_KEY=" + strings.Repeat("ab", 32), "MIH_TEST_POSTGRES_URL=x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminToken != "0123456789abcdefXYZ0123456789abcdef" || c.SecretKey == "" {
		t.Errorf("got token %q key %q", c.AdminToken, c.SecretKey)
	}
}

func TestLoadConfig_SecureCookies(t *testing.T) {
	for _, tc := range []struct {
		args, env []string
		want      bool
	}{
		{nil, nil, false},
		{nil, []string{"MIH_SECURE_COOKIES=true"}, true},
		{[]string{"--secure-cookies"}, nil, true},
	} {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		serveFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(fs, tc.env)
		if err != nil || c.SecureCookies != tc.want {
			t.Errorf("%v %v: got %v %v, want %v", tc.args, tc.env, c.SecureCookies, err, tc.want)
		}
	}
}

// The hub's configuration file and environment serve the commands run beside it: a serve
// setting is not an error for `mih token create`, a typo still is.
func TestLoadConfig_SharedWithCommands(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mih.yaml")
	os.WriteFile(file, []byte("listen: 0.0.0.0:8080\nworker_concurrency: 8\ndata: "+filepath.Join(dir, "data")+"\n"), 0o600)
	code, out, errOut := runCLI(t, []string{"MIH_LISTEN=127.0.0.1:9"}, "token", "create", "--config", file)
	if code != 0 || !strings.HasPrefix(out, "mih_") {
		t.Fatalf("token create with the hub's configuration: exit %d %q %q", code, out, errOut)
	}
	os.WriteFile(file, []byte("listn: 0.0.0.0:8080\n"), 0o600)
	if code, _, errOut := runCLI(t, nil, "token", "create", "--config", file); code != exitUsage || !strings.Contains(errOut, `unknown setting "listn"`) {
		t.Errorf("a misspelt setting: exit %d %q", code, errOut)
	}
}
