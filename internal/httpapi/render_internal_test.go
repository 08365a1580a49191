package httpapi

import (
	"bytes"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRenderErrorsAreProblems: an answer that cannot be encoded is a 500
// problem with the request id, an error log line and a counted metric,
// never gin's silent empty 200.
func TestRenderErrorsAreProblems(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&logs, nil))}
	var err error
	s.metrics, err = newMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	r := gin.New()
	r.Use(func(c *gin.Context) { c.Set(requestIDKey, "req-1"); c.Next() }, s.renderGuard())
	r.GET("/inf", s.handle(func(c *gin.Context) error {
		writeJSON(c, http.StatusOK, map[string]float64{"x": math.Inf(1)})
		return nil
	}))
	// A route outside handle (as /healthz and the JWKS are) is guarded too.
	r.GET("/plain", func(c *gin.Context) { writeJSON(c, http.StatusOK, map[string]float64{"x": math.NaN()}) })
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/inf", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"type":"urn:consentry:problem:internal","title":"Internal Server Error","status":500,
		"detail":"internal error","code":"internal","request_id":"req-1"}`, rec.Body.String())
	assert.Contains(t, logs.String(), `"level":"ERROR"`)
	assert.Contains(t, logs.String(), `"request_id":"req-1"`)
	assert.Contains(t, logs.String(), "unsupported value")
	assert.Equal(t, 1.0, testutil.ToFloat64(s.metrics.renderErrors))

	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/plain", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code":"internal"`)
	assert.Equal(t, 2.0, testutil.ToFloat64(s.metrics.renderErrors))
}
