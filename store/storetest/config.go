package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

var ruleTests = []test{
	{"CreateFind", testRuleCreateFind},
	{"ErrNotFound", testRuleNotFound},
	{"ErrInvalid", testRuleInvalid},
	{"Update", testRuleUpdate},
	{"FindRules", testFindRules},
	{"Delete", testRuleDelete},
	{"ConfigVersion", testConfigVersion},
}

var tokenTests = []test{
	{"CreateFind", testTokenCreateFind},
	{"ErrConflict", testTokenConflict},
	{"ErrNotFound", testTokenNotFound},
	{"Touch", testTokenTouch},
	{"Delete", testTokenDelete},
}

var metaTests = []test{
	{"SetGet", testMetaSetGet},
	{"ErrNotFound", testMetaNotFound},
}

func newRule(service string) *mih.Rule {
	r := mih.NewRule()
	r.Name = "notify " + service
	r.Event = `\core\event\user_created`
	r.Filter = `courseid == 5 && crud == "c"`
	r.Service = service
	r.Endpoint = "/users/{{userid}}"
	r.Template = `{"user_id": {{userid}}, "text": "User {{username}}"}`
	r.Enrich = []string{mih.EnrichUser, mih.EnrichCourse}
	return r
}

func sameRule(t *testing.T, got, want *mih.Rule) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Event != want.Event || got.Filter != want.Filter ||
		got.Service != want.Service || got.Method != want.Method || got.Endpoint != want.Endpoint ||
		got.Template != want.Template || got.Format != want.Format || !slices.Equal(got.Enrich, want.Enrich) || got.Active != want.Active {
		t.Errorf("got rule %+v, want %+v", got, want)
	}
	wantTime(t, "created_at", got.CreatedAt, want.CreatedAt)
	wantTime(t, "updated_at", got.UpdatedAt, want.UpdatedAt)
}

func testRuleCreateFind(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateService(ctx, NewService("crm")))
	r := newRule("crm")
	ok(t, s.CreateRule(ctx, r))
	if r.ID == 0 {
		t.Fatal("no id assigned")
	}
	sameRule(t, must[*mih.Rule](t)(s.FindRuleByID(ctx, r.ID)), r)

	r2 := newRule("crm")
	r2.Enrich = nil
	r2.Active = false
	r2.Format = mih.FormatCloudEventsBinary
	ok(t, s.CreateRule(ctx, r2))
	if r2.ID <= r.ID {
		t.Errorf("second id %d not after %d", r2.ID, r.ID)
	}
	got := must[*mih.Rule](t)(s.FindRuleByID(ctx, r2.ID))
	if got.Enrich == nil || len(got.Enrich) != 0 || got.Active || got.Format != mih.FormatCloudEventsBinary {
		t.Errorf("enrich %#v active %v format %q, want [] false cloudevents-binary", got.Enrich, got.Active, got.Format)
	}
	// A rule without a format is a template rule, as every rule was before formats existed.
	r3 := newRule("crm")
	r3.Format = ""
	ok(t, s.CreateRule(ctx, r3))
	if got := must[*mih.Rule](t)(s.FindRuleByID(ctx, r3.ID)); got.Format != mih.FormatTemplate {
		t.Errorf("format %q, want template", got.Format)
	}
	r3.Format = "yaml"
	wantCode(t, s.UpdateRule(ctx, r3), mih.CodeInvalid)
}

func testRuleNotFound(t *testing.T, s mih.Store) {
	ctx := t.Context()
	_, err := s.FindRuleByID(ctx, 42)
	wantCode(t, err, mih.CodeNotFound)
	ok(t, s.CreateService(ctx, NewService("crm")))
	r := newRule("crm")
	r.ID = 42
	wantCode(t, s.UpdateRule(ctx, r), mih.CodeNotFound)
	wantCode(t, s.DeleteRule(ctx, 42), mih.CodeNotFound)
}

// testRuleInvalid: a rule needs a known service, even when the check before it raced a delete.
func testRuleInvalid(t *testing.T, s mih.Store) {
	ctx := t.Context()
	wantCode(t, s.CreateRule(ctx, newRule("nope")), mih.CodeInvalid)
	ok(t, s.CreateService(ctx, NewService("crm")))
	r := newRule("crm")
	ok(t, s.CreateRule(ctx, r))
	r.Service = "nope"
	wantCode(t, s.UpdateRule(ctx, r), mih.CodeInvalid)
	r.Service, r.Method = "crm", "BREW"
	wantCode(t, s.UpdateRule(ctx, r), mih.CodeInvalid)
}

func testRuleUpdate(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateService(ctx, NewService("crm")))
	ok(t, s.CreateService(ctx, NewService("erp")))
	r := newRule("crm")
	ok(t, s.CreateRule(ctx, r))
	created := r.CreatedAt
	r.Service, r.Event, r.Method, r.Active, r.Enrich = "erp", "*", "PUT", false, []string{}
	time.Sleep(2 * time.Millisecond)
	ok(t, s.UpdateRule(ctx, r))
	wantTime(t, "created_at kept", r.CreatedAt, created)
	if !r.UpdatedAt.After(created) {
		t.Errorf("updated_at %v not after %v", r.UpdatedAt, created)
	}
	sameRule(t, must[*mih.Rule](t)(s.FindRuleByID(ctx, r.ID)), r)
}

func testFindRules(t *testing.T, s mih.Store) {
	ctx := t.Context()
	if got := must[[]*mih.Rule](t)(s.FindRules(ctx, mih.RuleFilter{})); len(got) != 0 {
		t.Fatalf("empty store: %d rules", len(got))
	}
	ok(t, s.CreateService(ctx, NewService("crm")))
	ok(t, s.CreateService(ctx, NewService("erp")))
	var ids []int64
	for i, svc := range []string{"crm", "erp", "crm", "erp"} {
		r := newRule(svc)
		r.Active = i < 2
		ok(t, s.CreateRule(ctx, r))
		ids = append(ids, r.ID)
	}
	cases := []struct {
		name string
		f    mih.RuleFilter
		want []int64
	}{
		{"all", mih.RuleFilter{}, ids},
		{"service", mih.RuleFilter{Service: "crm"}, []int64{ids[0], ids[2]}},
		{"active", mih.RuleFilter{Active: ptr(true)}, ids[:2]},
		{"inactive", mih.RuleFilter{Active: ptr(false)}, ids[2:]},
		{"both", mih.RuleFilter{Service: "erp", Active: ptr(false)}, []int64{ids[3]}},
		{"none", mih.RuleFilter{Service: "nope"}, nil},
	}
	for _, tc := range cases {
		var got []int64
		for _, r := range must[[]*mih.Rule](t)(s.FindRules(ctx, tc.f)) {
			got = append(got, r.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func testRuleDelete(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateService(ctx, NewService("crm")))
	r := newRule("crm")
	ok(t, s.CreateRule(ctx, r))
	ok(t, s.DeleteRule(ctx, r.ID))
	_, err := s.FindRuleByID(ctx, r.ID)
	wantCode(t, err, mih.CodeNotFound)
	wantCode(t, s.DeleteRule(ctx, r.ID), mih.CodeNotFound)
}

// testConfigVersion: every successful service or rule change raises the version.
func testConfigVersion(t *testing.T, s mih.Store) {
	ctx := t.Context()
	v := must[int64](t)(s.ConfigVersion(ctx))
	r := newRule("crm")
	steps := []struct {
		name string
		do   func() error
	}{
		{"create service", func() error { return s.CreateService(ctx, NewService("crm")) }},
		{"update service", func() error { return s.UpdateService(ctx, NewService("crm")) }},
		{"create rule", func() error { return s.CreateRule(ctx, r) }},
		{"update rule", func() error { return s.UpdateRule(ctx, r) }},
		{"delete rule", func() error { return s.DeleteRule(ctx, r.ID) }},
		{"delete service", func() error { _, err := s.DeleteService(ctx, "crm"); return err }},
	}
	for _, st := range steps {
		ok(t, st.do())
		got := must[int64](t)(s.ConfigVersion(ctx))
		if got <= v {
			t.Errorf("after %s: version %d, want > %d", st.name, got, v)
		}
		v = got
	}
	// Other writes leave it alone.
	ok(t, s.SetMeta(ctx, "k", "v"))
	ok(t, s.CreateDeliveries(ctx, []*mih.Delivery{newDelivery("crm", base())}))
	if got := must[int64](t)(s.ConfigVersion(ctx)); got != v {
		t.Errorf("after other writes: version %d, want %d", got, v)
	}
}

func testTokenCreateFind(t *testing.T, s mih.Store) {
	ctx := t.Context()
	if got := must[[]*mih.Token](t)(s.FindTokens(ctx)); len(got) != 0 {
		t.Fatalf("empty store: %d tokens", len(got))
	}
	a := &mih.Token{Name: "admin", Hash: "h-admin"}
	b := &mih.Token{Name: "ci", Hash: "h-ci"}
	ok(t, s.CreateToken(ctx, a))
	ok(t, s.CreateToken(ctx, b))
	if a.ID == 0 || b.ID == a.ID {
		t.Errorf("ids %d %d", a.ID, b.ID)
	}
	wantUTC(t, "created_at", a.CreatedAt)
	got := must[*mih.Token](t)(s.FindTokenByHash(ctx, "h-ci"))
	if got.ID != b.ID || got.Name != "ci" || got.Hash != "h-ci" || got.LastUsedAt != nil {
		t.Errorf("got %+v, want %+v", got, b)
	}
	wantTime(t, "created_at", got.CreatedAt, b.CreatedAt)
	list := must[[]*mih.Token](t)(s.FindTokens(ctx))
	if len(list) != 2 || list[0].Name != "admin" || list[1].Name != "ci" {
		t.Errorf("tokens %v", list)
	}
}

func testTokenConflict(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateToken(ctx, &mih.Token{Name: "admin", Hash: "h1"}))
	wantCode(t, s.CreateToken(ctx, &mih.Token{Name: "admin", Hash: "h2"}), mih.CodeConflict)
	wantCode(t, s.CreateToken(ctx, &mih.Token{Name: "other", Hash: "h1"}), mih.CodeConflict)
	wantCode(t, s.CreateToken(ctx, &mih.Token{Name: "", Hash: "h3"}), mih.CodeInvalid)
}

func testTokenNotFound(t *testing.T, s mih.Store) {
	ctx := t.Context()
	_, err := s.FindTokenByHash(ctx, "nope")
	wantCode(t, err, mih.CodeNotFound)
	wantCode(t, s.DeleteToken(ctx, 7), mih.CodeNotFound)
	wantCode(t, s.TouchToken(ctx, 7, time.Now()), mih.CodeNotFound)
}

func testTokenTouch(t *testing.T, s mih.Store) {
	ctx := t.Context()
	tok := &mih.Token{Name: "admin", Hash: "h"}
	ok(t, s.CreateToken(ctx, tok))
	at := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.FixedZone("CET", 3600))
	ok(t, s.TouchToken(ctx, tok.ID, at))
	got := must[*mih.Token](t)(s.FindTokenByHash(ctx, "h"))
	if got.LastUsedAt == nil {
		t.Fatal("last_used_at not set")
	}
	wantTime(t, "last_used_at", *got.LastUsedAt, at)
}

func testTokenDelete(t *testing.T, s mih.Store) {
	ctx := t.Context()
	tok := &mih.Token{Name: "admin", Hash: "h"}
	ok(t, s.CreateToken(ctx, tok))
	ok(t, s.DeleteToken(ctx, tok.ID))
	_, err := s.FindTokenByHash(ctx, "h")
	wantCode(t, err, mih.CodeNotFound)
	// The name and hash are free again.
	ok(t, s.CreateToken(ctx, &mih.Token{Name: "admin", Hash: "h"}))
}

func testMetaSetGet(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.SetMeta(ctx, "admin_created", "yes"))
	if v := must[string](t)(s.GetMeta(ctx, "admin_created")); v != "yes" {
		t.Errorf("got %q", v)
	}
	ok(t, s.SetMeta(ctx, "admin_created", ""))
	if v := must[string](t)(s.GetMeta(ctx, "admin_created")); v != "" {
		t.Errorf("after overwrite: got %q", v)
	}
}

func testMetaNotFound(t *testing.T, s mih.Store) {
	_, err := s.GetMeta(t.Context(), "nope")
	wantCode(t, err, mih.CodeNotFound)
}
