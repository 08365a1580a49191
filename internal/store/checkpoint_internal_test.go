package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckpointsKeepTheWALBounded: SQLite's own checkpoints are off, so
// without the checkpointer the WAL would only grow; with it, a WAL that
// was copied back is reused from its start, and closing empties it.
func TestCheckpointsKeepTheWALBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(context.Background(), path, Options{})
	require.NoError(t, err)
	s, err := db.SQL()
	require.NoError(t, err)
	var auto int
	require.NoError(t, s.QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto))
	assert.Equal(t, 0, auto, "SQLite must not checkpoint inside a commit")

	_, err = s.Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
	require.NoError(t, err)
	write := func(from int) {
		for i := from; i < from+300; i++ {
			_, err := s.Exec("INSERT INTO t VALUES (?, randomblob(3000))", fmt.Sprintf("k-%d", i))
			require.NoError(t, err)
		}
	}
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		require.NoError(t, err)
		return fi.Size()
	}
	write(0)
	first := walSize()
	for round := 1; round < 5; round++ {
		_, err := walCheckpoint(s, "PASSIVE")
		require.NoError(t, err)
		write(300 * round)
	}
	// Without checkpoints the WAL would hold all five rounds.
	assert.Less(t, walSize(), 2*first, "a checkpointed WAL is reused, not extended")

	require.NoError(t, db.Close())
	fi, err := os.Stat(path + "-wal")
	if err == nil {
		assert.Zero(t, fi.Size(), "closing copies the WAL back and empties it")
	}
	again, err := Open(context.Background(), path, Options{})
	require.NoError(t, err)
	defer again.Close()
	var n int
	require.NoError(t, again.Read(context.Background()).db.Raw("SELECT COUNT(*) FROM t").Scan(&n).Error)
	assert.Equal(t, 1500, n)
}
