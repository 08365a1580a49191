package sqlitetune

import (
	"database/sql"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// DriverName is mattn/go-sqlite3 with automatic WAL checkpoints turned
// off on every connection. SQLite otherwise runs a checkpoint inside the
// commit that crosses 1,000 WAL pages: copying pages back into the
// database file and an extra fsync, on the audit log's single writer,
// while every caller of that batch waits. Checkpointer does it instead,
// beside the writer (WAL lets a checkpoint run while others write).
//
// Temporary storage is kept in memory too: by default a statement journal
// (the undo record of a savepoint, or of a statement that can fail
// half-way, such as a multi-row insert) moves into a temporary file past
// 64 KiB, and every page journaled then costs a system call; under the
// consent load most of the writer's system calls went to such files.
// Nothing durable is in them: a crash loses the open transaction anyway.
// The price: a sort that no index serves is held in memory too: a
// migration's CREATE INDEX, the GROUP BY of the report and review queries
// over consent_state (a few short columns per row: tens of MB at a million
// rows); the paged reads sort at most a page. Raising only the statement
// journals' threshold (SQLITE_CONFIG_STMTJRNL_SPILL) is no alternative: a journal that outgrows a raised threshold fails its
// statement with "database or disk is full", where the default spills.
const DriverName = "sqlite3_consentry"

func init() {
	sql.Register(DriverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec("PRAGMA wal_autocheckpoint=0; PRAGMA temp_store=MEMORY", nil)
		return err
	}})
}
