package web

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/mihhub/mih"
)

// The payload viewer (the </> of the queue, docs/web-ui.md, Queue): the request as it was sent, the
// source event, the rule, and every attempt with its status, latency, headers (credentials masked)
// and the response body, with the replay and delete actions.

type attemptView struct {
	A               *mih.Attempt
	RequestHeaders  []headerLine
	ResponseHeaders []headerLine
	ResponseBody    string
	Error           string
}

type deliveryData struct {
	D        *mih.Delivery
	RuleName string
	// URL is where the request went: the last attempt's URL, else the service's base URL and
	// the endpoint (credentials masked either way).
	URL       string
	Headers   []headerLine
	Payload   string
	Event     *mih.Event
	EventJSON string
	Rule      *mih.Rule
	Attempts  []attemptView
	CanReplay bool
	Service   *mih.Service // nil when the service is gone
}

// delivery shows one delivery in full.
func (h *Handler) delivery(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := h.store.FindDeliveryByID(ctx, id)
	if err != nil {
		return err
	}
	out := deliveryData{D: d, CanReplay: d.State == mih.DeliveryDead}
	svc, err := findOptional(ctx, d.Service, h.store.FindServiceByName)
	if err != nil {
		return err
	}
	var rd redactor
	if svc != nil {
		rd = secretsOf(svc)
		out.Service = svc.Masked()
		out.URL = out.Service.BaseURL + d.Endpoint
	}
	if d.EventID != "" {
		if out.Event, err = findOptional(ctx, d.EventID, h.store.FindEventByID); err != nil {
			return err
		}
		if out.Event != nil {
			b, _ := json.Marshal(out.Event)
			out.EventJSON = prettyJSON(b)
		}
	}
	if d.RuleID != 0 {
		if out.Rule, err = findOptional(ctx, d.RuleID, h.store.FindRuleByID); err != nil {
			return err
		}
	}
	attempts, err := h.store.FindAttempts(ctx, id)
	if err != nil {
		return err
	}
	for _, a := range attempts {
		out.Attempts = append(out.Attempts, attemptView{
			A:               a,
			RequestHeaders:  redactHeaders(showHeaders(a.RequestHeaders), rd),
			ResponseHeaders: redactHeaders(showHeaders(a.ResponseHeaders), rd),
			ResponseBody:    rd.apply(excerpt(prettyJSON([]byte(a.ResponseBody)), 64<<10)),
			Error:           rd.apply(a.Error),
		})
		if a.RequestURL != "" {
			out.URL = mih.RedactURL(a.RequestURL)
		}
	}
	out.URL = rd.apply(out.URL)
	out.Headers = redactHeaders(showHeaders(d.Headers), rd)
	out.Payload = rd.apply(prettyJSON(d.Payload))
	out.D.LastError = rd.apply(d.LastError)
	return h.render(w, r, http.StatusOK, "delivery", "Delivery "+itoa(id), "queue", out)
}

func redactHeaders(hs []headerLine, rd redactor) []headerLine {
	for i := range hs {
		hs[i].Value = rd.apply(hs[i].Value)
	}
	return hs
}

// findOptional looks a record up, reading "not found" as nil.
func findOptional[K any, T any](ctx context.Context, key K, find func(context.Context, K) (*T, error)) (*T, error) {
	v, err := find(ctx, key)
	if mih.ErrorCode(err) == mih.CodeNotFound {
		return nil, nil
	}
	return v, err
}
