package http

import (
	"fmt"
	"net/http"
	"strings"

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
// A batch that local_mih signed (see authenticator.requireOrSigned) is ingested as its site's.
func (h *eventHandler) create(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	events, err := event.Parse(body)
	if err != nil {
		return err
	}
	source, site := "http", signedSite(r.Context())
	if site != "" {
		// A signed batch speaks for its site only, whatever its events claim.
		source = sourcePlugin
		for i, ev := range events {
			if err := bindSigned(ev, site); err != nil {
				return mih.Errorf(mih.CodeInvalid, "event %d: %v", i, err)
			}
		}
	}
	// With a token, each event keeps the site it names; HTTP ingest stamps none of its own.
	res, err := h.ingester.Ingest(r.Context(), source, site, events)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, res)
	return nil
}

// sourcePlugin is the ingest source of the batches local_mih signs, and the prefix of the ids
// the plugin gives its events.
const sourcePlugin = "local_mih"

// bindSigned gives ev the site that signed its batch. An event that came without an id has one
// derived from its content, site included: it is derived again, so that the id does not depend
// on what the event claimed (only ids in event.DerivedID's form are worth hashing to check).
// Any other id must be the plugin's: event ids are unique across sources and sites, and a site
// must not take an id that another source will use (the tailer's logstore:<site>:<n> are
// predictable), which would make the hub drop that event as a duplicate.
func bindSigned(ev *mih.Event, site string) error {
	derived := strings.HasPrefix(ev.ID, "sha256:") && ev.ID == event.DerivedID(ev)
	if !derived && !strings.HasPrefix(ev.ID, sourcePlugin+":") {
		return fmt.Errorf("id %q: a batch signed by local_mih carries the plugin's ids (local_mih:…) or none", ev.ID)
	}
	ev.Site = site
	if derived {
		ev.ID = event.DerivedID(ev)
	}
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
