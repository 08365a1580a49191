// Package tracing is Consentry's OpenTelemetry tracing. W3C trace context
// (traceparent, tracestate) is always accepted from callers, written to the
// access log and carried to the webhook deliveries a request causes. Spans
// (each request, the audit writer's commits, database calls) are recorded
// and exported over OTLP only when the standard OTEL_* variables ask for
// it; otherwise no tracer provider is installed and the request path does
// no tracing work beyond reading a traceparent header a caller sent.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Name is the instrumentation scope of Consentry's spans.
const Name = "github.com/consentry/consentry"

// Propagator reads and writes W3C trace context (traceparent, tracestate).
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

var enabled atomic.Bool

// Enabled reports whether spans are recorded and exported (Start found
// the OTEL_* variables asking for it).
func Enabled() bool { return enabled.Load() }

// Tracer is Consentry's tracer: the installed provider's when Enabled, a
// no-op one otherwise.
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Settings is what the OTEL_* variables say about traces.
type Settings struct {
	// Exporter is "otlp", "console", or "" (tracing off).
	Exporter string
	// Protocol is the OTLP protocol: "http/protobuf" or "grpc".
	Protocol string
}

// FromEnv reads the standard variables
// (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):
// tracing is on when OTEL_TRACES_EXPORTER is otlp or console, or, with it
// unset, when an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn it off. An exporter or protocol it cannot
// honor is an error, not silently no tracing.
func FromEnv(getenv func(string) string) (Settings, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return Settings{}, nil
	}
	var s Settings
	switch exp := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))); exp {
	case "none":
		return Settings{}, nil
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return Settings{}, nil
		}
		s.Exporter = "otlp"
	case "otlp", "console":
		s.Exporter = exp
	default:
		return Settings{}, fmt.Errorf("tracing: OTEL_TRACES_EXPORTER=%q is not supported (otlp, console or none)", exp)
	}
	if s.Exporter == "otlp" {
		s.Protocol = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
		if s.Protocol == "" {
			s.Protocol = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
		}
		switch s.Protocol {
		case "":
			s.Protocol = "http/protobuf" // the specification's default
		case "http/protobuf", "grpc":
		default:
			return Settings{}, fmt.Errorf("tracing: OTLP protocol %q is not supported (http/protobuf or grpc)", s.Protocol)
		}
	}
	return s, nil
}

// Start installs a tracer provider exporting as s says (nothing when s
// says off) and returns the function that flushes and stops it. The
// exporters read their endpoint, headers, timeout and TLS settings from
// the OTEL_EXPORTER_OTLP_* variables themselves; the sampler and batching
// from OTEL_TRACES_SAMPLER* and OTEL_BSP_*; the resource from
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (service.name defaults to
// consentry). console writes spans to stderr.
func Start(ctx context.Context, s Settings, version string, stderr io.Writer) (func(context.Context) error, error) {
	if s.Exporter == "" {
		enabled.Store(false)
		return func(context.Context) error { return nil }, nil
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch {
	case s.Exporter == "console":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(stderr))
	case s.Protocol == "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter: %w", err)
	}
	// The variables come last: OTEL_SERVICE_NAME overrides the default name.
	res, err := resource.New(ctx, resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName("consentry"), semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	enabled.Store(true)
	return func(ctx context.Context) error {
		enabled.Store(false)
		return tp.Shutdown(ctx)
	}, nil
}

// Inject writes ctx's trace context (traceparent, tracestate) to h, which
// is left as it is when ctx carries none.
func Inject(ctx context.Context, h propagation.TextMapCarrier) {
	Propagator.Inject(ctx, h)
}

// Extract returns ctx with the trace context in h, when h carries a valid
// one.
func Extract(ctx context.Context, h propagation.TextMapCarrier) context.Context {
	return Propagator.Extract(ctx, h)
}

// Carrier is a trace context as text (traceparent, tracestate), to keep
// with work done later: the webhook events a change writes keep the
// context of the request that made it.
type Carrier struct {
	TraceParent, TraceState string
}

// Get, Set and Keys make Carrier a propagation.TextMapCarrier.
func (c *Carrier) Get(key string) string {
	switch key {
	case "traceparent":
		return c.TraceParent
	case "tracestate":
		return c.TraceState
	}
	return ""
}

// Set keeps traceparent and tracestate; other keys are not trace context.
func (c *Carrier) Set(key, value string) {
	switch key {
	case "traceparent":
		c.TraceParent = value
	case "tracestate":
		c.TraceState = value
	}
}

// Keys lists the keys Carrier holds.
func (c *Carrier) Keys() []string { return []string{"traceparent", "tracestate"} }

// CarrierOf is ctx's trace context as text; empty when ctx carries none.
func CarrierOf(ctx context.Context) Carrier {
	var c Carrier
	if trace.SpanContextFromContext(ctx).IsValid() {
		Propagator.Inject(ctx, &c)
	}
	return c
}

// Use installs tp as if Start had (tracing on) and returns what restores
// tracing off. For tests that record spans with the SDK's span recorder,
// and for programs embedding Consentry that bring their own provider.
func Use(tp trace.TracerProvider) (restore func()) {
	otel.SetTracerProvider(tp)
	enabled.Store(true)
	return func() {
		enabled.Store(false)
		otel.SetTracerProvider(noop.NewTracerProvider())
	}
}
