// Package store keeps Consentry's records in a relational database:
// SQLite as the embedded default (tuned by the sqlitetune subpackage),
// PostgreSQL when one machine is not enough. It owns the schema (versioned
// SQL migrations, never AutoMigrate), the ways in (Reader: queries, each on
// its own; Tx: a transaction, its reads and writes, and its clock, read
// once), and the translation of database errors into privacy codes
// (formatError). Records are store shapes (STYLE §3); callers get privacy
// types.
//
// Each table is read and written in one of two styles, never both:
//
//   - SQL, for every table the audit log's writer or a decision touches:
//     audit_entries, audit_hashes, audit_subjects, audit_subjects_marks;
//     consent_records, consent_events, consent_state; decisions; devices,
//     device_owners, device_transfer_offers, device_sanitizations,
//     device_attributes, device_members,
//     inventories, inventory_elements,
//     notice_versions; webhooks, webhook_events, webhook_deliveries,
//     webhook_leases, webhook_cursors;
//     subject_pseudonyms, subject_requests, subject_request_confirmations,
//     subject_children, subject_guardians.
//     Statements are written out with "?" placeholders (rebound to $n on
//     PostgreSQL in one place, stmtCache), prepared once per pool, bound
//     once per transaction, and scanned field by field into records whose
//     fields method lists them in the order of the table's column list
//     (deviceColumns, …): sql.go. These tables meet thousands of
//     statements a second, where gorm's reflection would cost more than
//     the database, and their queries join one another.
//   - gorm's builder, for the administrative tables, written a few times
//     a day: clients, purposes, notices, finding_acks, audit_checkpoints,
//     casbin_rule. Their records carry gorm tags.
//
// A query that joins tables joins tables of one style.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/XSAM/otelsql"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store/sqlitetune"
	"github.com/consentry/consentry/internal/tracing"
	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "github.com/mattn/go-sqlite3"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names, as goose spells them.
const (
	DialectSQLite   = "sqlite3"
	DialectPostgres = "postgres"
)

// DB is an open database with its dialect and clock.
type DB struct {
	gorm    *gorm.DB
	dialect string
	now     func() time.Time
	stmts   *stmtCache
	// published caches published notice versions, which never change.
	published *sync.Map
	// dsn is kept for connections outside the pool (LISTEN).
	dsn string
	// ckpt checkpoints a read-write SQLite database's WAL; nil otherwise.
	ckpt        *sqlitetune.Checkpointer
	lockTimeout time.Duration
}

// Options tune Open.
type Options struct {
	// Now is the clock; nil means time.Now. Tests inject a fixed one.
	Now func() time.Time
	// ReadOnly opens a SQLite file without changing it, not even its
	// journal mode: for checking backups.
	ReadOnly bool
	// LockTimeout is the longest a statement waits for a lock another
	// writer holds (SQLite's busy timeout; PostgreSQL's lock_timeout,
	// unless the DSN sets one) before it fails with a locked error
	// (IsLocked): an operator's open transaction, a backup, another
	// process. DefaultLockTimeout when 0.
	LockTimeout time.Duration
	// SQLiteVFS is the VFS of read-write SQLite connections: "" for
	// sqlitetune.VFS, "unix" for SQLite's own (to measure what the other
	// gains: docs/performance.md).
	SQLiteVFS string
}

// DefaultLockTimeout is Options.LockTimeout's default: a write that cannot
// get its lock within it is refused (503) rather than held.
const DefaultLockTimeout = 2 * time.Second

// IsPostgres reports whether dsn selects PostgreSQL rather than a SQLite file.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// traced holds the drivers wrapped for tracing, by the name of the driver
// they wrap: registered once per process.
var traced sync.Map

// tracedDriver is driver wrapped by otelsql, so that every statement is a
// span of the caller's context, when tracing is on (tracing.Start ran
// before); driver itself otherwise, at no cost. Spans carry the SQL text
// (its values are bound parameters, never in it), not the arguments.
func tracedDriver(driver string, system attribute.KeyValue) (string, error) {
	if !tracing.Enabled() {
		return driver, nil
	}
	if name, ok := traced.Load(driver); ok {
		return name.(string), nil
	}
	name, err := otelsql.Register(driver, otelsql.WithAttributes(system), otelsql.WithSpanOptions(otelsql.SpanOptions{
		DisableErrSkip: true, OmitConnResetSession: true, OmitConnPrepare: true, OmitRows: true, OmitConnectorConnect: true}))
	if err != nil {
		return "", fmt.Errorf("store: trace %s: %w", driver, err)
	}
	got, _ := traced.LoadOrStore(driver, name)
	return got.(string), nil
}

// Open connects to dsn: a postgres:// URL, or else the path of a SQLite
// file (created if missing). It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg := &gorm.Config{
		// SQL text can carry subject ids; gorm must never print it.
		Logger: logger.Discard,
		// Unique and foreign-key violations come back as gorm.ErrDuplicatedKey
		// and gorm.ErrForeignKeyViolated on both dialects.
		TranslateError: true,
		NowFunc:        func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	var (
		dialector gorm.Dialector
		dialect   string
	)
	lockTimeout := opts.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	if IsPostgres(dsn) {
		dialector, dialect = postgres.Open(postgresDSN(dsn, lockTimeout)), DialectPostgres
		if tracing.Enabled() {
			// pgx's database/sql driver, registered as "pgx", wrapped.
			driver, err := tracedDriver("pgx", semconv.DBSystemNamePostgreSQL)
			if err != nil {
				return nil, err
			}
			dialector = postgres.New(postgres.Config{DriverName: driver, DSN: postgresDSN(dsn, lockTimeout)})
		}
	} else {
		vfs := opts.SQLiteVFS
		switch vfs {
		case "":
			if err := sqlitetune.Register(); err != nil {
				return nil, err
			}
			vfs = sqlitetune.VFS
		case "unix":
		default:
			return nil, fmt.Errorf("store: unknown SQLite VFS %q (want \"\" or \"unix\")", vfs)
		}
		driver, err := tracedDriver(sqlitetune.DriverName, semconv.DBSystemNameSQLite)
		if err != nil {
			return nil, err
		}
		dialector, dialect = sqlite.New(sqlite.Config{DriverName: driver, DSN: sqliteDSN(dsn, opts.ReadOnly, lockTimeout, vfs)}), DialectSQLite
	}
	g, err := gorm.Open(dialector, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	if dialect == DialectPostgres {
		// All 20 kept when idle: database/sql keeps 2 by default, and
		// under load every other statement opened a new session (a
		// server process forked, its catalog caches cold, each statement
		// prepared again), which cost PostgreSQL more CPU than the
		// statements themselves (docs/scaling.md).
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(20)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		// Readers run in parallel under WAL, each on its own connection.
		// database/sql keeps only 2 idle by default, so under load every
		// other read opened a new SQLite connection (file open, PRAGMAs,
		// schema parse), which cost more than the read itself.
		sqlDB.SetMaxIdleConns(64)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: connect %s: %w", dialect, err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	db := &DB{gorm: g, dialect: dialect, now: now, dsn: dsn, lockTimeout: lockTimeout, stmts: &stmtCache{db: sqlDB, postgres: dialect == DialectPostgres, m: map[string]*sql.Stmt{}},
		published: &sync.Map{}}
	if dialect == DialectSQLite && !opts.ReadOnly {
		db.ckpt = sqlitetune.NewCheckpointer(sqlDB, sqlitetune.RestartFrames)
		go db.ckpt.Run()
	}
	return db, nil
}

// sqliteDSN adds the connection settings every SQLite connection needs:
// WAL so readers never wait for the writer; synchronous=FULL so an
// acknowledged write survives power loss (this is evidence); foreign keys,
// which SQLite leaves off by default; a busy timeout so a writer waits a
// little for another process's lock, then fails; BEGIN IMMEDIATE so a
// transaction takes the write lock up front rather than failing to upgrade
// half-way; and vfs (sqlitetune.VFS writes a commit's WAL frames in a few
// system calls instead of two per frame).
func sqliteDSN(path string, readOnly bool, busyTimeout time.Duration, vfs string) string {
	q := url.Values{}
	q.Set("_foreign_keys", "on")
	// Deleted and overwritten content is zeroed, not left in free space:
	// an erased subject's id must not survive in the file (subject.go).
	q.Set("_secure_delete", "on")
	q.Set("_busy_timeout", strconv.FormatInt(busyTimeout.Milliseconds(), 10))
	if readOnly {
		q.Set("mode", "ro")
	} else {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_txlock", "immediate")
		q.Set("vfs", vfs)
	}
	// The path is part of a URI: '%', '?' and '#' in it must be escaped,
	// or a data directory named "a#b" would open the file "a".
	escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
	return "file:" + escaped + "?" + q.Encode()
}

// postgresDSN sets lock_timeout on every session, unless dsn sets it: pgx
// passes query parameters it does not know as run-time parameters.
func postgresDSN(dsn string, lockTimeout time.Duration) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // pgx reports the error
	}
	q := u.Query()
	if q.Has("lock_timeout") || strings.Contains(q.Get("options"), "lock_timeout") {
		return dsn
	}
	q.Set("lock_timeout", strconv.FormatInt(lockTimeout.Milliseconds(), 10))
	u.RawQuery = q.Encode()
	return u.String()
}

// Now is the database's clock, in UTC truncated to microseconds, as a
// transaction begun now would read it.
func (db *DB) Now() time.Time { return db.now().UTC().Truncate(time.Microsecond) }

// LockTimeout is how long a statement waits for another writer's lock.
func (db *DB) LockTimeout() time.Duration { return db.lockTimeout }

// IsLocked reports whether err is a lock another writer held past the
// lock timeout: SQLite's SQLITE_BUSY or SQLITE_LOCKED, PostgreSQL's
// lock_not_available (55P03).
func IsLocked(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// Dialect returns DialectSQLite or DialectPostgres.
func (db *DB) Dialect() string { return db.dialect }

// SQL returns the underlying *sql.DB (for migrations and health checks).
func (db *DB) SQL() (*sql.DB, error) { return db.gorm.DB() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	s, err := db.gorm.DB()
	if err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if err := s.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close stops the checkpointer and releases the connections.
func (db *DB) Close() error {
	if db.ckpt != nil {
		db.ckpt.Stop()
	}
	s, err := db.gorm.DB()
	if err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return s.Close()
}

// Reader runs queries: on their own (DB.Read), each seeing the database
// as it is when it runs, or inside a transaction (Tx), seeing its
// snapshot and its changes. Its clock is read once, when it is made.
type Reader struct {
	db        *gorm.DB // the builder, for the tables that use it
	ctx       context.Context
	now       time.Time
	postgres  bool
	stmts     *stmtCache
	published *sync.Map // the DB's cache of published notice versions
	// sqlTx is the transaction, nil for a Reader on its own.
	sqlTx *sql.Tx
	// bound holds, by query, the pool's statements bound to sqlTx: binding
	// allocates and searches the statement's connections, and the audit
	// log's writer runs the same few statements for every change of a batch.
	bound map[string]*sql.Stmt
}

// Now is the time the Reader was made: UTC, truncated to microseconds so
// that both dialects store, and later hash, the same value.
func (r *Reader) Now() time.Time { return r.now }

// Tx is a transaction: its reads, its writes, and its clock, read once at
// its start. Every write commits with the others or not at all.
type Tx struct {
	*Reader
}

// Transact runs fn in one transaction: every change fn makes commits
// together or not at all.
func (db *DB) Transact(ctx context.Context, fn func(tx *Tx) error) error {
	r := db.reader(ctx)
	return db.gorm.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		sqlTx, ok := g.Statement.ConnPool.(*sql.Tx)
		if !ok {
			return fmt.Errorf("store: a transaction runs on %T", g.Statement.ConnPool)
		}
		r.db, r.sqlTx = g, sqlTx
		return fn(&Tx{Reader: r})
	})
}

// Read returns a Reader for queries that need no transaction. On SQLite
// this matters: a transaction takes the write lock, a plain read does not.
func (db *DB) Read(ctx context.Context) *Reader {
	return db.reader(ctx)
}

func (db *DB) reader(ctx context.Context) *Reader {
	return &Reader{db: db.gorm.WithContext(ctx), ctx: ctx, now: db.Now(), postgres: db.dialect == DialectPostgres,
		stmts: db.stmts, published: db.published}
}

// formatError turns a gorm error into a privacy error where the database
// has said something a client can act on; what names the record.
func formatError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
		return privacy.Errorf(privacy.ENotFound, "%s not found", what)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return privacy.Errorf(privacy.EConflict, "%s already exists", what)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// CheckDurability refuses a database that could lose an acknowledged
// write: on SQLite, WAL with synchronous=FULL (or EXTRA); on PostgreSQL,
// fsync on and synchronous_commit not off. The server checks it before it
// serves, because every write it acknowledges may be legal evidence.
func (db *DB) CheckDurability(ctx context.Context) error {
	s, err := db.gorm.DB()
	if err != nil {
		return err
	}
	// One connection answers both questions: settings can differ per
	// session, and the caller's session is the one that will write.
	conn, err := s.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: durability check: %w", err)
	}
	defer conn.Close()
	show := func(q string) (string, error) {
		var v string
		if err := conn.QueryRowContext(ctx, q).Scan(&v); err != nil {
			return "", fmt.Errorf("store: durability check: %s: %w", q, err)
		}
		return strings.ToLower(v), nil
	}
	if db.dialect == DialectPostgres {
		fsync, err := show("SHOW fsync")
		if err != nil {
			return err
		}
		commit, err := show("SHOW synchronous_commit")
		if err != nil {
			return err
		}
		if fsync != "on" || commit == "off" {
			return fmt.Errorf("store: PostgreSQL runs with fsync=%s and synchronous_commit=%s: an acknowledged write could be lost; both must be on", fsync, commit)
		}
		return nil
	}
	mode, err := show("PRAGMA journal_mode")
	if err != nil {
		return err
	}
	syncMode, err := show("PRAGMA synchronous")
	if err != nil {
		return err
	}
	// synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA.
	if mode != "wal" || (syncMode != "2" && syncMode != "3") {
		return fmt.Errorf("store: SQLite runs with journal_mode=%s and synchronous=%s: an acknowledged write could be lost; WAL and synchronous=FULL are required", mode, syncMode)
	}
	return nil
}

// ForgetWAL empties SQLite's WAL (a TRUNCATE checkpoint): the frames of
// earlier transactions, which still hold what an erasure overwrote, are
// copied into the database, where secure_delete has zeroed it, and the
// file is cut to nothing. It waits for readers up to the busy timeout. On
// PostgreSQL it does nothing (its WAL is recycled by the server).
func (db *DB) ForgetWAL(ctx context.Context) error {
	if db.dialect != DialectSQLite {
		return nil
	}
	s, err := db.SQL()
	if err != nil {
		return err
	}
	var busy, frames, copied int
	if err := s.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &copied); err != nil {
		return fmt.Errorf("store: empty the WAL: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("store: empty the WAL: readers kept it in use")
	}
	return nil
}

// Vacuum rewrites a SQLite database into fresh pages: what earlier
// deletes and updates left in free pages and in the slack of pages (before
// secure_delete was on) is gone. It needs the database to itself: run it
// before serving. On PostgreSQL it does nothing.
func (db *DB) Vacuum(ctx context.Context) error {
	if db.dialect != DialectSQLite {
		return nil
	}
	s, err := db.SQL()
	if err != nil {
		return err
	}
	if _, err := s.ExecContext(ctx, "VACUUM"); err != nil {
		return fmt.Errorf("store: vacuum: %w", err)
	}
	return db.ForgetWAL(ctx)
}

// RestartWAL, when the checkpointer found the SQLite WAL long, makes the
// next write begin it again (sqlitetune.Checkpointer.Restart). The audit
// log's writer calls it between batches, when it holds no transaction;
// elsewhere, and on PostgreSQL, it does nothing.
func (db *DB) RestartWAL() {
	if db.ckpt != nil {
		db.ckpt.Restart(db.lockTimeout)
	}
}
