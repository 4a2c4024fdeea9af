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
	"syscall"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

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

const usage = `mih — Integration Hub for Moodle

Usage:
  mih serve [flags]                 run the hub (web UI, HTTP API, workers, tailers)
  mih token create [--name NAME] [--scope admin|gateway|ingest|read]
                                    create an API token and print it (once)
  mih token list                    list API tokens: name, scope, last use
  mih token revoke NAME|ID          revoke an API token
  mih secret rotate [--keep-old]    re-seal every stored secret with a new key (back up the data folder first)
  mih admin set-password            set the web UI's admin password (read from stdin or asked for)
  mih apply -f FILE                 create or update sites, services, rules and sync jobs from a YAML file
  mih sync list                     list course sync jobs
  mih sync run JOB [--dry-run] [--csv FILE]
                                    plan (and apply) a course sync job, missing users to a CSV
  mih dlq list [--service S] [--rule N] [--limit N]
  mih dlq replay ID… | --all [--service S] [--rule N]
  mih dlq delete ID… | --all [--service S] [--rule N]
  mih bench [--events N] [--batch N] [--rate R] [--database URL]
                                    measure ingest → delivery throughput and latency
  mih bench-capture --moodle-url URL --moodle-token T --moodle-db DSN
                                    measure a real Moodle's capture latency (tailer, HTTP) and idle cost
  mih version

Run 'mih COMMAND --help' for the flags of a command. Every flag is also an environment
variable (MIH_LISTEN for --listen) and a key of the --config YAML file (listen:).
`

// usageError marks a wrong command line, reported with exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], environ, stdout, stderr)
	case "token":
		err = runToken(ctx, args[1:], environ, stdout)
	case "secret":
		err = runSecret(ctx, args[1:], environ, stdout)
	case "apply":
		err = runApply(ctx, args[1:], environ, stdout)
	case "dlq":
		err = runDLQ(ctx, args[1:], environ, stdout)
	case "bench":
		err = runBench(ctx, args[1:], environ, stdout)
	case "bench-capture":
		err = runBenchCapture(ctx, args[1:], environ, stdout)
	case "sync":
		err = runSync(ctx, args[1:], environ, stdout, stderr)
	case "admin":
		err = runAdmin(ctx, args[1:], environ, os.Stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "mih %s\n", Version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	if err == nil || errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "mih: %s\n", message(err))
	if _, ok := errors.AsType[usageError](err); ok {
		fmt.Fprintln(stderr, "Run 'mih --help' for usage.")
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
