package web

import (
	"net/http"
	"strings"

	"github.com/mihhub/mih"
)

type eventListData struct {
	Events       []*mih.EventRecord
	Next         string
	EventName    string
	Site         string
	Since        string
	SinceChoices any
	CommonEvents []eventHint
}

// eventList shows the received events, newest first, with the states of their deliveries.
func (h *Handler) eventList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := eventListData{
		EventName: strings.TrimSpace(q.Get("eventname")), Site: strings.TrimSpace(q.Get("site")), Since: q.Get("since"),
		SinceChoices: sinceChoices, CommonEvents: commonEvents(),
	}
	name := d.EventName
	if name != "" && !strings.HasPrefix(name, `\`) {
		name = `\` + name
	}
	recs, next, err := h.store.FindEvents(r.Context(), mih.EventFilter{
		EventName: name, Site: d.Site, Since: h.since(d.Since), Limit: pageSize, Cursor: q.Get("cursor"),
	})
	if err != nil {
		return err
	}
	d.Events = recs
	d.Next = nextPage("/events", q, next)
	return h.render(w, r, http.StatusOK, "events", "Events", "events", d)
}
