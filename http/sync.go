package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/coursesync"
	"github.com/mihhub/mih/ops"
)

// syncHandler serves course sync, /api/v1/sync (docs/api.md, Course sync): the jobs, and their
// runs.
//
// The API does not run jobs itself: plan and apply queue a run in the store, and the scheduler
// of a `mih serve` process (any of them, on a shared database) takes it within a second, under
// the job's lease. The run's record shows its progress while it goes on and its report when it
// is over; plan waits for it (30 s by default), apply answers 202 at once. Without a serving
// process, queued runs wait.
type syncHandler struct {
	store mih.Store
	ops   *ops.Ops
}

// Waiting for a queued run: how long by default, at most, and how often the store is read.
const (
	syncPlanWait  = 30 * time.Second
	syncMaxWait   = 120 * time.Second
	syncWaitEvery = 100 * time.Millisecond
)

// syncRunDoc is a run as the API shows it, with the address of its missing-users CSV.
type syncRunDoc struct {
	*mih.SyncRun
	MissingCSVURL string `json:"missing_csv,omitempty"`
}

func showRun(r *mih.SyncRun) syncRunDoc {
	d := syncRunDoc{SyncRun: r}
	if r.Counts.MissingUsers > 0 {
		d.MissingCSVURL = runPath(r.ID) + "/missing.csv"
	}
	return d
}

func runPath(id int64) string { return "/api/v1/sync/runs/" + strconv.FormatInt(id, 10) }

// list answers the jobs, newest first.
func (h *syncHandler) list(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	limit, cursor := q.limit(), q.cursor()
	if q.err != nil {
		return q.err
	}
	all, err := h.store.FindSyncJobs(r.Context())
	if err != nil {
		return err
	}
	page, next, err := pageNewest(all, func(j *mih.SyncJob) (time.Time, string) { return j.CreatedAt, j.Name }, limit, cursor)
	if err != nil {
		return err
	}
	writeList(w, page, next)
	return nil
}

func (h *syncHandler) get(w http.ResponseWriter, r *http.Request) error {
	j, err := h.store.FindSyncJobByName(r.Context(), r.PathValue("job"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// create adds a job; omitted fields take their defaults (coursesync.CheckJob).
func (h *syncHandler) create(w http.ResponseWriter, r *http.Request) error {
	j, err := decodeSyncJob(r)
	if err != nil {
		return err
	}
	if err := h.ops.CreateSyncJob(r.Context(), j); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/sync/"+url.PathEscape(j.Name))
	writeJSON(w, http.StatusCreated, j)
	return nil
}

// update replaces a job; omitted fields take their defaults, as on create.
func (h *syncHandler) update(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("job")
	old, err := h.store.FindSyncJobByName(r.Context(), name)
	if err != nil {
		return err
	}
	j, err := decodeSyncJob(r)
	if err != nil {
		return err
	}
	if j.Name == "" {
		j.Name = name
	}
	if j.Name != name {
		return mih.Errorf(mih.CodeInvalid, "name %q: a sync job cannot be renamed (the path names %q)", j.Name, name)
	}
	j.CreatedAt = old.CreatedAt
	if err := h.ops.UpdateSyncJob(r.Context(), j); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// delete removes a job and its run history; a job with a run queued or going on is refused.
func (h *syncHandler) delete(w http.ResponseWriter, r *http.Request) error {
	if err := h.ops.DeleteSyncJob(r.Context(), r.PathValue("job")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// plan queues a plan-only run and waits for it (?wait=SECONDS, default 30, at most 120): 200
// with the run and its plan when it is over in time, else 202 with the run to poll.
func (h *syncHandler) plan(w http.ResponseWriter, r *http.Request) error {
	return h.queue(w, r, mih.SyncPlanOnly, syncPlanWait)
}

// apply queues a run that applies the job's plan and answers 202 with it at once (?wait=SECONDS
// waits as plan does). {"expect": "<fingerprint>"} makes it apply only the plan that was shown.
func (h *syncHandler) apply(w http.ResponseWriter, r *http.Request) error {
	return h.queue(w, r, mih.SyncApply, 0)
}

func (h *syncHandler) queue(w http.ResponseWriter, r *http.Request, kind mih.SyncRunKind, wait time.Duration) error {
	q := newQuery(r)
	if s := q.str("wait"); s != "" {
		secs, err := strconv.ParseFloat(s, 64)
		if err != nil || secs < 0 {
			q.fail("wait", "want a number of seconds, got %q", s)
		}
		wait = min(time.Duration(secs*float64(time.Second)), syncMaxWait)
	}
	if q.err != nil {
		return q.err
	}
	var body struct {
		Expect string `json:"expect"`
	}
	if err := decodeJSON(r, &body, true); err != nil {
		return err
	}
	run, err := h.ops.QueueSync(r.Context(), r.PathValue("job"), kind, mih.TriggerAPI, body.Expect)
	if err != nil {
		return err
	}
	w.Header().Set("Location", runPath(run.ID))
	if wait > 0 {
		done, err := h.await(r.Context(), run.ID, wait)
		if err != nil {
			return err
		}
		run = done
	}
	status := http.StatusAccepted
	if run.Status.Done() {
		status = http.StatusOK
	}
	writeJSON(w, status, showRun(run))
	return nil
}

// await reads the run until it is over, the wait is up or the client goes away.
func (h *syncHandler) await(ctx context.Context, id int64, wait time.Duration) (*mih.SyncRun, error) {
	deadline := time.Now().Add(wait)
	t := time.NewTicker(syncWaitEvery)
	defer t.Stop()
	for {
		run, err := h.store.FindSyncRunByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if run.Status.Done() || !time.Now().Before(deadline) {
			return run, nil
		}
		select {
		case <-ctx.Done():
			return run, nil
		case <-t.C:
		}
	}
}

// sub serves GET /api/v1/sync/{job}/runs. The route is written {job}/{sub} because ServeMux
// would otherwise find /sync/{job}/runs and /sync/runs/{id} in conflict (both match
// /sync/runs/runs); runs is the job's only list.
func (h *syncHandler) sub(w http.ResponseWriter, r *http.Request) error {
	switch r.PathValue("sub") {
	case "runs":
	case "plan", "apply":
		w.Header().Set("Allow", "POST")
		return mih.Errorf(codeMethodNotAllowed, "method %s is not allowed on %s (allowed: POST)", r.Method, r.URL.Path)
	default:
		return mih.Errorf(mih.CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	}
	job := r.PathValue("job")
	q := newQuery(r)
	f := mih.SyncRunFilter{Job: job, Limit: q.limit(), Cursor: q.cursor()}
	for s := range strings.SplitSeq(q.str("status"), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		st := mih.SyncRunStatus(s)
		valid := false
		for _, v := range mih.SyncRunStatuses() {
			valid = valid || v == st
		}
		if !valid {
			q.fail("status", "want queued, running, succeeded, partial or failed, got %q", s)
		}
		f.Status = append(f.Status, st)
	}
	if t := q.str("trigger"); t != "" {
		switch tr := mih.SyncTrigger(t); tr {
		case mih.TriggerAPI, mih.TriggerSchedule, mih.TriggerCLI, mih.TriggerWeb:
			f.Trigger = tr
		default:
			q.fail("trigger", "want api, web, schedule or cli, got %q", t)
		}
	}
	if q.err != nil {
		return q.err
	}
	if _, err := h.store.FindSyncJobByName(r.Context(), job); err != nil {
		return err
	}
	runs, next, err := h.store.FindSyncRuns(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]syncRunDoc, len(runs))
	for i, run := range runs {
		out[i] = showRun(run)
	}
	writeList(w, out, next)
	return nil
}

// run answers one run: its progress while it goes on, its plan, counts and errors.
func (h *syncHandler) run(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "sync run")
	if err != nil {
		return err
	}
	run, err := h.store.FindSyncRunByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, showRun(run))
	return nil
}

// missingCSV answers a run's missing-users report as text/csv: a header line alone when the run
// found no missing user (or has not planned yet).
func (h *syncHandler) missingCSV(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "sync run")
	if err != nil {
		return err
	}
	b, err := h.store.FindSyncRunCSV(r.Context(), id)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		b = coursesync.MissingCSV(nil)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="missing-users-run-`+strconv.FormatInt(id, 10)+`.csv"`)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

// decodeSyncJob reads a job strictly into the defaults of a new one. A category of the wrong
// shape reports itself; read-only times are ignored.
func decodeSyncJob(r *http.Request) (*mih.SyncJob, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, mih.Errorf(mih.CodeInvalid, "request body: want a JSON object")
	}
	j := mih.NewSyncJob()
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(j); err != nil {
		if e, ok := errors.AsType[*mih.Error](err); ok {
			return nil, e
		}
		return nil, jsonError(err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, mih.Errorf(mih.CodeInvalid, "request body: data after the JSON value")
	}
	j.CreatedAt, j.UpdatedAt = time.Time{}, time.Time{}
	return j, nil
}
