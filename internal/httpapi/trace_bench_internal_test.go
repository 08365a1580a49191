package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/consentry/consentry/internal/tracing"
	"github.com/gin-gonic/gin"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkTraceMiddleware measures what tracing adds to a request in
// process (no network): a gin route answering 204, without the trace
// middleware, with it and tracing off (the default: no OTEL_* variable),
// off with a caller's traceparent, and on (spans recorded by the SDK,
// sampled, batched to an exporter that drops them). Run:
// go test -run '^$' -bench TraceMiddleware -benchmem ./internal/httpapi/
func BenchmarkTraceMiddleware(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{}
	engine := func(traced bool) *gin.Engine {
		r := gin.New()
		if traced {
			r.Use(s.trace())
		}
		r.POST("/v1/decisions", func(c *gin.Context) { c.Status(http.StatusNoContent) })
		return r
	}
	run := func(b *testing.B, r *gin.Engine, traceparent string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/decisions", nil)
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		w := httptest.NewRecorder()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			r.ServeHTTP(w, req)
		}
	}
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	b.Run("no-middleware", func(b *testing.B) { run(b, engine(false), "") })
	b.Run("off", func(b *testing.B) { run(b, engine(true), "") })
	b.Run("off-with-traceparent", func(b *testing.B) { run(b, engine(true), parent) })
	b.Run("on", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}))
		restore := tracing.Use(tp)
		defer func() { restore(); _ = tp.Shutdown(b.Context()) }()
		run(b, engine(true), parent)
	})
}

// discard is an exporter that drops what it is given.
type discard struct{}

func (discard) ExportSpans(_ context.Context, _ []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                                 { return nil }
