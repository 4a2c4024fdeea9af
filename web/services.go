package web

import (
	"cmp"
	"net/http"
	"slices"

	"github.com/mihhub/mih"
)

type serviceListRow struct {
	serviceRow
	BaseURL string
}

// serviceList shows the registry: every service with its address (credentials masked), circuit
// and queue, and its actions.
func (h *Handler) serviceList(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	services, err := h.store.FindServices(ctx)
	if err != nil {
		return err
	}
	counts, err := h.store.CountDeliveries(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(services, func(a, b *mih.Service) int { return cmp.Compare(a.Name, b.Name) })
	rows := h.serviceRows(services, nil, counts)
	out := make([]serviceListRow, len(rows))
	for i, row := range rows {
		out[i] = serviceListRow{serviceRow: row, BaseURL: services[i].Masked().BaseURL}
	}
	return h.render(w, r, http.StatusOK, "services", "Services", "services", out)
}

// back is where an action returns to: the page that sent the form (its "back" field), if that
// is a page of this site, else fallback.
func back(r *http.Request, fallback string) string {
	if b := r.PostFormValue("back"); b != "" {
		return localPath(b)
	}
	return fallback
}
