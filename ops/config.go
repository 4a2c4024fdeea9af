package ops

import (
	"context"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/coursesync"
	"github.com/mihhub/mih/rule"
)

// The configuration writes: services, rules, sites and sync jobs. Each validates what it stores
// as every front end must, writes it, and then does what the change implies. Front ends do their
// own parsing and their own checks of input shape (masked secrets pasted back, renames) first.

// CreateService validates and stores a new service.
func (o *Ops) CreateService(ctx context.Context, s *mih.Service) error {
	s.CircuitState = ""
	if err := s.Validate(); err != nil {
		return err
	}
	if err := o.store.CreateService(ctx, s); err != nil {
		return err
	}
	o.rulesChanged()
	return nil
}

// UpdateService validates and stores a service. When it was enabled or disabled, the maintainer
// is woken to resume or pause its deliveries at once.
func (o *Ops) UpdateService(ctx context.Context, s *mih.Service) error {
	s.CircuitState = ""
	if err := s.Validate(); err != nil {
		return err
	}
	old, err := o.store.FindServiceByName(ctx, s.Name)
	if err != nil {
		return err
	}
	if err := o.store.UpdateService(ctx, s); err != nil {
		return err
	}
	o.rulesChanged()
	if old.Enabled != s.Enabled {
		o.wakeMaintainer()
	}
	return nil
}

// SetServiceEnabled enables or disables a service; it reports whether anything changed.
func (o *Ops) SetServiceEnabled(ctx context.Context, name string, enabled bool) (bool, error) {
	s, err := o.store.FindServiceByName(ctx, name)
	if err != nil {
		return false, err
	}
	if s.Enabled == enabled {
		return false, nil
	}
	s.Enabled = enabled
	if err := o.UpdateService(ctx, s); err != nil {
		return false, err
	}
	return true, nil
}

// DeleteService deletes a service with its rules, log and circuit; its waiting deliveries go to
// the DLQ (mih.Expire with ReasonServiceDeleted).
func (o *Ops) DeleteService(ctx context.Context, name string) (mih.ServiceDeletion, error) {
	del, err := o.store.DeleteService(ctx, name)
	if err != nil {
		return del, err
	}
	o.rulesChanged()
	return del, nil
}

// CheckRule compiles a rule (event pattern, filter, endpoint, template) and checks that its
// service exists.
func (o *Ops) CheckRule(ctx context.Context, ru *mih.Rule) error {
	if _, err := rule.Compile(ru); err != nil {
		return err
	}
	if _, err := o.store.FindServiceByName(ctx, ru.Service); err != nil {
		if mih.ErrorCode(err) == mih.CodeNotFound {
			return mih.Errorf(mih.CodeInvalid, "service %q: no such service; create it first", ru.Service)
		}
		return err
	}
	return nil
}

// CreateRule checks and stores a new rule; the rule set picks it up at once.
func (o *Ops) CreateRule(ctx context.Context, ru *mih.Rule) error {
	if err := o.CheckRule(ctx, ru); err != nil {
		return err
	}
	if err := o.store.CreateRule(ctx, ru); err != nil {
		return err
	}
	o.rulesChanged()
	return nil
}

// UpdateRule checks and stores a rule.
func (o *Ops) UpdateRule(ctx context.Context, ru *mih.Rule) error {
	if err := o.CheckRule(ctx, ru); err != nil {
		return err
	}
	if err := o.store.UpdateRule(ctx, ru); err != nil {
		return err
	}
	o.rulesChanged()
	return nil
}

// SetRuleActive activates or deactivates a rule; it reports whether anything changed.
func (o *Ops) SetRuleActive(ctx context.Context, id int64, active bool) (bool, error) {
	ru, err := o.store.FindRuleByID(ctx, id)
	if err != nil {
		return false, err
	}
	if ru.Active == active {
		return false, nil
	}
	ru.Active = active
	if err := o.store.UpdateRule(ctx, ru); err != nil {
		return false, err
	}
	o.rulesChanged()
	return true, nil
}

// DeleteRule deletes a rule. Its deliveries stay, so the DLQ keeps what it holds.
func (o *Ops) DeleteRule(ctx context.Context, id int64) error {
	if err := o.store.DeleteRule(ctx, id); err != nil {
		return err
	}
	o.rulesChanged()
	return nil
}

// CreateSite validates and stores a new Moodle site.
func (o *Ops) CreateSite(ctx context.Context, s *mih.Site) error {
	s.Normalize()
	if err := s.Validate(); err != nil {
		return err
	}
	if err := o.store.CreateSite(ctx, s); err != nil {
		return err
	}
	o.siteChanged(s.Name)
	return nil
}

// UpdateSite validates and stores a site; its lookups are rebuilt with the new settings (a new
// token takes effect at once), and the tailers follow within their supervision interval.
func (o *Ops) UpdateSite(ctx context.Context, s *mih.Site) error {
	s.Normalize()
	if err := s.Validate(); err != nil {
		return err
	}
	if err := o.store.UpdateSite(ctx, s); err != nil {
		return err
	}
	o.siteChanged(s.Name)
	return nil
}

// DeleteSite deletes a site. Its events stay, and so do their deliveries.
func (o *Ops) DeleteSite(ctx context.Context, name string) error {
	if err := o.store.DeleteSite(ctx, name); err != nil {
		return err
	}
	o.siteChanged(name)
	return nil
}

func (o *Ops) siteChanged(name string) {
	if o.cfg.Sites != nil {
		o.cfg.Sites.Forget(name)
	}
}

// CheckSyncJob normalizes and validates a sync job (coursesync.CheckJob).
func (o *Ops) CheckSyncJob(ctx context.Context, j *mih.SyncJob) error {
	return coursesync.CheckJob(ctx, o.store, j)
}

// CreateSyncJob checks and stores a new course sync job.
func (o *Ops) CreateSyncJob(ctx context.Context, j *mih.SyncJob) error {
	if err := o.CheckSyncJob(ctx, j); err != nil {
		return err
	}
	return o.store.CreateSyncJob(ctx, j)
}

// UpdateSyncJob checks and stores a sync job.
func (o *Ops) UpdateSyncJob(ctx context.Context, j *mih.SyncJob) error {
	if err := o.CheckSyncJob(ctx, j); err != nil {
		return err
	}
	return o.store.UpdateSyncJob(ctx, j)
}

// SetSyncJobEnabled enables or disables a job's schedule; it reports whether anything changed.
func (o *Ops) SetSyncJobEnabled(ctx context.Context, name string, enabled bool) (bool, error) {
	j, err := o.store.FindSyncJobByName(ctx, name)
	if err != nil {
		return false, err
	}
	if j.Enabled == enabled {
		return false, nil
	}
	j.Enabled = enabled
	if err := o.store.UpdateSyncJob(ctx, j); err != nil {
		return false, err
	}
	return true, nil
}

// DeleteSyncJob deletes a job with its run history; refused while a run is queued or going on.
func (o *Ops) DeleteSyncJob(ctx context.Context, name string) error {
	return coursesync.DeleteJob(ctx, o.store, name)
}

// QueueSync queues a run of a job for the scheduler of a `mih serve` process (coursesync.QueueRun).
func (o *Ops) QueueSync(ctx context.Context, job string, kind mih.SyncRunKind, trigger mih.SyncTrigger, expect string) (*mih.SyncRun, error) {
	return coursesync.QueueRun(ctx, o.store, job, kind, trigger, expect)
}
