package decide_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/require"
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
	s, err := w.db.SQL()
	require.NoError(b, err)
	tx, err := s.Begin()
	require.NoError(b, err)
	for start := 0; start < subjects; start += rows {
		var q strings.Builder
		q.WriteString(`INSERT INTO consent_state (subject_id, device_id, purpose, record_id, kind, granted, expires_at, notice_key, notice_version, audit_seq, updated_at) VALUES `)
		args := make([]any, 0, rows*7)
		for i := range rows {
			if i > 0 {
				q.WriteString(", ")
			}
			p := func() string { // ? on SQLite, $n on PostgreSQL
				if dialect == store.DialectPostgres {
					return fmt.Sprintf("$%d", len(args)+1)
				}
				return "?"
			}
			n := start + i
			fmt.Fprintf(&q, `(%s, `, p())
			args = append(args, fmt.Sprintf("subject-%06d", n))
			fmt.Fprintf(&q, `%s, 'navigation', `, p())
			args = append(args, w.device.ID)
			fmt.Fprintf(&q, `%s, 'consent', `, p())
			args = append(args, fmt.Sprintf("0193a5f2-7c1e-7b7a-9d1e-%012d", n))
			fmt.Fprintf(&q, `%s, `, p())
			args = append(args, true)
			fmt.Fprintf(&q, `%s, 'tracker', 1, `, p())
			args = append(args, expires)
			fmt.Fprintf(&q, `%s, `, p())
			args = append(args, int64(n+100))
			fmt.Fprintf(&q, `%s)`, p())
			args = append(args, expires)
		}
		_, err := tx.Exec(q.String(), args...)
		require.NoError(b, err)
	}
	err = tx.Commit()
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
