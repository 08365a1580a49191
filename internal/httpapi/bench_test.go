package httpapi_test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
)

// The HTTP benchmarks run the whole request path in process (routing,
// request id, access log and metrics, token lookup, Casbin, strict decode,
// service, SQLite with synchronous=FULL) without a network socket.
// Run: make bench.

func BenchmarkHTTPRegisterDevice(b *testing.B) {
	e := MustOpenEnv(b)
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := e.do(b, privacy.RoleAdmin, http.MethodPost, "/v1/devices", newDevice(fmt.Sprintf("bench-%d", n.Add(1))))
			if r.Code != http.StatusCreated {
				b.Error(r.Body.String())
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "devices/s")
}

func BenchmarkHTTPInventoryRead(b *testing.B) {
	e := MustOpenEnv(b)
	putPurpose(b, e, "navigation")
	putPurpose(b, e, "maintenance")
	id := mustCreateDevice(b, e, newDevice("bench-inv"))["id"].(string)
	path := "/v1/devices/" + id + "/inventory"
	if r := e.do(b, privacy.RoleAdmin, http.MethodPut, path, validInventory()); r.Code != http.StatusCreated {
		b.Fatal(r.Body.String())
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := e.do(b, privacy.RoleApp, http.MethodGet, path, nil); r.Code != http.StatusOK {
				b.Error(r.Body.String())
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}
