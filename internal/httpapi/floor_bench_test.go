package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

// BenchmarkLoopbackFloor is the reference for the loopback benchmarks: the
// same load generator (64 keep-alive clients, in process) against a gin
// handler that reads the body and answers a fixed JSON, with no
// middleware, no decoding and no storage. No endpoint can be faster on
// this machine with this load generator; docs/performance.md compares.
func BenchmarkLoopbackFloor(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	reply := []byte(`{"decision":"allow","reasons":[],"id":"0193a4f2-0000-7000-8000-000000000000","audit_seq":1}`)
	r.POST("/v1/decisions", func(c *gin.Context) {
		_, _ = io.Copy(io.Discard, c.Request.Body)
		c.Data(http.StatusOK, "application/json", reply)
	})
	ts := httptest.NewServer(r)
	defer ts.Close()
	body := [][]byte{[]byte(`{"subject":"s-1","device":"0193a4f2-0000-7000-8000-000000000001","element":"location","purpose":"navigation","action":"use"}`)}
	rate, lat := loadRun(b, ts.URL+"/v1/decisions", "token", 64, http.StatusOK, body, func([]byte) error { return nil })
	b.ReportMetric(rate, "requests/s")
	b.ReportMetric(pct(lat, 0.5), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
}
