package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/web"
)

// runAdmin runs `mih admin set-password`: it sets the password of the web UI. The password comes
// from standard input (its first line), or from a prompt typed twice without echo when standard
// input is a terminal, never from a flag or the environment (visible to other users).
func runAdmin(ctx context.Context, args, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("admin set-password", pflag.ContinueOnError)
	storeFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, environ)
	if err != nil {
		return usageError{err.Error()}
	}
	password, err := readPassword(ctx, stdin, stderr)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, discardLogger())
	if err != nil {
		return err
	}
	defer st.Close()
	if err := web.SetPassword(ctx, st, password); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Admin password set. Sessions signed in before are signed out; the admin API token no longer signs in to the web UI.")
	return nil
}

// readPassword reads the new password: typed twice without echo on a terminal, else the first
// line of stdin.
func readPassword(ctx context.Context, stdin io.Reader, prompt io.Writer) (string, error) {
	f, ok := stdin.(*os.File)
	if !ok || !isTerminal(f) {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", mih.Errorf(mih.CodeInvalid, "no password on standard input: pipe it in, or run the command in a terminal to be asked for it")
		}
		return pw, nil
	}
	first, err := promptSecret(ctx, f, prompt, "New admin password: ")
	if err != nil {
		return "", err
	}
	if n := len([]rune(first)); n < web.MinPasswordLength {
		return "", mih.Errorf(mih.CodeInvalid, "password: use at least %d characters (got %d)", web.MinPasswordLength, n)
	}
	again, err := promptSecret(ctx, f, prompt, "Type it again: ")
	if err != nil {
		return "", err
	}
	if again != first {
		return "", mih.Errorf(mih.CodeInvalid, "the two passwords differ; nothing was changed")
	}
	return first, nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// promptSecret reads one line from the terminal with echo off. Echo is switched with stty, which
// every Unix has, so that no terminal library is needed; it is switched back on whatever happens,
// an interrupt included.
func promptSecret(ctx context.Context, tty *os.File, prompt io.Writer, text string) (string, error) {
	stty := func(arg string) error {
		cmd := exec.Command("stty", arg)
		cmd.Stdin = tty
		return cmd.Run()
	}
	if err := stty("-echo"); err != nil {
		return "", fmt.Errorf("turn off echo on the terminal (%w); pipe the password on standard input instead", err)
	}
	defer stty("echo")
	fmt.Fprint(prompt, text)
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(tty).ReadString('\n')
		done <- result{line, err}
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(prompt)
		return "", ctx.Err()
	case r := <-done:
		fmt.Fprintln(prompt)
		if r.err != nil && !errors.Is(r.err, io.EOF) {
			return "", fmt.Errorf("read the password: %w", r.err)
		}
		return strings.TrimRight(r.line, "\r\n"), nil
	}
}

// withWebUI puts the admin web UI beside the API: /api/ and /metrics go to the API server,
// everything else to the UI. The UI's session key is derived from the hub's secret key, which
// every process sharing the store has, so any of them accepts a session another signed.
func withWebUI(cfg *Config, api http.Handler, o *ops.Ops, logger *slog.Logger) (http.Handler, error) {
	key, _, err := secretKey(cfg)
	if err != nil {
		return nil, err
	}
	ui, err := web.New(web.Config{
		Ops:       o,
		Logger:    logger,
		SecretKey: key,
		Version:   Version,
		// Behind a proxy that ends TLS the hub sees plain HTTP; the browser must still send the
		// session cookie over HTTPS only.
		SecureCookies: cfg.SecureCookies,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/metrics", api)
	mux.Handle("/debug/pprof/", api)
	mux.Handle("/", ui)
	return mux, nil
}
