package http

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/inbound"
	"github.com/mihhub/mih/ops"
)

// inboundHandler serves inbound endpoints (docs/inbound.md): POST /api/v1/inbound/{name}
// receives messages, authenticated by the endpoint's own signature or token rather than an API
// token; /api/v1/inbound-endpoints and /api/v1/inbound-rules configure them. Secrets, the
// token and the source's password are write-only, as for sites.
type inboundHandler struct {
	store mih.Store
	ops   *ops.Ops
	recv  *inbound.Receiver
	now   func() time.Time
}

// receive stores a message and answers 202 before any Moodle call is made.
func (h *inboundHandler) receive(w http.ResponseWriter, r *http.Request) error {
	if h.recv == nil {
		return mih.Errorf(mih.CodeUnavailable, "this hub does not receive inbound messages")
	}
	ep, err := h.recv.Endpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	id, err := inbound.Authenticate(ep, r.Header, body, h.now())
	if err != nil {
		return err
	}
	res, err := h.recv.Receive(r.Context(), ep, id, body, "http")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, res)
	return nil
}

func (h *inboundHandler) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	eps, err := h.store.FindInboundEndpoints(r.Context())
	if err != nil {
		return err
	}
	out := make([]*mih.InboundEndpoint, len(eps))
	for i, e := range eps {
		out[i] = e.Masked()
	}
	writeList(w, out, "")
	return nil
}

func (h *inboundHandler) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	e, err := h.store.FindInboundEndpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e.Masked())
	return nil
}

func decodeEndpoint(r *http.Request) (*mih.InboundEndpoint, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	e := mih.NewInboundEndpoint()
	if err := decodeStrict(body, e); err != nil {
		return nil, err
	}
	return e, nil
}

func (h *inboundHandler) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	e, err := decodeEndpoint(r)
	if err != nil {
		return err
	}
	if err := h.ops.CreateInboundEndpoint(r.Context(), e); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/inbound-endpoints/"+url.PathEscape(e.Name))
	writeJSON(w, http.StatusCreated, e.Masked())
	return nil
}

// updateEndpoint replaces an endpoint; masked secrets, token and source password keep the
// stored ones, so a client can write back what it read.
func (h *inboundHandler) updateEndpoint(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	old, err := h.store.FindInboundEndpoint(r.Context(), name)
	if err != nil {
		return err
	}
	e, err := decodeEndpoint(r)
	if err != nil {
		return err
	}
	if e.Name == "" {
		e.Name = name
	}
	if e.Name != name {
		return mih.Errorf(mih.CodeInvalid, "name %q: an endpoint cannot be renamed (the path names %q)", e.Name, name)
	}
	e.KeepSecrets(old)
	if err := h.ops.UpdateInboundEndpoint(r.Context(), e); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e.Masked())
	return nil
}

func (h *inboundHandler) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	if err := h.ops.DeleteInboundEndpoint(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *inboundHandler) listRules(w http.ResponseWriter, r *http.Request) error {
	rules, err := h.store.FindInboundRules(r.Context(), r.URL.Query().Get("endpoint"))
	if err != nil {
		return err
	}
	writeList(w, rules, "")
	return nil
}

func (h *inboundHandler) getRule(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "inbound rule")
	if err != nil {
		return err
	}
	ru, err := h.store.FindInboundRule(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ru)
	return nil
}

func decodeInboundRule(r *http.Request) (*mih.InboundRule, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	ru := mih.NewInboundRule()
	if err := decodeStrict(body, ru); err != nil {
		return nil, err
	}
	return ru, nil
}

func (h *inboundHandler) createRule(w http.ResponseWriter, r *http.Request) error {
	ru, err := decodeInboundRule(r)
	if err != nil {
		return err
	}
	ru.ID = 0
	if err := h.ops.CreateInboundRule(r.Context(), ru); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/inbound-rules/"+strconv.FormatInt(ru.ID, 10))
	writeJSON(w, http.StatusCreated, ru)
	return nil
}

func (h *inboundHandler) updateRule(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "inbound rule")
	if err != nil {
		return err
	}
	ru, err := decodeInboundRule(r)
	if err != nil {
		return err
	}
	ru.ID = id
	if err := h.ops.UpdateInboundRule(r.Context(), ru); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ru)
	return nil
}

func (h *inboundHandler) deleteRule(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "inbound rule")
	if err != nil {
		return err
	}
	if err := h.ops.DeleteInboundRule(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// inboundPreviewRequest is a rule (by id, or given whole) and a sample message.
type inboundPreviewRequest struct {
	ID      int64            `json:"id"`
	Rule    *mih.InboundRule `json:"rule"`
	Message json.RawMessage  `json:"message"`
}

// preview shows the Web Service call a sample message would make, without making it.
func (h *inboundHandler) preview(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	var req inboundPreviewRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	ru := req.Rule
	if req.ID != 0 {
		if ru, err = h.store.FindInboundRule(r.Context(), req.ID); err != nil {
			return err
		}
	}
	if ru == nil {
		return mih.Errorf(mih.CodeInvalid, "id or rule: required")
	}
	if len(req.Message) == 0 {
		return mih.Errorf(mih.CodeInvalid, "message: required (a sample of what the external system sends)")
	}
	call, err := inbound.Preview(ru, req.Message)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, call)
	return nil
}
