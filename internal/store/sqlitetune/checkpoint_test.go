package sqlitetune

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckpointsKeepTheWALBounded: SQLite's own checkpoints are off, so
// without the checkpointer the WAL would only grow; with it, a WAL that
// was copied back is reused from its start, and closing empties it.
func TestCheckpointsKeepTheWALBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path, 2*time.Second)
	ck := NewCheckpointer(s, RestartFrames) // the test checkpoints by hand
	var auto int
	require.NoError(t, s.QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto))
	assert.Equal(t, 0, auto, "SQLite must not checkpoint inside a commit")

	_, err := s.Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)")
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
		_, _, err := walCheckpoint(s, "PASSIVE")
		require.NoError(t, err)
		write(300 * round)
	}
	// Without checkpoints the WAL would hold all five rounds.
	assert.Less(t, walSize(), 2*first, "a checkpointed WAL is reused, not extended")

	go ck.Run()
	ck.Stop()
	assert.Zero(t, walSize(), "stopping copies the WAL back and empties it")
	require.NoError(t, s.Close())
	again := open(t, path, 2*time.Second)
	var n int
	require.NoError(t, again.QueryRow("SELECT COUNT(*) FROM t").Scan(&n))
	assert.Equal(t, 1500, n)
}

// TestWriterRestartsALongWAL: a passive checkpoint cannot copy frames a
// reader may still need, so under steady traffic it never lets the WAL
// start over; RestartWAL, run by the writer between batches, does.
func TestWriterRestartsALongWAL(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "r.db")
			s := open(t, path, 2*time.Second)
			ck := NewCheckpointer(s, 1000) // the test checkpoints by hand
			_, err := s.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
			require.NoError(t, err)
			n := 0
			write := func(count int) {
				for range count {
					n++
					_, err := s.Exec("INSERT INTO t VALUES (?, randomblob(3000))", n)
					require.NoError(t, err)
				}
			}
			var sizes []int64
			for range 4 {
				write(600)
				// A reader's snapshot, taken before the last writes, keeps
				// the passive checkpoint from copying them.
				reader, err := s.Conn(ctx)
				require.NoError(t, err)
				// A deferred transaction (the DSN makes BeginTx immediate,
				// which would lock the writes out).
				_, err = reader.ExecContext(ctx, "BEGIN DEFERRED")
				require.NoError(t, err)
				var c int
				require.NoError(t, reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&c))
				write(100)
				ck.Passive()
				require.True(t, ck.Long(), "the WAL is past %d frames", 1000)
				_, err = reader.ExecContext(ctx, "ROLLBACK")
				require.NoError(t, err)
				require.NoError(t, reader.Close())
				if restart {
					ck.Restart(2 * time.Second)
					assert.False(t, ck.Long())
				}
				fi, err := os.Stat(path + "-wal")
				require.NoError(t, err)
				sizes = append(sizes, fi.Size())
			}
			if restart {
				assert.Less(t, sizes[3], sizes[0]*2, "the WAL starts over: %v", sizes)
			} else {
				// It grows by about 700 frames a round, in whole chunks.
				assert.Greater(t, sizes[3], sizes[0]*2, "without a restart the WAL only grows: %v", sizes)
			}
		})
	}
}

// TestRestartGivesUpOnALongReader: a reader holding an old snapshot (a
// backup, say) keeps a restart from finishing; the restart must then give
// up at once rather than hold the writer for the whole busy timeout.
func TestRestartGivesUpOnALongReader(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "l.db")
	s := open(t, path, 10*time.Second)
	ck := NewCheckpointer(s, 1000)
	_, err := s.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
	require.NoError(t, err)
	for i := range 1500 {
		_, err := s.Exec("INSERT INTO t VALUES (?, randomblob(3000))", i)
		require.NoError(t, err)
	}
	reader, err := s.Conn(ctx)
	require.NoError(t, err)
	defer reader.Close()
	_, err = reader.ExecContext(ctx, "BEGIN DEFERRED")
	require.NoError(t, err)
	var c int
	require.NoError(t, reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&c))
	_, err = s.Exec("INSERT INTO t VALUES (-1, randomblob(3000))")
	require.NoError(t, err)
	ck.Passive()
	require.True(t, ck.Long())

	start := time.Now()
	ck.Restart(10 * time.Second)
	assert.Less(t, time.Since(start), 2*time.Second, "the restart gave up instead of waiting out the busy timeout (10 s)")
	// The writer is not held back afterwards, and the pool's connections
	// wait as patiently as before.
	_, err = s.Exec("INSERT INTO t VALUES (-2, randomblob(10))")
	require.NoError(t, err)
	var timeout int
	for range 4 {
		require.NoError(t, s.QueryRow("PRAGMA busy_timeout").Scan(&timeout))
		assert.Equal(t, 10000, timeout)
	}
	_, err = reader.ExecContext(ctx, "ROLLBACK")
	require.NoError(t, err)
}
