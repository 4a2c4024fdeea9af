package http

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/ops"
)

// serviceHandler serves the service registry, /api/v1/services. Secrets are write-only: every
// answer masks them, and a write that omits them (or sends the mask back) keeps the stored ones.
type serviceHandler struct {
	store mih.Store
	ops   *ops.Ops
}

// show is what a service reads as: secrets masked, circuit state filled in.
func (h *serviceHandler) show(s *mih.Service) *mih.Service {
	m := s.Masked()
	m.CircuitState = h.ops.CircuitState(s.Name)
	return m
}

// list answers the services, newest first. The registry is small, so it pages in memory.
func (h *serviceHandler) list(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	limit, cursor := q.limit(), q.cursor()
	if q.err != nil {
		return q.err
	}
	all, err := h.store.FindServices(r.Context())
	if err != nil {
		return err
	}
	page, next, err := pageNewest(all, func(s *mih.Service) (time.Time, string) { return s.CreatedAt, s.Name }, limit, cursor)
	if err != nil {
		return err
	}
	out := make([]*mih.Service, len(page))
	for i, s := range page {
		out[i] = h.show(s)
	}
	writeList(w, out, next)
	return nil
}

// create registers a service. Omitted fields take the documented defaults.
func (h *serviceHandler) create(w http.ResponseWriter, r *http.Request) error {
	s := mih.NewService()
	if err := decodeJSON(r, s, false); err != nil {
		return err
	}
	if err := refuseMasked(s); err != nil {
		return err
	}
	if err := h.ops.CreateService(r.Context(), s); err != nil {
		return err
	}
	created, err := h.store.FindServiceByName(r.Context(), s.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/services/"+url.PathEscape(s.Name))
	writeJSON(w, http.StatusCreated, h.show(created))
	return nil
}

// refuseMasked stops a new service from storing the mask itself as a secret (a read pasted
// back as a create): there is no stored secret to keep.
func refuseMasked(s *mih.Service) error {
	for _, f := range []struct{ name, v string }{
		{"auth.token", s.Auth.Token}, {"auth.password", s.Auth.Password},
		{"auth.value", s.Auth.Value}, {"signing_secret", s.SigningSecret},
	} {
		if f.v == mih.Masked {
			return mih.Errorf(mih.CodeInvalid, "%s: %s is the mask of a secret; send the secret itself", f.name, mih.Masked)
		}
	}
	if strings.Contains(s.BaseURL, mih.Masked) || strings.Contains(s.BaseURL, url.QueryEscape(mih.Masked)) {
		return mih.Errorf(mih.CodeInvalid, "base_url: contains the mask %s; send the password itself", mih.Masked)
	}
	return nil
}

// get answers one service, secrets masked.
func (h *serviceHandler) get(w http.ResponseWriter, r *http.Request) error {
	s, err := h.store.FindServiceByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.show(s))
	return nil
}

// update replaces a service. Omitted fields take the defaults, as on create, except secrets:
// an omitted or masked secret keeps the stored one (when the auth type is unchanged).
func (h *serviceHandler) update(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	old, err := h.store.FindServiceByName(r.Context(), name)
	if err != nil {
		return err
	}
	s := mih.NewService()
	if err := decodeJSON(r, s, false); err != nil {
		return err
	}
	if s.Name == "" {
		s.Name = name
	}
	if s.Name != name {
		return mih.Errorf(mih.CodeInvalid, "name %q: a service cannot be renamed (the path names %q)", s.Name, name)
	}
	if err := s.KeepSecrets(old); err != nil {
		return err
	}
	if err := refuseMasked(s); err != nil {
		return err
	}
	s.CreatedAt = old.CreatedAt
	if err := h.ops.UpdateService(r.Context(), s); err != nil {
		return err
	}
	updated, err := h.store.FindServiceByName(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.show(updated))
	return nil
}

// delete removes a service with its rules and request log. Without ?confirm=true it only says
// what would go with it (409 confirm); deliveries still waiting move to the DLQ.
func (h *serviceHandler) delete(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := h.store.FindServiceByName(r.Context(), name); err != nil {
		return err
	}
	if r.URL.Query().Get("confirm") != "true" {
		return h.confirmation(r, name)
	}
	del, err := h.ops.DeleteService(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, del)
	return nil
}

// confirmation builds the confirm error that lists what deleting the service would take along.
func (h *serviceHandler) confirmation(r *http.Request, name string) error {
	rules, err := h.store.FindRules(r.Context(), mih.RuleFilter{Service: name})
	if err != nil {
		return err
	}
	counts, err := h.store.CountDeliveries(r.Context())
	if err != nil {
		return err
	}
	waiting, dead := 0, 0
	for _, c := range counts {
		if c.Service != name {
			continue
		}
		switch c.State {
		case mih.DeliveryPending, mih.DeliveryRetrying, mih.DeliveryPaused:
			waiting += c.Count
		case mih.DeliveryDead:
			dead += c.Count
		}
	}
	return mih.Errorf(mih.CodeConfirm,
		"deleting service %q also deletes its %s and its request log, and moves its %s to the dead-letter queue (%s already there stay replayable); repeat with ?confirm=true to delete",
		name, plural(len(rules), "rule"), plural(waiting, "waiting delivery"), plural(dead, "dead delivery"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if p, ok := strings.CutSuffix(noun, "y"); ok {
		return fmt.Sprintf("%d %sies", n, p)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
