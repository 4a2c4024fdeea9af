// Command mih is the Integration Hub for Moodle: `mih serve` runs the hub; the other
// subcommands administer it from the shell against the same store.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mihhub/mih"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1 // the command failed
	exitUsage    = 2 // the command line or configuration is wrong
	exitNotFound = 3 // the named thing does not exist
)

// usageError marks a wrong command line, reported with exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, &cli{environ: environ, stdin: os.Stdin, stdout: stdout, stderr: stderr}, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "mih: %s\n", message(err))
	if _, ok := errors.AsType[usageError](err); ok {
		if !strings.Contains(err.Error(), "\n") {
			fmt.Fprintln(stderr, "Run 'mih --help' for usage.")
		}
		return exitUsage
	}
	switch mih.ErrorCode(err) {
	case mih.CodeNotFound:
		return exitNotFound
	case mih.CodeInvalid:
		return exitUsage
	}
	return exitError
}

// message is what the CLI prints for an error: the domain's safe message when there is one
// (with its cause, since the operator at the shell may see it), else the wrapped chain.
func message(err error) string {
	if e, ok := errors.AsType[*mih.Error](err); ok && e.Code != mih.CodeInternal {
		return e.Message
	}
	return err.Error()
}
