package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mihhub/mih/delivery"
	"github.com/mihhub/mih/tracing"
)

// hubTracing is the hub's OpenTelemetry tracing: off (a no-op tracer) unless otlp_endpoint is
// set, then spans are batched and exported over OTLP/HTTP. The exporter also reads the standard
// OTEL_EXPORTER_OTLP_* variables (headers for a collector that needs a key, TLS files).
type hubTracing struct {
	tracer   trace.Tracer
	enabled  bool
	shutdown func(context.Context) error
}

func newTracing(ctx context.Context, cfg *Config, owner string, logger *slog.Logger) (*hubTracing, error) {
	if cfg.OTLPEndpoint == "" {
		return &hubTracing{tracer: noop.NewTracerProvider().Tracer(""), shutdown: func(context.Context) error { return nil }}, nil
	}
	u, err := url.Parse(cfg.OTLPEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Sprintf("otlp_endpoint %q: want an http:// or https:// URL of an OTLP/HTTP collector, like http://127.0.0.1:4318", cfg.OTLPEndpoint)}
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "mih"),
		attribute.String("service.version", Version),
		attribute.String("service.instance.id", owner),
	)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(2*time.Second)),
		sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(tracing.IDGenerator{}),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	)
	logger.Info("tracing: exporting spans over OTLP", "endpoint", u.Redacted())
	return &hubTracing{tracer: tp.Tracer("github.com/mihhub/mih"), enabled: true, shutdown: tp.Shutdown}, nil
}

// caller wraps the workers' gateway so that each attempt is a span and carries traceparent.
func (t *hubTracing) caller(next delivery.Caller) delivery.Caller {
	if !t.enabled {
		return next
	}
	return tracing.NewCaller(next, t.tracer)
}
