package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/secret"
)

func runToken(ctx context.Context, args, environ []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"usage: mih token create [--name NAME]"}
	}
	fs := pflag.NewFlagSet("token create", pflag.ContinueOnError)
	storeFlags(fs)
	name := fs.String("name", "cli", "a name to recognise the token by")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
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
	tok := secret.NewToken()
	if err := st.CreateToken(ctx, &mih.Token{Name: *name, Hash: secret.HashToken(tok)}); err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// parseFlags parses a subcommand's flags; a wrong flag is a usage error.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}
