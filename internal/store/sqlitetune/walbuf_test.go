package sqlitetune

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWALBufGathersACommitsFrames: a commit of many pages reaches the WAL
// file in a few writes, not two per frame.
func TestWALBufGathersACommitsFrames(t *testing.T) {
	s := openWithTable(t, filepath.Join(t.TempDir(), "w.db"))

	before := walbufStats()
	tx, err := s.Begin()
	require.NoError(t, err)
	for i := range 200 {
		_, err := tx.Exec("INSERT INTO t VALUES (?, randomblob(3000))", i)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
	after := walbufStats()
	// 200 rows of 3,000 bytes: about 200 pages, a header and a page each,
	// 825 KB, which reach the file in runs of up to 128 KiB.
	assert.Greater(t, after.writes-before.writes, int64(300), "SQLite's WAL writes did not go through the VFS")
	assert.LessOrEqual(t, after.flushes-before.flushes, int64(8), "a commit's frames were not gathered")
}

// TestWALBufCommitsAreVisibleAtOnce: every commit, through either
// synchronous setting, is read at once by another connection, the
// checkpointer's copy included, while a reader runs beside the writer.
func TestWALBufCommitsAreVisibleAtOnce(t *testing.T) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "v.db")
			s := openWithTable(t, path)

			ctx := context.Background()
			w, err := s.Conn(ctx)
			require.NoError(t, err)
			defer w.Close()
			_, err = w.ExecContext(ctx, "PRAGMA synchronous="+mode)
			require.NoError(t, err)
			// A second pool on the same file, as another process would be.
			other, err := sql.Open(DriverName, dsn(path, 2*time.Second))
			require.NoError(t, err)
			defer other.Close()

			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Add(1)
			go func() { // readers and checkpoints beside the writer
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					var n int
					_ = other.QueryRow("SELECT count(*) FROM t").Scan(&n)
					_, _, _ = walCheckpoint(other, "PASSIVE")
				}
			}()
			for i := range 300 {
				_, err := w.ExecContext(ctx, "INSERT INTO t VALUES (?, zeroblob(?))", i, 100+i*20)
				require.NoError(t, err)
				var n, size int
				require.NoError(t, other.QueryRow("SELECT count(*), coalesce(sum(length(v)), 0) FROM t").Scan(&n, &size))
				require.Equal(t, i+1, n, "commit %d is not visible to another connection", i)
				require.Equal(t, (i+1)*100+20*i*(i+1)/2, size)
			}
			close(stop)
			wg.Wait()
			var check string
			require.NoError(t, other.QueryRow("PRAGMA integrity_check").Scan(&check))
			assert.Equal(t, "ok", check)
		})
	}
}

// TestWALBufSpilledFramesReadBack: a transaction larger than SQLite's page
// cache writes frames before it commits and reads them back; what it reads
// is what it wrote, before and after the commit, and after a reopen.
func TestWALBufSpilledFramesReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := open(t, path, 2*time.Second)
	ctx := context.Background()
	c, err := s.Conn(ctx)
	require.NoError(t, err)
	_, err = c.ExecContext(ctx, "PRAGMA cache_size=20")
	require.NoError(t, err)
	_, err = c.ExecContext(ctx, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
	require.NoError(t, err)
	tx, err := c.BeginTx(ctx, nil)
	require.NoError(t, err)
	want := 0
	for i := range 3000 {
		_, err := tx.Exec("INSERT INTO t VALUES (?, ?)", i, fmt.Sprintf("%0500d", i))
		require.NoError(t, err)
		want += i
	}
	sum := func(q interface {
		QueryRow(string, ...any) *sql.Row
	}) int {
		var got int
		require.NoError(t, q.QueryRow("SELECT sum(CAST(v AS INTEGER)) FROM t").Scan(&got))
		return got
	}
	assert.Equal(t, want, sum(tx), "inside the transaction")
	require.NoError(t, tx.Commit())
	require.NoError(t, c.Close())
	assert.Equal(t, want, sum(s), "after the commit")
	require.NoError(t, s.Close())

	s = open(t, path, 2*time.Second)
	assert.Equal(t, want, sum(s), "after a reopen")
}

// dsn is a read-write connection's DSN as store makes it: WAL,
// synchronous=FULL, BEGIN IMMEDIATE, the walbuf VFS.
func dsn(path string, busy time.Duration) string {
	return fmt.Sprintf("file:%s?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_busy_timeout=%d&vfs=%s", path, busy.Milliseconds(), VFS)
}

// open opens the database at path through DriverName and VFS, closed at
// the test's end.
func open(t *testing.T, path string, busy time.Duration) *sql.DB {
	t.Helper()
	require.NoError(t, Register())
	s, err := sql.Open(DriverName, dsn(path, busy))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Ping())
	return s
}

// openWithTable is open with a table t (k INTEGER PRIMARY KEY, v BLOB).
func openWithTable(t *testing.T, path string) *sql.DB {
	t.Helper()
	s := open(t, path, 2*time.Second)
	_, err := s.Exec("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
	require.NoError(t, err)
	return s
}

// TestStatementJournalsStayInMemory: a statement that can fail half-way
// inside a transaction keeps an undo record of the pages it changes (a
// statement journal, as does each open savepoint). Past 64 KiB SQLite's
// default moves it into a temporary file, a system call per page: under
// the consent load, 13 pwrite calls per consent went to such files. Every
// connection keeps temporary storage in memory.
func TestStatementJournalsStayInMemory(t *testing.T) {
	s := openWithTable(t, filepath.Join(t.TempDir(), "j.db"))
	ctx := context.Background()
	_, err := s.ExecContext(ctx, "CREATE UNIQUE INDEX t_v ON t (v)")
	require.NoError(t, err)
	tx, err := s.BeginTx(ctx, nil)
	require.NoError(t, err)
	for i := range 200 {
		_, err := tx.Exec("INSERT INTO t VALUES (?, randomblob(3000))", i)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())

	journals := walbufStats().journalFiles
	tx, err = s.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO t VALUES (1000, randomblob(10))")
	require.NoError(t, err)
	// About 400 pages of the table and its index, journaled because a
	// duplicate would abort the statement alone.
	_, err = tx.Exec("UPDATE t SET v = v || x'00'")
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	assert.Equal(t, journals, walbufStats().journalFiles, "a statement journal went to a temporary file")
}

// TestWALIsExtendedAheadAndSyncedWithFdatasync: a WAL grows a whole chunk
// of written zeros at a time, so that commits overwrite blocks already
// written, and every sync after a WAL's first is an fdatasync.
func TestWALIsExtendedAheadAndSyncedWithFdatasync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	before := walbufStats()
	s := openWithTable(t, path)
	for i := range 50 {
		_, err := s.Exec("INSERT INTO t VALUES (?, randomblob(100))", i)
		require.NoError(t, err)
	}
	after := walbufStats()
	fi, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	assert.Equal(t, int64(0), fi.Size()%walChunk(), "the WAL is %d bytes, not whole chunks", fi.Size())
	assert.Positive(t, after.zeroed-before.zeroed, "no zeros were written ahead")
	assert.GreaterOrEqual(t, after.datasyncs-before.datasyncs, int64(49), "commits were not synced with fdatasync")

	// Past the first chunk, it is extended by another.
	tx, err := s.Begin()
	require.NoError(t, err)
	for i := range 1500 {
		_, err := tx.Exec("INSERT INTO t VALUES (?, randomblob(3000))", 1000+i)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
	fi, err = os.Stat(path + "-wal")
	require.NoError(t, err)
	assert.Equal(t, 2*walChunk(), fi.Size())
}

// TestWALExtendedByTwoWriters: two pools on one file (two processes) take
// turns writing, each extending the WAL: neither writes zeros over
// frames the other wrote since it last looked at the file's size.
func TestWALExtendedByTwoWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "two.db")
	a := openWithTable(t, path)
	b := open(t, path, 2*time.Second)
	for i := range 600 {
		s := a
		if i%2 == 1 {
			s = b
		}
		_, err := s.Exec("INSERT INTO t VALUES (?, randomblob(?))", i, 500+i*37%4000)
		require.NoError(t, err)
	}
	assertIntact(t, 600, a, b)
}

// TestWALWithZerosAheadRecovers: after a crash (the database and its WAL
// as a kill -9 leaves them, copied while open), SQLite's recovery reads
// every committed frame and stops at the zeros written ahead.
func TestWALWithZerosAheadRecovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	s := openWithTable(t, path)
	for i := range 300 {
		_, err := s.Exec("INSERT INTO t VALUES (?, randomblob(700))", i)
		require.NoError(t, err)
	}
	crashed := crashCopy(t, path)
	fi, err := os.Stat(crashed + "-wal")
	require.NoError(t, err)
	require.Equal(t, walChunk(), fi.Size(), "the copied WAL ends in zeros")

	r := open(t, crashed, 2*time.Second)
	assertIntact(t, 300, r)
	_, err = r.Exec("INSERT INTO t VALUES (1000, randomblob(10))")
	require.NoError(t, err, "the recovered database takes writes")
}

// TestWALBufRolledBackFramesStayBehind: a transaction larger than its page
// cache writes frames before it commits; rolled back, those frames are
// no one's, and another writer appends its own where they were. The VFS
// must not write the rolled-back frames it held back after that, over the
// other writer's committed ones (it did: "Rowid out of order", committed
// rows lost at recovery); it writes them as the write lock goes.
func TestWALBufRolledBackFramesStayBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rb.db")
	a := openWithTable(t, path)
	b := open(t, path, 2*time.Second)
	ctx := context.Background()
	c, err := a.Conn(ctx)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.ExecContext(ctx, "PRAGMA cache_size=10")
	require.NoError(t, err)

	tx, err := c.BeginTx(ctx, nil)
	require.NoError(t, err)
	for i := range 200 {
		_, err := tx.Exec("INSERT INTO t VALUES (?, randomblob(1000))", 100000+i)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Rollback())

	// Another connection of another pool (another process) appends and
	// commits where the rolled-back frames were.
	for i := range 100 {
		_, err := b.Exec("INSERT INTO t VALUES (?, randomblob(1000))", i)
		require.NoError(t, err)
	}
	// The first connection writes again.
	_, err = c.ExecContext(ctx, "INSERT INTO t VALUES (1000, randomblob(10))")
	require.NoError(t, err)

	assertIntact(t, 101, a, b)
	// And after a crash: what recovery reads back from the WAL.
	assertIntact(t, 101, open(t, crashCopy(t, path), 2*time.Second))
}

// assertIntact checks, through each pool, that table t holds rows rows
// and that the database passes SQLite's integrity check.
func assertIntact(t *testing.T, rows int, pools ...*sql.DB) {
	t.Helper()
	for _, s := range pools {
		var n int
		require.NoError(t, s.QueryRow("SELECT count(*) FROM t").Scan(&n))
		assert.Equal(t, rows, n)
		var check string
		require.NoError(t, s.QueryRow("PRAGMA integrity_check").Scan(&check))
		assert.Equal(t, "ok", check)
	}
}

// crashCopy copies the database at path and its WAL, as they are while
// open (as a kill -9 leaves them), to a new directory, and returns the
// copy's path.
func crashCopy(t *testing.T, path string) string {
	t.Helper()
	crashed := filepath.Join(t.TempDir(), filepath.Base(path))
	for _, suffix := range []string{"", "-wal"} {
		raw, err := os.ReadFile(path + suffix)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(crashed+suffix, raw, 0o600))
	}
	return crashed
}
