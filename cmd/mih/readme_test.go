package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADME_Tour runs the tour of README.md as written, against the built binary: every sh
// block after the two that start the hub and export its token, with bash, in a fresh folder
// holding examples/. Two substitutions only: `go run ./cmd/mih` is the built binary, and
// 127.0.0.1:8080 the address the test hub listens on.
func TestREADME_Tour(t *testing.T) {
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := tourBlocks(t, string(readme))
	if len(blocks) < 6 || strings.TrimSpace(blocks[0]) != "go run ./cmd/mih serve" || !strings.Contains(blocks[1], "export TOKEN=") {
		t.Fatalf("the tour should start the hub, then export its token; got blocks %q", blocks)
	}

	work := t.TempDir()
	if err := os.MkdirAll(filepath.Join(work, "examples"), 0o755); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../examples/hub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(work, "examples", "hub.yaml"), example, 0o644)

	bin := buildBinary(t)
	hub := startHub(t, bin, "--data", filepath.Join(work, "mih-data"))
	addr := strings.TrimSuffix(strings.TrimPrefix(hub.url, "http://"), "/")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatalf("hub address %q: %v", addr, err)
	}

	var sawDead, sawReplay, sawReady bool
	for i, block := range blocks[2:] {
		script := strings.ReplaceAll(block, "go run ./cmd/mih", bin)
		script = strings.ReplaceAll(script, "127.0.0.1:8080", addr)
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "TOKEN="+e2eToken)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tour block %d failed: %v\n--- block\n%s\n--- output\n%s\n--- hub\n%s", i+3, err, block, out, hub.logs)
		}
		text := string(out)
		if strings.Contains(text, `"error"`) {
			t.Errorf("tour block %d answered an error:\n%s\n--- output\n%s", i+3, block, text)
		}
		switch {
		case strings.Contains(block, "status=dead"):
			// A real dead delivery: one attempt, the receiver's 404 kept.
			sawDead = strings.Contains(text, `"state":"dead"`) && strings.Contains(text, `"last_status":404`)
			if !sawDead {
				t.Errorf("the tour's dead-letter queue is not what it says:\n%s", text)
			}
		case strings.Contains(block, "dlq replay"):
			// Listed dead, queued again, tried again (a later update) and dead again.
			rows := regexp.MustCompile(`(?m)^1\s+crm\s.*\s(\S+ \S+)$`).FindAllStringSubmatch(text, -1)
			sawReplay = strings.Contains(text, "1 deliveries queued again") && len(rows) == 2 && rows[0][1] != rows[1][1]
			if !sawReplay {
				t.Errorf("the replay did not queue the dead delivery and bring it back after another attempt:\n%s", text)
			}
		case strings.Contains(block, "health --ready"):
			sawReady = strings.Contains(text, `"status": "ready"`)
		}
	}
	if !sawDead || !sawReplay || !sawReady {
		t.Errorf("the tour lacks a step: dead delivery %v, replay %v, readiness %v", sawDead, sawReplay, sawReady)
	}
}

// tourBlocks returns the sh blocks of the README's tour section, in order.
func tourBlocks(t *testing.T, readme string) []string {
	t.Helper()
	_, tour, ok := strings.Cut(readme, "## A five-minute tour")
	if !ok {
		t.Fatal("README.md has no tour")
	}
	if i := strings.Index(tour, "\n## "); i >= 0 {
		tour = tour[:i]
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(tour, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}
