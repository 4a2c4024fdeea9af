package http

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/mihhub/mih"
)

// deliveryHub has services crm and lms, one rule each on user_created, and two events: four
// deliveries, pending.
func deliveryHub(t *testing.T) (h *testHub, crmRule, lmsRule int64) {
	h = newTestHub(t)
	h.createService("crm")
	h.createService("lms")
	crmRule = h.createRule("crm", `\core\event\user_created`, `{"v": 1, "user": {{userid}}}`)
	lmsRule = h.createRule("lms", `\core\event\user_created`, "")
	h.do("POST", "/api/v1/events", []any{
		testEvent("e1", `\core\event\user_created`, 2),
		testEvent("e2", `\core\event\user_created`, 3),
	}).want(http.StatusAccepted)
	return h, crmRule, lmsRule
}

func (h *testHub) deliveries(query string) []*mih.Delivery {
	h.t.Helper()
	var l list[*mih.Delivery]
	h.do("GET", "/api/v1/deliveries"+query, nil).want(http.StatusOK).decode(&l)
	return l.Items
}

func TestDeliveries_List(t *testing.T) {
	h, crmRule, _ := deliveryHub(t)
	h.finish(mih.DeliveryDead, 400, 12)
	tests := []struct {
		query string
		want  int
	}{
		{"", 4},
		{"?status=dead", 4},
		{"?status=pending", 0},
		{"?service=crm", 2},
		{fmt.Sprintf("?rule=%d", crmRule), 2},
		{"?event=e1", 2},
		{"?service=crm&event=e1", 1},
		{"?limit=3", 3},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			if got := len(h.deliveries(tc.query)); got != tc.want {
				t.Errorf("got %d deliveries, want %d", got, tc.want)
			}
		})
	}
	h.do("GET", "/api/v1/deliveries?status=lost", nil).wantError(400, "invalid")
	h.do("GET", "/api/v1/deliveries?rule=x", nil).wantError(400, "invalid")
}

func TestDeliveries_Detail(t *testing.T) {
	h, crmRule, _ := deliveryHub(t)
	h.finish(mih.DeliveryDead, 400, 12)
	d := h.deliveries(fmt.Sprintf("?rule=%d&event=e1", crmRule))[0]
	var got deliveryDetail
	h.do("GET", fmt.Sprintf("/api/v1/deliveries/%d", d.ID), nil).want(http.StatusOK).decode(&got)
	if got.Delivery.ID != d.ID || got.Event == nil || got.Event.ID != "e1" || got.Rule == nil || got.Rule.ID != crmRule {
		t.Fatalf("detail %+v, want the delivery with its event and rule", got)
	}
	if len(got.Attempts) != 1 || got.Attempts[0].Status != 400 {
		t.Fatalf("attempts %+v, want one with status 400", got.Attempts)
	}

	// The rule goes: the detail still answers, with rule null.
	h.do("DELETE", fmt.Sprintf("/api/v1/rules/%d", crmRule), nil).want(http.StatusNoContent)
	r := h.do("GET", fmt.Sprintf("/api/v1/deliveries/%d", d.ID), nil).want(http.StatusOK)
	if m := r.obj(); m["rule"] != nil || m["event"] == nil {
		t.Errorf("after deleting the rule: %s", r.Body)
	}
	h.do("GET", "/api/v1/deliveries/999", nil).wantError(404, "not_found")
}

func TestDeliveries_Replay(t *testing.T) {
	h, crmRule, _ := deliveryHub(t)
	one := h.deliveries(fmt.Sprintf("?rule=%d&event=e1", crmRule))[0]
	path := fmt.Sprintf("/api/v1/deliveries/%d/replay", one.ID)

	t.Run("not dead", func(t *testing.T) {
		r := h.do("POST", path, nil).wantError(409, "conflict")
		if !strings.Contains(r.errMessage(), "pending") {
			t.Errorf("message %q does not say the state", r.errMessage())
		}
	})
	h.finish(mih.DeliveryDead, 400, 12)
	t.Run("single", func(t *testing.T) {
		before := h.notify.Load()
		var d mih.Delivery
		h.do("POST", path, nil).want(http.StatusOK).decode(&d)
		if d.State != mih.DeliveryPending || d.Attempts != 0 || d.IdempotencyKey != one.IdempotencyKey {
			t.Errorf("replayed %+v, want pending, no attempts, same key", d)
		}
		if h.notify.Load() == before {
			t.Errorf("workers were not notified")
		}
		h.do("POST", path, nil).wantError(409, "conflict")
	})
	t.Run("rerender with the current rule", func(t *testing.T) {
		h.finish(mih.DeliveryDead, 400, 12)
		h.do("PUT", fmt.Sprintf("/api/v1/rules/%d", crmRule), map[string]any{
			"event": `\core\event\user_created`, "service": "crm", "method": "PUT", "endpoint": "/u/{{userid}}",
			"template": `{"v": 2, "user": {{userid}}}`,
		}).want(http.StatusOK)
		var d mih.Delivery
		h.do("POST", path, map[string]any{"rerender": true}).want(http.StatusOK).decode(&d)
		if string(d.Payload) != `{"v":2,"user":2}` || d.Method != "PUT" || d.Endpoint != "/u/2" || d.State != mih.DeliveryPending {
			t.Errorf("re-rendered %+v (payload %s)", d, d.Payload)
		}
	})
	t.Run("rerender refused when the rule is gone", func(t *testing.T) {
		h.finish(mih.DeliveryDead, 400, 12)
		h.do("DELETE", fmt.Sprintf("/api/v1/rules/%d", crmRule), nil).want(http.StatusNoContent)
		h.do("POST", path, map[string]any{"rerender": true}).wantError(409, "conflict")
		h.do("POST", path, `{"rerender": "yes"}`).wantError(400, "invalid")
		h.do("POST", path, `{}`).want(http.StatusOK) // replayed as sent
	})
	h.do("POST", "/api/v1/deliveries/999/replay", nil).wantError(404, "not_found")
}

func TestDeliveries_BulkReplay(t *testing.T) {
	h, _, _ := deliveryHub(t)
	h.finish(mih.DeliveryDead, 400, 12)
	tests := []struct {
		name string
		body any
		want int
	}{
		{"by service", map[string]any{"status": "dead", "service": "crm"}, 2},
		{"again: nothing dead left there", map[string]any{"service": "crm"}, 0},
		{"by event", map[string]any{"event": "e2"}, 1},
		{"everything dead", nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got replayedBody
			h.do("POST", "/api/v1/deliveries/replay", tc.body).want(http.StatusOK).decode(&got)
			if got.Replayed != tc.want {
				t.Errorf("replayed %d, want %d", got.Replayed, tc.want)
			}
		})
	}
	if n := len(h.deliveries("?status=pending")); n != 4 {
		t.Errorf("got %d pending deliveries, want 4", n)
	}
	h.do("POST", "/api/v1/deliveries/replay", map[string]any{"status": "pending"}).wantError(400, "invalid")
	h.do("POST", "/api/v1/deliveries/replay", map[string]any{"state": "dead"}).wantError(400, "invalid")
}

func TestDeliveries_Delete(t *testing.T) {
	h, crmRule, _ := deliveryHub(t)
	one := h.deliveries(fmt.Sprintf("?rule=%d&event=e1", crmRule))[0]
	t.Run("single", func(t *testing.T) {
		h.do("DELETE", fmt.Sprintf("/api/v1/deliveries/%d", one.ID), nil).want(http.StatusNoContent)
		h.do("GET", fmt.Sprintf("/api/v1/deliveries/%d", one.ID), nil).wantError(404, "not_found")
		h.do("DELETE", fmt.Sprintf("/api/v1/deliveries/%d", one.ID), nil).wantError(404, "not_found")
	})
	t.Run("leased", func(t *testing.T) {
		ctx := context.Background()
		ds, err := h.store.ClaimDeliveries(ctx, mih.ClaimParams{Owner: "w", Limit: 1, Lease: 60e9, Now: h.clock.Now()})
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim: %v %v", ds, err)
		}
		h.do("DELETE", fmt.Sprintf("/api/v1/deliveries/%d", ds[0].ID), nil).wantError(409, "conflict")
		if err := h.store.ReleaseDeliveries(ctx, "w", []int64{ds[0].ID}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bulk needs a filter", func(t *testing.T) {
		h.do("DELETE", "/api/v1/deliveries", nil).wantError(400, "invalid")
		h.do("DELETE", "/api/v1/deliveries?all=false", nil).wantError(400, "invalid")
	})
	t.Run("bulk by service", func(t *testing.T) {
		var got deletedBody
		h.do("DELETE", "/api/v1/deliveries?service=lms", nil).want(http.StatusOK).decode(&got)
		if got.Deleted != 2 {
			t.Errorf("deleted %d, want 2", got.Deleted)
		}
	})
	t.Run("bulk all", func(t *testing.T) {
		var got deletedBody
		h.do("DELETE", "/api/v1/deliveries?all=true", nil).want(http.StatusOK).decode(&got)
		if got.Deleted != 1 || len(h.deliveries("")) != 0 {
			t.Errorf("deleted %d, want the last 1", got.Deleted)
		}
	})
}
