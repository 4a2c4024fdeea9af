// Package inbound turns messages from external systems (a student information system, an HR
// system, a broker) into Moodle Web Service calls (docs/inbound.md).
//
// A message arrives at an endpoint, authenticated by a Standard Webhooks signature (one of two
// secrets while rotating) or the endpoint's token. It is stored, with one delivery per matching
// inbound rule, in one transaction, before it is acknowledged: the message is then an event
// named \mih\inbound\<endpoint> whose id is built from the message id (webhook-id, an
// Idempotency-Key, or the AMQP message id), so a message received twice is stored once and
// calls Moodle once. Each delivery is one Web Service call on the rule's site, made by the
// delivery worker through the gateway like any outbound delivery: the site is a service-like
// target named mih.SiteService(site) (Services resolves it), so retries with backoff, the
// site's circuit breaker, the dead-letter queue and replay apply unchanged.
package inbound

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/moodle"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/template"
	"github.com/mihhub/mih/webhook"
)

// MaxMessageID bounds a message id; longer ones are refused.
const MaxMessageID = 200

// Compiled is an inbound rule ready to match and render.
type Compiled struct {
	Rule   *mih.InboundRule
	filter *vm.Program
	body   *template.Template
}

// Compile checks a rule's filter and template. The template must render the function's
// parameters as a JSON object; an empty template sends the message itself as the parameters.
func Compile(r *mih.InboundRule) (*Compiled, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	c := &Compiled{Rule: r}
	if f := strings.TrimSpace(r.Filter); f != "" {
		p, err := expr.Compile(f, expr.AllowUndefinedVariables(), expr.AsBool())
		if err != nil {
			return nil, mih.Errorf(mih.CodeInvalid, "filter: %s", strings.TrimSpace(err.Error()))
		}
		c.filter = p
	}
	body, err := template.Compile(r.Template)
	if err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "%v", err)
	}
	c.body = body
	if t := strings.TrimSpace(r.Template); t != "" && !strings.HasPrefix(t, "{") {
		return nil, mih.Errorf(mih.CodeInvalid, "template: the parameters of a Web Service call are a JSON object: start the template with {")
	}
	return c, nil
}

// Matches reports whether the message passes the rule's filter.
func (c *Compiled) Matches(env map[string]any) (bool, error) {
	if c.filter == nil {
		return true, nil
	}
	out, err := expr.Run(c.filter, env)
	if err != nil {
		return false, fmt.Errorf("inbound rule %d filter: %w", c.Rule.ID, err)
	}
	ok, _ := out.(bool)
	return ok, nil
}

// Render builds the call's parameters from a message.
func (c *Compiled) Render(msg map[string]any) (json.RawMessage, []template.Warning, error) {
	params, warns, err := c.body.Render(template.Scope{Event: msg})
	if err != nil {
		return nil, warns, err
	}
	if t := bytes.TrimSpace(params); len(t) == 0 || t[0] != '{' {
		return nil, warns, fmt.Errorf("the parameters rendered are not a JSON object")
	}
	return params, warns, nil
}

// ParseMessage decodes a message body: one JSON object, numbers kept exact.
func ParseMessage(body []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, mih.Errorf(mih.CodeInvalid, "the message must be one JSON object")
	}
	if d.More() {
		return nil, mih.Errorf(mih.CodeInvalid, "the message must be one JSON object, with nothing after it")
	}
	return m, nil
}

// Store is what the Receiver reads and writes.
type Store interface {
	FindInboundEndpoint(ctx context.Context, name string) (*mih.InboundEndpoint, error)
	FindInboundRules(ctx context.Context, endpoint string) ([]*mih.InboundRule, error)
	CreateEvents(ctx context.Context, items []mih.IngestItem) (mih.IngestResult, error)
}

// Receiver stores inbound messages with their calls.
type Receiver struct {
	store  Store
	notify func()
	now    func() time.Time

	mu    sync.Mutex
	rules map[int64]compiled
}

type compiled struct {
	updated time.Time
	c       *Compiled
}

// NewReceiver returns a Receiver. notify wakes the delivery workers after a commit.
func NewReceiver(store Store, notify func(), now func() time.Time) *Receiver {
	if notify == nil {
		notify = func() {}
	}
	if now == nil {
		now = time.Now
	}
	return &Receiver{store: store, notify: notify, now: now, rules: map[int64]compiled{}}
}

// Endpoint returns an active endpoint; an unknown or inactive one is CodeNotFound (a caller
// learns nothing about endpoints it may not use).
func (r *Receiver) Endpoint(ctx context.Context, name string) (*mih.InboundEndpoint, error) {
	ep, err := r.store.FindInboundEndpoint(ctx, name)
	if err != nil {
		return nil, err
	}
	if !ep.Active {
		return nil, mih.Errorf(mih.CodeNotFound, "inbound endpoint %q not found", name)
	}
	return ep, nil
}

// Authenticate checks a request to an endpoint and returns the message id: the webhook-id of a
// signed message, or the Idempotency-Key of a request with the endpoint's token ("" when it
// has none). A signature is checked against every secret of the endpoint, so that the old and
// the new secret both work while a sender rotates. Failures are CodeUnauthorized and never
// quote a secret.
func Authenticate(ep *mih.InboundEndpoint, h http.Header, body []byte, now time.Time) (string, error) {
	if auth := h.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || ep.Token == "" || !equal(strings.TrimSpace(tok), ep.Token) {
			return "", mih.Errorf(mih.CodeUnauthorized, "the token is not valid for this endpoint")
		}
		id := strings.TrimSpace(h.Get("Idempotency-Key"))
		if id == "" {
			id = strings.TrimSpace(h.Get(webhook.HeaderID))
		}
		return id, nil
	}
	if h.Get(webhook.HeaderSignature) == "" {
		return "", mih.Errorf(mih.CodeUnauthorized, "sign the message (webhook-id, webhook-timestamp, webhook-signature) or send the endpoint's token as a bearer token")
	}
	if len(ep.Secrets) == 0 {
		return "", mih.Errorf(mih.CodeUnauthorized, "this endpoint takes a token, not signatures")
	}
	var first error
	for _, s := range ep.Secrets {
		err := webhook.Verify(s, h, body, now, ep.Tolerance())
		if err == nil {
			return strings.TrimSpace(h.Get(webhook.HeaderID)), nil
		}
		if mih.ErrorCode(err) == mih.CodeInternal {
			return "", mih.Errorf(mih.CodeInternal, "inbound endpoint %q has a malformed secret", ep.Name)
		}
		if first == nil {
			first = err
		}
	}
	return "", first
}

// Result is what Receive did.
type Result struct {
	MessageID string `json:"message_id"`
	EventID   string `json:"event_id"`
	Duplicate bool   `json:"duplicate"`
	Calls     int    `json:"calls"`
}

// Receive stores a message of an endpoint with one delivery per matching active rule, in one
// transaction, and wakes the workers. msgID is the sender's message id ("" for none: the
// message cannot be deduplicated and gets a fresh id). source says how it came ("http",
// "amqp").
func (r *Receiver) Receive(ctx context.Context, ep *mih.InboundEndpoint, msgID string, body []byte, source string) (Result, error) {
	if len(msgID) > MaxMessageID {
		return Result{}, mih.Errorf(mih.CodeInvalid, "message id: at most %d characters", MaxMessageID)
	}
	msg, err := ParseMessage(body)
	if err != nil {
		return Result{}, err
	}
	now := r.now().UTC()
	if msgID == "" {
		msgID = fmt.Sprintf("mih_%d", now.UnixNano())
	}
	ev := &mih.Event{
		ID:          "inbound/" + ep.Name + "/" + msgID,
		EventName:   mih.InboundEventName(ep.Name),
		Component:   "mih",
		Action:      "received",
		Target:      "inbound",
		CRUD:        "c",
		Other:       json.RawMessage(body),
		TimeCreated: now.Unix(),
		Origin:      source,
		ReceivedAt:  now,
	}
	// The stored copy is for people reading the events list: a password the message carries
	// for core_user_create_users is masked there. The call's parameters keep it until the call.
	if b, err := json.Marshal(maskSecrets(msg)); err == nil {
		ev.Other = b
	}
	ds, err := r.plan(ctx, ep, ev, msg, msgID, now)
	if err != nil {
		return Result{}, err
	}
	res, err := r.store.CreateEvents(ctx, []mih.IngestItem{{Event: ev, Deliveries: ds}})
	if err != nil {
		return Result{}, fmt.Errorf("store inbound message: %w", err)
	}
	out := Result{MessageID: msgID, EventID: ev.ID, Duplicate: res.Duplicates > 0}
	if !out.Duplicate {
		out.Calls = len(ds)
	}
	if res.Deliveries > 0 {
		r.notify()
	}
	return out, nil
}

// plan renders the calls of a message. A rule whose parameters cannot be built gets a dead
// delivery saying why, so the failure is in the DLQ rather than lost.
func (r *Receiver) plan(ctx context.Context, ep *mih.InboundEndpoint, ev *mih.Event, msg map[string]any, msgID string, now time.Time) ([]*mih.Delivery, error) {
	rules, err := r.compiledRules(ctx, ep.Name)
	if err != nil {
		return nil, err
	}
	env := rule.FilterEnv(msg)
	var ds []*mih.Delivery
	for _, c := range rules {
		ok, err := c.Matches(env)
		if err != nil || !ok {
			continue // a filter that cannot evaluate on this message does not match it
		}
		d := &mih.Delivery{
			EventID:        ev.ID,
			Service:        mih.SiteService(c.Rule.Site),
			State:          mih.DeliveryPending,
			Method:         http.MethodPost,
			Endpoint:       c.Rule.Function,
			Headers:        map[string]string{"inbound_rule": fmt.Sprint(c.Rule.ID)},
			IdempotencyKey: fmt.Sprintf("%s/%d", ev.ID, c.Rule.ID),
			NextAttemptAt:  now,
			CreatedAt:      now,
			UpdatedAt:      now,
		}
		params, _, err := c.Render(msg)
		if err != nil {
			d.State, d.DeadReason, d.LastError = mih.DeliveryDead, mih.ReasonPayload, err.Error()
			d.Payload = json.RawMessage("{}")
		} else {
			d.Payload = params
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// compiledRules returns the endpoint's active rules, compiled once per version of each rule.
func (r *Receiver) compiledRules(ctx context.Context, endpoint string) ([]*Compiled, error) {
	rules, err := r.store.FindInboundRules(ctx, endpoint)
	if err != nil {
		return nil, err
	}
	out := make([]*Compiled, 0, len(rules))
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ru := range rules {
		if !ru.Active {
			continue
		}
		if cached, ok := r.rules[ru.ID]; ok && cached.updated.Equal(ru.UpdatedAt) {
			out = append(out, cached.c)
			continue
		}
		c, err := Compile(ru)
		if err != nil {
			continue // refused when saved; a rule that no longer compiles makes no calls
		}
		r.rules[ru.ID] = compiled{updated: ru.UpdatedAt, c: c}
		out = append(out, c)
	}
	return out, nil
}

// Call is the Web Service call a rule makes for a message, as the preview shows it.
type Call struct {
	Matched  bool            `json:"matched"`
	Site     string          `json:"site"`
	Function string          `json:"function"`
	Params   json.RawMessage `json:"params,omitempty"`
	Form     string          `json:"form,omitempty"` // the form body Moodle receives, without the token
	Warnings []string        `json:"warnings,omitempty"`
}

// Preview shows the call a rule would make for a sample message, without making it.
func Preview(r *mih.InboundRule, sample []byte) (*Call, error) {
	c, err := Compile(r)
	if err != nil {
		return nil, err
	}
	msg, err := ParseMessage(sample)
	if err != nil {
		return nil, err
	}
	call := &Call{Site: r.Site, Function: r.Function}
	ok, err := c.Matches(rule.FilterEnv(msg))
	if err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "filter: %v", err)
	}
	call.Matched = ok
	params, warns, err := c.Render(msg)
	if err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "%v", err)
	}
	for _, w := range warns {
		call.Warnings = append(call.Warnings, w.Path+": "+w.Message)
	}
	call.Params = params
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(params))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "parameters: %v", err)
	}
	form, err := moodle.EncodeParams(m)
	if err != nil {
		return nil, mih.Errorf(mih.CodeInvalid, "parameters: %v", err)
	}
	call.Form = "wstoken=" + mih.Masked + "&wsfunction=" + r.Function + "&moodlewsrestformat=json"
	if form != "" {
		call.Form += "&" + form
	}
	return call, nil
}

// secretWords mark a message field whose value is a credential.
var secretWords = []string{"password", "passwd", "secret", "token"}

// maskSecrets returns a copy of v with the values of credential fields replaced by mih.Masked.
func maskSecrets(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			lk := strings.ToLower(k)
			secret := false
			for _, w := range secretWords {
				secret = secret || strings.Contains(lk, w)
			}
			if secret && x != nil && x != "" {
				out[k] = mih.Masked
				continue
			}
			out[k] = maskSecrets(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = maskSecrets(x)
		}
		return out
	}
	return v
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
