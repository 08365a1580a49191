package tracing_test

import (
	"context"
	"testing"

	"github.com/consentry/consentry/internal/tracing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

// TestFromEnv: off unless the standard variables ask; what they ask for
// and cannot be honored is an error, never silently no tracing.
func TestFromEnv(t *testing.T) {
	for name, c := range map[string]struct {
		env  map[string]string
		want tracing.Settings
		err  string
	}{
		"nothing set":                {env: nil, want: tracing.Settings{}},
		"an endpoint":                {env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, want: tracing.Settings{Exporter: "otlp", Protocol: "http/protobuf"}},
		"a traces endpoint, grpc":    {env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, want: tracing.Settings{Exporter: "otlp", Protocol: "grpc"}},
		"traces protocol wins":       {env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, want: tracing.Settings{Exporter: "otlp", Protocol: "http/protobuf"}},
		"console":                    {env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, want: tracing.Settings{Exporter: "console"}},
		"none beats an endpoint":     {env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, want: tracing.Settings{}},
		"the SDK disabled":           {env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, want: tracing.Settings{}},
		"an exporter we do not have": {env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: `OTEL_TRACES_EXPORTER="zipkin" is not supported`},
		"http/json":                  {env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, err: `OTLP protocol "http/json" is not supported`},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := tracing.FromEnv(env(c.env))
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

// TestStartOff: with the variables silent nothing is installed.
func TestStartOff(t *testing.T) {
	stop, err := tracing.Start(context.Background(), tracing.Settings{}, "test", nil)
	require.NoError(t, err)
	assert.False(t, tracing.Enabled())
	assert.NoError(t, stop(context.Background()))
	_, span := tracing.Tracer().Start(context.Background(), "x")
	assert.False(t, span.IsRecording(), "no provider: spans record nothing")
}

// TestCarrier: a trace context kept as text comes back the same.
func TestCarrier(t *testing.T) {
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ctx := tracing.Extract(context.Background(), propagation.MapCarrier{"traceparent": parent, "tracestate": "congo=t61rcWkgMzE"})
	sc := trace.SpanContextFromContext(ctx)
	require.True(t, sc.IsValid())
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", sc.TraceID().String())
	c := tracing.CarrierOf(ctx)
	assert.Equal(t, tracing.Carrier{TraceParent: parent, TraceState: "congo=t61rcWkgMzE"}, c)
	assert.Equal(t, tracing.Carrier{}, tracing.CarrierOf(context.Background()), "no context, nothing kept")
	bad := tracing.Extract(context.Background(), propagation.MapCarrier{"traceparent": "00-00000000000000000000000000000000-b7ad6b7169203331-01"})
	assert.False(t, trace.SpanContextFromContext(bad).IsValid(), "an all-zero trace id is refused")
}
