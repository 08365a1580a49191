// Package storetest opens migrated test databases: a SQLite file in the
// test's temp dir always, and a fresh PostgreSQL schema when
// CONSENTRY_TEST_POSTGRES_DSN is set. Only tests import it.
package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// PostgresDSN returns CONSENTRY_TEST_POSTGRES_DSN or skips the test,
// saying why (fails it instead when CONSENTRY_REQUIRE_POSTGRES is set).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("CONSENTRY_TEST_POSTGRES_DSN")
	if dsn == "" && os.Getenv("CONSENTRY_REQUIRE_POSTGRES") != "" {
		// CI sets this, so a lost DSN fails the run instead of skipping half the suite.
		t.Fatal("CONSENTRY_REQUIRE_POSTGRES is set but CONSENTRY_TEST_POSTGRES_DSN is not")
	}
	if dsn == "" {
		t.Skip("SKIPPING: CONSENTRY_TEST_POSTGRES_DSN is not set; the PostgreSQL half of this suite did not run")
	}
	return dsn
}

// MustOpenDB opens a migrated database of the given dialect, closed (and,
// for PostgreSQL, dropped) at cleanup. now may be nil.
func MustOpenDB(t testing.TB, dialect string, now func() time.Time) *store.DB {
	t.Helper()
	ctx := context.Background()
	var dsn string
	switch dialect {
	case store.DialectSQLite:
		dsn = filepath.Join(t.TempDir(), "consentry.db")
	case store.DialectPostgres:
		dsn = schema(t, PostgresDSN(t))
	default:
		t.Fatalf("unknown dialect %q", dialect)
	}
	db, err := store.Open(ctx, dsn, store.Options{Now: now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	return db
}

// MustOpenTwo opens two handles on one migrated database, as two
// processes or two instances would: the same SQLite file, or the same
// PostgreSQL schema.
func MustOpenTwo(t testing.TB, dialect string, now func() time.Time) (*store.DB, *store.DB) {
	t.Helper()
	dbs := MustOpenMany(t, dialect, now, 2)
	return dbs[0], dbs[1]
}

// MustOpenMany opens n handles on one migrated database, as n instances.
// Instances on one SQLite file take turns at its single write lock, and
// under a race test's load one can wait more than the default 2 s for it
// (SQLite's busy handler polls; it does not queue). These tests are about
// what the instances decide, not about contention, so they wait as long
// as a test may.
func MustOpenMany(t testing.TB, dialect string, now func() time.Time, n int) []*store.DB {
	t.Helper()
	return MustOpenManyWith(t, dialect, store.Options{Now: now, LockTimeout: 20 * time.Second}, n)
}

// MustOpenManyWith is MustOpenMany with the given options for every handle.
func MustOpenManyWith(t testing.TB, dialect string, opts store.Options, n int) []*store.DB {
	t.Helper()
	ctx := context.Background()
	var dsn string
	switch dialect {
	case store.DialectSQLite:
		dsn = filepath.Join(t.TempDir(), "consentry.db")
	case store.DialectPostgres:
		dsn = schema(t, PostgresDSN(t))
	default:
		t.Fatalf("unknown dialect %q", dialect)
	}
	open := func() *store.DB {
		db, err := store.Open(ctx, dsn, opts)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	a := open()
	_, err := a.Migrate(ctx)
	require.NoError(t, err)
	dbs := []*store.DB{a}
	for len(dbs) < n {
		dbs = append(dbs, open())
	}
	return dbs
}

// schema makes an empty schema and returns a DSN that uses it, so that
// tests neither see nor disturb each other's rows.
func schema(t testing.TB, base string) string {
	t.Helper()
	ctx := context.Background()
	admin, err := store.Open(ctx, base, store.Options{})
	require.NoError(t, err)
	sqlDB, err := admin.SQL()
	require.NoError(t, err)
	name := "t_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	_, err = sqlDB.ExecContext(ctx, "CREATE SCHEMA "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = sqlDB.ExecContext(ctx, "DROP SCHEMA "+name+" CASCADE")
		_ = admin.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + name
}

// EachDialect runs fn as a subtest on SQLite, and on PostgreSQL when
// configured (skipped, with the reason, otherwise).
func EachDialect(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range []string{store.DialectSQLite, store.DialectPostgres} {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// EachDialectBench is EachDialect for a benchmark: one sub-benchmark per
// dialect, named after it.
func EachDialectBench(b *testing.B, fn func(b *testing.B, dialect string)) {
	for _, d := range []string{store.DialectSQLite, store.DialectPostgres} {
		b.Run(d, func(b *testing.B) { fn(b, d) })
	}
}

// Clock is a settable clock for tests that move time (expiry, reviews).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; pass it as the database's clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// EditLeaf changes the audit entry at seq in db, as an operator holding
// the database could: old becomes new in the entry's JSON, which is stored
// packed again (store.PackLeaf). The append-only trigger must have been
// dropped. It fails the test when old is not in the entry.
func EditLeaf(t testing.TB, db *sql.DB, seq int64, old, new string) {
	t.Helper()
	var stored []byte
	require.NoError(t, db.QueryRow(`SELECT leaf FROM audit_entries WHERE seq = $1`, seq).Scan(&stored))
	leaf, err := store.UnpackLeaf(stored)
	require.NoError(t, err)
	require.True(t, bytes.Contains(leaf, []byte(old)), "entry %d holds %q", seq, old)
	_, err = db.Exec(`UPDATE audit_entries SET leaf = $1 WHERE seq = $2`, store.PackLeaf(bytes.Replace(leaf, []byte(old), []byte(new), 1)), seq)
	require.NoError(t, err)
}
