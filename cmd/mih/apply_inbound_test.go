package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

func TestCLI_ApplyInbound(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "hub.yaml")
	os.WriteFile(file, []byte(`sites:
  - name: main
    url: https://moodle.example.edu
    token: "${MOODLE_TOKEN}"
services:
  - name: lrs
    type: rest
    base_url: https://lrs.example.edu/xapi
rules:
  - name: statements
    event: '*'
    service: lrs
    endpoint: /statements
    format: xapi
inbound:
  - name: sis
    secrets: ["${SIS_SECRET}"]
    rules:
      - name: create account
        site: main
        function: core_user_create_users
        filter: action == "created"
        template: '{"users": [{"username": {{username}}, "createpassword": 1}]}'
`), 0o600)
	env := []string{"MOODLE_TOKEN=ws-tok", "SIS_SECRET=whsec_c2lzLWFwcGx5LXNlY3JldC0wMTIzNDU="}
	code, out, errOut := runCLI(t, env, "apply", "-f", file, "--data", data)
	if code != 0 || !strings.Contains(out, "inbound endpoint sis created") || !strings.Contains(out, "inbound rule sis/create account created") ||
		!strings.Contains(out, "rule statements created") {
		t.Fatalf("first apply: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, env, "apply", "-f", file, "--data", data)
	if code != 0 || !strings.Contains(out, "inbound endpoint sis unchanged") || !strings.Contains(out, "inbound rule sis/create account unchanged") ||
		!strings.Contains(out, "rule statements unchanged") {
		t.Fatalf("second apply: exit %d, %q; want everything unchanged", code, out)
	}
	st, err := openStore(context.Background(), &Config{Data: data}, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ep, err := st.FindInboundEndpoint(context.Background(), "sis")
	rules, _ := st.FindRules(context.Background(), mih.RuleFilter{})
	st.Close()
	if err != nil || ep.Secrets[0] != "whsec_c2lzLWFwcGx5LXNlY3JldC0wMTIzNDU=" || len(rules) != 1 || rules[0].Format != "xapi" {
		t.Fatalf("stored %+v %v, rules %+v", ep, err, rules)
	}

	for name, c := range map[string]struct{ yaml, want string }{
		"bad secret":        {"inbound:\n  - name: x\n    secrets: [nope]\n", "secrets[0]"},
		"bad template":      {"inbound:\n  - name: x\n    token: abcdefghijklmnopq\n    rules:\n      - name: r\n        site: main\n        function: f\n        template: '[1]'\n", "JSON object"},
		"unknown site":      {"inbound:\n  - name: x\n    token: abcdefghijklmnopq\n    rules:\n      - name: r\n        site: nope\n        function: f\n", `site "nope"`},
		"rule without name": {"inbound:\n  - name: x\n    token: abcdefghijklmnopq\n    rules:\n      - site: main\n        function: f\n", "name: required"},
	} {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		os.WriteFile(bad, []byte(c.yaml), 0o600)
		if code, _, errOut := runCLI(t, nil, "apply", "-f", bad, "--data", data); code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, %q; want an error mentioning %q", name, code, errOut, c.want)
		}
	}
}
