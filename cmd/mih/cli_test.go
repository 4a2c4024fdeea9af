package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
)

// runCLI runs mih in-process like the shell would and returns its exit code and output.
func runCLI(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, env, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLI_Usage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command", nil, exitUsage, "Usage:"},
		{"unknown command", []string{"nope"}, exitUsage, `unknown command "nope"`},
		{"version", []string{"version"}, exitOK, "mih "},
		{"bad flag", []string{"serve", "--nope"}, exitUsage, "unknown flag"},
		{"apply without file", []string{"apply"}, exitUsage, "mih apply -f FILE"},
		{"dlq replay without ids", []string{"dlq", "replay"}, exitUsage, "--all"},
		{"dlq bad id", []string{"dlq", "delete", "x1"}, exitUsage, "not a delivery id"},
		{"token without create", []string{"token"}, exitUsage, "token create"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("got exit %d, output %q%q; want exit %d mentioning %q", code, out, errOut, tc.code, tc.want)
			}
		})
	}
}

func TestCLI_ApplyTokenDLQ(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "hub.yaml")
	os.WriteFile(file, []byte(`services:
  - name: crm
    type: rest
    base_url: https://crm.example.com/api
    auth: {type: bearer, token: "${CRM_TOKEN}"}
rules:
  - name: users
    event: \core\event\user_created
    service: crm
    endpoint: /users
    template: '{"id": {{relateduserid}}}'
`), 0o600)
	env := []string{"CRM_TOKEN=tok-s3cret"}
	code, out, errOut := runCLI(t, env, "apply", "-f", file, "--data", data)
	if code != 0 || !strings.Contains(out, "service crm created") || !strings.Contains(out, "rule users created") {
		t.Fatalf("first apply: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "apply", "-f", file, "--data", data)
	if code != 0 || !strings.Contains(out, "service crm unchanged") || !strings.Contains(out, "rule users unchanged") {
		t.Fatalf("second apply: exit %d, %q; want everything unchanged", code, out)
	}
	code, _, errOut = runCLI(t, nil, "apply", "-f", file, "--data", data)
	if code != exitUsage || !strings.Contains(errOut, "CRM_TOKEN") {
		t.Fatalf("apply without the variable: exit %d, %q", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - name: x\n    event: '*'\n    service: crm\n    template: '{\"a\": }'\n"), 0o600)
	if code, _, errOut := runCLI(t, nil, "apply", "-f", bad, "--data", data); code != exitUsage || !strings.Contains(errOut, "col") {
		t.Fatalf("apply of a bad template: exit %d, %q; want exit 2 with the position", code, errOut)
	}

	code, tok, _ := runCLI(t, nil, "token", "create", "--name", "ci", "--data", data)
	if code != 0 || !strings.HasPrefix(tok, secret.TokenPrefix) {
		t.Fatalf("token create: exit %d, %q", code, tok)
	}

	// A dead delivery to list, replay and delete.
	cfg := &Config{Data: data}
	st, err := openStore(context.Background(), cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.FindTokenByHash(context.Background(), secret.HashToken(strings.TrimSpace(tok))); err != nil {
		t.Fatalf("created token not stored: %v", err)
	}
	rules, _ := st.FindRules(context.Background(), mih.RuleFilter{})
	d := &mih.Delivery{EventID: "e1", RuleID: rules[0].ID, Service: "crm", State: mih.DeliveryDead, Method: "POST",
		Payload: []byte(`{}`), IdempotencyKey: "e1:1", DeadReason: mih.ReasonFailed, LastError: "http_error: 400"}
	if err := st.CreateDeliveries(context.Background(), []*mih.Delivery{d}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	code, out, _ = runCLI(t, nil, "dlq", "list", "--data", data)
	if code != 0 || !strings.Contains(out, "crm") || !strings.Contains(out, "http_error: 400") {
		t.Fatalf("dlq list: exit %d, %q", code, out)
	}
	id := strconv.FormatInt(d.ID, 10)
	if code, out, _ := runCLI(t, nil, "dlq", "replay", id, "--data", data); code != 0 || !strings.Contains(out, "1 deliveries queued again") {
		t.Fatalf("dlq replay: exit %d, %q", code, out)
	}
	if code, _, _ := runCLI(t, nil, "dlq", "replay", id, "--data", data); code != exitNotFound {
		t.Fatalf("dlq replay of a delivery no longer dead: exit %d, want %d", code, exitNotFound)
	}
	if code, out, _ := runCLI(t, nil, "dlq", "delete", "--all", "--data", data); code != 0 || !strings.Contains(out, "0 deliveries deleted") {
		t.Fatalf("dlq delete --all with none dead: exit %d, %q", code, out)
	}
}

// TestCLI_Bench runs a tiny benchmark to keep the command working; its figures are not checked.
func TestCLI_Bench(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "bench", "--events", "300", "--batch", "20", "--senders", "2", "--timeout", "60s")
	if code != 0 || !strings.Contains(out, "delivered  300 events") || !strings.Contains(out, "duplicates 0") {
		t.Fatalf("bench: exit %d\n%s%s", code, out, errOut)
	}
}

func TestCLI_ApplySites(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "sites.yaml")
	os.WriteFile(file, []byte(`sites:
  - name: main
    url: https://moodle.example.edu/
    token: "${MOODLE_TOKEN}"
    db: "postgres://moodle:${MOODLE_DB_PASSWORD}@db.example.edu/moodle"
    tail: true
    plugin_secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
`), 0o600)
	env := []string{"MOODLE_TOKEN=ws-0123456789abcdef", "MOODLE_DB_PASSWORD=db-s3cret-pw"}
	code, out, errOut := runCLI(t, env, "apply", "-f", file, "--data", data)
	if code != 0 || !strings.Contains(out, "site main created") {
		t.Fatalf("first apply: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ = runCLI(t, env, "apply", "-f", file, "--data", data); code != 0 || !strings.Contains(out, "site main unchanged") {
		t.Fatalf("second apply: exit %d, %q; want unchanged", code, out)
	}
	st, err := openStore(context.Background(), &Config{Data: data}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	site, err := st.FindSiteByName(context.Background(), "main")
	st.Close()
	if err != nil || site.URL != "https://moodle.example.edu" || site.Prefix != "mdl_" || site.TailFrom != "latest" ||
		site.DB != "postgres://moodle:db-s3cret-pw@db.example.edu/moodle" || site.Token != "ws-0123456789abcdef" {
		t.Fatalf("stored site %+v, %v", site, err)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("sites:\n  - name: x\n    url: https://m.example.edu\n    db: 'oracle://u:topsecret@h/db'\n"), 0o600)
	code, out, errOut = runCLI(t, nil, "apply", "-f", bad, "--data", data)
	if code != exitUsage || !strings.Contains(errOut, "db:") || strings.Contains(out+errOut, "topsecret") {
		t.Fatalf("apply of a bad site: exit %d, %q %q; want exit 2, naming db, without the password", code, out, errOut)
	}
}
