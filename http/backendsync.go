package http

import (
	"net/http"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
)

// backendSyncHandler serves POST /api/v1/events/moodle/{name}: the endpoints of the backend_sync
// plugin guide, so that a Moodle running that plugin can point it at the hub unchanged. Each of
// its four bodies becomes the core event its observer listened to (event.ParseBackendSync).
type backendSyncHandler struct {
	ingester Ingester
	now      func() time.Time
}

// create maps one backend_sync body onto its core event and ingests it. It answers 200
// {"accepted","duplicates"} once the event is stored with its deliveries: 200, not the 202 of
// POST /events, because the guide's observer treats any other status as a failure.
func (h *backendSyncHandler) create(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	site, err := syncSite(r)
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	ev, err := event.ParseBackendSync(name, site, body, h.now())
	if err != nil {
		return err
	}
	res, err := h.ingester.Ingest(r.Context(), event.SourceBackendSync, site, []*mih.Event{ev})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// syncSite reads the optional site of a backend_sync event: X-MIH-Site or ?site=, not two
// different ones.
func syncSite(r *http.Request) (string, error) {
	hs := strings.TrimSpace(r.Header.Get(HeaderSite))
	qs := r.URL.Query().Get("site")
	if hs != "" && qs != "" && hs != qs {
		return "", mih.Errorf(mih.CodeInvalid, "site: the %s header and the site query parameter name different sites", HeaderSite)
	}
	site := hs
	if site == "" {
		site = qs
	}
	if site != "" && !mih.ValidName(site) {
		return "", mih.Errorf(mih.CodeInvalid, "site %q: want a site's name, a slug of lowercase letters, digits, '-', '_' or '.'", site)
	}
	return site, nil
}
