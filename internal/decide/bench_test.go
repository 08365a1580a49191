package decide_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// BenchmarkLoadFacts measures the full load of decision facts that each
// start makes (and each change memory cannot follow), with 100,000
// subjects holding a consent state for one device and purpose each: the
// time it takes and the memory it keeps per consent state, on SQLite and
// (when configured) PostgreSQL.
func BenchmarkLoadFacts(b *testing.B) {
	storetest.EachDialectBench(b, loadFacts)
}

func loadFacts(b *testing.B, dialect string) {
	const subjects = 100_000
	w := newWorld(b, dialect)
	ctx := context.Background()
	expires := time.Date(2027, 11, 28, 12, 0, 0, 0, time.UTC)
	const rows = 100
	err := w.db.Gorm().Transaction(func(tx *gorm.DB) error {
		for start := 0; start < subjects; start += rows {
			var q strings.Builder
			q.WriteString(`INSERT INTO consent_state (subject_id, device_id, purpose, record_id, kind, granted, expires_at, notice_key, notice_version, audit_seq, updated_at) VALUES `)
			args := make([]any, 0, rows*7)
			for i := range rows {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString(`(?, ?, 'navigation', ?, 'consent', ?, ?, 'tracker', 1, ?, ?)`)
				n := start + i
				args = append(args, fmt.Sprintf("subject-%06d", n), w.device.ID, fmt.Sprintf("0193a5f2-7c1e-7b7a-9d1e-%012d", n), true, expires,
					int64(n+100), expires)
			}
			if err := tx.Exec(q.String(), args...).Error; err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(b, err)

	var before, after runtime.MemStats
	var kept any
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		kept = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		f, n, err := w.decide.LoadFacts(ctx)
		require.NoError(b, err)
		require.GreaterOrEqual(b, n, subjects)
		kept = f
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(kept)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/subjects, "bytes/state")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/load")
}
