package inbound_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/inbound"
	"github.com/mihhub/mih/secret"
	"github.com/mihhub/mih/store/sqlite"
)

// Receiving one message with two matching rules: store the message and its two calls in one
// transaction (SQLite, the default store). go test -run XXX -bench Receive ./inbound/
func BenchmarkReceive(b *testing.B) {
	ctx := b.Context()
	box, _ := secret.NewBox(make([]byte, secret.KeySize))
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "mih.db"), box)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ep := mih.NewInboundEndpoint()
	ep.Name, ep.Token = "sis", "bench-token-0123456789"
	if err := st.CreateInboundEndpoint(ctx, ep); err != nil {
		b.Fatal(err)
	}
	for _, fn := range []string{"core_user_create_users", "enrol_manual_enrol_users"} {
		r := &mih.InboundRule{Endpoint: "sis", Site: "main", Function: fn, Active: true, Filter: `action == "created"`,
			Template: `{"users": [{"username": {{student.username}}, "email": {{student.email}}, "createpassword": 1}]}`}
		if err := st.CreateInboundRule(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
	recv := inbound.NewReceiver(st, nil, nil)
	body := []byte(`{"action": "created", "course": "BIO101", "student": {"username": "ada.l", "email": "ada@example.edu"}}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		res, err := recv.Receive(ctx, ep, fmt.Sprintf("m-%d", i), body, "bench")
		if err != nil || res.Calls != 2 {
			b.Fatal(res, err)
		}
	}
}
