package audit_test

import (
	"context"
	"strconv"
	"sync/atomic"
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

// BenchmarkPseudonyms measures what naming subjects by random pseudonyms
// costs an append (group commit, 32 concurrent callers per core): every
// entry about one known subject (held in memory), and every entry about a
// subject never seen (a pseudonym drawn and stored with the entry).
// Run: make bench.
func BenchmarkPseudonyms(b *testing.B) {
	storetest.EachDialectBench(b, func(b *testing.B, dialect string) {
		for _, fresh := range []bool{false, true} {
			name := "known-subject"
			if fresh {
				name = "new-subject-each"
			}
			b.Run(name, func(b *testing.B) {
				l := audittest.MustOpenLog(b, storetest.MustOpenDB(b, dialect, nil), audit.Options{})
				ctx := context.Background()
				var n atomic.Int64
				b.SetParallelism(32)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						subject := "subject"
						if fresh {
							subject = "subject-" + strconv.FormatInt(n.Add(1), 10)
						}
						if _, err := l.Append(ctx, audittest.Event{Name: "bench", Targets: map[string]string{"device": "d"}, Subject: subject}); err != nil {
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
