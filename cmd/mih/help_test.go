package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Every command and group of the tree answers --help (and -h) with its usage on standard
// output, nothing on standard error, and exit 0.
func TestCLI_HelpEverywhere(t *testing.T) {
	var paths [][]string
	var walk func(prefix []string, cmds []*command)
	walk = func(prefix []string, cmds []*command) {
		for _, c := range cmds {
			p := append(append([]string{}, prefix...), c.name)
			paths = append(paths, p)
			walk(p, c.sub)
		}
	}
	walk(nil, commandTree())
	paths = append(paths, nil) // mih --help
	for _, p := range paths {
		for _, flag := range []string{"--help", "-h"} {
			args := append(append([]string{}, p...), flag)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errOut := runCLI(t, nil, args...)
				if code != exitOK || errOut != "" {
					t.Fatalf("exit %d, stderr %q; want exit 0 and nothing on stderr", code, errOut)
				}
				want := "Usage: mih " + strings.Join(p, " ")
				if len(p) == 0 {
					want = "Usage:\n  mih serve"
				}
				if !strings.Contains(out, want) {
					t.Errorf("stdout %q does not start the usage %q", out, want)
				}
			})
		}
	}
	// `mih help dlq replay` is the same as `mih dlq replay --help`.
	_, viaHelp, _ := runCLI(t, nil, "help", "dlq", "replay")
	_, viaFlag, _ := runCLI(t, nil, "dlq", "replay", "--help")
	if viaHelp != viaFlag {
		t.Errorf("mih help dlq replay printed %q, want %q", viaHelp, viaFlag)
	}
}

// A command's --help lists the flags it takes, and only those.
func TestCLI_HelpFlags(t *testing.T) {
	tests := []struct {
		args      []string
		want, not []string
	}{
		{[]string{"dlq", "replay"}, []string{"--all", "--service", "--rule", "--data"}, []string{"--limit"}},
		{[]string{"dlq", "list"}, []string{"--limit", "--service"}, []string{"--all"}},
		{[]string{"token", "create"}, []string{"--name", "--database"}, nil},
		{[]string{"serve"}, []string{"--listen", "--worker-concurrency"}, nil},
		{[]string{"health"}, []string{"--url", "--ready"}, nil},
		{[]string{"sync", "run"}, []string{"--dry-run", "--csv"}, nil},
		{[]string{"token"}, []string{"mih token create"}, []string{"mih serve"}},
	}
	for _, tc := range tests {
		_, out, _ := runCLI(t, nil, append(tc.args, "--help")...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("mih %s --help does not mention %s:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(out, n) {
				t.Errorf("mih %s --help mentions %s, which does not apply:\n%s", strings.Join(tc.args, " "), n, out)
			}
		}
	}
}

// A mistyped command is named, with the nearest command when one is close.
func TestCLI_Mistyped(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serv"}, `unknown command "serv"; did you mean "serve"?`},
		{[]string{"dql", "list"}, `did you mean "dlq"?`},
		{[]string{"dlq", "lst"}, `unknown dlq command "lst"; did you mean "dlq list"?`},
		{[]string{"token", "crate"}, `did you mean "token create"?`},
		{[]string{"admin", "set-pasword"}, `did you mean "admin set-password"?`},
		{[]string{"vers"}, `did you mean "version"?`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (commands: serve, health,`},
	}
	for _, tc := range tests {
		code, out, errOut := runCLI(t, nil, tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("mih %s: exit %d, stdout %q, stderr %q; want exit 2 saying %q", strings.Join(tc.args, " "), code, out, errOut, tc.want)
		}
	}
	// A group without its command lists its commands, as a usage error.
	if code, _, errOut := runCLI(t, nil, "sync"); code != exitUsage || !strings.Contains(errOut, "mih sync run JOB") {
		t.Errorf("mih sync: exit %d, %q", code, errOut)
	}
}

func TestCLI_Version(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 || lines[0] != "mih "+Version || !strings.HasPrefix(lines[1], "commit: ") ||
		!strings.HasPrefix(lines[2], "built:  ") || !strings.HasPrefix(lines[3], "go:     go1.") {
		t.Errorf("mih version: exit %d\n%s", code, out)
	}
}

// `mih health` exits 0 against a live hub and 1 when nothing answers; --ready asks readiness.
func TestCLI_Health(t *testing.T) {
	url, _ := startInProcess(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, errOut := runCLI(t, nil, "health", "--ready", "--url", url)
		if code == 0 && strings.Contains(out, `"status": "ready"`) && strings.Contains(out, `"delivery_worker"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mih health --ready: exit %d, %s%s", code, out, errOut)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, out, _ := runCLI(t, nil, "health", "--url", url); code != 0 || !strings.Contains(out, `"status": "ok"`) {
		t.Errorf("mih health: exit %d, %s", code, out)
	}
	// The API document needs no token: the start-up banner links to it.
	resp, err := http.Get(url + "api/v1/openapi.json")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("openapi.json without a token: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	// A closed port: exit 1, and --listen decides the default URL.
	if code, _, errOut := runCLI(t, nil, "health", "--listen", "127.0.0.1:1", "--timeout", "2s"); code != exitError || !strings.Contains(errOut, "127.0.0.1:1") {
		t.Errorf("mih health against a closed port: exit %d, %q", code, errOut)
	}
	if got := localAddr("0.0.0.0:8080"); got != "127.0.0.1:8080" {
		t.Errorf("localAddr(0.0.0.0:8080) = %s", got)
	}
}
