package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/mihhub/mih"
)

// The course sync pages (docs/web-ui.md, Course sync): the jobs, their forms, a preview that shows
// the plan, a confirmation that applies exactly that plan with its progress, the run history with
// each run's report, and the missing-users CSV. They do what /api/v1/sync does, through the same
// store calls and coursesync's QueueRun, CheckJob and DeleteJob.

type syncJobRow struct {
	Job *mih.SyncJob
	// Next is when the schedule fires next (nil: no schedule, a disabled job, or a schedule that
	// does not parse: then ScheduleError says why).
	Next          *time.Time
	ScheduleError string
	Last          *mih.SyncRun
	LastBadge     badge
}

// syncList shows every job with its source, schedule and last run, and the actions on it.
func (h *Handler) syncList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	jobs, err := h.store.FindSyncJobs(ctx)
	if err != nil {
		return err
	}
	rows := make([]syncJobRow, 0, len(jobs))
	for _, j := range jobs {
		row, err := h.syncJobRow(ctx, j)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	return h.render(w, r, http.StatusOK, "sync", "Course sync", "sync", rows)
}

// syncJobRow joins a job with its last run and its next scheduled time.
func (h *Handler) syncJobRow(ctx context.Context, j *mih.SyncJob) (syncJobRow, error) {
	row := syncJobRow{Job: j}
	last, _, err := h.store.FindSyncRuns(ctx, mih.SyncRunFilter{Job: j.Name, Limit: 1})
	if err != nil {
		return row, err
	}
	if len(last) > 0 {
		row.Last, row.LastBadge = last[0], syncRunBadge(last[0].Status)
	}
	if j.Schedule != "" {
		if next := nextRuns(j.Schedule, h.now(), 1); len(next) == 1 {
			if j.Enabled {
				row.Next = &next[0]
			}
		} else {
			row.ScheduleError = "does not parse: the job does not run on its own"
		}
	}
	return row, nil
}

// syncRunBadge is how a run's status shows: symbol, word and colour.
func syncRunBadge(s mih.SyncRunStatus) badge {
	switch s {
	case mih.SyncSucceeded:
		return badge{"ok", "✓", "succeeded"}
	case mih.SyncPartial:
		return badge{"warn", "◐", "partial"}
	case mih.SyncFailed:
		return badge{"bad", "✕", "failed"}
	case mih.SyncRunning:
		return badge{"info", "↻", "running"}
	default:
		return badge{"info", "…", string(s)}
	}
}

// syncTriggerLabel says who asked for a run.
func syncTriggerLabel(t mih.SyncTrigger) string {
	switch t {
	case mih.TriggerAPI:
		return "API"
	case mih.TriggerWeb:
		return "web UI"
	case mih.TriggerSchedule:
		return "schedule"
	case mih.TriggerCLI:
		return "mih sync run"
	}
	return string(t)
}

// runDuration is how long a run took, or has been going on; "—" before it started.
func runDuration(run *mih.SyncRun, now time.Time) string {
	if run.StartedAt == nil {
		return "—"
	}
	end := now
	if run.FinishedAt != nil {
		end = *run.FinishedAt
	}
	return formatDuration(end.Sub(*run.StartedAt))
}

// formatDuration shows a duration the way people read one: "0.4 s", "12 s", "3 min 4 s", "2 h 5 min".
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min " + strconv.Itoa(int(d.Seconds())%60) + " s"
	}
	return strconv.Itoa(int(d.Hours())) + " h " + strconv.Itoa(int(d.Minutes())%60) + " min"
}
