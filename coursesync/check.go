package coursesync

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/mihhub/mih"
)

// ReservedJobName cannot name a job: /api/v1/sync/runs/… addresses runs.
const ReservedJobName = "runs"

// Schedule is a parsed job schedule.
type Schedule interface {
	// Next returns the first time after t when the job is due.
	Next(t time.Time) time.Time
}

// ParseSchedule parses a job's schedule with robfig/cron's standard parser: five fields (minute
// hour day-of-month month day-of-week), or a descriptor (@yearly, @monthly, @weekly, @daily,
// @hourly, @every 30m), with an optional CRON_TZ=Area/City prefix; without it the times are the
// hub's local time. A schedule that never fires (February 30th) is refused.
func ParseSchedule(spec string) (Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, mih.WrapError(mih.CodeInvalid, err, "schedule %q: %v (want five fields: minute hour day month weekday, or @hourly, @daily, @every 30m…)", spec, err)
	}
	if s.Next(time.Now()).IsZero() {
		return nil, mih.Errorf(mih.CodeInvalid, "schedule %q never fires", spec)
	}
	return s, nil
}

// Registry is where CheckJob looks up the site and the source service of a job.
type Registry interface {
	FindSiteByName(ctx context.Context, name string) (*mih.Site, error)
	FindServiceByName(ctx context.Context, name string) (*mih.Service, error)
}

// CheckJob normalizes and validates a job before it is stored: its fields, its schedule, and that
// its site and its source service exist, the latter a REST service. The API and `mih apply` call
// it; every error is CodeInvalid and names the field.
func CheckJob(ctx context.Context, reg Registry, j *mih.SyncJob) error {
	j.Normalize()
	if err := j.Validate(); err != nil {
		return err
	}
	if j.Name == ReservedJobName {
		return mih.Errorf(mih.CodeInvalid, "name %q is reserved: /api/v1/sync/runs addresses runs", j.Name)
	}
	if j.Schedule != "" {
		if _, err := ParseSchedule(j.Schedule); err != nil {
			return err
		}
	}
	if _, err := reg.FindSiteByName(ctx, j.Site); err != nil {
		if mih.ErrorCode(err) == mih.CodeNotFound {
			return mih.Errorf(mih.CodeInvalid, "site %q does not exist: register the Moodle site first", j.Site)
		}
		return fmt.Errorf("check sync job: %w", err)
	}
	svc, err := reg.FindServiceByName(ctx, j.SourceService)
	if err != nil {
		if mih.ErrorCode(err) == mih.CodeNotFound {
			return mih.Errorf(mih.CodeInvalid, "source_service %q does not exist: register the academic system as a REST service first", j.SourceService)
		}
		return fmt.Errorf("check sync job: %w", err)
	}
	if svc.Type != mih.ServiceREST {
		return mih.Errorf(mih.CodeInvalid, "source_service %q is a %s service: the source must be a REST service answering JSON", j.SourceService, svc.Type)
	}
	return nil
}

// dedupeWindow is how close to a scheduled time another process's scheduled run may stand and
// still count as the same run. Cron times are the same in every process, so only an equal or
// later time counts; @every counts from each process's start, so its times differ between
// processes, and a run less than half a period earlier counts.
func dedupeWindow(s Schedule) time.Duration {
	if c, ok := s.(cron.ConstantDelaySchedule); ok {
		return c.Delay / 2
	}
	return 0
}
