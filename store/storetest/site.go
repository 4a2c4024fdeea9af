package storetest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

var siteTests = []test{
	{"CreateFind", testSiteCreateFind},
	{"ErrNotFound", testSiteNotFound},
	{"Conflict", testSiteConflict},
	{"Invalid", testSiteInvalid},
	{"Update", testSiteUpdate},
	{"Delete", testSiteDelete},
	{"ConfigVersion", testSiteConfigVersion},
}

// NewSite returns a valid site with every secret set.
func NewSite(name string) *mih.Site {
	return &mih.Site{
		Name:         name,
		URL:          "https://moodle.example.edu",
		Token:        "ws-token-" + name,
		DB:           "postgres://moodle:" + SecretPassword + "@db.example.edu:5432/moodle",
		Prefix:       "mdl_",
		Tail:         true,
		TailFrom:     mih.TailFromLatest,
		PluginSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}
}

func sameSite(t *testing.T, got, want *mih.Site) {
	t.Helper()
	if got.Name != want.Name || got.URL != want.URL || got.Token != want.Token || got.DB != want.DB ||
		got.Prefix != want.Prefix || got.Tail != want.Tail || got.TailFrom != want.TailFrom || got.PluginSecret != want.PluginSecret {
		t.Errorf("got site %+v\nwant %+v", got.Masked(), want.Masked())
	}
	wantUTC(t, "created_at", got.CreatedAt)
	wantUTC(t, "updated_at", got.UpdatedAt)
}

func testSiteCreateFind(t *testing.T, s mih.Store) {
	ctx := t.Context()
	site := NewSite("main")
	ok(t, s.CreateSite(ctx, site))
	sameSite(t, must[*mih.Site](t)(s.FindSiteByName(ctx, "main")), site)

	// Defaults: prefix mdl_, tail from latest; a site needs no database.
	bare := &mih.Site{Name: "lite", URL: "https://lite.example.edu/"}
	ok(t, s.CreateSite(ctx, bare))
	got := must[*mih.Site](t)(s.FindSiteByName(ctx, "lite"))
	if got.Prefix != "mdl_" || got.TailFrom != mih.TailFromLatest || got.URL != "https://lite.example.edu" || got.Tail {
		t.Errorf("defaults: got %+v", got)
	}
	sites := must[[]*mih.Site](t)(s.FindSites(ctx))
	if len(sites) != 2 || sites[0].Name != "lite" || sites[1].Name != "main" {
		t.Errorf("FindSites: got %d sites, want lite and main", len(sites))
	}
}

func testSiteNotFound(t *testing.T, s mih.Store) {
	ctx := t.Context()
	_, err := s.FindSiteByName(ctx, "nope")
	wantCode(t, err, mih.CodeNotFound)
	wantCode(t, s.UpdateSite(ctx, NewSite("nope")), mih.CodeNotFound)
	wantCode(t, s.DeleteSite(ctx, "nope"), mih.CodeNotFound)
}

func testSiteConflict(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateSite(ctx, NewSite("main")))
	wantCode(t, s.CreateSite(ctx, NewSite("main")), mih.CodeConflict)
}

func testSiteInvalid(t *testing.T, s mih.Store) {
	ctx := t.Context()
	for name, mut := range map[string]func(*mih.Site){
		"name":          func(x *mih.Site) { x.Name = "Main Site" },
		"url":           func(x *mih.Site) { x.URL = "moodle.example.edu" },
		"db scheme":     func(x *mih.Site) { x.DB = "sqlserver://u:p@h/db" },
		"tail no db":    func(x *mih.Site) { x.DB = "" },
		"tail_from":     func(x *mih.Site) { x.TailFrom = "yesterday" },
		"prefix":        func(x *mih.Site) { x.Prefix = "mdl; DROP TABLE" },
		"plugin secret": func(x *mih.Site) { x.PluginSecret = "not-a-whsec" },
	} {
		site := NewSite("main")
		mut(site)
		err := s.CreateSite(ctx, site)
		wantCode(t, err, mih.CodeInvalid)
		if err != nil && (strings.Contains(err.Error(), SecretPassword)) {
			t.Errorf("%s: error %q quotes the database password", name, err)
		}
	}
	if sites := must[[]*mih.Site](t)(s.FindSites(ctx)); len(sites) != 0 {
		t.Errorf("invalid sites were stored: %d", len(sites))
	}
}

func testSiteUpdate(t *testing.T, s mih.Store) {
	ctx := t.Context()
	site := NewSite("main")
	ok(t, s.CreateSite(ctx, site))
	time.Sleep(2 * time.Millisecond)

	// A client writes back what it read (masked) with one change: the secrets stay.
	read := must[*mih.Site](t)(s.FindSiteByName(ctx, "main"))
	edit := read.Masked()
	edit.TailFrom = "1234"
	if err := edit.KeepSecrets(read); err != nil {
		t.Fatal(err)
	}
	ok(t, s.UpdateSite(ctx, edit))
	got := must[*mih.Site](t)(s.FindSiteByName(ctx, "main"))
	want := *site
	want.TailFrom = "1234"
	sameSite(t, got, &want)
	if !got.UpdatedAt.After(got.CreatedAt) || !got.CreatedAt.Equal(site.CreatedAt) {
		t.Errorf("times: created %v updated %v, want created kept and updated later", got.CreatedAt, got.UpdatedAt)
	}
}

func testSiteDelete(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateSite(ctx, NewSite("main")))
	ok(t, s.DeleteSite(ctx, "main"))
	_, err := s.FindSiteByName(ctx, "main")
	wantCode(t, err, mih.CodeNotFound)
}

// Processes running tailers notice a site change through the config version.
func testSiteConfigVersion(t *testing.T, s mih.Store) {
	ctx := t.Context()
	v0 := must[int64](t)(s.ConfigVersion(ctx))
	ok(t, s.CreateSite(ctx, NewSite("main")))
	v1 := must[int64](t)(s.ConfigVersion(ctx))
	ok(t, s.DeleteSite(ctx, "main"))
	v2 := must[int64](t)(s.ConfigVersion(ctx))
	if !(v0 < v1 && v1 < v2) {
		t.Errorf("config versions %d, %d, %d: want rising with every site change", v0, v1, v2)
	}
}

var leaseTests = []test{
	{"TakeRenewExpire", testLeaseTakeRenewExpire},
	{"Exclusive", testLeaseExclusive},
}

func testLeaseTakeRenewExpire(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	try := func(owner string, until, now time.Time) bool {
		t.Helper()
		return must[bool](t)(s.TryLease(ctx, "tail:main", owner, until, now))
	}
	if !try("p1", t0.Add(time.Minute), t0) {
		t.Fatal("a free lease was not taken")
	}
	if try("p2", t0.Add(time.Minute), t0.Add(time.Second)) {
		t.Error("p2 took p1's lease while it was valid")
	}
	if !try("p1", t0.Add(2*time.Minute), t0.Add(30*time.Second)) {
		t.Error("p1 could not renew its own lease")
	}
	if try("p2", t0.Add(3*time.Minute), t0.Add(90*time.Second)) {
		t.Error("p2 took the renewed lease before it ran out")
	}
	if !try("p2", t0.Add(4*time.Minute), t0.Add(2*time.Minute)) {
		t.Error("p2 could not take a lease that ran out")
	}
	ok(t, s.ReleaseLease(ctx, "tail:main", "p1")) // not p1's any more: nothing happens
	if try("p1", t0.Add(5*time.Minute), t0.Add(3*time.Minute)) {
		t.Error("p1's release freed p2's lease")
	}
	ok(t, s.ReleaseLease(ctx, "tail:main", "p2"))
	if !try("p1", t0.Add(5*time.Minute), t0.Add(3*time.Minute)) {
		t.Error("a released lease was not free")
	}
	_, err := s.TryLease(ctx, "", "p1", t0, t0)
	wantCode(t, err, mih.CodeInvalid)
}

func testLeaseExclusive(t *testing.T, s mih.Store) {
	ctx := t.Context()
	t0 := base()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins []string
	)
	for _, owner := range []string{"a", "b", "c", "d", "e", "f"} {
		wg.Go(func() {
			won, err := s.TryLease(ctx, "sync:webcourse", owner, t0.Add(time.Minute), t0)
			if err != nil {
				t.Error(err)
				return
			}
			if won {
				mu.Lock()
				wins = append(wins, owner)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(wins) != 1 {
		t.Errorf("winners %v, want exactly one", wins)
	}
}
