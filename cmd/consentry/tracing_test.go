package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestSpansExportedOverOTLP runs the binary with the standard
// OTEL_EXPORTER_OTLP_ENDPOINT pointing at a collector of this test's
// (OTLP over HTTP, protobuf): a request sent with a traceparent arrives
// there as a span of that trace, from service consentry, with the audit
// commit and database spans of the same process.
func TestSpansExportedOverOTLP(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING: builds the binary")
	}
	var (
		mu    sync.Mutex
		spans = map[string]string{} // name -> trace id
		svc   string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.Resource.Attributes {
				if a.Key == "service.name" {
					svc = a.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans[s.Name] = hexID(s.TraceId)
				}
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(nil)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")

	bin := testkit.BuildConsentry(t, ".")
	dataDir := filepath.Join(t.TempDir(), "data")
	_, base := startBinary(t, bin, dataDir)
	req, err := http.NewRequest(http.MethodPut, base+"/v1/purposes/navigation", strings.NewReader(`{"name":"Navigation","description":"Route guidance.","legal_basis":"contract"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+mustAdminToken(t, dataDir))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		_, commit := spans["audit.commit"]
		return spans["PUT /v1/purposes/:key"] != "" && commit
	}, 10*time.Second, 20*time.Millisecond, "the request's and the commit's spans reach the collector")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", spans["PUT /v1/purposes/:key"], "the caller's trace")
	assert.Equal(t, "consentry", svc)
	sql := 0
	for name := range spans {
		if strings.HasPrefix(name, "sql.") {
			sql++
		}
	}
	assert.Positive(t, sql, "database calls are spans")
}

func hexID(b []byte) string { return hex.EncodeToString(b) }
