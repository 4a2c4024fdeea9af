package main

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/mihhub/mih/tracing"
)

type gotSpan struct {
	name, trace, id, parent string
	attrs                   map[string]string
}

// An event makes one trace: its root span at ingest, the rule match and the render under it, and
// the delivery attempt, whose traceparent the receiver gets. The spans go to an OTLP/HTTP
// collector served by the test.
func TestTracing_OneTracePerEvent(t *testing.T) {
	var mu sync.Mutex
	var spans []gotSpan
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					g := gotSpan{name: s.Name, trace: hex.EncodeToString(s.TraceId), id: hex.EncodeToString(s.SpanId),
						parent: hex.EncodeToString(s.ParentSpanId), attrs: map[string]string{}}
					for _, a := range s.Attributes {
						g.attrs[a.Key] = a.Value.String()
					}
					spans = append(spans, g)
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(nil)
	}))
	defer collector.Close()
	traceparent := make(chan string, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceparent <- r.Header.Get("Traceparent")
	}))
	defer recv.Close()

	ctx, stop := context.WithCancel(context.Background())
	url, done := startHubCtx(t, ctx, t.TempDir(), func(c *Config) { c.OTLPEndpoint = collector.URL })
	configureHub(t, &hubProcess{url: url}, recv.URL)
	if code, body := apiCall(t, "POST", url+"api/v1/events", testEvents("otel", 1)[0]); code != 202 {
		t.Fatalf("ingest: %d %s", code, body)
	}
	var tp string
	select {
	case tp = <-traceparent:
	case <-time.After(10 * time.Second):
		t.Fatal("the delivery did not arrive")
	}
	stop()
	<-done // flushes the spans

	wantTrace, wantRoot := tracing.EventIDs("otel-0")
	parts := strings.Split(tp, "-")
	if len(parts) != 4 || parts[0] != "00" || parts[1] != wantTrace.String() || parts[3] != "01" {
		t.Fatalf("traceparent %q: want the event's trace %s, sampled", tp, wantTrace)
	}
	mu.Lock()
	defer mu.Unlock()
	byName := map[string]gotSpan{}
	for _, s := range spans {
		if s.trace == wantTrace.String() {
			byName[s.name] = s
		}
	}
	root, ok := byName[tracing.SpanEvent]
	if !ok || root.id != wantRoot.String() || root.parent != "" || !strings.Contains(root.attrs["mih.event.id"], "otel-0") {
		t.Fatalf("event span %+v; all spans %+v", root, spans)
	}
	for _, name := range []string{tracing.SpanMatch, tracing.SpanRender, tracing.SpanAttempt} {
		if s, ok := byName[name]; !ok || s.parent != root.id {
			t.Errorf("span %s: %+v, want a child of the event span %s", name, s, root.id)
		}
	}
	attempt := byName[tracing.SpanAttempt]
	if parts[2] != attempt.id {
		t.Errorf("the receiver got parent span %s, want the attempt's %s", parts[2], attempt.id)
	}
	if !strings.Contains(attempt.attrs["http.response.status_code"], "200") || !strings.Contains(attempt.attrs["mih.service"], "receiver") {
		t.Errorf("attempt attributes %v", attempt.attrs)
	}
}
