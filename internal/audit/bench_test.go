package audit_test

import (
	"context"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/store/storetest"
)

// BenchmarkAppend measures audited appends per second from 32 concurrent
// callers per core, with group commit (many entries per transaction and
// fsync) and with one transaction per entry. Run: make bench.
func BenchmarkAppend(b *testing.B) {
	storetest.EachDialectBench(b, func(b *testing.B, dialect string) {
		for _, bc := range []struct {
			name  string
			batch int
		}{{"group-commit", 256}, {"fsync-per-entry", 1}} {
			b.Run(bc.name, func(b *testing.B) {
				l := audittest.MustOpenLog(b, storetest.MustOpenDB(b, dialect, nil), audit.Options{MaxBatch: bc.batch})
				ctx := context.Background()
				ev := audittest.Event{Name: "bench", Targets: map[string]string{"device": "d"}, Subject: "subject"}
				b.SetParallelism(32)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := l.Append(ctx, ev); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	})
}
