package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store"
)

const rotateUsage = "usage: mih secret rotate [--keep-old]"

// runSecretRotate rotates the key that seals the stored secrets (services' and sites' credentials):
// a new key is put in place with the old one kept beside it, every sealed value is re-sealed
// with the new key one row at a time, and the old key is removed once nothing needs it. Hubs
// running on the same data folder follow at once: their key files are reread when they change.
// Interrupted, it leaves both keys in place, so that nothing is lost; running it again finishes
// the same rotation.
func runSecretRotate(ctx context.Context, args, environ []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("secret rotate", pflag.ContinueOnError)
	storeFlags(fs)
	keepOld := fs.Bool("keep-old", false, "keep the previous key file (secret.key.old) after re-sealing; remove it later with a second run")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{rotateUsage}
	}
	cfg, err := loadConfig(fs, environ)
	if err != nil {
		return usageError{err.Error()}
	}
	if cfg.SecretKey != "" {
		return usageError{"the secret key comes from MIH_SECRET_KEY: mih secret rotate rotates the key files of the data folder. " +
			"Put the key in " + secret.KeyFile + " in the data folder (and unset MIH_SECRET_KEY) first"}
	}
	resumed, err := secret.BeginRotation(cfg.Data)
	if err != nil {
		return fmt.Errorf("rotate the secret key: %w", err)
	}
	if resumed {
		fmt.Fprintln(stdout, "resuming a rotation that did not finish: both keys are in place")
	} else {
		fmt.Fprintln(stdout, "new secret key in place; the previous one is kept in "+secret.OldKeyFile+" until every secret is re-sealed")
	}
	box, _, err := secret.NewFileBox(cfg.Data)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, discardLogger())
	if err != nil {
		return err
	}
	defer st.Close()
	rs, ok := st.(*store.Store)
	if !ok {
		return fmt.Errorf("this store cannot re-seal its secrets")
	}
	reseal := func(sealed []byte) ([]byte, bool, error) {
		if box.Current(sealed) {
			return nil, false, nil
		}
		plain, err := box.Open(sealed)
		if err != nil {
			return nil, false, err
		}
		out, err := box.Seal(plain)
		return out, true, err
	}
	// A second pass re-seals what a running hub may have sealed with the old key in the moment
	// before it noticed the new one; it normally finds nothing.
	total, done := 0, false
	for pass := 0; pass < 3 && !done; pass++ {
		n, kept, err := rs.Reseal(ctx, reseal)
		if err != nil {
			return fmt.Errorf("re-seal the stored secrets (both keys are kept; run mih secret rotate again to finish): %w", err)
		}
		total += n
		if n == 0 {
			fmt.Fprintf(stdout, "%d secrets re-sealed with the new key (%d rows in all)\n", total, kept)
			done = true
		}
	}
	if !done {
		return fmt.Errorf("secrets are still being sealed with the previous key (a hub that does not see the data folder's key files?); both keys are kept: run mih secret rotate again")
	}
	if *keepOld {
		fmt.Fprintln(stdout, "the previous key is kept in "+secret.OldKeyFile+"; run mih secret rotate again to remove it")
		return nil
	}
	if err := secret.EndRotation(cfg.Data); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "previous key removed: the rotation is complete")
	return nil
}
