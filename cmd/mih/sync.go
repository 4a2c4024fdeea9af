package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/breaker"
	"github.com/mihhub/mih/coursesync"
	"github.com/mihhub/mih/coursesync/moodledb"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/transport/rest"
)

// runSyncRun runs `mih sync run`: a job now, in this process, under the job's lease (a `mih serve`
// running the same job makes it wait its turn: exit 1), with its run recorded like the others.
func runSyncRun(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("sync run", pflag.ContinueOnError)
	storeFlags(fs)
	dry := fs.Bool("dry-run", false, "plan only: show what would change, change nothing")
	csvPath := fs.String("csv", "", "write the missing-users report (username,course_shortname,role) to this file")
	limit := fs.Int("limit", 50, "show at most this many items of each list of the plan (0: all)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"usage: mih sync run JOB [--dry-run] [--csv FILE] [--limit N]"}
	}
	name := fs.Arg(0)
	cfg, err := loadConfig(fs, environ)
	if err != nil {
		return usageError{err.Error()}
	}
	st, err := openStore(ctx, cfg, discardLogger())
	if err != nil {
		return err
	}
	defer st.Close()

	// The same gateway as `mih serve`: the service's auth, timeout and retries, and the circuit
	// breaker shared through the store.
	logger := cliLogger(cfg, stderr)
	host, _ := os.Hostname()
	owner := fmt.Sprintf("cli:%s:%d:%d", host, os.Getpid(), time.Now().UnixNano())
	// A circuit this run closes resumes its service's paused deliveries, as in `mih serve`.
	circuits := breaker.New(st, breaker.Options{Owner: owner, Logger: logger, Ledger: ops.NewLedger(st, nil, nil)})
	if err := circuits.Sync(ctx); err != nil {
		return fmt.Errorf("load circuits: %w", err)
	}
	tr := rest.New(rest.Options{Version: Version, MaxResponseBody: coursesync.DefaultMaxSourceBytes + 1})
	defer tr.Close()
	gw := gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{Guard: circuits, Logger: logger})
	runner := coursesync.New(coursesync.Config{Store: st, Gateway: gw, Runner: owner, Logger: logger, Database: openMoodleDB})

	kind := mih.SyncApply
	if *dry {
		kind = mih.SyncPlanOnly
	}
	bar := newProgress(stderr)
	run, err := runner.Run(ctx, coursesync.RunRequest{Job: name, Kind: kind, Trigger: mih.TriggerCLI, Progress: bar.update})
	bar.finish()
	if err != nil {
		return err
	}
	printRun(stdout, run, *limit)
	if *csvPath != "" && run.Plan != nil {
		b := run.MissingCSV
		if len(b) == 0 {
			b = coursesync.MissingCSV(nil)
		}
		if err := os.WriteFile(*csvPath, b, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", *csvPath, err)
		}
		fmt.Fprintf(stdout, "Missing users written to %s (%d).\n", *csvPath, run.Counts.MissingUsers)
	}
	switch run.Status {
	case mih.SyncFailed:
		// A failed run is exit 1 whatever its cause; exit 2 is for a wrong command line.
		return fmt.Errorf("run %d failed: %s", run.ID, run.Error)
	case mih.SyncPartial:
		return fmt.Errorf("run %d: %d change(s) failed, the rest went through", run.ID, run.Counts.Failed)
	}
	return nil
}

// cliLogger logs warnings and worse unless the configuration asks for less: the output is
// the report.
func cliLogger(cfg *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: max(level, slog.LevelWarn)}))
}

func runSyncList(ctx context.Context, args, environ []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("sync list", pflag.ContinueOnError)
	storeFlags(fs)
	if err := parseFlags(fs, args); err != nil {
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
	jobs, err := st.FindSyncJobs(ctx)
	if err != nil {
		return fmt.Errorf("list sync jobs: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSITE\tSOURCE\tSCHEDULE\tREMOVAL\tENABLED\tLAST RUN")
	for _, j := range jobs {
		last := "-"
		runs, _, err := st.FindSyncRuns(ctx, mih.SyncRunFilter{Job: j.Name, Limit: 1})
		if err != nil {
			return fmt.Errorf("list sync runs: %w", err)
		}
		if len(runs) > 0 {
			r := runs[0]
			last = fmt.Sprintf("#%d %s %s %s", r.ID, r.Kind, r.Status, r.CreatedAt.Local().Format(time.DateTime))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%s\t%s\t%s\t%v\t%s\n", j.Name, j.Site, j.SourceService, j.SourcePath,
			cmp.Or(j.Schedule, "-"), j.Removal, j.Enabled, last)
	}
	return tw.Flush()
}

// printRun writes a run's plan and outcome for a person to read.
func printRun(w io.Writer, run *mih.SyncRun, limit int) {
	what := map[mih.SyncRunKind]string{mih.SyncPlanOnly: "plan (dry run, nothing changed)", mih.SyncApply: "apply"}[run.Kind]
	fmt.Fprintf(w, "Sync job %s, run %d: %s\n", run.Job, run.ID, what)
	c := run.Counts
	if run.Plan == nil {
		fmt.Fprintf(w, "Status: %s: %s\n", run.Status, run.Error)
		return
	}
	p := run.Plan
	fmt.Fprintf(w, "Source: %d course(s), %d participant(s)\n", c.SourceCourses, c.SourceParticipants)
	section := func(title string, n int, line func(i int) string) {
		if n == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s (%d):\n", title, n)
		shown := n
		if limit > 0 {
			shown = min(n, limit)
		}
		for i := range shown {
			fmt.Fprintf(w, "  %s\n", line(i))
		}
		if shown < n {
			fmt.Fprintf(w, "  … and %d more (the whole list: mih sync run --limit 0, or the API)\n", n-shown)
		}
	}
	section("Courses to create", len(p.Create), func(i int) string {
		x := p.Create[i]
		return fmt.Sprintf("%s  %q  category %d", x.ShortName, x.FullName, x.CategoryID)
	})
	section("Courses to update", len(p.Update), func(i int) string {
		x := p.Update[i]
		var ch []string
		for _, f := range x.Changes {
			ch = append(ch, fmt.Sprintf("%s %v → %v", f.Field, quoteString(f.From), quoteString(f.To)))
		}
		return fmt.Sprintf("%s: %s", x.ShortName, strings.Join(ch, "; "))
	})
	enrol := func(list []mih.SyncEnrolment) func(int) string {
		return func(i int) string { return fmt.Sprintf("%s  %s  %s", list[i].Course, list[i].User, list[i].Role) }
	}
	section("Enrolments to add", len(p.Enrol), enrol(p.Enrol))
	section("Enrolments to reactivate", len(p.Reactivate), enrol(p.Reactivate))
	section("Role changes", len(p.RoleChanges), func(i int) string {
		x := p.RoleChanges[i]
		var ch []string
		for _, r := range x.Add {
			ch = append(ch, "+"+r.ShortName)
		}
		for _, r := range x.Remove {
			ch = append(ch, "-"+r.ShortName)
		}
		return fmt.Sprintf("%s  %s  %s", x.Course, x.User, strings.Join(ch, " "))
	})
	section("Enrolments to suspend", len(p.Suspend), enrol(p.Suspend))
	section("Enrolments to remove", len(p.Unenrol), enrol(p.Unenrol))
	section("Missing users (no Moodle account)", len(p.Missing), func(i int) string {
		return fmt.Sprintf("%s  in %s  as %s", p.Missing[i].User, p.Missing[i].Course, p.Missing[i].Role)
	})
	section("Unknown role names (given the default role)", len(p.UnknownRole), func(i int) string {
		x := p.UnknownRole[i]
		return fmt.Sprintf("%q ×%d → %s (first: %s in %s)", x.Name, x.Count, x.MappedTo, x.User, x.Course)
	})
	section("Source items left out", len(p.Invalid), func(i int) string {
		x := p.Invalid[i]
		where := fmt.Sprintf("#%d", x.Index)
		if x.Course != "" {
			where += " " + x.Course
		}
		if x.User != "" {
			where += " " + x.User
		}
		return where + ": " + x.Reason
	})
	section("Warnings", len(p.Warnings), func(i int) string { return p.Warnings[i] })
	if p.RemovalsRefused != "" {
		fmt.Fprintf(w, "\nRemovals refused: %s\n", p.RemovalsRefused)
	}
	fmt.Fprintln(w)
	if c.Planned.Total() == 0 {
		fmt.Fprintln(w, "Nothing to change: Moodle is in line with the source.")
	} else {
		fmt.Fprintf(w, "Plan: %s (fingerprint %s)\n", countsText(c.Planned, false), p.Fingerprint)
	}
	if run.Kind == mih.SyncApply && c.Planned.Total() > 0 {
		fmt.Fprintf(w, "Applied: %s\n", countsText(c.Applied, true))
	}
	section("Failed", len(run.Errors), func(i int) string {
		x := run.Errors[i]
		return fmt.Sprintf("%s %s %s: %s (%s)", x.Action, x.Course, x.User, x.Message, x.Code)
	})
	if run.Error != "" {
		fmt.Fprintf(w, "Stopped: %s\n", run.Error)
	}
	fmt.Fprintf(w, "Status: %s\n", run.Status)
}

func quoteString(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// countsText sums counts up, as done (applied) or to do.
func countsText(c mih.SyncActionCounts, applied bool) string {
	var parts []string
	for _, x := range []struct {
		n        int
		done, to string
	}{
		{c.Create, "course(s) created", "course(s) to create"}, {c.Update, "updated", "to update"},
		{c.Enrol, "enrolment(s) added", "enrolment(s) to add"}, {c.Reactivate, "reactivated", "to reactivate"},
		{c.RoleChanges, "role change(s)", "role change(s)"}, {c.Suspend, "suspended", "to suspend"},
		{c.Unenrol, "removed", "to remove"},
	} {
		if x.n > 0 {
			what := x.to
			if applied {
				what = x.done
			}
			parts = append(parts, fmt.Sprintf("%d %s", x.n, what))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// progress shows a run's progress on standard error: on a terminal a bar redrawn in place; on a
// pipe or in a log (cron, systemd) a line when a phase ends and, while a phase goes on, a line
// at least every interval (10 s), with the counts, the rate and an estimate of the time left.
type progress struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	now      func() time.Time

	mu         sync.Mutex
	last       mih.SyncProgress
	drawn      time.Time // the bar's last drawing, or the last line written
	phaseStart time.Time

	stop chan struct{}
	done chan struct{}
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, interval: 10 * time.Second, now: time.Now}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	if !p.tty {
		p.start()
	}
	return p
}

// start writes a line every interval while nothing else was written, so that a log shows the
// run is alive through a long phase or a slow call.
func (p *progress) start() {
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		t := time.NewTicker(p.interval / 4)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			p.mu.Lock()
			if p.last.Phase != "" && p.clock().Sub(p.drawn) >= p.interval {
				p.line(p.last)
			}
			p.mu.Unlock()
		}
	}()
}

func (p *progress) clock() time.Time {
	if p.now == nil {
		return time.Now()
	}
	return p.now()
}

func (p *progress) update(s mih.SyncProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock()
	if s.Phase != p.last.Phase {
		if !p.tty && p.last.Phase != "" {
			p.line(p.last)
		}
		p.phaseStart = now
	}
	p.last = s
	if !p.tty {
		return
	}
	if now.Sub(p.drawn) < 100*time.Millisecond && s.Done != s.Total {
		return
	}
	p.drawn = now
	const width = 30
	fill := width
	if s.Total > 0 {
		fill = width * s.Done / s.Total
	}
	fmt.Fprintf(p.w, "\r\033[K%-10s [%s%s] %d/%d%s", s.Phase, strings.Repeat("#", fill), strings.Repeat(".", width-fill), s.Done, s.Total, p.pace(s))
}

// pace is the phase's rate and the time it still needs, once there is something to tell.
func (p *progress) pace(s mih.SyncProgress) string {
	elapsed := p.clock().Sub(p.phaseStart)
	if s.Done == 0 || s.Done >= s.Total || elapsed < time.Second {
		return ""
	}
	rate := float64(s.Done) / elapsed.Seconds()
	left := time.Duration(float64(s.Total-s.Done) / rate * float64(time.Second))
	return fmt.Sprintf("  %.1f/s  about %s left", rate, left.Round(time.Second))
}

func (p *progress) line(s mih.SyncProgress) {
	p.drawn = p.clock()
	fmt.Fprintf(p.w, "%-10s %d/%d%s\n", s.Phase, s.Done, s.Total, p.pace(s))
}

func (p *progress) finish() {
	if p.stop != nil {
		close(p.stop)
		<-p.done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.tty:
		fmt.Fprint(p.w, "\r\033[K")
	case p.last.Phase != "":
		p.line(p.last)
	}
}

// openMoodleDB opens a site's database for the planner's reads (sites with a db URL).
func openMoodleDB(site *mih.Site) (coursesync.MoodleDB, error) {
	c, err := moodledb.Open(site.DB)
	if err != nil {
		return nil, err
	}
	return coursesync.NewMoodleDB(c.DB, c.Postgres, site.Prefix, c.Password), nil
}
