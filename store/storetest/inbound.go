package storetest

import (
	"slices"
	"testing"

	"github.com/mihhub/mih"
)

var inboundTests = []test{
	{"Endpoints", testInboundEndpoints},
	{"Rules", testInboundRules},
}

const (
	secretA = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretB = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
)

func newEndpoint(name string) *mih.InboundEndpoint {
	e := mih.NewInboundEndpoint()
	e.Name, e.Description, e.Secrets = name, "student records", []string{secretA}
	return e
}

func testInboundEndpoints(t *testing.T, s mih.Store) {
	ctx := t.Context()
	v0 := must[int64](t)(s.ConfigVersion(ctx))
	e := newEndpoint("sis")
	ok(t, s.CreateInboundEndpoint(ctx, e))
	wantCode(t, s.CreateInboundEndpoint(ctx, newEndpoint("sis")), mih.CodeConflict)
	got := must[*mih.InboundEndpoint](t)(s.FindInboundEndpoint(ctx, "sis"))
	if !slices.Equal(got.Secrets, []string{secretA}) || got.Token != "" || got.ToleranceS != 300 || !got.Active || got.Description != "student records" {
		t.Errorf("got %+v", got)
	}
	wantTime(t, "created_at", got.CreatedAt, e.CreatedAt)
	if v := must[int64](t)(s.ConfigVersion(ctx)); v <= v0 {
		t.Errorf("config version %d did not rise from %d", v, v0)
	}

	// Rotation: two secrets at once, and a token.
	got.Secrets, got.Token, got.Active = []string{secretA, secretB}, "tok-0123456789abcdef", false
	got.Source = "amqp://sis:pw@127.0.0.1:5672/%2F?queue=sis.inbound"
	ok(t, s.UpdateInboundEndpoint(ctx, got))
	got = must[*mih.InboundEndpoint](t)(s.FindInboundEndpoint(ctx, "sis"))
	if !slices.Equal(got.Secrets, []string{secretA, secretB}) || got.Token != "tok-0123456789abcdef" || got.Active ||
		got.Source != "amqp://sis:pw@127.0.0.1:5672/%2F?queue=sis.inbound" {
		t.Errorf("after update %+v", got)
	}
	got.Secrets = []string{secretA, secretB, secretA}
	wantCode(t, s.UpdateInboundEndpoint(ctx, got), mih.CodeInvalid)
	bare := mih.NewInboundEndpoint()
	bare.Name = "open"
	wantCode(t, s.CreateInboundEndpoint(ctx, bare), mih.CodeInvalid)
	wantCode(t, s.UpdateInboundEndpoint(ctx, newEndpoint("nope")), mih.CodeNotFound)
	_, err := s.FindInboundEndpoint(ctx, "nope")
	wantCode(t, err, mih.CodeNotFound)

	ok(t, s.CreateInboundEndpoint(ctx, newEndpoint("hr")))
	all := must[[]*mih.InboundEndpoint](t)(s.FindInboundEndpoints(ctx))
	if len(all) != 2 || all[0].Name != "hr" || all[1].Name != "sis" {
		t.Errorf("endpoints %v", all)
	}
	ok(t, s.DeleteInboundEndpoint(ctx, "hr"))
	wantCode(t, s.DeleteInboundEndpoint(ctx, "hr"), mih.CodeNotFound)
}

func testInboundRules(t *testing.T, s mih.Store) {
	ctx := t.Context()
	ok(t, s.CreateInboundEndpoint(ctx, newEndpoint("sis")))
	ok(t, s.CreateInboundEndpoint(ctx, newEndpoint("hr")))
	r := &mih.InboundRule{Endpoint: "sis", Name: "create", Filter: `action == "create"`, Site: "main",
		Function: "core_user_create_users", Template: `{"users": [{"username": {{username}}}]}`, Active: true}
	ok(t, s.CreateInboundRule(ctx, r))
	if r.ID == 0 {
		t.Fatal("no id")
	}
	got := must[*mih.InboundRule](t)(s.FindInboundRule(ctx, r.ID))
	if got.Endpoint != "sis" || got.Filter != r.Filter || got.Site != "main" || got.Function != r.Function || got.Template != r.Template || !got.Active {
		t.Errorf("got %+v", got)
	}
	wantCode(t, s.CreateInboundRule(ctx, &mih.InboundRule{Endpoint: "nope", Site: "main", Function: "f"}), mih.CodeInvalid)
	wantCode(t, s.CreateInboundRule(ctx, &mih.InboundRule{Endpoint: "sis", Site: "main", Function: "Bad Name"}), mih.CodeInvalid)

	r2 := &mih.InboundRule{Endpoint: "hr", Site: "main", Function: "core_user_update_users", Template: `{}`}
	ok(t, s.CreateInboundRule(ctx, r2))
	got.Active, got.Function = false, "core_user_update_users"
	ok(t, s.UpdateInboundRule(ctx, got))
	if g := must[*mih.InboundRule](t)(s.FindInboundRule(ctx, r.ID)); g.Active || g.Function != "core_user_update_users" {
		t.Errorf("after update %+v", g)
	}
	if l := must[[]*mih.InboundRule](t)(s.FindInboundRules(ctx, "sis")); len(l) != 1 || l[0].ID != r.ID {
		t.Errorf("rules of sis: %v", l)
	}
	if l := must[[]*mih.InboundRule](t)(s.FindInboundRules(ctx, "")); len(l) != 2 {
		t.Errorf("all rules: %v", l)
	}
	// Deleting an endpoint deletes its rules.
	ok(t, s.DeleteInboundEndpoint(ctx, "sis"))
	_, err := s.FindInboundRule(ctx, r.ID)
	wantCode(t, err, mih.CodeNotFound)
	ok(t, s.DeleteInboundRule(ctx, r2.ID))
	wantCode(t, s.DeleteInboundRule(ctx, r2.ID), mih.CodeNotFound)
}
