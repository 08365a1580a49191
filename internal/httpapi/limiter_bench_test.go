package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/httpapi"
)

// BenchmarkRateLimiterManySubjects sends one request each for b.N distinct
// subject tokens (each its own rate-limit bucket) and reports the live
// heap after a quarter of them and at the end: the buckets are an LRU of
// httpapi.MaxLimiters, so the heap stays flat however many subjects pass.
// Run: go test -run '^$' -bench RateLimiterManySubjects -benchtime 1000000x ./internal/httpapi/
func BenchmarkRateLimiterManySubjects(b *testing.B) {
	issuer := mustSubjectTokens(b)
	e := mustOpenEnvWith(b, func(d *httpapi.Deps) { d.SubjectTokens = issuer; d.RateLimit = 100 })
	heap := func() float64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc) / (1 << 20)
	}
	now := time.Now()
	var quarter float64
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i == b.N/4 {
			b.StopTimer()
			quarter = heap()
			b.StartTimer()
		}
		token, _, err := issuer.Mint("app-1", fmt.Sprintf("subject-%09d", i), now, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/v1/subjects/other/consents", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			b.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
	}
	b.StopTimer()
	end := heap()
	b.ReportMetric(quarter, "heap-MiB-at-N/4")
	b.ReportMetric(end, "heap-MiB-at-N")
}
