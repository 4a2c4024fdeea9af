package event

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/rule"
	"github.com/mihhub/mih/tracing"
)

// Ingester accepts events: it matches them against the active rules, renders each delivery's
// request, and writes events and deliveries in one transaction. Only then does it return, so an
// acknowledged event is never lost.
type Ingester struct {
	store   mih.EventStore
	rules   *rule.Set
	logger  *slog.Logger
	now     func() time.Time
	wake    mih.Waker
	handoff Handoff
	metrics *Metrics
	tracer  trace.Tracer
}

// Handoff is this process's delivery worker taking the deliveries ingest stores, leased to it in
// the same transaction, so that it need not claim them back; *delivery.Handoff implements it.
type Handoff interface {
	// Reserve takes up to n of the worker's free slots and returns the lease to store the
	// deliveries with (nil when it takes none now) and how many it took.
	Reserve(n int, now time.Time) (*mih.Lease, int)
	// Give hands over the deliveries stored with the lease, frees the reserved slots left, and
	// returns how many it took (the worker claims the others).
	Give(ds []*mih.Delivery, reserved int) int
}

// Config wires an Ingester.
type Config struct {
	Store  mih.EventStore
	Rules  *rule.Set
	Logger *slog.Logger
	// Wake is told after each commit that created deliveries the worker was not handed, to wake
	// the workers at once (nil: they find the work when they poll).
	Wake mih.Waker
	// Handoff, when set, gives new deliveries straight to this process's worker while it has
	// room for them.
	Handoff Handoff
	Metrics *Metrics
	Now     func() time.Time
	// Tracer records one trace per event (package tracing); nil records nothing.
	Tracer trace.Tracer
}

// NewIngester returns an Ingester.
func NewIngester(c Config) *Ingester {
	in := &Ingester{store: c.Store, rules: c.Rules, logger: c.Logger, now: c.Now, wake: c.Wake, handoff: c.Handoff, metrics: c.Metrics}
	if in.now == nil {
		in.now = time.Now
	}
	if in.logger == nil {
		in.logger = slog.New(slog.DiscardHandler)
	}
	in.tracer = c.Tracer
	if in.tracer == nil {
		in.tracer = noop.NewTracerProvider().Tracer("")
	}
	return in
}

// Ingest stores events from a source ("http", "plugin", "logstore", …) with their deliveries.
// When site is not empty it is stamped on every event.
func (in *Ingester) Ingest(ctx context.Context, source, site string, events []*mih.Event) (mih.IngestResult, error) {
	now := in.now().UTC()
	items := make([]mih.IngestItem, 0, len(events))
	// Each event is the root of its own trace (tracing.EventRoot), ended once it is stored.
	spans := make([]trace.Span, 0, len(events))
	endSpans := func(err error) {
		for _, s := range spans {
			if err != nil {
				s.SetStatus(codes.Error, "not stored")
			}
			s.End()
		}
	}
	for _, ev := range events {
		if site != "" {
			ev.Site = site
		}
		ev.ReceivedAt = now
		redactSecrets(ev)
		evCtx, span := in.tracer.Start(tracing.EventRoot(ctx, ev.ID), tracing.SpanEvent, trace.WithNewRoot(),
			trace.WithLinks(trace.LinkFromContext(ctx)),
			trace.WithAttributes(attribute.String("mih.event.id", ev.ID), attribute.String("mih.event.name", ev.EventName),
				attribute.String("mih.source", source), attribute.String("mih.site", ev.Site)))
		spans = append(spans, span)
		ds, err := in.plan(evCtx, ev, now)
		if err != nil {
			endSpans(err)
			return mih.IngestResult{}, err
		}
		span.SetAttributes(attribute.Int("mih.deliveries", len(ds)))
		items = append(items, mih.IngestItem{Event: ev, Deliveries: ds})
	}
	reserved := in.lease(items, now)
	res, err := in.store.CreateEvents(ctx, items)
	endSpans(err)
	if err != nil {
		if in.handoff != nil {
			in.handoff.Give(nil, reserved)
		}
		return mih.IngestResult{}, fmt.Errorf("ingest %d events: %w", len(events), err)
	}
	if in.metrics != nil {
		in.metrics.events.WithLabelValues(source).Add(float64(res.Accepted))
		in.metrics.duplicates.WithLabelValues(source).Add(float64(res.Duplicates))
	}
	handed := 0
	if reserved > 0 {
		var ds []*mih.Delivery
		for _, it := range items {
			for _, d := range it.Deliveries {
				if d.Lease != nil && d.ID != 0 { // written: not a duplicate's
					ds = append(ds, d)
				}
			}
		}
		handed = in.handoff.Give(ds, reserved)
	}
	if res.Deliveries > handed && in.wake != nil {
		in.wake.Notify()
	}
	return res, nil
}

// lease reserves slots of the worker for the deliveries about to be stored that it can send
// now, in the order they were made, and marks them to be stored leased to it. It returns how
// many slots it reserved.
func (in *Ingester) lease(items []mih.IngestItem, now time.Time) int {
	if in.handoff == nil {
		return 0
	}
	n := 0
	for _, it := range items {
		for _, d := range it.Deliveries {
			if d.State == mih.DeliveryPending {
				n++
			}
		}
	}
	l, reserved := in.handoff.Reserve(n, now)
	left := reserved
	for _, it := range items {
		for _, d := range it.Deliveries {
			if left > 0 && d.State == mih.DeliveryPending {
				d.Lease = l
				left--
			}
		}
	}
	return reserved
}

// plan builds the deliveries of one event. A payload that cannot be built becomes a dead
// delivery at once with the reason, so the failure is visible in the DLQ instead of retried.
func (in *Ingester) plan(ctx context.Context, ev *mih.Event, now time.Time) ([]*mih.Delivery, error) {
	_, match := in.tracer.Start(ctx, tracing.SpanMatch)
	rules, err := in.rules.Match(ctx, ev.EventName)
	match.SetAttributes(attribute.Int("mih.rules.candidates", len(rules)))
	match.End()
	if err != nil || len(rules) == 0 {
		return nil, err
	}
	data, err := ev.Data()
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	var env map[string]any
	var ds []*mih.Delivery
	for _, c := range rules {
		if c.HasFilter() {
			if env == nil {
				env = rule.FilterEnv(data)
			}
			ok, err := c.Matches(env)
			if err != nil {
				// A filter that cannot evaluate on this event (say, a field of another type) does
				// not match; the rule author sees it in the log and the metric.
				in.logger.Warn("rule filter failed", "rule", c.Rule.ID, "event", ev.ID, "err", err)
				if in.metrics != nil {
					in.metrics.filterErrors.Inc()
				}
				continue
			}
			if !ok {
				continue
			}
		}
		d := &mih.Delivery{
			EventID:        ev.ID,
			RuleID:         c.Rule.ID,
			Service:        c.Rule.Service,
			State:          mih.DeliveryPending,
			IdempotencyKey: mih.IdempotencyKey(ev.ID, c.Rule.ID),
			NextAttemptAt:  now,
			CreatedAt:      now,
			UpdatedAt:      now,
			Method:         c.Rule.Method,
		}
		// Enrichment means Web Service calls to Moodle: they happen in the delivery worker,
		// where a failed lookup is a retry, never in ingest, which must stay fast and must not
		// fail because Moodle is slow. Without a Lookup, Build defers such a request, and the
		// empty payload marks the delivery for the worker.
		_, render := in.tracer.Start(ctx, tracing.SpanRender, trace.WithAttributes(
			attribute.Int64("mih.rule.id", c.Rule.ID), attribute.String("mih.service", c.Rule.Service)))
		req, err := c.Build(ctx, ev, data, nil)
		if err != nil {
			render.SetStatus(codes.Error, "payload")
		} else if req.Deferred {
			render.SetAttributes(attribute.Bool("mih.render.deferred", true))
		}
		render.End()
		switch {
		case err != nil:
			d.State, d.DeadReason, d.LastError = mih.DeliveryDead, mih.ReasonPayload, mih.ErrorMessage(err)
			if se, ok := err.(*mih.SendError); ok {
				d.LastError = se.Message
			}
		case !req.Deferred:
			d.Method, d.Endpoint, d.Payload = req.Method, req.Endpoint, req.Payload
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// Metrics counts ingest.
type Metrics struct {
	events       *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	filterErrors prometheus.Counter
}

// NewMetrics registers the ingest metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mih_events_ingested_total", Help: "Events accepted, by source.",
		}, []string{"source"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mih_events_duplicate_total", Help: "Events received again with a known id, by source.",
		}, []string{"source"}),
		filterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mih_rule_filter_errors_total", Help: "Rule filters that failed to evaluate on an event.",
		}),
	}
	reg.MustRegister(m.events, m.duplicates, m.filterErrors)
	return m
}
