package httpapi_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/tracing"
	"github.com/consentry/consentry/internal/webhook/webhooktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// A caller's trace context, as a W3C traceparent and tracestate.
const (
	callerTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan   = "00f067aa0ba902b7"
	callerParent = "00-" + callerTrace + "-" + callerSpan + "-01"
	callerState  = "vendor=abc"
)

// doWithHeaders is env.do with extra request headers.
func doWithHeaders(t testing.TB, e *env, role privacy.Role, method, path string, body any, h map[string]string) response {
	t.Helper()
	js, err := json.Marshal(body)
	require.NoError(t, err)
	req := httptest.NewRequest(method, path, bytes.NewReader(js))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	for k, v := range h {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	checkContract(t, req, rec)
	return response{rec}
}

// tracedConsent records a consent with the caller's trace context on an
// env logging at info into logged, with a webhook receiver for grants;
// it returns the delivery's headers and the access log.
func tracedConsent(t *testing.T, headers map[string]string) (http.Header, string, *env) {
	t.Helper()
	e, logged := loggingEnv(t, slog.LevelInfo)
	_, deviceID, notice := consentEnvOn(t, e)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	rx := webhooktest.New(t, secret, 0)
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/webhooks",
		map[string]any{"url": rx.URL, "events": []string{"consent.granted"}, "secret": secret}).Code)
	e.webhooks.Start()
	t.Cleanup(e.webhooks.Stop)
	r := doWithHeaders(t, e, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true)), headers)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	events := rx.WaitFor(t, 1, 10*time.Second)
	_, h := rx.Delivery(events[0].ID)
	var line string
	for _, l := range strings.Split(logged.String(), "\n") {
		if strings.Contains(l, `"route":"/v1/consents"`) {
			line = l
		}
	}
	require.NotEmpty(t, line, "the consent's access log line")
	return h, line, e
}

// TestTraceContextWithTracingOff: with no OTEL_* variable set nothing is
// recorded, yet a caller's traceparent is honored: the access log names
// its trace and the webhook delivery the request caused carries it on
// unchanged; a request without one gets deliveries without one.
func TestTraceContextWithTracingOff(t *testing.T) {
	require.False(t, tracing.Enabled())
	h, line, _ := tracedConsent(t, map[string]string{"traceparent": callerParent, "tracestate": callerState})
	assert.Equal(t, callerParent, h.Get("traceparent"))
	assert.Equal(t, callerState, h.Get("tracestate"))
	assert.Contains(t, line, `"trace_id":"`+callerTrace+`"`)

	h, line, _ = tracedConsent(t, nil)
	assert.Empty(t, h.Get("traceparent"), "no trace context came, none goes on")
	assert.NotContains(t, line, "trace_id")

	// A malformed traceparent is ignored, not an error.
	h, _, _ = tracedConsent(t, map[string]string{"traceparent": "00-zz-yy-01"})
	assert.Empty(t, h.Get("traceparent"))
}

func attr(kvs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestTracingOn records the spans of a consent with the SDK's span
// recorder: the request's server span continues the caller's trace, the
// audit writer's commit is a span with its batch size linked to the
// request's span, the database calls are spans (the request's reads, the
// commit's writes), and the webhook delivery is a client span of the
// caller's trace whose traceparent the receiver gets.
func TestTracingOn(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(tracing.Use(tp))
	h, line, _ := tracedConsent(t, map[string]string{"traceparent": callerParent})

	var server, commit, deliver sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case "POST /v1/consents":
			server = s
		case "webhook.deliver":
			deliver = s
		}
	}
	require.NotNil(t, server, "the request's span")
	for _, s := range rec.Ended() {
		for _, l := range s.Links() {
			if s.Name() == "audit.commit" && l.SpanContext.SpanID() == server.SpanContext().SpanID() {
				commit = s
			}
		}
	}
	assert.Equal(t, trace.SpanKindServer, server.SpanKind())
	assert.Equal(t, callerTrace, server.SpanContext().TraceID().String(), "the caller's trace goes on")
	assert.Equal(t, callerSpan, server.Parent().SpanID().String())
	assert.True(t, server.Parent().IsRemote())
	route, _ := attr(server.Attributes(), "http.route")
	assert.Equal(t, "/v1/consents", route.AsString())
	status, _ := attr(server.Attributes(), "http.response.status_code")
	assert.Equal(t, int64(http.StatusCreated), status.AsInt64())

	require.NotNil(t, commit, "the audit commit that wrote the consent, linked to the request")
	size, ok := attr(commit.Attributes(), "consentry.audit.batch_size")
	require.True(t, ok)
	assert.GreaterOrEqual(t, size.AsInt64(), int64(1))
	entries, _ := attr(commit.Attributes(), "consentry.audit.entries")
	assert.GreaterOrEqual(t, entries.AsInt64(), int64(1))

	var requestSQL, commitSQL int
	for _, s := range rec.Ended() {
		if !strings.HasPrefix(s.Name(), "sql.") {
			continue
		}
		switch s.Parent().SpanID() {
		case server.SpanContext().SpanID():
			requestSQL++
		case commit.SpanContext().SpanID():
			commitSQL++
		}
	}
	assert.Positive(t, requestSQL, "the request's database reads are its spans")
	assert.Positive(t, commitSQL, "the commit's statements are its spans")

	require.NotNil(t, deliver, "the delivery's span")
	assert.Equal(t, trace.SpanKindClient, deliver.SpanKind())
	assert.Equal(t, callerTrace, deliver.SpanContext().TraceID().String(), "the delivery belongs to the caller's trace")
	assert.Equal(t, "00-"+callerTrace+"-"+deliver.SpanContext().SpanID().String()+"-01", h.Get("traceparent"), "the receiver continues from the delivery's span")
	assert.Contains(t, line, `"trace_id":"`+callerTrace+`"`)
	assert.Contains(t, line, `"span_id":"`+server.SpanContext().SpanID().String()+`"`)
}
