package store

/*
// walbuf.c calls into the SQLite that github.com/mattn/go-sqlite3 links
// into the binary, through weak declarations (walbuf.c says why).
int consentry_walbuf_register(const char *name);
void consentry_walbuf_stats(long long *writes, long long *flushes, long long *subjournals);
void consentry_sqlite_memory(long long *current, long long *highwater, int reset);
*/
import "C"

import (
	"fmt"
	"sync"
)

// walbufVFS is the SQLite VFS that every read-write connection opens
// with: the default unix VFS, except that a WAL file's writes are handed
// to the kernel together at each sync (walbuf.c says why and what keeps it
// exact).
const walbufVFS = "consentry-walbuf"

var (
	walbufOnce sync.Once
	walbufErr  error
)

// registerWALBuf registers walbufVFS with SQLite, once.
func registerWALBuf() error {
	walbufOnce.Do(func() {
		name := C.CString(walbufVFS) // kept: SQLite holds on to the name
		if rc := C.consentry_walbuf_register(name); rc != 0 {
			walbufErr = fmt.Errorf("store: registering the SQLite VFS %s failed (SQLite code %d)", walbufVFS, int(rc))
		}
	})
	return walbufErr
}

// walbufStats returns how many WAL writes SQLite has made through
// walbufVFS in this process, in how many writes they reached the file, and
// how many statement journals (the undo records of open savepoints and of
// statements that can fail half-way) outgrew SQLite's memory into a
// temporary file on connections of this package. For tests (cgo cannot be
// used in a _test.go file).
func walbufStats() (writes, flushes, journalFiles int64) {
	var w, f, j C.longlong
	C.consentry_walbuf_stats(&w, &f, &j)
	return int64(w), int64(f), int64(j)
}

// SQLiteMemory is the memory SQLite holds in this process now, and the
// most it held since the last reset (reset starts the peak over from now).
// For tests of writers whose undo records (statement journals, kept in
// memory) must stay small.
func SQLiteMemory(reset bool) (current, peak int64) {
	var c, h C.longlong
	r := C.int(0)
	if reset {
		r = 1
	}
	C.consentry_sqlite_memory(&c, &h, r)
	return int64(c), int64(h)
}
