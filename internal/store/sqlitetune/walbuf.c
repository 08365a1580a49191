// walbuf: a SQLite VFS that is the default unix VFS except for its WAL
// files: it gathers the writes to a WAL and hands them to the kernel
// together, it extends a WAL ahead of its frames with written zeros, and it
// syncs a WAL with fdatasync.
//
// Why gather: SQLite writes each WAL frame with two pwrite calls (its
// 24-byte header, then the page), and on a virtual machine where a system
// call is dear those calls are a large share of the process's CPU under a
// consent load, all of it on the audit log's single writer. Gathered, a
// commit of a few hundred frames is a few calls (what that gains end to
// end, and how to measure it: docs/performance.md).
//
// Why extend and fdatasync: synchronous=FULL syncs the WAL at every
// commit, and with one caller at a time that sync is most of a decision's
// latency. A commit that appends to the WAL also changes the file's size
// and allocates blocks, which the file system must journal before the
// sync returns; one that overwrites blocks already written has only its
// data to write (BenchmarkDurableWrite: 205-235 us appending against 151
// overwriting, on the project's machine). So a WAL is extended
// WALBUF_CHUNK at a time, with zeros, just before a write would pass its
// end; SQLite reuses a WAL from its start after each restart and never
// truncates it (no journal_size_limit), so past the first chunks every
// commit overwrites. The unix VFS of go-sqlite3's build (no
// HAVE_FDATASYNC) syncs with fsync, which also writes the inode out for
// its new modification time; fdatasync still writes a changed size, so it
// is as durable, and it is what SQLite calls when built with
// HAVE_FDATASYNC, as distributions build it. A WAL's first sync goes
// through the unix VFS, which also syncs the directory of a WAL it has
// just created; later ones call fdatasync on a descriptor of the WAL
// opened beside SQLite's (on Linux a sync covers the file, whichever
// descriptor asks).
//
// What keeps it exact: a write that does not extend the pending run, a
// read that touches it, and every xSync, xTruncate, xFileSize,
// xFileControl and xClose write the pending bytes out first, in order. A
// transaction's frames become visible to other connections only when the
// wal-index header is published, and SQLite publishes it after xSync
// (synchronous=FULL, which the store requires) and between two xShmBarrier
// calls on the database file: the barrier writes out the WAL's pending
// bytes too, so even a connection with synchronous=NORMAL never publishes
// a frame that is not in the file. Nothing is held across a commit, nor
// past the WAL's write lock (walbuf_shm_lock: a rolled-back transaction's
// spilled frames). The zeros go only past the file's size as fstat reads
// it at that moment (other connections write the same WAL, one at a time,
// under SQLite's WAL write lock, which the writer holds): nothing valid
// lies there. SQLite's recovery reads frames up to the first that does not
// check out, and a frame of zeros never does, as a stale frame left from
// before a restart does not.
//
// SQLite's declarations come from sqlite3.h beside this file: the header
// of the SQLite that github.com/mattn/go-sqlite3 links into the same
// binary, copied from its sqlite3-binding.h (TestHeaderIsGoSQLite3s
// requires the copy to be exact and refreshes it with -update), so the
// compiler checks every struct and call here against it. At run time
// consentry_walbuf_register refuses a linked SQLite of another version.

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sqlite3.h"

// The functions are weak: cgo links this package alone once, to learn its
// imports, and SQLite is not in that link (it is in go-sqlite3's); in the
// binary's link the real ones are found. Where one is missing its address
// is null, and consentry_walbuf_register fails rather than call it.
#pragma weak sqlite3_vfs_find
#pragma weak sqlite3_vfs_register
#pragma weak sqlite3_database_file_object
#pragma weak sqlite3_libversion_number
#pragma weak sqlite3_status64

// WALBUF_CAP is the most a WAL file holds back: a commit larger than this
// is written in runs of up to this size. The unix VFS writes at most
// 0x1ffff bytes per call (it masks larger lengths, and reports a short
// write as a full disk), so a run stays below that: 31 frames of 4 KiB
// pages.
#define WALBUF_CAP 0x1ffff

typedef struct walbuf_file walbuf_file;
struct walbuf_file {
  sqlite3_file base;
  sqlite3_file *real;  // the unix VFS's file, allocated right after this
  // For a WAL file: the pending run of bytes, which begins at start.
  char *buf;
  sqlite3_int64 start;
  int len;
  int is_wal;
  // err is a failed write-out of the barrier, which cannot report it:
  // the next xSync does.
  int err;
  // db is the WAL's database file; wal is the database file's open WAL.
  walbuf_file *db;
  walbuf_file *wal;
  // For a WAL file: a descriptor of its own (-1 if it could not be
  // opened); the file's size when this connection last looked (another
  // connection may have changed it since); whether it has been synced
  // once through the unix VFS.
  int fd;
  sqlite3_int64 size;
  int synced;
};

// WALBUF_CHUNK is how far ahead a WAL is extended: a larger chunk is a
// rarer slow commit (the one that writes the zeros out), at most this
// much disk held by zeros.
#define WALBUF_CHUNK (4 << 20)
static const char walbuf_zeros[1 << 16];

// Counters for tests: frames (writes) taken in, runs written out,
// statement journals that outgrew memory into a file, syncs made with
// fdatasync, and bytes of zeros written ahead.
static long long walbuf_writes, walbuf_flushes, walbuf_subjournals, walbuf_datasyncs, walbuf_zeroed;

// walbuf_extend makes sure WAL f holds written blocks up to end: past the
// file's size it writes zeros up to the next multiple of WALBUF_CHUNK. A
// failure (a full disk, say) is left to the write that follows, which
// then extends the file as the unix VFS would.
static void walbuf_extend(walbuf_file *f, sqlite3_int64 end) {
  if (f->fd < 0 || end <= f->size) return;
  struct stat st;
  if (fstat(f->fd, &st) != 0) return;
  f->size = st.st_size;
  if (end <= f->size) return;
  sqlite3_int64 to = (end + WALBUF_CHUNK - 1) / WALBUF_CHUNK * WALBUF_CHUNK;
  while (f->size < to) {
    sqlite3_int64 n = to - f->size;
    if (n > (sqlite3_int64)sizeof(walbuf_zeros)) n = sizeof(walbuf_zeros);
    ssize_t w = pwrite(f->fd, walbuf_zeros, (size_t)n, f->size);
    if (w <= 0) return;
    f->size += w;
    __atomic_add_fetch(&walbuf_zeroed, w, __ATOMIC_RELAXED);
  }
}

static sqlite3_vfs *walbuf_real;
static sqlite3_vfs walbuf_vfs;
static sqlite3_io_methods walbuf_io[2];  // [0] a database (or other) file, [1] a WAL

static int walbuf_flush(walbuf_file *f) {
  if (f->len == 0) return SQLITE_OK;
  walbuf_extend(f, f->start + f->len);
  int rc = f->real->pMethods->xWrite(f->real, f->buf, f->len, f->start);
  __atomic_add_fetch(&walbuf_flushes, 1, __ATOMIC_RELAXED);
  // On failure the bytes are dropped as a failed write would be: SQLite
  // has the error and abandons the transaction.
  f->len = 0;
  return rc;
}

static int walbuf_close(sqlite3_file *p) {
  walbuf_file *f = (walbuf_file *)p;
  int rc = walbuf_flush(f);
  if (f->db && f->db->wal == f) f->db->wal = 0;
  if (f->wal && f->wal->db == f) f->wal->db = 0;
  free(f->buf);
  f->buf = 0;
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  int rc2 = f->real->pMethods->xClose(f->real);
  return rc != SQLITE_OK ? rc : rc2;
}

static int walbuf_read(sqlite3_file *p, void *out, int n, sqlite3_int64 off) {
  walbuf_file *f = (walbuf_file *)p;
  if (f->len > 0 && off < f->start + f->len && off + n > f->start) {
    int rc = walbuf_flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  return f->real->pMethods->xRead(f->real, out, n, off);
}

static int walbuf_write(sqlite3_file *p, const void *data, int n, sqlite3_int64 off) {
  walbuf_file *f = (walbuf_file *)p;
  if (!f->is_wal) return f->real->pMethods->xWrite(f->real, data, n, off);
  __atomic_add_fetch(&walbuf_writes, 1, __ATOMIC_RELAXED);
  if (f->len > 0 && (off != f->start + f->len || f->len + n > WALBUF_CAP)) {
    int rc = walbuf_flush(f);
    if (rc != SQLITE_OK) return rc;
  }
  if (n > WALBUF_CAP) {
    walbuf_extend(f, off + n);
    return f->real->pMethods->xWrite(f->real, data, n, off);
  }
  if (!f->buf) {
    f->buf = malloc(WALBUF_CAP);
    if (!f->buf) return f->real->pMethods->xWrite(f->real, data, n, off);
  }
  if (f->len == 0) f->start = off;
  memcpy(f->buf + f->len, data, n);
  f->len += n;
  return SQLITE_OK;
}

static int walbuf_truncate(sqlite3_file *p, sqlite3_int64 size) {
  walbuf_file *f = (walbuf_file *)p;
  int rc = walbuf_flush(f);
  if (rc != SQLITE_OK) return rc;
  rc = f->real->pMethods->xTruncate(f->real, size);
  if (f->size > size) f->size = size;
  return rc;
}

static int walbuf_sync(sqlite3_file *p, int flags) {
  walbuf_file *f = (walbuf_file *)p;
  if (f->err != SQLITE_OK) {
    int err = f->err;
    f->err = SQLITE_OK;
    return err;
  }
  int rc = walbuf_flush(f);
  if (rc != SQLITE_OK) return rc;
  if (f->is_wal && f->fd >= 0 && f->synced) {
    __atomic_add_fetch(&walbuf_datasyncs, 1, __ATOMIC_RELAXED);
    return fdatasync(f->fd) == 0 ? SQLITE_OK : SQLITE_IOERR_FSYNC;
  }
  rc = f->real->pMethods->xSync(f->real, flags);
  if (rc == SQLITE_OK) f->synced = 1;
  return rc;
}

static int walbuf_file_size(sqlite3_file *p, sqlite3_int64 *size) {
  walbuf_file *f = (walbuf_file *)p;
  int rc = walbuf_flush(f);
  if (rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileSize(f->real, size);
}

static int walbuf_lock(sqlite3_file *p, int l) {
  walbuf_file *f = (walbuf_file *)p;
  return f->real->pMethods->xLock(f->real, l);
}

static int walbuf_unlock(sqlite3_file *p, int l) {
  walbuf_file *f = (walbuf_file *)p;
  return f->real->pMethods->xUnlock(f->real, l);
}

static int walbuf_check_reserved(sqlite3_file *p, int *out) {
  walbuf_file *f = (walbuf_file *)p;
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int walbuf_file_control(sqlite3_file *p, int op, void *arg) {
  walbuf_file *f = (walbuf_file *)p;
  int rc = walbuf_flush(f);
  if (rc != SQLITE_OK) return rc;
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int walbuf_sector_size(sqlite3_file *p) {
  walbuf_file *f = (walbuf_file *)p;
  return f->real->pMethods->xSectorSize(f->real);
}

static int walbuf_device_characteristics(sqlite3_file *p) {
  walbuf_file *f = (walbuf_file *)p;
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int walbuf_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **pp) {
  walbuf_file *f = (walbuf_file *)p;
  return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

// WALBUF_WRITE_LOCK is the wal-index lock a WAL's writer holds (wal.c's
// WAL_WRITE_LOCK).
#define WALBUF_WRITE_LOCK 0

// walbuf_shm_lock is called on the database file. As its connection lets
// the WAL's write lock go, the WAL's pending bytes are written out: a
// commit has written them already (xSync, or the barrier), so any left are
// frames of a transaction that spilled pages to the WAL and then rolled
// back. They belong to no one, but held back they would be written at
// this connection's next flush, over the frames another writer has
// appended and committed there since. Written now, under the lock, they
// are where the unix VFS would have put them, beyond the last commit,
// for the next writer to overwrite. A failed write fails the WAL's next
// sync, as the barrier's does.
static int walbuf_shm_lock(sqlite3_file *p, int off, int n, int flags) {
  walbuf_file *f = (walbuf_file *)p;
  if ((flags & SQLITE_SHM_UNLOCK) && (flags & SQLITE_SHM_EXCLUSIVE) && off <= WALBUF_WRITE_LOCK && WALBUF_WRITE_LOCK < off + n && f->wal) {
    int rc = walbuf_flush(f->wal);
    if (rc != SQLITE_OK && f->wal->err == SQLITE_OK) f->wal->err = rc;
  }
  return f->real->pMethods->xShmLock(f->real, off, n, flags);
}

// walbuf_shm_barrier is called on the database file around publishing a
// wal-index header: the frames it makes visible must be in the WAL file by
// then. The barrier cannot report an error, so a failed write is kept to
// fail the WAL's next sync. SQLite syncs before it publishes a commit when
// synchronous=FULL, so with the store's settings the run is always empty
// here: this is for a connection with synchronous=NORMAL.
static void walbuf_shm_barrier(sqlite3_file *p) {
  walbuf_file *f = (walbuf_file *)p;
  if (f->wal) {
    int rc = walbuf_flush(f->wal);
    if (rc != SQLITE_OK && f->wal->err == SQLITE_OK) f->wal->err = rc;
  }
  f->real->pMethods->xShmBarrier(f->real);
}

static int walbuf_shm_unmap(sqlite3_file *p, int del) {
  walbuf_file *f = (walbuf_file *)p;
  return f->real->pMethods->xShmUnmap(f->real, del);
}

static int walbuf_fetch(sqlite3_file *p, sqlite3_int64 off, int n, void **pp) {
  walbuf_file *f = (walbuf_file *)p;
  return f->real->pMethods->xFetch(f->real, off, n, pp);
}

static int walbuf_unfetch(sqlite3_file *p, sqlite3_int64 off, void *ptr) {
  walbuf_file *f = (walbuf_file *)p;
  return f->real->pMethods->xUnfetch(f->real, off, ptr);
}

static int walbuf_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *p, int flags, int *out_flags) {
  (void)vfs;
  walbuf_file *f = (walbuf_file *)p;
  memset(f, 0, sizeof(*f));
  f->fd = -1;
  f->real = (sqlite3_file *)(f + 1);
  if (flags & SQLITE_OPEN_SUBJOURNAL) __atomic_add_fetch(&walbuf_subjournals, 1, __ATOMIC_RELAXED);
  int rc = walbuf_real->xOpen(walbuf_real, name, f->real, flags, out_flags);
  if (f->real->pMethods == 0) {
    // SQLite calls xClose only on a file whose pMethods is set.
    f->base.pMethods = 0;
    return rc;
  }
  int version = f->real->pMethods->iVersion;
  f->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
  sqlite3_io_methods *m = &walbuf_io[f->is_wal];
  // Offer no more than the real file does: SQLite checks iVersion before
  // it calls the shared-memory and memory-map methods.
  if (m->iVersion > version) {
    f->base.pMethods = 0;
    f->real->pMethods->xClose(f->real);
    return SQLITE_ERROR;
  }
  f->base.pMethods = m;
  if (rc == SQLITE_OK && f->is_wal && name) {
    sqlite3_file *db = sqlite3_database_file_object(name);
    if (db && db->pMethods == &walbuf_io[0]) {
      f->db = (walbuf_file *)db;
      f->db->wal = f;
    }
    // Without a descriptor of its own the WAL is written and synced as
    // the unix VFS does.
    f->fd = open(name, O_RDWR | O_CLOEXEC);
    struct stat st;
    if (f->fd >= 0 && fstat(f->fd, &st) == 0) {
      f->size = st.st_size;
    } else if (f->fd >= 0) {
      close(f->fd);
      f->fd = -1;
    }
  }
  return rc;
}

static int walbuf_delete(sqlite3_vfs *v, const char *name, int sync_dir) {
  (void)v;
  return walbuf_real->xDelete(walbuf_real, name, sync_dir);
}
static int walbuf_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
  (void)v;
  return walbuf_real->xAccess(walbuf_real, name, flags, out);
}
static int walbuf_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out) {
  (void)v;
  return walbuf_real->xFullPathname(walbuf_real, name, n, out);
}
static void *walbuf_dlopen(sqlite3_vfs *v, const char *name) {
  (void)v;
  return walbuf_real->xDlOpen(walbuf_real, name);
}
static void walbuf_dlerror(sqlite3_vfs *v, int n, char *msg) {
  (void)v;
  walbuf_real->xDlError(walbuf_real, n, msg);
}
static void (*walbuf_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void) {
  (void)v;
  return walbuf_real->xDlSym(walbuf_real, h, sym);
}
static void walbuf_dlclose(sqlite3_vfs *v, void *h) {
  (void)v;
  walbuf_real->xDlClose(walbuf_real, h);
}
static int walbuf_randomness(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return walbuf_real->xRandomness(walbuf_real, n, out);
}
static int walbuf_sleep(sqlite3_vfs *v, int us) {
  (void)v;
  return walbuf_real->xSleep(walbuf_real, us);
}
static int walbuf_current_time(sqlite3_vfs *v, double *out) {
  (void)v;
  return walbuf_real->xCurrentTime(walbuf_real, out);
}
static int walbuf_last_error(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return walbuf_real->xGetLastError(walbuf_real, n, out);
}
static int walbuf_current_time64(sqlite3_vfs *v, sqlite3_int64 *out) {
  (void)v;
  return walbuf_real->xCurrentTimeInt64(walbuf_real, out);
}

// consentry_walbuf_register registers the VFS under name, once; it returns
// a SQLite result code.
int consentry_walbuf_register(const char *name) {
  if (!sqlite3_vfs_find || !sqlite3_vfs_register || !sqlite3_database_file_object || !sqlite3_libversion_number) return SQLITE_ERROR;
  // The structs above are laid out as this version's header says.
  if (sqlite3_libversion_number() != SQLITE_VERSION_NUMBER) return SQLITE_MISMATCH;
  walbuf_real = sqlite3_vfs_find(0);
  if (!walbuf_real || walbuf_real->iVersion < 2) return SQLITE_ERROR;
  for (int i = 0; i < 2; i++) {
    sqlite3_io_methods *m = &walbuf_io[i];
    m->iVersion = 3;
    m->xClose = walbuf_close;
    m->xRead = walbuf_read;
    m->xWrite = walbuf_write;
    m->xTruncate = walbuf_truncate;
    m->xSync = walbuf_sync;
    m->xFileSize = walbuf_file_size;
    m->xLock = walbuf_lock;
    m->xUnlock = walbuf_unlock;
    m->xCheckReservedLock = walbuf_check_reserved;
    m->xFileControl = walbuf_file_control;
    m->xSectorSize = walbuf_sector_size;
    m->xDeviceCharacteristics = walbuf_device_characteristics;
    m->xShmMap = walbuf_shm_map;
    m->xShmLock = walbuf_shm_lock;
    m->xShmBarrier = walbuf_shm_barrier;
    m->xShmUnmap = walbuf_shm_unmap;
    m->xFetch = walbuf_fetch;
    m->xUnfetch = walbuf_unfetch;
  }
  // A WAL file is not locked, mapped or shared: version 1 is all it needs.
  walbuf_io[1].iVersion = 1;
  sqlite3_vfs *v = &walbuf_vfs;
  v->iVersion = 2;
  v->szOsFile = (int)sizeof(walbuf_file) + walbuf_real->szOsFile;
  v->mxPathname = walbuf_real->mxPathname;
  v->zName = name;
  v->xOpen = walbuf_open;
  v->xDelete = walbuf_delete;
  v->xAccess = walbuf_access;
  v->xFullPathname = walbuf_full_pathname;
  v->xDlOpen = walbuf_dlopen;
  v->xDlError = walbuf_dlerror;
  v->xDlSym = walbuf_dlsym;
  v->xDlClose = walbuf_dlclose;
  v->xRandomness = walbuf_randomness;
  v->xSleep = walbuf_sleep;
  v->xCurrentTime = walbuf_current_time;
  v->xGetLastError = walbuf_last_error;
  v->xCurrentTimeInt64 = walbuf_current_time64;
  return sqlite3_vfs_register(v, 0);
}

void consentry_walbuf_stats(long long *writes, long long *flushes, long long *subjournals, long long *datasyncs, long long *zeroed) {
  *writes = __atomic_load_n(&walbuf_writes, __ATOMIC_RELAXED);
  *flushes = __atomic_load_n(&walbuf_flushes, __ATOMIC_RELAXED);
  *subjournals = __atomic_load_n(&walbuf_subjournals, __ATOMIC_RELAXED);
  *datasyncs = __atomic_load_n(&walbuf_datasyncs, __ATOMIC_RELAXED);
  *zeroed = __atomic_load_n(&walbuf_zeroed, __ATOMIC_RELAXED);
}

int consentry_walbuf_chunk(void) { return WALBUF_CHUNK; }

// consentry_sqlite_memory reads SQLite's memory in use and its high-water
// mark (https://sqlite.org/c3ref/status.html).
void consentry_sqlite_memory(long long *current, long long *highwater, int reset) {
  sqlite3_int64 c = 0, h = 0;
  if (sqlite3_status64) sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &c, &h, reset);
  *current = c;
  *highwater = h;
}
