package web

import (
	"net/http"
	"net/url"

	"github.com/mihhub/mih"
)

// serviceNew shows the form of a new service with the documented defaults.
func (h *Handler) serviceNew(w http.ResponseWriter, r *http.Request) error {
	return h.renderServiceForm(w, r, http.StatusOK, newServiceForm(mih.NewService(), true))
}

// serviceCreate registers a service from the form, or shows the form again with its errors.
func (h *Handler) serviceCreate(w http.ResponseWriter, r *http.Request) error {
	s, f := parseServiceForm(r, nil)
	if s == nil {
		return h.renderServiceForm(w, r, http.StatusBadRequest, f)
	}
	if err := h.ops.CreateService(r.Context(), s); err != nil {
		if mih.ErrorCode(err) == mih.CodeConflict {
			f.fail("name", "a service named %q exists already", s.Name)
			return h.renderServiceForm(w, r, http.StatusConflict, f)
		}
		return err
	}
	return h.redirect(w, r, "/services/"+url.PathEscape(s.Name)+"/edit", "ok",
		"Service %s added. Test the connection below, then add a rule that sends to it.", s.Name)
}

// serviceEdit shows a stored service's form; secrets show as stored, never their values.
func (h *Handler) serviceEdit(w http.ResponseWriter, r *http.Request) error {
	s, err := h.store.FindServiceByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return h.renderServiceForm(w, r, http.StatusOK, newServiceForm(s, false))
}

// serviceUpdate saves the form over the stored service. Secret fields left empty keep the stored
// secrets.
func (h *Handler) serviceUpdate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	old, err := h.store.FindServiceByName(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	s, f := parseServiceForm(r, old)
	if s == nil {
		status := http.StatusBadRequest
		if f.Moved {
			status = http.StatusUnprocessableEntity
		}
		return h.renderServiceForm(w, r, status, f)
	}
	if err := h.ops.UpdateService(ctx, s); err != nil {
		return err
	}
	return h.redirect(w, r, "/services", "ok", "Service %s saved.", s.Name)
}

func (h *Handler) renderServiceForm(w http.ResponseWriter, r *http.Request, status int, f *serviceForm) error {
	title := "Add a service"
	if !f.New {
		title = "Service " + f.Name
		f.Circuit = h.ops.CircuitState(f.Name)
	}
	return h.render(w, r, status, "service_form", title, "services", serviceFormView{
		serviceForm: f, Types: serviceTypes, AuthTypes: authTypes,
	})
}

type serviceFormView struct {
	*serviceForm
	Types     []struct{ Value, Label string }
	AuthTypes []struct{ Value, Label string }
}
