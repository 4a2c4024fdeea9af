package web

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/mihhub/mih"
)

// BenchmarkSyncRunPage renders a finished run's page over SQLite with a plan as large as a
// run's record keeps (2,000 items in each of its enrolment and missing-user lists): the store
// read of the plan plus the template, cut at 100 items per list, and whole (?full=1); and the
// live part of a running run, which its page fetches every second.
func BenchmarkSyncRunPage(b *testing.B) {
	u := newTestUI(b)
	u.login()
	ctx := b.Context()
	if err := u.store.CreateSite(ctx, &mih.Site{Name: "main", URL: "https://moodle.example.edu", Token: "ws-token-0123456789"}); err != nil {
		b.Fatal(err)
	}
	u.createService(restService("academic", "https://sis.example.edu/api"))
	j := mih.NewSyncJob()
	j.Name, j.Site, j.SourceService, j.SourcePath = "big", "main", "academic", "/courses"
	if err := u.store.CreateSyncJob(ctx, j); err != nil {
		b.Fatal(err)
	}
	plan := &mih.SyncPlan{Fingerprint: "f00d"}
	for i := range mih.SyncStoredItems {
		course := fmt.Sprintf("C%03d", i/20)
		plan.Enrol = append(plan.Enrol, mih.SyncEnrolment{Course: course, User: fmt.Sprintf("u%05d", i), UserID: int64(i + 10), Role: "student", RoleID: 5})
		plan.Missing = append(plan.Missing, mih.SyncMissingUser{User: fmt.Sprintf("m%05d", i), Course: course, Role: "student"})
	}
	done := &mih.SyncRun{Job: "big", Kind: mih.SyncPlanOnly, Trigger: mih.TriggerAPI, Status: mih.SyncRunning, Runner: "bench"}
	running := &mih.SyncRun{Job: "big", Kind: mih.SyncApply, Trigger: mih.TriggerAPI, Status: mih.SyncRunning, Runner: "bench2",
		Progress: mih.SyncProgress{Phase: mih.PhaseEnrol, Done: 700, Total: 2000}}
	for _, r := range []*mih.SyncRun{done, running} {
		if err := u.store.CreateSyncRun(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	done.Status, done.Plan = mih.SyncSucceeded, plan
	done.Counts = mih.SyncCounts{SourceCourses: 100, SourceParticipants: 4000, MissingUsers: 2000, Planned: plan.Counts()}
	if err := u.store.FinishSyncRun(ctx, done); err != nil {
		b.Fatal(err)
	}
	for _, path := range []string{
		fmt.Sprintf("/sync/big/runs/%d", done.ID),
		fmt.Sprintf("/sync/big/runs/%d?full=1", done.ID),
		fmt.Sprintf("/sync/big/runs/%d/live", running.ID),
	} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				// A request per call: the client's cookie jar adds the session cookie to the
				// request it is given, so a reused one would carry one more cookie each time.
				req, _ := http.NewRequest("GET", u.srv.URL+path, nil)
				res, err := u.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d to %s", path, res.StatusCode, res.Header.Get("Location"))
				}
				b.SetBytes(n)
			}
		})
	}
}
