package http

import (
	"context"
	"net/http"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/ops"
)

// deliveryHandler serves the delivery ledger, /api/v1/deliveries: the queue, the dead-letter
// queue and its actions (replay, re-render and replay, delete).
type deliveryHandler struct {
	store mih.Store
	ops   *ops.Ops
	now   func() time.Time
}

// filter reads the selection shared by the list and the bulk delete.
func deliveryFilter(q *query) mih.DeliveryFilter {
	f := mih.DeliveryFilter{
		State:   mih.DeliveryState(q.str("status")),
		Service: q.str("service"),
		RuleID:  q.int64("rule"),
		EventID: q.str("event"),
	}
	if f.State != "" && !f.State.Valid() {
		q.fail("status", "want pending, retrying, paused, dead or succeeded, got %q", f.State)
	}
	return f
}

// list answers deliveries, newest first, filtered by status, service, rule or event.
func (h *deliveryHandler) list(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	f := deliveryFilter(q)
	f.Limit, f.Cursor = q.limit(), q.cursor()
	if q.err != nil {
		return q.err
	}
	ds, next, err := h.store.FindDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	writeList(w, ds, next)
	return nil
}

// deliveryDetail is everything needed to understand or replay a delivery. Event and Rule are
// null when they are gone (or, for an asynchronous gateway call, never were).
type deliveryDetail struct {
	Delivery *mih.Delivery  `json:"delivery"`
	Event    *mih.Event     `json:"event"`
	Rule     *mih.Rule      `json:"rule"`
	Attempts []*mih.Attempt `json:"attempts"`
}

// get answers a delivery with the request as sent, its source event, its rule and every attempt.
func (h *deliveryHandler) get(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "delivery")
	if err != nil {
		return err
	}
	ctx := r.Context()
	d, err := h.store.FindDeliveryByID(ctx, id)
	if err != nil {
		return err
	}
	out := deliveryDetail{Delivery: d}
	if d.EventID != "" {
		if out.Event, err = findOptional(ctx, d.EventID, h.store.FindEventByID); err != nil {
			return err
		}
	}
	if d.RuleID != 0 {
		if out.Rule, err = findOptional(ctx, d.RuleID, h.store.FindRuleByID); err != nil {
			return err
		}
	}
	if out.Attempts, err = h.store.FindAttempts(ctx, id); err != nil {
		return err
	}
	if out.Attempts == nil {
		out.Attempts = []*mih.Attempt{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// findOptional looks a record up, reading "not found" as nil.
func findOptional[K any, T any](ctx context.Context, key K, find func(context.Context, K) (*T, error)) (*T, error) {
	v, err := find(ctx, key)
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return nil, nil
	}
	return v, err
}

type replayRequest struct {
	// Rerender renders the payload again from the stored event with the rule as it is now.
	Rerender bool `json:"rerender"`
}

// replay sends a dead delivery again with a fresh attempt budget and the same idempotency key.
// Only dead deliveries can be replayed: anything else is a 409.
func (h *deliveryHandler) replay(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "delivery")
	if err != nil {
		return err
	}
	var req replayRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	d, err := h.ops.ReplayDelivery(r.Context(), id, req.Rerender)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// bulkReplayRequest selects dead deliveries to replay. Every field is optional; status, when
// given, must be "dead". An empty selection replays the whole dead-letter queue.
type bulkReplayRequest struct {
	Status  string  `json:"status"`
	Service string  `json:"service"`
	Rule    int64   `json:"rule"`
	Event   string  `json:"event"`
	IDs     []int64 `json:"ids"`
}

type replayedBody struct {
	Replayed int `json:"replayed"`
}

// replayMany replays the dead deliveries the body selects; deliveries in other states are left
// alone.
func (h *deliveryHandler) replayMany(w http.ResponseWriter, r *http.Request) error {
	var req bulkReplayRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	if req.Status != "" && req.Status != string(mih.DeliveryDead) {
		return mih.Errorf(mih.CodeInvalid, "status %q: only dead deliveries can be replayed", req.Status)
	}
	f := mih.DeliveryFilter{State: mih.DeliveryDead, Service: req.Service, RuleID: req.Rule, EventID: req.Event, IDs: req.IDs}
	n, err := h.ops.Replay(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, replayedBody{Replayed: n})
	return nil
}

type deletedBody struct {
	Deleted int `json:"deleted"`
}

// delete removes one delivery with its attempts. A delivery being sent right now (leased) cannot
// be deleted: 409.
func (h *deliveryHandler) delete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "delivery")
	if err != nil {
		return err
	}
	if err := h.ops.DeleteDelivery(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteMany removes the deliveries the query selects (status, service, rule, event). At least
// one filter, or all=true, is required, so that a bare DELETE cannot empty the ledger by mistake.
func (h *deliveryHandler) deleteMany(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	f := deliveryFilter(q)
	all := q.boolPtr("all")
	if q.err != nil {
		return q.err
	}
	if f.State == "" && f.Service == "" && f.RuleID == 0 && f.EventID == "" && (all == nil || !*all) {
		return mih.Errorf(mih.CodeInvalid, "select what to delete with status, service, rule or event, or pass all=true to delete every delivery")
	}
	n, err := h.ops.DeleteDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deletedBody{Deleted: n})
	return nil
}
