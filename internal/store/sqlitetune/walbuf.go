// Package sqlitetune is what lets the embedded SQLite keep up with the
// audit log's single writer: a driver whose connections keep temporary
// storage in memory and leave checkpoints to a checkpointer beside the
// writer (driver.go, checkpoint.go), and a VFS that hands a commit's WAL
// writes to the kernel together, extends a WAL ahead of its frames and
// syncs it with fdatasync (walbuf.c). store opens every SQLite
// connection through DriverName; the VFS is named in the DSN of read-write
// ones (VFS).
package sqlitetune

/*
// walbuf.c calls into the SQLite that github.com/mattn/go-sqlite3 links
// into the binary, through weak declarations (walbuf.c says why).
#include "sqlite3.h"
int consentry_walbuf_register(const char *name);
void consentry_walbuf_stats(long long *writes, long long *flushes, long long *subjournals, long long *datasyncs, long long *zeroed);
int consentry_walbuf_chunk(void);
void consentry_sqlite_memory(long long *current, long long *highwater, int reset);
*/
import "C"

import (
	"fmt"
	"sync"
)

// VFS is the SQLite VFS that read-write connections open with (the DSN's
// vfs parameter): the default unix VFS, except that a WAL file's writes
// are handed to the kernel together at each sync, a WAL is extended ahead
// of its frames, and synced with fdatasync (walbuf.c says why and what
// keeps it exact). Register must have run.
const VFS = "consentry-walbuf"

var (
	walbufOnce sync.Once
	walbufErr  error
)

// Register registers VFS with SQLite, once.
func Register() error {
	walbufOnce.Do(func() {
		name := C.CString(VFS) // kept: SQLite holds on to the name
		switch rc := C.consentry_walbuf_register(name); rc {
		case 0:
		case C.SQLITE_MISMATCH:
			walbufErr = fmt.Errorf("store: the SQLite VFS %s was compiled against SQLite %s, but this binary links another version; "+
				"refresh internal/store/sqlitetune/sqlite3.h (go test ./internal/store/sqlitetune -run TestHeaderIsGoSQLite3s -update)",
				VFS, C.SQLITE_VERSION)
		default:
			walbufErr = fmt.Errorf("store: registering the SQLite VFS %s failed (SQLite code %d)", VFS, int(rc))
		}
	})
	return walbufErr
}

// walbufCounts are what VFS has done in this process: WAL writes SQLite
// made through it (writes), in how many writes they reached the file
// (flushes); statement journals (the undo records of open savepoints and
// of statements that can fail half-way) that outgrew SQLite's memory into
// a temporary file (journalFiles); WAL syncs made with fdatasync
// (datasyncs); bytes of zeros written ahead of a WAL's frames (zeroed).
type walbufCounts struct {
	writes, flushes, journalFiles, datasyncs, zeroed int64
}

// walbufStats reads the counts. For tests (cgo cannot be used in a
// _test.go file).
func walbufStats() walbufCounts {
	var w, f, j, d, z C.longlong
	C.consentry_walbuf_stats(&w, &f, &j, &d, &z)
	return walbufCounts{writes: int64(w), flushes: int64(f), journalFiles: int64(j), datasyncs: int64(d), zeroed: int64(z)}
}

// walChunk is how far ahead VFS extends a WAL, in bytes. For tests.
func walChunk() int64 { return int64(C.consentry_walbuf_chunk()) }

// Memory is the memory SQLite holds in this process now, and the
// most it held since the last reset (reset starts the peak over from now).
// For tests of writers whose undo records (statement journals, kept in
// memory) must stay small.
func Memory(reset bool) (current, peak int64) {
	var c, h C.longlong
	r := C.int(0)
	if reset {
		r = 1
	}
	C.consentry_sqlite_memory(&c, &h, r)
	return int64(c), int64(h)
}
