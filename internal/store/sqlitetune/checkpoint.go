package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// sqliteDriver is mattn/go-sqlite3 with automatic WAL checkpoints turned
// off on every connection. SQLite otherwise runs a checkpoint inside the
// commit that crosses 1,000 WAL pages: copying pages back into the
// database file and an extra fsync, on the audit log's single writer,
// while every caller of that batch waits. DB.checkpointer does it instead,
// beside the writer (WAL lets a checkpoint run while others write).
//
// Temporary storage is kept in memory too: by default a statement journal
// (the undo record of a savepoint, or of a statement that can fail
// half-way, such as a multi-row insert) moves into a temporary file past
// 64 KiB, and every page journaled then costs a system call. Under the
// consent load 13 of the 16 pwrite calls per consent went to such files
// (29 KB per consent); in memory, consents went from 3,179-4,287/s to
// 3,436-5,019/s in three alternating pairs. Nothing durable is in them: a
// crash loses the open transaction anyway. The price: a sort that no
// index serves is held in memory too: a migration's CREATE INDEX, the
// GROUP BY of the report and review queries over consent_state (a few
// short columns per row: tens of MB at a million rows); the paged reads
// sort at most a page. Raising only
// the statement journals' threshold (SQLITE_CONFIG_STMTJRNL_SPILL) was
// tried instead: a journal that then outgrew 512 KiB or more failed its
// statement with "database or disk is full" here, where SQLite's default
// 64 KiB spills fine.
const sqliteDriver = "sqlite3_consentry"

func init() {
	sql.Register(sqliteDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA wal_autocheckpoint=0; PRAGMA temp_store=MEMORY", nil)
		return err
	}})
}

// checkpointEvery is how often the checkpointer copies the WAL back: a
// page written many times between two checkpoints is copied once, so
// longer is cheaper, until the copy itself gets long (decisions over
// loopback, 100,000 subjects: 9,400/s at 50 ms and 200 ms, 10,500-11,000/s
// at 1 s, 10,200/s at 2 s). restartFrames is the WAL length past which it
// also makes the next writer start the WAL over (DB.restartFrames, which
// tests lower). The writer then waits for the last copy and the database
// file's sync: 27-38 ms on this machine however little was left to copy
// (a second checkpoint right after took 50 us). So restarts are kept
// rare: 32,768 frames (128 MiB of 4 KiB pages), every 3-4 s under the
// decision load instead of every second at SQLite's own 1,000; decisions'
// p99 went from 24.5-27.9 ms to 21.0-23.6 ms (three alternating runs
// each). A crash leaves at most that much WAL to read back at the next
// start.
const (
	checkpointEvery = time.Second
	restartFrames   = 32768
	// restartLeft is how many frames (1 MiB) a restart may have to copy
	// while the writer waits.
	restartLeft = 256
)

// checkpointer copies the WAL back into the database every
// checkpointEvery without waiting for anyone (PASSIVE). Under a steady
// write load that alone never lets the WAL start over: new frames arrive
// while it copies, and a WAL that only grows makes every commit extend the
// file (a slower fsync) and every read search a longer index. Nor can the
// checkpointer force a restart itself: the audit writer takes the write
// lock again as soon as it lets it go. So once the WAL is past
// restartFrames it raises walLong, and the writer, between two batches,
// calls RestartWAL. Closing the database truncates the WAL.
func (db *DB) checkpointer(s *sql.DB) {
	defer close(db.stopped)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			_, _, _ = walCheckpoint(s, "TRUNCATE")
			return
		case <-t.C:
			db.passiveCheckpoint(s)
		}
	}
}

// passiveCheckpoint copies what it can of the WAL without waiting, and
// raises walLong when the WAL is past restartFrames. A restart makes the
// writer wait while it copies what is left, and frames keep arriving while
// a passive checkpoint runs, so it first copies again, a few times, until
// little is left.
func (db *DB) passiveCheckpoint(s *sql.DB) {
	for range 8 {
		frames, copied, err := walCheckpoint(s, "PASSIVE")
		if err != nil || frames < db.restartFrames {
			return
		}
		if frames-copied <= restartLeft {
			break
		}
	}
	db.walLong.Store(true)
}

// restartWait is how long a restart waits for readers still using the WAL
// before it gives up until the checkpointer asks again: while it waits,
// writers wait too, and a long reader (a backup's VACUUM INTO, say) would
// otherwise hold the audit writer for the whole busy timeout.
const restartWait = 20 * time.Millisecond

// RestartWAL, when the checkpointer found the WAL long, copies what is
// left of it into the database and makes the next write begin it again
// (a RESTART checkpoint: it holds writers back while it runs, and waits up
// to restartWait for the readers of the moment). The audit log's writer
// calls it between batches, when it holds no transaction; elsewhere, and
// on PostgreSQL, it does nothing.
func (db *DB) RestartWAL() {
	if db.dialect != DialectSQLite || !db.walLong.CompareAndSwap(true, false) {
		return
	}
	s, err := db.gorm.DB()
	if err != nil {
		return
	}
	ctx := context.Background()
	conn, err := s.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	// The connection goes back to the pool: it gets its usual patience
	// back, or it is discarded rather than left failing writes after 20 ms.
	defer func() {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", db.lockTimeout.Milliseconds())); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", restartWait.Milliseconds())); err != nil {
		return
	}
	var busy, frames, copied int
	_ = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
}

// walCheckpoint copies the WAL back into the database file and returns the
// WAL's length in frames and how many of them are now in the database.
// mode is one of SQLite's checkpoint modes.
func walCheckpoint(s *sql.DB, mode string) (frames, copied int, err error) {
	var busy int
	err = s.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
	return frames, copied, err
}
