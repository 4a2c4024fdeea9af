package rule

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/mihhub/mih"
)

// lookupFunc is a Lookup of two functions.
type lookupFunc struct {
	user, course func(ctx context.Context, id int64) (map[string]any, error)
}

func (l lookupFunc) User(ctx context.Context, id int64) (map[string]any, error) {
	return l.user(ctx, id)
}
func (l lookupFunc) Course(ctx context.Context, id int64) (map[string]any, error) {
	return l.course(ctx, id)
}

func TestCompiled_Build(t *testing.T) {
	plain, err := Compile(&mih.Rule{Event: "*", Service: "s", Method: "POST", Endpoint: "/u/{{userid}}", Template: `{"id": {{userid}}}`})
	if err != nil {
		t.Fatal(err)
	}
	enriched, err := Compile(&mih.Rule{Event: "*", Service: "s", Method: "PUT", Endpoint: "/u", Template: `{"email": {{user.email}}}`})
	if err != nil {
		t.Fatal(err)
	}
	ev := &mih.Event{ID: "e1", EventName: `\core\event\user_created`, UserID: 7}
	found := lookupFunc{
		user:   func(context.Context, int64) (map[string]any, error) { return map[string]any{"email": "a@b.c"}, nil },
		course: func(context.Context, int64) (map[string]any, error) { return nil, mih.Errorf(mih.CodeNotFound, "none") },
	}
	down := lookupFunc{user: func(context.Context, int64) (map[string]any, error) { return nil, errors.New("moodle down") }}
	broken := &mih.Event{ID: "e2", UserID: 7, Other: json.RawMessage(`{not json`)}

	tests := []struct {
		name      string
		c         *Compiled
		ev        *mih.Event
		lk        Lookup
		want      Request
		code      string
		retryable bool
	}{
		{"rendered at once", plain, ev, nil, Request{Method: "POST", Endpoint: "/u/7", Payload: json.RawMessage(`{"id": 7}`)}, "", false},
		{"deferred without a lookup", enriched, ev, nil, Request{Method: "PUT", Deferred: true}, "", false},
		{"rendered with the lookup", enriched, ev, found, Request{Method: "PUT", Endpoint: "/u", Payload: json.RawMessage(`{"email": "a@b.c"}`)}, "", false},
		{"lookup failed: retried", enriched, ev, down, Request{}, mih.ErrEnrich, true},
		{"unreadable event: final", plain, broken, nil, Request{}, mih.ErrPayload, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.Build(t.Context(), tc.ev, nil, tc.lk)
			if tc.code != "" {
				se, ok := errors.AsType[*mih.SendError](err)
				if !ok || se.Code != tc.code || se.Retryable != tc.retryable {
					t.Fatalf("got %v, want a %s failure (retryable %v)", err, tc.code, tc.retryable)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != tc.want.Method || got.Endpoint != tc.want.Endpoint || got.Deferred != tc.want.Deferred ||
				string(got.Payload) != string(tc.want.Payload) {
				t.Errorf("got %+v (%s), want %+v (%s)", got, got.Payload, tc.want, tc.want.Payload)
			}
		})
	}
}
