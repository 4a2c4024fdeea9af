package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mihhub/mih"
)

// MaintenanceStore is the part of the store the Maintainer uses; mih.Store satisfies it.
type MaintenanceStore interface {
	FindServices(ctx context.Context) ([]*mih.Service, error)
	PauseDeliveries(ctx context.Context, service string, now time.Time) (int, error)
	ResumeDeliveries(ctx context.Context, service string, limit int, now time.Time) (int, error)
	ExpireDeliveries(ctx context.Context, service string, createdBefore, now time.Time) (int, error)
	PruneDeliveries(ctx context.Context, before time.Time, keep int) (int, error)
	PruneLogs(ctx context.Context, before time.Time, keep int) (int, error)
	PruneEvents(ctx context.Context, before time.Time) (int, error)
}

// Ledger is what the Maintainer changes deliveries through: the transitions mih.Pause, Resume and
// Expire; the store satisfies it, and so does *ops.Ledger, which wakes the workers.
type Ledger interface {
	PauseDeliveries(ctx context.Context, service string, now time.Time) (int, error)
	ResumeDeliveries(ctx context.Context, service string, limit int, now time.Time) (int, error)
	ExpireDeliveries(ctx context.Context, service string, createdBefore, now time.Time) (int, error)
}

// MaintainerConfig tunes a Maintainer. Zero fields take the defaults below.
type MaintainerConfig struct {
	// Interval between rounds (default 30 s). Notify starts one at once.
	Interval time.Duration
	// The request log keeps entries younger than LogMaxAge (default 7 days), at most LogMaxRows
	// of them (default 100 000).
	LogMaxAge  time.Duration
	LogMaxRows int
	// Succeeded deliveries are kept for SucceededMaxAge (default 7 days), at most
	// SucceededMaxRows of them (default 100 000). Dead deliveries are never pruned.
	SucceededMaxAge  time.Duration
	SucceededMaxRows int
	// Events are kept for EventMaxAge (default 30 days; negative: for ever), and longer while
	// one of their deliveries waits or is dead.
	EventMaxAge time.Duration
	// CircuitOpen reports whether a service's circuit is open or half-open, in which case its
	// paused deliveries are the circuit breaker's to resume (default: read Service.CircuitState).
	CircuitOpen func(svc *mih.Service) bool
	// Ledger pauses, resumes and expires deliveries and wakes the workers when it resumed some
	// (pass the *ops.Ledger). nil: the store, and then Resumed wakes the workers.
	Ledger Ledger
	// Resumed is called after deliveries were resumed, when the Ledger does not wake the workers
	// itself.
	Resumed func()
	Logger  *slog.Logger
	Now     func() time.Time
}

// Defaults of MaintainerConfig.
const (
	DefaultMaintainInterval = 30 * time.Second
	DefaultLogMaxAge        = 7 * 24 * time.Hour
	DefaultLogMaxRows       = 100_000
	DefaultSucceededMaxAge  = 7 * 24 * time.Hour
	DefaultSucceededMaxRows = 100_000
	DefaultEventMaxAge      = 30 * 24 * time.Hour
)

// Maintainer keeps the ledger in shape, apart from the workers' hot loop: it pauses the
// deliveries of disabled services and resumes them when the service is enabled again, moves
// deliveries older than their service's max_age_h to the DLQ as expired, and prunes the request
// log and succeeded deliveries. Every step is idempotent, so several processes sharing one
// database may each run one.
type Maintainer struct {
	store MaintenanceStore
	cfg   MaintainerConfig
	wake  chan struct{}
}

// NewMaintainer returns a Maintainer.
func NewMaintainer(store MaintenanceStore, cfg MaintainerConfig) *Maintainer {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultMaintainInterval
	}
	if cfg.LogMaxAge <= 0 {
		cfg.LogMaxAge = DefaultLogMaxAge
	}
	if cfg.LogMaxRows <= 0 {
		cfg.LogMaxRows = DefaultLogMaxRows
	}
	if cfg.SucceededMaxAge <= 0 {
		cfg.SucceededMaxAge = DefaultSucceededMaxAge
	}
	if cfg.SucceededMaxRows <= 0 {
		cfg.SucceededMaxRows = DefaultSucceededMaxRows
	}
	if cfg.EventMaxAge == 0 {
		cfg.EventMaxAge = DefaultEventMaxAge
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CircuitOpen == nil {
		cfg.CircuitOpen = func(s *mih.Service) bool {
			return s.CircuitState == mih.CircuitOpen || s.CircuitState == mih.CircuitHalfOpen
		}
	}
	if cfg.Ledger == nil {
		cfg.Ledger = store
	}
	return &Maintainer{store: store, cfg: cfg, wake: make(chan struct{}, 1)}
}

// Notify starts a round at once (after a service was enabled or disabled). It never blocks.
func (m *Maintainer) Notify() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run runs a round at once and then every Interval until ctx is done. A failed round is logged
// and tried again on the next beat.
func (m *Maintainer) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		if err := m.RunOnce(ctx); err != nil && ctx.Err() == nil {
			m.cfg.Logger.ErrorContext(ctx, "delivery maintenance", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.wake:
		}
	}
}

// RunOnce makes one round. It goes on past a failing step and returns every error.
func (m *Maintainer) RunOnce(ctx context.Context) error {
	var errs []error
	if err := m.services(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := m.prune(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// services pauses, resumes and expires deliveries service by service.
func (m *Maintainer) services(ctx context.Context) error {
	svcs, err := m.store.FindServices(ctx)
	if err != nil {
		return fmt.Errorf("find services: %w", err)
	}
	var (
		errs    []error
		resumed int
	)
	log := m.cfg.Logger
	for _, s := range svcs {
		now := m.cfg.Now()
		switch {
		case !s.Enabled:
			n, err := m.cfg.Ledger.PauseDeliveries(ctx, s.Name, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("pause deliveries of %s: %w", s.Name, err))
			} else if n > 0 {
				log.InfoContext(ctx, "paused deliveries of a disabled service", "service", s.Name, "deliveries", n)
			}
		case m.cfg.CircuitOpen(s):
			// The circuit breaker resumes these when its circuit closes.
		default:
			n, err := m.cfg.Ledger.ResumeDeliveries(ctx, s.Name, 0, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("resume deliveries of %s: %w", s.Name, err))
			} else if n > 0 {
				resumed += n
				log.InfoContext(ctx, "resumed deliveries", "service", s.Name, "deliveries", n)
			}
		}
		if age := s.MaxAge(); age > 0 {
			n, err := m.cfg.Ledger.ExpireDeliveries(ctx, s.Name, now.Add(-age), now)
			if err != nil {
				errs = append(errs, fmt.Errorf("expire deliveries of %s: %w", s.Name, err))
			} else if n > 0 {
				log.WarnContext(ctx, "deliveries expired to the DLQ", "service", s.Name, "deliveries", n, "max_age", age)
			}
		}
	}
	if resumed > 0 && m.cfg.Resumed != nil {
		m.cfg.Resumed()
	}
	return errors.Join(errs...)
}

func (m *Maintainer) prune(ctx context.Context) error {
	now := m.cfg.Now()
	var errs []error
	if n, err := m.store.PruneLogs(ctx, now.Add(-m.cfg.LogMaxAge), m.cfg.LogMaxRows); err != nil {
		errs = append(errs, fmt.Errorf("prune request log: %w", err))
	} else if n > 0 {
		m.cfg.Logger.DebugContext(ctx, "pruned request log", "entries", n)
	}
	if n, err := m.store.PruneDeliveries(ctx, now.Add(-m.cfg.SucceededMaxAge), m.cfg.SucceededMaxRows); err != nil {
		errs = append(errs, fmt.Errorf("prune succeeded deliveries: %w", err))
	} else if n > 0 {
		m.cfg.Logger.DebugContext(ctx, "pruned succeeded deliveries", "deliveries", n)
	}
	if m.cfg.EventMaxAge > 0 {
		if n, err := m.store.PruneEvents(ctx, now.Add(-m.cfg.EventMaxAge)); err != nil {
			errs = append(errs, fmt.Errorf("prune events: %w", err))
		} else if n > 0 {
			m.cfg.Logger.DebugContext(ctx, "pruned events", "events", n)
		}
	}
	return errors.Join(errs...)
}
