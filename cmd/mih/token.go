package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
)

const tokenUsage = "usage: mih token create [--name NAME] [--scope admin|gateway|ingest|read] | mih token list | mih token revoke NAME|ID"

// runToken manages API tokens: create prints the new token once (only its hash is stored),
// list shows names, scopes and last use, revoke deletes one.
func runToken(ctx context.Context, verb string, args, environ []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("token "+verb, pflag.ContinueOnError)
	storeFlags(fs)
	var name, scope *string
	switch verb {
	case "create":
		name = fs.String("name", "cli", "a name to recognise the token by")
		scope = fs.String("scope", mih.ScopeAdmin, "what the token may do: admin (everything), gateway (post events and call services: local_mih's token), ingest (post events only: backend_sync), read (GET requests and metrics)")
	case "list", "revoke":
	default:
		return usageError{tokenUsage}
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if verb == "revoke" && fs.NArg() != 1 || verb != "revoke" && fs.NArg() != 0 {
		return usageError{tokenUsage}
	}
	var tok *mih.Token
	if verb == "create" {
		tok = &mih.Token{Name: *name, Scope: *scope}
		if err := tok.Validate(); err != nil {
			return usageError{mih.ErrorMessage(err)}
		}
	}
	cfg, err := loadConfig(fs, environ)
	if err != nil {
		return usageError{err.Error()}
	}
	st, err := openStore(ctx, cfg, discardLogger())
	if err != nil {
		return err
	}
	defer st.Close()
	switch verb {
	case "create":
		raw := secret.NewToken()
		tok.Hash = secret.HashToken(raw)
		if err := st.CreateToken(ctx, tok); err != nil {
			return fmt.Errorf("create token: %w", err)
		}
		fmt.Fprintln(stdout, raw)
	case "list":
		toks, err := st.FindTokens(ctx)
		if err != nil {
			return fmt.Errorf("list tokens: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tCREATED\tLAST USED")
		for _, t := range toks {
			used := "never"
			if t.LastUsedAt != nil {
				used = t.LastUsedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope, t.CreatedAt.Format(time.RFC3339), used)
		}
		tw.Flush()
	case "revoke":
		t, err := findToken(ctx, st, fs.Arg(0))
		if err != nil {
			return err
		}
		if err := st.DeleteToken(ctx, t.ID); err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		fmt.Fprintf(stdout, "token %d (%s, %s) revoked\n", t.ID, t.Name, t.Scope)
	}
	return nil
}

// findToken finds a token by id or name.
func findToken(ctx context.Context, st mih.TokenStore, ref string) (*mih.Token, error) {
	toks, err := st.FindTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	id, _ := strconv.ParseInt(ref, 10, 64)
	for _, t := range toks {
		if t.ID == id || t.Name == ref {
			return t, nil
		}
	}
	return nil, mih.Errorf(mih.CodeNotFound, "no token named %q", strings.TrimSpace(ref))
}
