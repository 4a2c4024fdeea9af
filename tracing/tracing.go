// Package tracing gives every Moodle event one OpenTelemetry trace, from ingest through rule
// matching and rendering to each delivery attempt, and sends the W3C traceparent of the attempt
// to the receiver.
//
// Ingest and delivery happen at different times, often in different processes, and nothing
// about the trace is stored: the trace id and the id of the event's root span are derived from
// the event id (a SHA-256), so the worker that sends a delivery an hour later, or a replay a week
// later, attaches its attempt to the same trace. IDGenerator hands the SDK those derived ids for
// the root span; Parent gives the worker the context to start an attempt under.
package tracing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Span names.
const (
	SpanEvent   = "mih.event"
	SpanMatch   = "mih.rule.match"
	SpanRender  = "mih.render"
	SpanAttempt = "mih.delivery.attempt"
)

// EventIDs are the trace id and root span id of an event's trace.
func EventIDs(eventID string) (trace.TraceID, trace.SpanID) {
	sum := sha256.Sum256([]byte("mih-event:" + eventID))
	var tid trace.TraceID
	var sid trace.SpanID
	copy(tid[:], sum[:16])
	copy(sid[:], sum[16:24])
	// All-zero ids are invalid; a SHA-256 that yields one is not going to happen, but the
	// result must be valid whatever the input.
	if !tid.IsValid() {
		tid[0] = 1
	}
	if !sid.IsValid() {
		sid[0] = 1
	}
	return tid, sid
}

type rootKey struct{}

// EventRoot returns ctx marked so that the next root span started from it (with
// trace.WithNewRoot) gets the event's derived ids, when the tracer provider uses IDGenerator.
func EventRoot(ctx context.Context, eventID string) context.Context {
	return context.WithValue(ctx, rootKey{}, eventID)
}

// Parent returns ctx with the event's root span as the (remote) parent: spans started from it
// belong to the event's trace.
func Parent(ctx context.Context, eventID string) context.Context {
	tid, sid := EventIDs(eventID)
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
}

// IDGenerator gives an event's root span its derived ids, and random ids to everything else.
type IDGenerator struct{}

var _ sdktrace.IDGenerator = IDGenerator{}

// NewIDs implements sdktrace.IDGenerator.
func (IDGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if id, ok := ctx.Value(rootKey{}).(string); ok {
		return EventIDs(id)
	}
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[:8], rand.Uint64())
	binary.BigEndian.PutUint64(tid[8:], rand.Uint64()|1) // never all zero
	return tid, randomSpanID()
}

// NewSpanID implements sdktrace.IDGenerator.
func (IDGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return randomSpanID() }

func randomSpanID() trace.SpanID {
	var sid trace.SpanID
	binary.BigEndian.PutUint64(sid[:], rand.Uint64()|1)
	return sid
}

// EventOfKey is the event id of a delivery's idempotency key (mih.IdempotencyKey: event id,
// colon, rule id).
func EventOfKey(key string) (eventID string, ruleID int64, ok bool) {
	i := strings.LastIndexByte(key, ':')
	if i <= 0 {
		return "", 0, false
	}
	rule, err := strconv.ParseInt(key[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return key[:i], rule, true
}

// TraceID is the id of an event's trace in hex, for log lines: it finds the trace of any log
// line that names the event, whether tracing is on or not.
func TraceID(eventID string) string {
	tid, _ := EventIDs(eventID)
	return tid.String()
}
