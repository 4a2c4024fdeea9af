// Package tailer tails a Moodle site's standard log table ({prefix}logstore_standard_log) and
// hands its rows to the ingest pipeline as events, so a site needs no plugin to feed the hub.
//
// A Tailer reads rows by id, WHERE id > cursor ORDER BY id LIMIT n, turns each into a mih.Event
// with the id logstore:<site>:<row id> and source "logstore", passes them to its Sink in batches,
// and only then saves the cursor in the hub's meta store. Delivery is at least once and never
// lossy: a crash between the sink and the cursor write reads the batch again, and the store drops
// the events it already has by id.
//
// # Rows that commit out of id order
//
// Moodle writes its buffered log rows at the end of each request; two requests can take ids 10
// and 11 and commit 11 first. A reader that moved its cursor past 11 would never see 10. The
// tailer therefore remembers every id it skipped over (a gap) and re-reads only those ids, by
// primary key, on each poll, until the row shows up or the gap is older than Config.GapTimeout
// (5 minutes by default). Ids that never show up are normal: a rolled-back insert, a PostgreSQL
// sequence that skipped ahead after a crash, MySQL's auto-increment after a failed insert. The
// gaps are saved with the cursor, so a restart keeps waiting for them, and a gap is given up only
// by a check that began after its deadline: a row is caught if it commits within GapTimeout of
// being missed, even while the tailer was stopped.
//
// Bounds: at most Config.MaxGaps ids (10,000 by default) are awaited at once, the oldest given up
// first with a warning; a hole wider than that (a sequence that jumped) is tracked by its newest
// ids only. The re-check costs one primary-key lookup per awaited id per poll, in statements of
// up to 1,000 ids. A Galera cluster whose ids advance by the node count leaves (step - 1)
// permanent gaps per row written on one node: lower GapTimeout for such a site.
//
// # Polling
//
// The tailer polls adaptively: after a poll that found rows it looks again after PollMin (10 ms),
// and each empty poll doubles the wait up to PollInterval (100 ms), so a row committed while the
// site is busy is read within a few tens of milliseconds and one committed after a quiet spell
// within PollInterval. An empty poll is one primary-key probe, WHERE id > cursor ORDER BY id
// LIMIT n, that finds nothing: an idle site costs 10 such queries a second, plus MAX(id) for the
// status every StatusEvery. Missing ids are re-read on every poll while they are young (a row
// of a request that commits a moment later) and once a second after that.
//
// # Starting point
//
// With no saved state (or after ResetPosition), Config.Start says where to begin: "latest" (the
// default) reads the rows logged since Config.StartAt, the moment the site was saved (timecreated
// from one second before it, to absorb Moodle's whole seconds and a little clock difference), or
// from the first start without StartAt; "beginning" the whole table; a number N the rows from id
// N on. Rows below the starting point that were not committed yet are awaited too: below the
// first row for "beginning", among the 1,000 ids below the starting point for "latest". The
// state, once saved, wins over Start while the site's tail_from stays what it was set from; it is
// also tied to the database it was taken from: a site pointed at another database, or given
// another tail_from, starts again from Start.
//
// # Status
//
// Status is kept in the hub's store too (key tail_status:<site>), written when it changes, at
// most once a second, and every StatusEvery while nothing changes, so that every process sharing
// the store can show it, not only the one whose tailer runs.
//
// # Failures
//
// A database that goes away (restart, refused connection, failed query, lost privilege) or a sink
// that fails is logged, without the URL's password, and retried with a capped exponential wait;
// the cursor moves only after a batch was accepted, so nothing is skipped. The tailer needs
// SELECT on the log table and nothing else.
package tailer

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle/sitedb"
	"github.com/mihhub/mih/redact"
)

// Source is the ingest source of the tailer's events.
const Source = "logstore"

// Database kinds.
const (
	Postgres = sitedb.Postgres
	MySQL    = sitedb.MySQL // MySQL and MariaDB
)

// Defaults of Config.
const (
	DefaultPrefix       = "mdl_"
	DefaultPollInterval = 100 * time.Millisecond
	DefaultPollMin      = 10 * time.Millisecond
	DefaultStatusEvery  = 5 * time.Second
	DefaultBatchSize    = 1000
	DefaultGapTimeout   = 5 * time.Minute
	DefaultMaxGaps      = 10000
	DefaultQueryTimeout = 30 * time.Second
	DefaultRetryMin     = time.Second
	DefaultRetryMax     = 30 * time.Second
	// MaxBatchSize is the ingest pipeline's limit on one call.
	MaxBatchSize = 10000
	// recheckChunk bounds the ids of one re-check statement.
	recheckChunk = 1000
	// startWindow is how far below the latest row a first start looks for ids not committed yet.
	startWindow = 1000
	// youngGap is how long a missing id is re-read on every poll; after that, once a second.
	youngGap = 2 * time.Second
	// recheckEvery is how often older missing ids are re-read.
	recheckEvery = time.Second
	// startSkew is how far before StartAt "latest" reads rows: Moodle's timecreated is in whole
	// seconds, and the web server's clock may be a little behind the hub's.
	startSkew = time.Second
)

// Start positions.
const (
	StartLatest    = "latest"
	StartBeginning = "beginning"
)

// Sink takes the events; *event.Ingester is one. It must have stored the events durably when it
// returns nil: only then does the tailer move its cursor.
type Sink interface {
	Ingest(ctx context.Context, source, site string, events []*mih.Event) (mih.IngestResult, error)
}

// Config configures a Tailer. Zero values take the defaults.
type Config struct {
	// Site is the site's name: it goes into every event's site and the event ids.
	Site string
	// DSN is the site database's URL: postgres://… (or postgresql://…) or
	// mysql://user:pass@host:port/db?params (MySQL and MariaDB).
	DSN string
	// Prefix is Moodle's table prefix ($CFG->prefix), "mdl_" by default.
	Prefix string
	// PollInterval is the longest wait between polls, reached after a few empty ones (default
	// 100 ms); PollMin is the wait after a poll that found rows (default 10 ms, at most
	// PollInterval). See the package comment.
	PollInterval time.Duration
	PollMin      time.Duration
	// StatusEvery is how often an idle tailer refreshes MaxID and saves its status in the store
	// (default 5 s).
	StatusEvery time.Duration
	// BatchSize is the most rows read and ingested at once (at most MaxBatchSize).
	BatchSize int
	// Start is "latest", "beginning" or an id to start from, used when no state is saved.
	Start string
	// StartAt is when "latest" was chosen: the time the site was saved. Zero means the moment
	// the tailer first runs.
	StartAt time.Time
	// Process names the process running the tailer in the status kept in the store.
	Process string
	// GapTimeout is how long a missing id is awaited (see the package comment).
	GapTimeout time.Duration
	// MaxGaps bounds the missing ids awaited at once.
	MaxGaps int
	// QueryTimeout bounds each query on the site database.
	QueryTimeout time.Duration
	// RetryMin and RetryMax bound the wait after a failure, which doubles from RetryMin up to
	// RetryMax (with ±20 % jitter) while failures go on.
	RetryMin, RetryMax time.Duration
	Logger             *slog.Logger
	Now                func() time.Time
}

// Status is what the API and the UI show of a tailer.
type Status = mih.TailStatus

// Tailer tails one site's log table. Several run side by side, one per site, sharing nothing.
type Tailer struct {
	cfg    Config
	db     *sitedb.DB
	table  string
	state  mih.MetaStore
	sink   Sink
	logger *slog.Logger
	now    func() time.Time

	running atomic.Bool
	queries atomic.Int64 // statements run on the site's database
	mu      sync.Mutex
	status  Status

	// Owned by the goroutine in Run.
	pos         position
	start       string // the tail_from pos was set from
	belowWarned bool
	rechecked   time.Time // when the gaps were last re-read
	maxRead     time.Time // when MaxID was last read
	published   time.Time // when the status was last saved in the store
	dirty       bool      // the status changed since it was saved
}

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,29}$`)

// New checks cfg and returns a Tailer; it does not connect yet (Run does). Errors are
// CodeInvalid and never contain the DSN's password.
func New(cfg Config, state mih.MetaStore, sink Sink) (*Tailer, error) {
	if state == nil || sink == nil {
		return nil, mih.Errorf(mih.CodeInvalid, "logstore tailer of site %q: a state store and a sink are required", cfg.Site)
	}
	db, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	t := &Tailer{
		cfg: cfg, db: db, table: cfg.Prefix + "logstore_standard_log", state: state, sink: sink,
		logger: cfg.Logger.With("site", cfg.Site, "db", db.Redacted), now: cfg.Now,
	}
	t.status = Status{Site: cfg.Site, DB: db.Redacted, Process: cfg.Process}
	return t, nil
}

// Validate checks a configuration as New does, without building a tailer: for a site registry
// to refuse a bad db URL, prefix or tail_from when the site is saved. Errors are CodeInvalid and
// never contain the password.
func (c Config) Validate() error {
	_, err := c.normalize()
	return err
}

// normalize applies the defaults to c and checks it.
func (c *Config) normalize() (*sitedb.DB, error) {
	if c.Site == "" || len(c.Site) > 100 {
		return nil, mih.Errorf(mih.CodeInvalid, "site: want a name of 1 to 100 characters")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	// Moodle's installer takes lowercase letters, digits and underscores; the prefix is written
	// into SQL, so nothing else is let through.
	if !prefixRE.MatchString(c.Prefix) {
		return nil, mih.Errorf(mih.CodeInvalid, "prefix %q: want lowercase letters, digits and underscores, starting with a letter", c.Prefix)
	}
	if c.Start == "" {
		c.Start = StartLatest
	}
	if c.Start != StartLatest && c.Start != StartBeginning {
		if n, err := strconv.ParseInt(c.Start, 10, 64); err != nil || n < 1 {
			return nil, mih.Errorf(mih.CodeInvalid, "tail_from %q: want latest, beginning or a log id", c.Start)
		}
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatchSize {
		return nil, mih.Errorf(mih.CodeInvalid, "batch size %d: want 1 to %d", c.BatchSize, MaxBatchSize)
	}
	if c.MaxGaps == 0 {
		c.MaxGaps = DefaultMaxGaps
	}
	if c.MaxGaps < 1 {
		return nil, mih.Errorf(mih.CodeInvalid, "max gaps %d: want at least 1", c.MaxGaps)
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.PollInterval, DefaultPollInterval}, {&c.PollMin, DefaultPollMin}, {&c.StatusEvery, DefaultStatusEvery},
		{&c.GapTimeout, DefaultGapTimeout},
		{&c.QueryTimeout, DefaultQueryTimeout}, {&c.RetryMin, DefaultRetryMin}, {&c.RetryMax, DefaultRetryMax},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 {
			return nil, mih.Errorf(mih.CodeInvalid, "logstore tailer of site %q: negative duration %s", c.Site, *d.v)
		}
	}
	c.RetryMax = max(c.RetryMax, c.RetryMin)
	c.PollMin = min(c.PollMin, c.PollInterval)
	if c.DSN == "" {
		return nil, mih.Errorf(mih.CodeInvalid, "db: required to tail the log store")
	}
	db, err := sitedb.Parse(c.DSN, "mih-logstore")
	if err != nil {
		return nil, err
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return db, nil
}

// ResetPosition forgets a site's saved position, so that its next tailer starts again from
// Config.Start (after an admin changed tail_from, or pointed the site at a restored database).
// Call it while the site's tailer is stopped: a running one would save its position again.
func ResetPosition(ctx context.Context, state mih.MetaStore, site string) error {
	// The meta store has no delete; an empty value reads as no position.
	if err := state.SetMeta(ctx, stateKey(site), ""); err != nil {
		return fmt.Errorf("reset the log store position of site %q: %w", site, err)
	}
	return nil
}

// Status returns the tailer's current status; safe to call from any goroutine.
func (t *Tailer) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.status
	s.Running = t.running.Load()
	s.Queries = t.queries.Load()
	return s
}

// Run tails the log table until ctx is done, then returns nil. Failures are retried, not
// returned (Status and the log show them); the only error is a Tailer already running.
func (t *Tailer) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return mih.Errorf(mih.CodeConflict, "the log store tailer of site %q is already running", t.cfg.Site)
	}
	defer t.running.Store(false)
	db := sql.OpenDB(t.db.Connector)
	defer db.Close()
	// A poll runs one statement at a time; a second connection covers a broken first one.
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	db.SetConnMaxLifetime(30 * time.Minute)
	src := newSource(db, t.db.Kind, t.table, t.cfg.Site, t.cfg.QueryTimeout, &t.queries)

	t.logger.Info("log store tailer started", "table", t.table)
	defer t.unpublish()
	loaded := false
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	idle := t.cfg.PollMin
	for {
		var err error
		more, found := false, false
		if !loaded {
			err = t.load(ctx, src)
			loaded = err == nil
		}
		if err == nil {
			more, found, err = t.poll(ctx, src)
		}
		if ctx.Err() != nil {
			t.logger.Info("log store tailer stopped", "cursor", t.pos.cursor, "gaps", len(t.pos.gaps))
			return nil
		}
		// Rows come in bursts (a Moodle request logs several, a busy site many): look again soon
		// after some came, and back off toward PollInterval while none do.
		if found {
			idle = t.cfg.PollMin
		} else {
			idle = min(2*idle, t.cfg.PollInterval)
		}
		wait := idle
		if err != nil {
			failures++
			wait = retryWait(failures, t.cfg.RetryMin, t.cfg.RetryMax)
			t.failed(err, failures, wait)
			t.publish(ctx, true)
		} else {
			if failures > 0 {
				t.logger.Info("log store reachable again", "failures", failures)
				t.dirty = true
			}
			failures = 0
			t.publish(ctx, false)
			if more {
				continue
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			t.logger.Info("log store tailer stopped", "cursor", t.pos.cursor, "gaps", len(t.pos.gaps))
			return nil
		case <-timer.C:
		}
	}
}

// retryWait is the wait after the n-th failure in a row: lo doubling up to hi, ±20 % jitter.
func retryWait(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// failed records and logs a failure, its text scrubbed of the database password.
func (t *Tailer) failed(err error, failures int, wait time.Duration) {
	msg := redact.Password(err.Error(), t.db.Password)
	t.mu.Lock()
	t.status.Failures = failures
	t.status.LastError = msg
	t.status.LastErrorAt = t.now().UTC()
	t.mu.Unlock()
	t.logger.Warn("log store tailer failed; retrying", "err", msg, "failures", failures, "retry_in", wait.Round(time.Millisecond))
}

// load restores the saved position, or sets the first one from Config.Start and saves it at
// once, so that "latest" means the moment the site was first tailed, not each restart.
func (t *Tailer) load(ctx context.Context, src *source) error {
	key := stateKey(t.cfg.Site)
	saved, err := t.state.GetMeta(ctx, key)
	switch {
	case err == nil && saved == "": // reset
	case err == nil:
		st, pos, perr := unmarshalPosition(saved, t.cfg.MaxGaps)
		switch {
		case perr != nil:
			// A state we cannot read is not guessed at: starting over could skip or repeat a
			// whole table. It needs a person (fix or delete the meta entry).
			return mih.WrapError(mih.CodeInternal, perr, "the saved position of site %q cannot be read", t.cfg.Site)
		case st.Source != t.db.Source:
			t.logger.Warn("saved position belongs to another database; starting again", "saved_source", st.Source,
				"source", t.db.Source, "start", t.cfg.Start)
		case st.Start != "" && st.Start != t.cfg.Start:
			t.logger.Info("tail_from changed; starting again", "saved_start", st.Start, "start", t.cfg.Start)
		default:
			t.start = cmp.Or(st.Start, t.cfg.Start)
			t.pos = pos
			t.logger.Info("log store position restored", "cursor", pos.cursor, "gaps", len(pos.gaps))
			t.report(func(s *Status) { s.Cursor, s.Gaps = pos.cursor, len(pos.gaps) })
			return nil
		}
	case mih.ErrorCode(err) == mih.CodeNotFound:
	default:
		return fmt.Errorf("read the saved position: %w", err)
	}
	// Ids below the starting point may still be uncommitted: they are awaited as gaps like any
	// other. From the beginning, that is every id below the first row (bounded by MaxGaps, the
	// newest kept: old ids missing there were pruned); from the latest row, the ids missing among
	// the last startWindow below it.
	t.pos = position{}
	t.start = t.cfg.Start
	switch t.cfg.Start {
	case StartLatest:
		top, ok, err := src.maxID(ctx)
		if err != nil {
			return err
		}
		if ok && !t.cfg.StartAt.IsZero() {
			// The rows logged since the site was saved are read even though the tailer starts
			// later: the row before the first of them is the top.
			first, found, err := src.firstSince(ctx, t.cfg.StartAt.Add(-startSkew).Unix())
			if err != nil {
				return err
			}
			if found {
				top = first - 1
			}
		}
		if ok {
			lo := max(0, top-startWindow)
			ids, err := src.ids(ctx, lo, top)
			if err != nil {
				return err
			}
			t.pos.cursor = lo
			gaps, _ := t.pos.holes(ids, t.now(), t.cfg.MaxGaps)
			t.pos.advance(top, gaps, t.cfg.MaxGaps)
		}
	case StartBeginning:
	default:
		n, _ := strconv.ParseInt(t.cfg.Start, 10, 64)
		t.pos.cursor = n - 1
	}
	cursor := t.pos.cursor
	if err := t.save(ctx); err != nil {
		return err
	}
	t.logger.Info("log store position set", "start", t.cfg.Start, "cursor", cursor)
	t.report(func(s *Status) { s.Cursor, s.Gaps = cursor, len(t.pos.gaps) })
	return nil
}

func (t *Tailer) save(ctx context.Context) error {
	v, err := t.pos.marshal(t.db.Source, t.start)
	if err != nil {
		return fmt.Errorf("save the position: %w", err)
	}
	if err := t.state.SetMeta(ctx, stateKey(t.cfg.Site), v); err != nil {
		return fmt.Errorf("save the position: %w", err)
	}
	return nil
}

func (t *Tailer) report(f func(*Status)) {
	t.mu.Lock()
	f(&t.status)
	t.mu.Unlock()
}

// statusKey is the meta key of a site's tailer status.
func statusKey(site string) string { return "tail_status:" + site }

// publish saves the status in the store when it changed (at most once a second, at once when
// now is true) or every StatusEvery, so that every process can show it.
func (t *Tailer) publish(ctx context.Context, now bool) {
	at := t.now()
	since := at.Sub(t.published)
	if !now && !(t.dirty && since >= time.Second) && since < t.cfg.StatusEvery {
		return
	}
	t.mu.Lock()
	t.status.SavedAt = at.UTC()
	st := t.status
	t.mu.Unlock()
	st.Running, st.Queries = true, t.queries.Load()
	t.published, t.dirty = at, false
	b, err := json.Marshal(st)
	if err == nil {
		err = t.state.SetMeta(ctx, statusKey(t.cfg.Site), string(b))
	}
	if err != nil && ctx.Err() == nil {
		t.logger.Warn("log store tailer: cannot save its status", "err", err)
	}
}

// unpublish saves the status as stopped when Run ends, unless another process tails the site
// by now (this one lost the lease) and saved its own.
func (t *Tailer) unpublish() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cur, err := StoredStatus(ctx, t.state, t.cfg.Site, t.now()); err == nil && cur != nil &&
		cur.Process != t.cfg.Process && cur.Running {
		return
	}
	t.mu.Lock()
	t.status.SavedAt = t.now().UTC()
	st := t.status
	t.mu.Unlock()
	st.Running, st.Queries = false, t.queries.Load()
	if b, err := json.Marshal(st); err == nil {
		if err := t.state.SetMeta(ctx, statusKey(t.cfg.Site), string(b)); err != nil {
			t.logger.Warn("log store tailer: cannot save its status", "err", err)
		}
	}
}

// StoredStatus reads a site's tailer status as the process running it last saved it; nil when
// none was saved. A status not refreshed for 3 × StatusEvery (the default) reads as not
// running: its process died or lost the database.
func StoredStatus(ctx context.Context, state mih.MetaStore, site string, now time.Time) (*Status, error) {
	v, err := state.GetMeta(ctx, statusKey(site))
	switch {
	case mih.ErrorCode(err) == mih.CodeNotFound || err == nil && v == "":
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the tailer status of site %q: %w", site, err)
	}
	var st Status
	if err := json.Unmarshal([]byte(v), &st); err != nil {
		return nil, fmt.Errorf("read the tailer status of site %q: %w", site, err)
	}
	if now.Sub(st.SavedAt) > 3*DefaultStatusEvery {
		st.Running = false
	}
	return &st, nil
}

// poll re-checks the gaps when due, then reads batches until it has caught up or a second has
// passed (more is then true: poll again at once, after another look at the gaps). found says
// whether it read any row.
func (t *Tailer) poll(ctx context.Context, src *source) (more, found bool, err error) {
	began := t.now()
	if n := len(t.pos.gaps); n > 0 && (began.Sub(t.rechecked) >= recheckEvery || began.Sub(t.pos.gaps[n-1].since) < youngGap) {
		t.rechecked = began
		if err := t.recheck(ctx, src, began); err != nil {
			return false, false, err
		}
	}
	for {
		rows, err := src.next(ctx, t.pos.cursor, t.cfg.BatchSize)
		if err != nil {
			return false, found, err
		}
		if len(rows) == 0 {
			break
		}
		found = true
		if err := t.ingest(ctx, rows); err != nil {
			return false, found, err
		}
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i] = r.id
		}
		gaps, wide := t.pos.holes(ids, t.now(), t.cfg.MaxGaps)
		if wide > 0 {
			// Pruned rows below the first one read, or a sequence that jumped ahead.
			t.logger.Info("a wide range of log ids is missing; only the newest are awaited",
				"after", t.pos.cursor, "not_awaited", wide, "awaited", len(gaps))
		}
		over := t.pos.advance(ids[len(ids)-1], gaps, t.cfg.MaxGaps)
		if over > 0 {
			t.logger.Warn("too many missing log ids awaited; the oldest are given up", "given_up", over, "max_gaps", t.cfg.MaxGaps)
		}
		if err := t.save(ctx); err != nil {
			return false, found, err
		}
		t.report(func(s *Status) {
			s.Cursor, s.Gaps = t.pos.cursor, len(t.pos.gaps)
			s.Events += int64(len(rows))
			s.GivenUp += wide + int64(over)
		})
		if len(rows) < t.cfg.BatchSize {
			break
		}
		if t.now().Sub(began) >= time.Second {
			more = true
			break
		}
	}
	t.report(func(s *Status) {
		s.LastPoll = t.now().UTC()
		s.Failures = 0
	})
	t.dirty = t.dirty || found
	// MAX(id) is for the status and a sanity check only: read when rows came, else every
	// StatusEvery, so that an idle poll stays one query.
	if !found && t.now().Sub(t.maxRead) < t.cfg.StatusEvery {
		return more, found, nil
	}
	t.maxRead = t.now()
	maxID, _, err := src.maxID(ctx)
	if err != nil {
		return false, found, err
	}
	if maxID < t.pos.cursor && !t.belowWarned {
		// The table was emptied, or the database restored from an older backup: ids up to the
		// cursor may be used again and would be skipped. It needs a person to reset the position.
		t.belowWarned = true
		t.logger.Warn("the log table's highest id is below the cursor: was it emptied or restored? Rows are read above the cursor only",
			"max_id", maxID, "cursor", t.pos.cursor)
	}
	t.report(func(s *Status) { s.MaxID, s.Lag = maxID, max(0, maxID-t.pos.cursor) })
	return more, found, nil
}

// recheck reads the awaited ids again, ingests the rows that showed up and gives up the gaps
// whose deadline passed before began.
func (t *Tailer) recheck(ctx context.Context, src *source, began time.Time) error {
	ids := t.pos.gapIDs()
	found := map[int64]bool{}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), recheckChunk)]
		ids = ids[len(chunk):]
		rows, err := src.byIDs(ctx, chunk)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			continue
		}
		if err := t.ingest(ctx, rows); err != nil {
			return err
		}
		for _, r := range rows {
			found[r.id] = true
		}
	}
	before := len(t.pos.gaps)
	late, expired := t.pos.settle(found, began, t.cfg.GapTimeout)
	if len(t.pos.gaps) == before {
		return nil
	}
	if err := t.save(ctx); err != nil {
		return err
	}
	if late > 0 {
		t.logger.Debug("late log rows found", "rows", late)
	}
	if expired > 0 {
		t.logger.Debug("missing log ids given up", "ids", expired, "after", t.cfg.GapTimeout)
	}
	t.dirty = true
	t.report(func(s *Status) {
		s.Gaps = len(t.pos.gaps)
		s.Events += int64(late)
		s.LateEvents += int64(late)
		s.GivenUp += int64(expired)
	})
	return nil
}

// ingest hands rows to the sink as events.
func (t *Tailer) ingest(ctx context.Context, rows []row) error {
	events := make([]*mih.Event, len(rows))
	for i, r := range rows {
		events[i] = r.event
		if r.otherErr != nil {
			t.logger.Warn("log row's other cannot be decoded; kept as text", "id", r.id,
				"eventname", r.event.EventName, "err", r.otherErr)
		}
	}
	if _, err := t.sink.Ingest(ctx, Source, t.cfg.Site, events); err != nil {
		return fmt.Errorf("ingest %d log rows (ids %d to %d): %w", len(rows), rows[0].id, rows[len(rows)-1].id, err)
	}
	return nil
}
