package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestALockedDatabaseRefusesWithin: while another connection holds the
// lock the writer needs, an append fails after the lock timeout (2 s by
// default) as unavailable, appends nothing, and the log's health says the
// database is locked; once the lock goes, Recheck makes it healthy again
// without any change.
func TestALockedDatabaseRefusesWithin(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		// The default lock timeout, 2 s, which the test waits out once.
		dbs := storetest.MustOpenManyWith(t, dialect, store.Options{}, 2)
		a, b := dbs[0], dbs[1]
		l := audittest.MustOpenLog(t, a, audit.Options{})
		_, err := l.Append(ctx, audittest.Event{Name: "test.event", Outcome: "ok"})
		require.NoError(t, err)
		size := func() int64 {
			raw, err := a.SQL()
			require.NoError(t, err)
			var n int64
			require.NoError(t, raw.QueryRow("SELECT COUNT(*) FROM audit_entries").Scan(&n))
			return n
		}
		before := size()

		raw, err := b.SQL()
		require.NoError(t, err)
		conn, err := raw.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		if dialect == store.DialectSQLite {
			_, err = conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		} else {
			_, err = conn.ExecContext(ctx, "BEGIN; LOCK TABLE audit_entries IN ACCESS EXCLUSIVE MODE")
		}
		require.NoError(t, err)

		_, err = l.Append(ctx, audittest.Event{Name: "test.event", Outcome: "ok"})
		require.Error(t, err)
		assert.Equal(t, privacy.EUnavailable, privacy.ErrorCode(err))
		assert.Contains(t, err.Error(), "locked")
		require.Error(t, l.Health())
		assert.Contains(t, l.Health().Error(), "the database is locked")

		_, err = conn.ExecContext(ctx, "ROLLBACK")
		require.NoError(t, err)
		require.NoError(t, l.Recheck(ctx))
		assert.NoError(t, l.Health())
		assert.Equal(t, before, size(), "the refused append and the recheck appended nothing")
	})
}

// TestACheckpointWaitsForTheWriterNotTheLock: a checkpoint is stored in
// the writer's next transaction, so a writer that holds the database
// longer than the lock timeout (here a change that runs 300 ms against a
// 100 ms timeout; under load, one busy batch after another) delays it but
// does not fail it.
func TestACheckpointWaitsForTheWriterNotTheLock(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenManyWith(t, dialect, store.Options{LockTimeout: 100 * time.Millisecond}, 1)[0]
		l := audittest.MustOpenLog(t, db, audit.Options{})
		_, err := l.Append(ctx, audittest.Event{Name: "test.event", Outcome: "ok"})
		require.NoError(t, err)

		release, running := make(chan struct{}), make(chan struct{})
		changed := make(chan error, 1)
		go func() {
			_, err := l.Do(ctx, func(*audit.Tx) ([]event.Event, error) {
				close(running)
				<-release
				return []event.Event{audittest.Event{Name: "test.slow", Outcome: "ok"}}, nil
			})
			changed <- err
		}()
		<-running
		time.AfterFunc(300*time.Millisecond, func() { close(release) })
		cp, err := l.Checkpoint(ctx)
		require.NoError(t, err)
		require.NoError(t, <-changed)
		assert.Equal(t, int64(1), cp.Size, "the checkpoint signs the log as read before the slow change")
		latest, err := l.Checkpoint(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(2), latest.Size)
	})
}
