package web

import (
	"context"
	"net/http"

	"github.com/mihhub/mih"
)

// Bulk actions act on the queue's filtered set, after a confirmation page that says how many
// deliveries the set holds. Replay, as in the API, takes only the set's dead deliveries.

// countCap bounds the count of the confirmation page: beyond it the page says "more than".
const countCap = 20 * 1000

type bulkData struct {
	Action  string // "replay" or "delete"
	Filter  queueFilter
	Count   int
	More    bool // the set holds more than Count
	Back    string
	Replay  bool
	Selects string // the filter in words
}

// bulkAction reads the {action} of the path.
func bulkAction(r *http.Request) (string, error) {
	switch a := r.PathValue("action"); a {
	case "replay", "delete":
		return a, nil
	}
	return "", errPageNotFound
}

// queueBulkConfirm shows what a bulk replay or delete would take.
func (h *Handler) queueBulkConfirm(w http.ResponseWriter, r *http.Request) error {
	action, err := bulkAction(r)
	if err != nil {
		return err
	}
	f, err := readQueueFilter(r.URL.Query().Get)
	if err != nil {
		return err
	}
	if action == "replay" {
		if f.State != "" && f.State != mih.DeliveryDead {
			return mih.Errorf(mih.CodeInvalid, "Only dead deliveries can be replayed; this filter selects %s ones.", f.State)
		}
		f.State = mih.DeliveryDead
	}
	n, more, err := h.countDeliveries(r.Context(), f.store())
	if err != nil {
		return err
	}
	d := bulkData{Action: action, Filter: f, Count: n, More: more, Back: "/queue" + f.query(f.State),
		Replay: action == "replay", Selects: describeFilter(f)}
	title := "Delete deliveries"
	if d.Replay {
		title = "Replay dead deliveries"
	}
	return h.render(w, r, http.StatusOK, "queue_bulk", title, "queue", d)
}

// queueBulk replays or deletes the filtered set once confirmed.
func (h *Handler) queueBulk(w http.ResponseWriter, r *http.Request) error {
	action, err := bulkAction(r)
	if err != nil {
		return err
	}
	f, err := readQueueFilter(r.PostFormValue)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		return mih.Errorf(mih.CodeConfirm, "A bulk %s needs confirmation: use the button of its confirmation page.", action)
	}
	ctx := r.Context()
	if action == "replay" {
		if f.State != "" && f.State != mih.DeliveryDead {
			return mih.Errorf(mih.CodeInvalid, "Only dead deliveries can be replayed; this filter selects %s ones.", f.State)
		}
		f.State = mih.DeliveryDead
		n, err := h.ops.Replay(ctx, f.store())
		if err != nil {
			return err
		}
		return h.redirect(w, r, "/queue"+f.query(""), "ok", "%s replayed: they are pending again, with their idempotency keys.", capitalize(plural(n, "dead delivery")))
	}
	n, err := h.ops.DeleteDeliveries(ctx, f.store())
	if err != nil {
		return err
	}
	return h.redirect(w, r, "/queue"+f.query(f.State), "ok", "%s deleted (deliveries being sent right now are kept).", capitalize(plural(n, "delivery")))
}

// countDeliveries counts what f selects, up to countCap, a page of a thousand at a time.
func (h *Handler) countDeliveries(ctx context.Context, f mih.DeliveryFilter) (int, bool, error) {
	f.Limit = 1000
	n := 0
	for {
		ds, next, err := h.store.FindDeliveries(ctx, f)
		if err != nil {
			return 0, false, err
		}
		n += len(ds)
		if next == "" {
			return n, false, nil
		}
		if n >= countCap {
			return n, true, nil
		}
		f.Cursor = next
	}
}

// describeFilter says in words what a filter selects.
func describeFilter(f queueFilter) string {
	s := "every delivery"
	if f.State != "" {
		s = "every " + string(f.State) + " delivery"
	}
	if f.Service != "" {
		s += " of service " + f.Service
	}
	if f.Rule != 0 {
		s += " from rule " + itoa(f.Rule)
	}
	if f.Event != "" {
		s += " for event " + f.Event
	}
	return s
}
