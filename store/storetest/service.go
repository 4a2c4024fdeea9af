package storetest

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/mihhub/mih"
)

var serviceTests = []test{
	{"CreateFind", testServiceCreateFind},
	{"SecretsRoundTrip", testServiceSecrets},
	{"ErrConflict", testServiceConflict},
	{"ErrNotFound", testServiceNotFound},
	{"ErrInvalid", testServiceInvalid},
	{"Update", testServiceUpdate},
	{"FindServices", testFindServices},
	{"Delete", testServiceDelete},
}

func sameService(t *testing.T, got, want *mih.Service) {
	t.Helper()
	if got.Name != want.Name || got.Type != want.Type || got.BaseURL != want.BaseURL || got.Enabled != want.Enabled {
		t.Errorf("got %s %s %q enabled=%v, want %s %s %q enabled=%v",
			got.Name, got.Type, got.BaseURL, got.Enabled, want.Name, want.Type, want.BaseURL, want.Enabled)
	}
	if got.Auth != want.Auth || got.SigningSecret != want.SigningSecret || !maps.Equal(got.Headers, want.Headers) {
		t.Errorf("secrets: got %+v %q %v, want %+v %q %v",
			got.Auth, got.SigningSecret, got.Headers, want.Auth, want.SigningSecret, want.Headers)
	}
	if got.TimeoutS != want.TimeoutS || got.MaxRetries != want.MaxRetries || got.InitialBackoffS != want.InitialBackoffS ||
		got.MaxBackoffS != want.MaxBackoffS || got.MaxAgeH != want.MaxAgeH || got.Circuit != want.Circuit {
		t.Errorf("settings: got %+v, want %+v", got, want)
	}
	wantTime(t, "created_at", got.CreatedAt, want.CreatedAt)
	wantTime(t, "updated_at", got.UpdatedAt, want.UpdatedAt)
}

func testServiceCreateFind(t *testing.T, s mih.Store) {
	ctx := t.Context()
	svc := NewService("crm")
	svc.TimeoutS, svc.MaxRetries, svc.InitialBackoffS, svc.MaxBackoffS, svc.MaxAgeH = 2.5, 7, 0.5, 60, 24
	svc.Circuit = mih.CircuitConfig{FailureThreshold: 3, WindowS: 10, CooldownS: 5}
	svc.Enabled = false
	before := time.Now().Add(-time.Second)
	ok(t, s.CreateService(ctx, svc))
	if svc.CreatedAt.Before(before) || !svc.UpdatedAt.Equal(svc.CreatedAt) {
		t.Errorf("created_at %v, updated_at %v: want now", svc.CreatedAt, svc.UpdatedAt)
	}
	got := must[*mih.Service](t)(s.FindServiceByName(ctx, "crm"))
	sameService(t, got, svc)
}

// testServiceSecrets: secrets come back in clear from Find (the stores' own tests check that they
// are sealed in the database).
func testServiceSecrets(t *testing.T, s mih.Store) {
	ctx := t.Context()
	amqp := NewAMQPService("broker")
	ok(t, s.CreateService(ctx, amqp))
	got := must[*mih.Service](t)(s.FindServiceByName(ctx, "broker"))
	sameService(t, got, amqp)

	basic := NewService("basic")
	basic.Auth = mih.Auth{Type: mih.AuthBasic, Username: "moodle", Password: SecretPassword}
	ok(t, s.CreateService(ctx, basic))
	got = must[*mih.Service](t)(s.FindServiceByName(ctx, "basic"))
	sameService(t, got, basic)
}

func testServiceConflict(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateService(ctx, NewService("crm")))
	v := must[int64](t)(s.ConfigVersion(ctx))
	wantCode(t, s.CreateService(ctx, NewService("crm")), mih.CodeConflict)
	if got := must[int64](t)(s.ConfigVersion(ctx)); got != v {
		t.Errorf("config version %d after a failed create, want %d", got, v)
	}
}

func testServiceNotFound(t *testing.T, s mih.Store) {
	ctx := t.Context()
	_, err := s.FindServiceByName(ctx, "nope")
	wantCode(t, err, mih.CodeNotFound)
	if msg := mih.ErrorMessage(err); msg != `service "nope" not found` {
		t.Errorf("message %q", msg)
	}
	wantCode(t, s.UpdateService(ctx, NewService("nope")), mih.CodeNotFound)
	_, err = s.DeleteService(ctx, "nope")
	wantCode(t, err, mih.CodeNotFound)
}

func testServiceInvalid(t *testing.T, s mih.Store) {
	ctx := t.Context()
	bad := NewService("Not A Slug")
	wantCode(t, s.CreateService(ctx, bad), mih.CodeInvalid)
	ok(t, s.CreateService(ctx, NewService("crm")))
	bad = NewService("crm")
	bad.BaseURL = "ftp://x"
	wantCode(t, s.UpdateService(ctx, bad), mih.CodeInvalid)
	if list := must[[]*mih.Service](t)(s.FindServices(ctx)); len(list) != 1 || list[0].BaseURL != NewService("").BaseURL {
		t.Errorf("after invalid writes: %v", list)
	}
}

func testServiceUpdate(t *testing.T, s mih.Store) {
	ctx := t.Context()
	svc := NewService("crm")
	ok(t, s.CreateService(ctx, svc))
	created := svc.CreatedAt
	upd := NewService("crm")
	upd.BaseURL = "https://crm.example.com/api"
	upd.Auth = mih.Auth{Type: mih.AuthHeader, Name: "X-Key", Value: "v"}
	upd.Headers = nil
	upd.SigningSecret = ""
	upd.MaxRetries = 9
	time.Sleep(2 * time.Millisecond) // updated_at must move on
	ok(t, s.UpdateService(ctx, upd))
	wantTime(t, "created_at kept", upd.CreatedAt, created)
	if !upd.UpdatedAt.After(created) {
		t.Errorf("updated_at %v not after created_at %v", upd.UpdatedAt, created)
	}
	got := must[*mih.Service](t)(s.FindServiceByName(ctx, "crm"))
	sameService(t, got, upd)
}

func testFindServices(t *testing.T, s mih.Store) {
	ctx := t.Context()
	if list := must[[]*mih.Service](t)(s.FindServices(ctx)); len(list) != 0 {
		t.Fatalf("empty store lists %d services", len(list))
	}
	for _, n := range []string{"b", "c", "a"} {
		ok(t, s.CreateService(ctx, NewService(n)))
	}
	var names []string
	for _, svc := range must[[]*mih.Service](t)(s.FindServices(ctx)) {
		names = append(names, svc.Name)
		if svc.Auth.Token != SecretToken {
			t.Errorf("%s: token %q", svc.Name, svc.Auth.Token)
		}
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("got %v, want a b c", names)
	}
}

func testServiceDelete(t *testing.T, s mih.Store) {
	ctx := t.Context()
	for _, n := range []string{"crm", "other"} {
		ok(t, s.CreateService(ctx, NewService(n)))
		for range 2 {
			ok(t, s.CreateRule(ctx, newRule(n)))
		}
		ok(t, s.CreateLogs(ctx, []*mih.LogEntry{newLog(n, true, time.Now()), newLog(n, false, time.Now())}))
	}
	t0 := base()
	states := []mih.DeliveryState{mih.DeliveryPending, mih.DeliveryRetrying, mih.DeliveryPaused, mih.DeliveryDead,
		mih.DeliverySucceeded, mih.DeliveryPending}
	var ds []*mih.Delivery
	for _, svc := range []string{"crm", "other"} {
		for _, st := range states {
			d := newDelivery(svc, t0)
			d.State = st
			if st == mih.DeliveryDead {
				d.DeadReason = mih.ReasonFailed
			}
			ds = append(ds, d)
		}
	}
	ok(t, s.CreateDeliveries(ctx, ds))
	// Lease the last pending delivery of crm: a worker is sending it.
	leased := ds[5]
	claimOnly(t, s, leased.ID, "w1")

	v := must[int64](t)(s.ConfigVersion(ctx))
	del := must[mih.ServiceDeletion](t)(s.DeleteService(ctx, "crm"))
	if want := (mih.ServiceDeletion{Rules: 2, Logs: 2, Deliveries: 3}); del != want {
		t.Errorf("deletion %+v, want %+v", del, want)
	}
	if got := must[int64](t)(s.ConfigVersion(ctx)); got <= v {
		t.Errorf("config version %d after delete, want > %d", got, v)
	}
	_, err := s.FindServiceByName(ctx, "crm")
	wantCode(t, err, mih.CodeNotFound)
	if rules := must[[]*mih.Rule](t)(s.FindRules(ctx, mih.RuleFilter{Service: "crm"})); len(rules) != 0 {
		t.Errorf("%d rules left", len(rules))
	}
	if logs := must[[]*mih.LogEntry](t)(firstPage(s.FindLogs(ctx, mih.LogFilter{Service: "crm"}))); len(logs) != 0 {
		t.Errorf("%d log entries left", len(logs))
	}
	want := []struct {
		state  mih.DeliveryState
		reason string
	}{
		{mih.DeliveryDead, mih.ReasonServiceDeleted},
		{mih.DeliveryDead, mih.ReasonServiceDeleted},
		{mih.DeliveryDead, mih.ReasonServiceDeleted},
		{mih.DeliveryDead, mih.ReasonFailed},
		{mih.DeliverySucceeded, ""},
		{mih.DeliveryPending, ""}, // leased: left to its worker
	}
	for i, w := range want {
		d := must[*mih.Delivery](t)(s.FindDeliveryByID(ctx, ds[i].ID))
		if d.State != w.state || d.DeadReason != w.reason {
			t.Errorf("delivery %d (was %s): %s/%q, want %s/%q", i, states[i], d.State, d.DeadReason, w.state, w.reason)
		}
	}
	// The other service keeps everything.
	if _, err := s.FindServiceByName(ctx, "other"); err != nil {
		t.Error(err)
	}
	if rules := must[[]*mih.Rule](t)(s.FindRules(ctx, mih.RuleFilter{Service: "other"})); len(rules) != 2 {
		t.Errorf("other: %d rules", len(rules))
	}
	for _, d := range ds[len(states):] {
		if got := must[*mih.Delivery](t)(s.FindDeliveryByID(ctx, d.ID)); got.State != d.State {
			t.Errorf("other's delivery %d: %s, want %s", d.ID, got.State, d.State)
		}
	}
}

// claimOnly leases the due delivery id to owner for an hour from the wall clock (which
// DeleteDeliveries and DeleteService go by): it claims everything due and gives back the rest.
func claimOnly(t *testing.T, s mih.Store, id int64, owner string) {
	t.Helper()
	ctx := context.Background()
	p := mih.ClaimParams{Owner: owner, Limit: 1000, Lease: time.Hour, Now: time.Now()}
	got := must[[]*mih.Delivery](t)(s.ClaimDeliveries(ctx, p))
	var back []int64
	found := false
	for _, d := range got {
		if d.ID == id {
			found = true
		} else {
			back = append(back, d.ID)
		}
	}
	if !found {
		t.Fatalf("delivery %d was not claimable", id)
	}
	ok(t, s.ReleaseDeliveries(ctx, owner, back))
}

func firstPage[T any](items []T, _ string, err error) ([]T, error) { return items, err }
