package store

import (
	"context"
	"database/sql"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// sqliteDriver is mattn/go-sqlite3 with automatic WAL checkpoints turned
// off on every connection. SQLite otherwise runs a checkpoint inside the
// commit that crosses 1,000 WAL pages: copying pages back into the
// database file and an extra fsync, on the audit log's single writer,
// while every caller of that batch waits. DB.checkpointer does it instead,
// beside the writer (WAL lets a checkpoint run while others write).
const sqliteDriver = "sqlite3_consentry"

func init() {
	sql.Register(sqliteDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA wal_autocheckpoint=0", nil)
		return err
	}})
}

// checkpointEvery is how often the checkpointer copies the WAL back.
const checkpointEvery = 200 * time.Millisecond

// checkpointer runs a passive checkpoint every checkpointEvery, and a
// truncating one when the database closes, so the WAL neither grows
// without bound nor stays behind.
func (db *DB) checkpointer(s *sql.DB) {
	defer close(db.stopped)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			_ = walCheckpoint(s, "TRUNCATE")
			return
		case <-t.C:
			// PASSIVE never waits for readers or the writer; what it could
			// not copy now it copies next time.
			_ = walCheckpoint(s, "PASSIVE")
		}
	}
}

// walCheckpoint copies the WAL back into the database file. mode is one of
// SQLite's checkpoint modes.
func walCheckpoint(s *sql.DB, mode string) error {
	_, err := s.ExecContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")")
	return err
}
