package http

import (
	"net/http"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
)

// eventHandler serves /api/v1/events: ingest and the list of received events.
type eventHandler struct {
	store    mih.EventStore
	ingester Ingester
}

// create ingests one event, an array of events or {"events":[...]}. It answers 202 only after
// the ingester has stored every event with its deliveries; any bad item rejects the whole batch.
func (h *eventHandler) create(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	events, err := event.Parse(body)
	if err != nil {
		return err
	}
	// Each event keeps the site it names; HTTP ingest stamps none of its own.
	res, err := h.ingester.Ingest(r.Context(), "http", "", events)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, res)
	return nil
}

// list answers the received events, newest first, each with its deliveries' states.
func (h *eventHandler) list(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	f := mih.EventFilter{
		EventName: q.str("eventname"),
		Site:      q.str("site"),
		UserID:    q.int64Ptr("userid"),
		CourseID:  q.int64Ptr("courseid"),
		Since:     q.time("since"),
		Limit:     q.limit(),
		Cursor:    q.cursor(),
	}
	if q.err != nil {
		return q.err
	}
	recs, next, err := h.store.FindEvents(r.Context(), f)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if rec.Deliveries == nil {
			rec.Deliveries = []mih.DeliveryBrief{}
		}
	}
	writeList(w, recs, next)
	return nil
}
