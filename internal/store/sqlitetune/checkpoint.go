package sqlitetune

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointEvery is how often the checkpointer copies the WAL back: a
// page written many times between two checkpoints is copied once, so
// longer is cheaper, until the copy itself gets long; a second was the
// best of the intervals measured under the decision load. RestartFrames
// is the WAL length past which it also makes the next writer start the
// WAL over. The writer then waits for the last copy and the database
// file's sync, tens of milliseconds however little is left to copy, which
// every caller of the next batch feels in its latency. So restarts are
// kept rare: 32,768 frames (128 MiB of 4 KiB pages), every few seconds
// under load instead of every second at SQLite's own 1,000. A crash leaves
// at most that much WAL to read back at the next start.
const (
	checkpointEvery = time.Second
	RestartFrames   = 32768
	// restartLeft is how many frames (1 MiB) a restart may have to copy
	// while the writer waits.
	restartLeft = 256
)

// Checkpointer copies a database's WAL back into its file every
// checkpointEvery without waiting for anyone (PASSIVE). Under a steady
// write load that alone never lets the WAL start over: new frames arrive
// while it copies, and a WAL that only grows makes every commit extend the
// file (a slower fsync) and every read search a longer index. Nor can the
// checkpointer force a restart itself: the audit writer takes the write
// lock again as soon as it lets it go. So once the WAL is past
// restartFrames it raises Long, and the writer, between two batches,
// calls Restart. Stop truncates the WAL.
type Checkpointer struct {
	db            *sql.DB
	restartFrames int
	long          atomic.Bool
	stop, stopped chan struct{}
	once          sync.Once
}

// NewCheckpointer returns a checkpointer of db's WAL; Run runs it. Past
// restartFrames frames it asks for a restart (RestartFrames; tests lower it).
func NewCheckpointer(db *sql.DB, restartFrames int) *Checkpointer {
	return &Checkpointer{db: db, restartFrames: restartFrames, stop: make(chan struct{}), stopped: make(chan struct{})}
}

// Run checkpoints every checkpointEvery until Stop.
func (c *Checkpointer) Run() {
	defer close(c.stopped)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			_, _, _ = walCheckpoint(c.db, "TRUNCATE")
			return
		case <-t.C:
			c.Passive()
		}
	}
}

// Stop ends Run, which copies the whole WAL back and empties it first,
// and waits for it. Run must have been started.
func (c *Checkpointer) Stop() {
	c.once.Do(func() { close(c.stop) })
	<-c.stopped
}

// Long reports whether the WAL was found past restartFrames and not
// restarted since.
func (c *Checkpointer) Long() bool { return c.long.Load() }

// Passive copies what it can of the WAL without waiting, and raises Long
// when the WAL is past restartFrames. A restart makes the writer wait
// while it copies what is left, and frames keep arriving while a passive
// checkpoint runs, so it first copies again, a few times, until little is
// left.
func (c *Checkpointer) Passive() {
	for range 8 {
		frames, copied, err := walCheckpoint(c.db, "PASSIVE")
		if err != nil || frames < c.restartFrames {
			return
		}
		if frames-copied <= restartLeft {
			break
		}
	}
	c.long.Store(true)
}

// restartWait is how long a restart waits for readers still using the WAL
// before it gives up until the checkpointer asks again: while it waits,
// writers wait too, and a long reader (a backup's VACUUM INTO, say) would
// otherwise hold the audit writer for the whole busy timeout.
const restartWait = 20 * time.Millisecond

// Restart, when the WAL is Long, copies what is left of it into the
// database and makes the next write begin it again (a RESTART checkpoint:
// it holds writers back while it runs, and waits up to restartWait for the
// readers of the moment). Call it when holding no transaction; busy is the
// pool's busy timeout, given back to the connection afterwards.
func (c *Checkpointer) Restart(busy time.Duration) {
	if !c.long.CompareAndSwap(true, false) {
		return
	}
	ctx := context.Background()
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	// The connection goes back to the pool: it gets its usual patience
	// back, or it is discarded rather than left failing writes after 20 ms.
	defer func() {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", busy.Milliseconds())); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", restartWait.Milliseconds())); err != nil {
		return
	}
	var busyCode, frames, copied int
	_ = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busyCode, &frames, &copied)
}

// walCheckpoint copies the WAL back into the database file and returns the
// WAL's length in frames and how many of them are now in the database.
// mode is one of SQLite's checkpoint modes.
func walCheckpoint(s *sql.DB, mode string) (frames, copied int, err error) {
	var busy int
	err = s.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
	return frames, copied, err
}
