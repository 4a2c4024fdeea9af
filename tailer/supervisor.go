package tailer

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mihhub/mih"
)

// SupervisorStore is what a Supervisor reads and writes: the sites, the leases that keep one
// tailer per site across processes, and the tailers' saved positions.
type SupervisorStore interface {
	FindSites(ctx context.Context) ([]*mih.Site, error)
	mih.LeaseStore
	mih.MetaStore
}

// SiteVersioner is implemented by stores that can tell cheaply whether the sites changed (the
// store package's does): a Supervisor then checks every Watch instead of rereading the sites.
type SiteVersioner interface {
	// SitesVersion changes whenever a site is created, updated or deleted.
	SitesVersion(ctx context.Context) (string, error)
}

// SupervisorConfig tunes a Supervisor.
type SupervisorConfig struct {
	// Owner names this process in leases. Required.
	Owner string
	// Check is how often the sites are reread and the leases renewed (default 5 s).
	Check time.Duration
	// Watch is how often the store is asked whether the sites changed (default 1 s): a site
	// added, changed or removed takes effect within it, in whichever process holds its lease.
	// Without a SiteVersioner store, changes take effect within Check.
	Watch time.Duration
	// Lease is how long a process holds a site's tailer without renewing (default 30 s): when a
	// process dies, another takes the site over after it.
	Lease time.Duration
	// Tailer is the template of every tailer's Config; Site, DSN, Prefix and Start come from the
	// site.
	Tailer Config
	Logger *slog.Logger
	Now    func() time.Time
}

// Supervisor runs one Tailer for every site with tail on and a database, in exactly one process
// among those sharing the store: the process holding the site's lease "tail:<site>". It starts,
// restarts (when the site changes) and stops tailers as the sites change.
type Supervisor struct {
	store SupervisorStore
	sink  Sink
	cfg   SupervisorConfig

	mu      sync.Mutex
	running map[string]*supervised
}

type supervised struct {
	tailer  *Tailer
	updated time.Time // the site version it runs
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewSupervisor returns a Supervisor feeding sink.
func NewSupervisor(store SupervisorStore, sink Sink, cfg SupervisorConfig) *Supervisor {
	if cfg.Check <= 0 {
		cfg.Check = 5 * time.Second
	}
	if cfg.Watch <= 0 {
		cfg.Watch = time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Lease < 2*cfg.Check {
		cfg.Lease = 2 * cfg.Check
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Supervisor{store: store, sink: sink, cfg: cfg, running: map[string]*supervised{}}
}

// Status returns the status of a site's tailer: live when this process runs it, else as the
// process running it last saved it in the store; nil when no tailer ever ran for the site.
func (s *Supervisor) Status(site string) *Status {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.StatusContext(ctx, site)
}

// Local returns the live status of a site's tailer when this process runs it, else nil.
func (s *Supervisor) Local(site string) *Status {
	s.mu.Lock()
	r := s.running[site]
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	st := r.tailer.Status()
	return &st
}

// StatusContext is Status with a context for the store read.
func (s *Supervisor) StatusContext(ctx context.Context, site string) *Status {
	if st := s.Local(site); st != nil {
		return st
	}
	st, err := StoredStatus(ctx, s.store, site, s.cfg.Now())
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "log store tailer: cannot read the saved status", "site", site, "error", err)
		return nil
	}
	return st
}

// Statuses returns the status of every tailer this process runs (the sites whose lease it
// holds), sorted by site.
func (s *Supervisor) Statuses() []Status {
	s.mu.Lock()
	out := make([]Status, 0, len(s.running))
	for _, r := range s.running {
		out = append(out, r.tailer.Status())
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Status) int { return strings.Compare(a.Site, b.Site) })
	return out
}

// Run supervises until ctx ends, then stops every tailer and gives up its leases.
func (s *Supervisor) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Check)
	defer t.Stop()
	w := time.NewTicker(s.cfg.Watch)
	defer w.Stop()
	versions, _ := s.store.(SiteVersioner)
	var version string
	for {
		if versions != nil {
			v, err := versions.SitesVersion(ctx)
			if err == nil {
				version = v
			}
		}
		s.round(ctx)
	wait:
		for {
			select {
			case <-ctx.Done():
				s.stopAll()
				return nil
			case <-t.C:
				break wait
			case <-w.C:
				if versions == nil {
					continue
				}
				v, err := versions.SitesVersion(ctx)
				if err != nil {
					if ctx.Err() == nil {
						s.cfg.Logger.WarnContext(ctx, "log store tailers: cannot check the sites", "error", err)
					}
					continue
				}
				if v != version {
					break wait
				}
			}
		}
	}
}

// round brings the running tailers in line with the sites.
func (s *Supervisor) round(ctx context.Context) {
	sites, err := s.store.FindSites(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Logger.WarnContext(ctx, "log store tailers: cannot read the sites", "error", err)
		}
		return
	}
	want := map[string]*mih.Site{}
	for _, site := range sites {
		if site.Tail && site.DB != "" {
			want[site.Name] = site
		}
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.running))
	for name := range s.running {
		names = append(names, name)
	}
	s.mu.Unlock()
	for _, name := range names {
		site := want[name]
		s.mu.Lock()
		r := s.running[name]
		s.mu.Unlock()
		if site == nil || !site.UpdatedAt.Equal(r.updated) {
			s.stop(ctx, name, "the site changed")
		}
	}
	now := s.cfg.Now()
	for name, site := range want {
		held, err := s.store.TryLease(ctx, leaseName(name), s.cfg.Owner, now.Add(s.cfg.Lease), now)
		if err != nil {
			s.cfg.Logger.WarnContext(ctx, "log store tailer: cannot take or renew the lease", "site", name, "error", err)
			continue
		}
		s.mu.Lock()
		r := s.running[name]
		s.mu.Unlock()
		switch {
		case !held && r != nil:
			// Another process holds it now (ours ran out while we could not renew): ours stops
			// so that two tailers never feed the same site.
			s.stop(ctx, name, "another process took the site over")
		case held && r == nil:
			s.start(ctx, site)
		}
	}
}

func leaseName(site string) string { return "tail:" + site }

func (s *Supervisor) start(ctx context.Context, site *mih.Site) {
	cfg := s.cfg.Tailer
	cfg.Site, cfg.DSN, cfg.Prefix, cfg.Start = site.Name, site.DB, site.Prefix, site.TailFrom
	// "latest" is when the site was saved, not when this tailer happens to start.
	cfg.StartAt, cfg.Process = site.UpdatedAt, s.cfg.Owner
	if cfg.Logger == nil {
		cfg.Logger = s.cfg.Logger
	}
	t, err := New(cfg, s.store, s.sink)
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "log store tailer: bad configuration", "site", site.Name, "error", err)
		s.release(ctx, site.Name)
		return
	}
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &supervised{tailer: t, updated: site.UpdatedAt, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := t.Run(tctx); err != nil && tctx.Err() == nil {
			s.cfg.Logger.ErrorContext(tctx, "log store tailer stopped", "site", site.Name, "error", err)
		}
	}()
	s.mu.Lock()
	s.running[site.Name] = r
	s.mu.Unlock()
	s.cfg.Logger.InfoContext(ctx, "log store tailer started", "site", site.Name, "db", t.Status().DB)
}

func (s *Supervisor) stop(ctx context.Context, name, why string) {
	s.mu.Lock()
	r := s.running[name]
	delete(s.running, name)
	s.mu.Unlock()
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
	s.release(ctx, name)
	s.cfg.Logger.InfoContext(ctx, "log store tailer stopped", "site", name, "reason", why)
}

func (s *Supervisor) release(ctx context.Context, name string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.store.ReleaseLease(rctx, leaseName(name), s.cfg.Owner); err != nil {
		s.cfg.Logger.WarnContext(rctx, "log store tailer: cannot release the lease", "site", name, "error", err)
	}
}

func (s *Supervisor) stopAll() {
	s.mu.Lock()
	names := make([]string, 0, len(s.running))
	for name := range s.running {
		names = append(names, name)
	}
	s.mu.Unlock()
	for _, name := range names {
		s.stop(context.Background(), name, "shutdown")
	}
}
