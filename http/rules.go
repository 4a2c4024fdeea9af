package http

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/event"
	"github.com/mihhub/mih/ops"
	"github.com/mihhub/mih/rule"
)

// ruleHandler serves the Event Bridge rules, /api/v1/rules, and the template preview.
type ruleHandler struct {
	store mih.Store
	ops   *ops.Ops
	now   func() time.Time
}

// list answers the rules, newest (highest id) first, optionally of one service or activity.
// The cursor is the id of the last rule of the previous page.
func (h *ruleHandler) list(w http.ResponseWriter, r *http.Request) error {
	q := newQuery(r)
	f := mih.RuleFilter{Service: q.str("service"), Active: q.boolPtr("active")}
	limit := q.limit()
	var after int64
	if c := q.cursor(); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			q.fail("cursor", "not a cursor this endpoint gave out")
		}
		after = n
	}
	if q.err != nil {
		return q.err
	}
	all, err := h.store.FindRules(r.Context(), f)
	if err != nil {
		return err
	}
	slices.SortFunc(all, func(a, b *mih.Rule) int { return cmp.Compare(b.ID, a.ID) })
	start := 0
	if after > 0 {
		start = len(all)
		for i, ru := range all {
			if ru.ID < after {
				start = i
				break
			}
		}
	}
	page, next := all[start:], ""
	if len(page) > limit {
		page = page[:limit]
		next = strconv.FormatInt(page[len(page)-1].ID, 10)
	}
	writeList(w, page, next)
	return nil
}

// create adds a rule; the hub assigns its id.
func (h *ruleHandler) create(w http.ResponseWriter, r *http.Request) error {
	ru := mih.NewRule()
	if err := decodeJSON(r, ru, false); err != nil {
		return err
	}
	if ru.ID != 0 {
		return mih.Errorf(mih.CodeInvalid, "id: assigned by the hub; leave it out")
	}
	if err := h.ops.CreateRule(r.Context(), ru); err != nil {
		return err
	}
	created, err := h.store.FindRuleByID(r.Context(), ru.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/rules/"+strconv.FormatInt(ru.ID, 10))
	writeJSON(w, http.StatusCreated, created)
	return nil
}

// get answers one rule.
func (h *ruleHandler) get(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "rule")
	if err != nil {
		return err
	}
	ru, err := h.store.FindRuleByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ru)
	return nil
}

// update replaces a rule; omitted fields take the defaults, as on create.
func (h *ruleHandler) update(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "rule")
	if err != nil {
		return err
	}
	old, err := h.store.FindRuleByID(r.Context(), id)
	if err != nil {
		return err
	}
	ru := mih.NewRule()
	if err := decodeJSON(r, ru, false); err != nil {
		return err
	}
	if ru.ID != 0 && ru.ID != id {
		return mih.Errorf(mih.CodeInvalid, "id %d: does not match the path's rule %d", ru.ID, id)
	}
	ru.ID, ru.CreatedAt = id, old.CreatedAt
	if err := h.ops.UpdateRule(r.Context(), ru); err != nil {
		return err
	}
	updated, err := h.store.FindRuleByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, updated)
	return nil
}

// delete removes a rule. Its deliveries stay, so the DLQ keeps what it holds.
func (h *ruleHandler) delete(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "rule")
	if err != nil {
		return err
	}
	if err := h.ops.DeleteRule(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// previewRequest is the body of POST /rules/preview. Event is an event as ingest takes it;
// without one, a realistic mock of EventName (or of \core\event\user_created) stands in.
type previewRequest struct {
	Template  string          `json:"template"`
	Event     json.RawMessage `json:"event,omitempty"`
	EventName string          `json:"eventname,omitempty"`
}

type previewWarning struct {
	Pos     int    `json:"pos"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

type previewResponse struct {
	Payload  json.RawMessage  `json:"payload"`
	Warnings []previewWarning `json:"warnings"`
}

// preview renders a template against an event for the rule editor. A template fault is a 400
// whose message gives the line and column.
func (h *ruleHandler) preview(w http.ResponseWriter, r *http.Request) error {
	var req previewRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	ev, err := previewEvent(req, h.now())
	if err != nil {
		return err
	}
	payload, warns, err := rule.Preview(req.Template, ev)
	if err != nil {
		if mih.ErrorCode(err) == mih.CodeInvalid {
			return err
		}
		// Compile admits the template, so a render fault is about a value of this event.
		return mih.Errorf(mih.CodeInvalid, "render: %v", err)
	}
	out := previewResponse{Payload: payload, Warnings: make([]previewWarning, 0, len(warns))}
	for _, wa := range warns {
		out.Warnings = append(out.Warnings, previewWarning(wa))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// previewEvent reads the preview's event. A pasted event may lack the fields ingest requires:
// eventname falls back to the request's eventname (or user_created) and timecreated to now.
func previewEvent(req previewRequest, now time.Time) (*mih.Event, error) {
	if len(req.Event) == 0 || string(bytes.TrimSpace(req.Event)) == "null" {
		if req.EventName == "" {
			return nil, nil
		}
		return rule.MockEvent(req.EventName), nil
	}
	d := json.NewDecoder(bytes.NewReader(req.Event))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "event: want a JSON object")
	}
	if m["eventname"] == nil {
		m["eventname"] = cmp.Or(req.EventName, `\core\event\user_created`)
	}
	if m["timecreated"] == nil {
		m["timecreated"] = json.Number(strconv.FormatInt(now.Unix(), 10))
	}
	ev, err := event.FromMap(m)
	if err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "event: %v", err)
	}
	return ev, nil
}
