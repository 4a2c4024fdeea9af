package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

// cli is what a command may use of the process: the environment and the standard streams.
type cli struct {
	environ []string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
}

// command is one entry of the command line. A command either runs (run) or groups others (sub):
// `mih dlq` is a group, `mih dlq replay` runs.
type command struct {
	name    string
	usage   string // the synopsis after "mih", with its arguments
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
	sub     []*command
}

// commandTree is every command of mih, in the order the usage lists them. It is built on each
// call so that nothing global is shared between runs.
func commandTree() []*command {
	return []*command{
		{name: "serve", usage: "serve [flags]", summary: "run the hub: web UI, HTTP API, workers, tailers, schedulers",
			run: func(ctx context.Context, c *cli, args []string) error {
				return runServe(ctx, args, c.environ, c.stdout, c.stderr)
			}},
		{name: "health", usage: "health [--url URL] [--ready]", summary: "ask a running hub whether it is alive (or ready); exit 0 if so, 1 if not",
			run: runHealth},
		{name: "token", usage: "token COMMAND", summary: "API tokens", sub: []*command{
			{name: "create", usage: "token create [--name NAME] [--scope admin|gateway|ingest|read]", summary: "create an API token and print it (once)",
				run: func(ctx context.Context, c *cli, args []string) error {
					return runToken(ctx, "create", args, c.environ, c.stdout)
				}},
			{name: "list", usage: "token list", summary: "list API tokens: name, scope, last use",
				run: func(ctx context.Context, c *cli, args []string) error {
					return runToken(ctx, "list", args, c.environ, c.stdout)
				}},
			{name: "revoke", usage: "token revoke NAME|ID", summary: "revoke an API token",
				run: func(ctx context.Context, c *cli, args []string) error {
					return runToken(ctx, "revoke", args, c.environ, c.stdout)
				}},
		}},
		{name: "secret", usage: "secret COMMAND", summary: "the key that seals stored secrets", sub: []*command{
			{name: "rotate", usage: "secret rotate [--keep-old]", summary: "re-seal every stored secret with a new key (back up the data folder first)",
				run: func(ctx context.Context, c *cli, args []string) error {
					return runSecretRotate(ctx, args, c.environ, c.stdout)
				}},
		}},
		{name: "admin", usage: "admin COMMAND", summary: "the web UI's administrator", sub: []*command{
			{name: "set-password", usage: "admin set-password", summary: "set the web UI's admin password (read from standard input, or asked for on a terminal)",
				run: func(ctx context.Context, c *cli, args []string) error {
					return runAdmin(ctx, args, c.environ, c.stdin, c.stdout, c.stderr)
				}},
		}},
		{name: "apply", usage: "apply -f FILE [--dry-run]", summary: "create or update sites, services, rules and sync jobs from a YAML file",
			run: func(ctx context.Context, c *cli, args []string) error {
				return runApply(ctx, args, c.environ, c.stdout)
			}},
		{name: "sync", usage: "sync COMMAND", summary: "course and enrolment sync jobs", sub: []*command{
			{name: "list", usage: "sync list", summary: "list the course sync jobs and their last runs",
				run: func(ctx context.Context, c *cli, args []string) error {
					return runSyncList(ctx, args, c.environ, c.stdout)
				}},
			{name: "run", usage: "sync run JOB [--dry-run] [--csv FILE] [--limit N]", summary: "plan (and apply) a course sync job now, missing users to a CSV",
				run: func(ctx context.Context, c *cli, args []string) error {
					return runSyncRun(ctx, args, c.environ, c.stdout, c.stderr)
				}},
		}},
		{name: "dlq", usage: "dlq COMMAND", summary: "the dead-letter queue: deliveries that will not be retried", sub: []*command{
			{name: "list", usage: "dlq list [--service S] [--rule N] [--limit N] [ID…]", summary: "list dead deliveries",
				run: func(ctx context.Context, c *cli, args []string) error {
					return runDLQ(ctx, "list", args, c.environ, c.stdout)
				}},
			{name: "replay", usage: "dlq replay ID… | --all [--service S] [--rule N]", summary: "queue dead deliveries again (re-rendered from their event)",
				run: func(ctx context.Context, c *cli, args []string) error {
					return runDLQ(ctx, "replay", args, c.environ, c.stdout)
				}},
			{name: "delete", usage: "dlq delete ID… | --all [--service S] [--rule N]", summary: "delete dead deliveries",
				run: func(ctx context.Context, c *cli, args []string) error {
					return runDLQ(ctx, "delete", args, c.environ, c.stdout)
				}},
		}},
		{name: "backup", usage: "backup FILE", summary: "copy the embedded SQLite store to FILE, consistently, while the hub runs",
			run: runBackup},
		{name: "restore", usage: "restore FILE [--force]", summary: "restore a backup into a data folder no hub is running on",
			run: runRestore},
		{name: "bench", usage: "bench [--events N] [--batch N] [--rate R] [--database URL]", summary: "measure ingest → delivery throughput and latency",
			run: func(ctx context.Context, c *cli, args []string) error {
				return runBench(ctx, args, c.environ, c.stdout)
			}},
		{name: "bench-capture", usage: "bench-capture --moodle-url URL --moodle-token T --moodle-db DSN", summary: "measure a real Moodle's capture latency (tailer, HTTP) and idle cost",
			run: func(ctx context.Context, c *cli, args []string) error {
				return runBenchCapture(ctx, args, c.environ, c.stdout)
			}},
		{name: "version", usage: "version", summary: "print the version, commit, build date and Go version",
			run: runVersion},
	}
}

// helpError is returned by a command asked for --help: its usage goes to standard output and
// mih exits 0.
type helpError struct{ fs *pflag.FlagSet }

func (helpError) Error() string { return "help requested" }

// dispatch finds the command args name and runs it.
func dispatch(ctx context.Context, c *cli, args []string) error {
	tree := commandTree()
	path := []string{}
	for {
		if len(args) == 0 {
			return usageError{groupUsage(path, tree)}
		}
		name := args[0]
		if isHelp(name) {
			fmt.Fprint(c.stdout, groupUsage(path, tree))
			return nil
		}
		if name == "help" && len(path) == 0 {
			// `mih help dlq replay` is `mih dlq replay --help`.
			return dispatch(ctx, c, append(args[1:], "--help"))
		}
		if name == "--version" && len(path) == 0 {
			name = "version"
		}
		cmd := find(tree, name)
		if cmd == nil {
			return usageError{unknown(path, name, tree)}
		}
		path = append(path, cmd.name)
		args = args[1:]
		if cmd.sub == nil {
			err := cmd.run(ctx, c, args)
			if he, ok := errors.AsType[helpError](err); ok {
				fmt.Fprint(c.stdout, commandHelp(cmd, he.fs))
				return nil
			}
			return err
		}
		tree = cmd.sub
	}
}

func isHelp(arg string) bool { return arg == "-h" || arg == "--help" }

func find(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

// unknown says a command does not exist and, when one is close, which was meant.
func unknown(path []string, name string, cmds []*command) string {
	what := "command"
	if len(path) > 0 {
		what = strings.Join(path, " ") + " command"
	}
	msg := fmt.Sprintf("unknown %s %q", what, name)
	if strings.HasPrefix(name, "-") && len(path) == 0 {
		msg = fmt.Sprintf("%q is a flag: give a command first", name)
	}
	best, bestDist := "", 3
	for _, c := range cmds {
		d := editDistance(name, c.name)
		if strings.HasPrefix(c.name, name) && len(name) >= 2 {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = c.name, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf("; did you mean %q?", strings.TrimSpace(strings.Join(path, " ")+" "+best))
	} else {
		var names []string
		for _, c := range cmds {
			names = append(names, c.name)
		}
		msg += " (commands: " + strings.Join(names, ", ") + ")"
	}
	return msg
}

// editDistance is the Levenshtein distance between a and b, over bytes (command names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

const usageFooter = `
Run 'mih COMMAND --help' for the flags of a command. Every flag is also an environment
variable (MIH_LISTEN for --listen) and a key of the --config YAML file (listen:).
`

// groupUsage lists the commands of a group (the top level when path is empty).
func groupUsage(path []string, cmds []*command) string {
	var b strings.Builder
	if len(path) == 0 {
		b.WriteString("mih — Integration Hub for Moodle\n\nUsage:\n")
	} else {
		fmt.Fprintf(&b, "Usage: mih %s COMMAND\n\nCommands:\n", strings.Join(path, " "))
	}
	for _, c := range cmds {
		line := "  mih " + c.usage
		if c.sub != nil {
			for _, s := range c.sub {
				writeUsageLine(&b, "  mih "+s.usage, s.summary)
			}
			continue
		}
		writeUsageLine(&b, line, c.summary)
	}
	if len(path) == 0 {
		b.WriteString(usageFooter)
	} else {
		fmt.Fprintf(&b, "\nRun 'mih %s COMMAND --help' for the flags of a command.\n", strings.Join(path, " "))
	}
	return b.String()
}

func writeUsageLine(b *strings.Builder, line, summary string) {
	if len(line) < 36 {
		fmt.Fprintf(b, "%-36s%s\n", line, summary)
		return
	}
	fmt.Fprintf(b, "%s\n%36s%s\n", line, "", summary)
}

// commandHelp is the --help of a command that runs: its synopsis, what it does, its flags.
func commandHelp(cmd *command, fs *pflag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: mih %s\n\n%s.\n", cmd.usage, upperFirst(cmd.summary))
	if fs != nil && fs.HasFlags() {
		fmt.Fprintf(&b, "\nFlags:\n%s", fs.FlagUsages())
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// parseFlags parses a command's flags. --help is a helpError (the caller prints the usage); a
// wrong flag is a usage error. pflag itself prints nothing: mih says what went wrong once.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return helpError{fs}
		}
		return usageError{err.Error()}
	}
	return nil
}
