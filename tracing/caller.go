package tracing

import (
	"context"
	"maps"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mihhub/mih"
	"github.com/mihhub/mih/gateway"
)

// Caller makes one delivery attempt at a service; the delivery worker's gateway implements it.
type Caller interface {
	Send(ctx context.Context, svc *mih.Service, req *mih.Request) gateway.Outcome
}

// TracedCaller records each attempt as a span of its event's trace and sends its W3C
// traceparent (and tracestate) to the receiver, so that the receiver's own traces join the
// event's.
type TracedCaller struct {
	next   Caller
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// NewCaller wraps next.
func NewCaller(next Caller, tracer trace.Tracer) *TracedCaller {
	return &TracedCaller{next: next, tracer: tracer, prop: propagation.TraceContext{}}
}

// Send implements Caller.
func (c *TracedCaller) Send(ctx context.Context, svc *mih.Service, req *mih.Request) gateway.Outcome {
	attrs := []attribute.KeyValue{attribute.String("mih.service", svc.Name), attribute.String("mih.service.type", string(svc.Type))}
	if eventID, ruleID, ok := EventOfKey(req.IdempotencyKey); ok {
		ctx = Parent(ctx, eventID)
		attrs = append(attrs, attribute.String("mih.event.id", eventID), attribute.Int64("mih.rule.id", ruleID))
	}
	ctx, span := c.tracer.Start(ctx, SpanAttempt, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	defer span.End()
	carrier := propagation.MapCarrier{}
	c.prop.Inject(ctx, carrier)
	if len(carrier) > 0 {
		// A copy: the delivery's own headers are what the DLQ shows and a replay sends.
		r := *req
		r.Headers = maps.Clone(req.Headers)
		if r.Headers == nil {
			r.Headers = map[string]string{}
		}
		maps.Copy(r.Headers, carrier)
		req = &r
	}
	out := c.next.Send(ctx, svc, req)
	if out.Response != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", out.Response.Status))
	}
	if out.Err != nil {
		span.SetStatus(codes.Error, out.Err.Error())
	}
	return out
}
