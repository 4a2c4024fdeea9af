package coursesync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
	"github.com/mihhub/mih/moodle/moodletest"
	"github.com/mihhub/mih/store/sqlite"
	"github.com/mihhub/mih/store/storetest"
	"github.com/mihhub/mih/transport/rest"
)

// sourceToken is what the academic system asks for; local_webcourse fetched without any.
const sourceToken = "src-7c1e0b2d-secret"

// academic is the academic system: a loopback HTTP server that answers the course list with
// whatever the test sets, and checks the bearer token.
type academic struct {
	srv *httptest.Server

	mu      sync.Mutex
	status  int
	body    []byte
	fetches int
	noAuth  int
}

func newAcademic(t testing.TB) *academic {
	a := &academic{status: http.StatusOK, body: []byte(`{"courses":[]}`)}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.fetches++
		if r.Header.Get("Authorization") != "Bearer "+sourceToken || r.URL.Path != "/api/courses" {
			a.noAuth++
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		w.Write(a.body)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// counts returns how many fetches came, and how many without the right token.
func (a *academic) counts() (fetches, noAuth int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fetches, a.noAuth
}

func (a *academic) set(status int, body []byte) {
	a.mu.Lock()
	a.status, a.body = status, body
	a.mu.Unlock()
}

func (a *academic) setJSON(t testing.TB, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	a.set(http.StatusOK, b)
}

// fixture is a store, a Moodle site, an academic system registered as a REST service, a job
// between them and a Runner.
type fixture struct {
	t      testing.TB
	ctx    context.Context
	store  mih.Store
	ws     *moodletest.Server
	src    *academic
	runner *Runner
	gw     *gateway.Gateway
	logs   *bytes.Buffer
}

// newGateway is the gateway `mih serve` gives course sync: a REST transport that reads one byte
// more than a source may hold.
func newGateway(t testing.TB) *gateway.Gateway {
	tr := rest.New(rest.Options{MaxResponseBody: DefaultMaxSourceBytes + 1})
	t.Cleanup(func() { tr.Close() })
	return gateway.New(map[mih.ServiceType]mih.Transport{mih.ServiceREST: tr}, gateway.Options{})
}

type fixtureOption func(*Config)

func newFixture(t testing.TB, job func(*mih.SyncJob), opts ...fixtureOption) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mih.db"), storetest.NewBox(t), sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newFixtureOn(t, st, job, opts...)
}

// newFixtureOn builds the fixture on a given, empty store.
func newFixtureOn(t testing.TB, st mih.Store, job func(*mih.SyncJob), opts ...fixtureOption) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, ctx: ctx, store: st, ws: moodletest.NewServer(t, moodletest.Options{}), src: newAcademic(t), logs: &bytes.Buffer{}}
	if err := st.CreateSite(ctx, &mih.Site{Name: "main", URL: f.ws.URL, Token: f.ws.Token}); err != nil {
		t.Fatal(err)
	}
	svc := mih.NewService()
	svc.Name, svc.BaseURL = "academic", f.src.srv.URL+"/api"
	svc.Auth = mih.Auth{Type: mih.AuthBearer, Token: sourceToken}
	svc.MaxRetries, svc.InitialBackoffS, svc.MaxBackoffS = 2, 0.01, 0.02
	if err := st.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	j := mih.NewSyncJob()
	j.Name, j.Site, j.SourceService, j.SourcePath = "webcourse", "main", "academic", "/courses"
	if job != nil {
		job(j)
	}
	if err := CheckJob(ctx, st, j); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSyncJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	f.gw = newGateway(t)
	cfg := Config{Store: st, Gateway: f.gw, Runner: "test-runner", Database: openSiteDB,
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	for _, o := range opts {
		o(&cfg)
	}
	f.runner = New(cfg)
	return f
}

// setSiteDB points the main site at a Moodle database.
func (f *fixture) setSiteDB(url string) {
	f.t.Helper()
	site, err := f.store.FindSiteByName(f.ctx, "main")
	if err != nil {
		f.t.Fatal(err)
	}
	site.DB = url
	if err := f.store.UpdateSite(f.ctx, site); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) job() *mih.SyncJob {
	f.t.Helper()
	j, err := f.store.FindSyncJobByName(f.ctx, "webcourse")
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

// run applies the job (or plans it) and returns the run.
func (f *fixture) run(kind mih.SyncRunKind) *mih.SyncRun {
	f.t.Helper()
	run, err := f.runner.Run(f.ctx, RunRequest{Job: "webcourse", Kind: kind, Trigger: mih.TriggerCLI})
	if err != nil {
		f.t.Fatal(err)
	}
	return run
}

// users adds users by username and returns their ids.
func (f *fixture) users(names ...string) map[string]int64 {
	ids := map[string]int64{}
	for _, n := range names {
		ids[n] = f.ws.AddUser(moodletest.User{Username: n, FirstName: "F" + n, LastName: "L" + n, Email: n + "@example.edu", IDNumber: "ID-" + n})
	}
	return ids
}

// enrolments returns a course's enrolments by username: roles and whether suspended.
func (f *fixture) enrolments(shortname string) map[string]enrolState {
	f.t.Helper()
	c, ok := f.ws.CourseByShortName(shortname)
	if !ok {
		f.t.Fatalf("course %s does not exist", shortname)
	}
	out := map[string]enrolState{}
	for _, e := range f.ws.Enrolments(c.ID) {
		out[e.Username] = enrolState{roles: fmt.Sprint(e.Roles), suspended: e.Suspended}
	}
	return out
}

type enrolState struct {
	roles     string
	suspended bool
}

func wantStatus(t testing.TB, run *mih.SyncRun, want mih.SyncRunStatus) {
	t.Helper()
	if run.Status != want {
		t.Fatalf("run status %s (%s: %s), want %s; errors %v", run.Status, run.ErrorCode, run.Error, want, run.Errors)
	}
}

// noChanges runs the job again and fails when anything would change or any write call is made.
func (f *fixture) noChanges() *mih.SyncRun {
	f.t.Helper()
	f.ws.ResetCalls()
	run := f.run(mih.SyncApply)
	wantStatus(f.t, run, mih.SyncSucceeded)
	if n := run.Counts.Planned.Total(); n != 0 {
		f.t.Errorf("second run planned %d changes: %+v", n, run.Counts.Planned)
	}
	if c := f.ws.Calls(); c.Writes != 0 {
		f.t.Errorf("second run made %d write calls: %v", c.Writes, c.ByFunction)
	}
	return run
}

// eventually polls cond until it holds or the time is up.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
