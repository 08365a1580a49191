package store_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/consentry/consentry/migrations"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixedClock is a settable clock in UTC microseconds.
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time { return c.t }

func migrationVersions(t *testing.T, dialect string) []string {
	t.Helper()
	names, err := fs.Glob(migrations.FS, dialect+"/*.sql")
	require.NoError(t, err)
	var versions []string
	for _, n := range names {
		v, _, ok := strings.Cut(filepath.Base(n), "_")
		require.True(t, ok, "migration %s is not named NNNNN_name.sql", n)
		versions = append(versions, v)
	}
	sort.Strings(versions)
	return versions
}

func TestMigrationsHaveTheSameVersionsOnBothDialects(t *testing.T) {
	sqlite := migrationVersions(t, store.DialectSQLite)
	require.NotEmpty(t, sqlite)
	assert.Equal(t, sqlite, migrationVersions(t, store.DialectPostgres))
}

func TestMigrateReachesTheLatestVersion(t *testing.T) {
	reached := map[string]int64{}
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		db := storetest.MustOpenDB(t, dialect, nil)
		current, latest, err := db.SchemaVersion(context.Background())
		require.NoError(t, err)
		assert.Equal(t, latest, current)
		// Migrating again is a no-op.
		v, err := db.Migrate(context.Background())
		require.NoError(t, err)
		assert.Equal(t, current, v)
		reached[dialect] = current
	})
	if len(reached) == 2 {
		assert.Equal(t, reached[store.DialectSQLite], reached[store.DialectPostgres], "both dialects reach the same schema version")
	}
}

func mustInsertDevice(t *testing.T, db *store.DB, d privacy.Device) privacy.Device {
	t.Helper()
	if d.ID == "" {
		d.ID = uuid.Must(uuid.NewV7()).String()
	}
	if d.Status == "" {
		d.Status = privacy.DeviceActive
	}
	require.NoError(t, db.Transact(context.Background(), func(tx *store.Tx) error {
		d.CreatedAt, d.UpdatedAt = tx.Now(), tx.Now()
		return tx.InsertDevice(d, 0)
	}))
	return d
}

func TestStore(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		clock := &fixedClock{t: time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.UTC)}
		db := storetest.MustOpenDB(t, dialect, clock.now)

		t.Run("clients by token hash", func(t *testing.T) {
			c := privacy.Client{ID: uuid.NewString(), Name: "app", Role: privacy.RoleApp}
			require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error {
				c.CreatedAt = tx.Now()
				return tx.InsertClient(c, "hash-1")
			}))
			got, previous, err := db.Read(ctx).ClientByTokenHash("hash-1")
			require.NoError(t, err)
			assert.Equal(t, c, got)
			assert.False(t, previous)
			// The clock is read in UTC, truncated to microseconds.
			assert.Equal(t, 123456000, got.CreatedAt.Nanosecond())

			_, _, err = db.Read(ctx).ClientByTokenHash("nope")
			assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err))

			err = db.Transact(ctx, func(tx *store.Tx) error {
				return tx.InsertClient(privacy.Client{ID: uuid.NewString(), Name: "x", Role: privacy.RoleApp, CreatedAt: tx.Now()}, "hash-1")
			})
			assert.Equal(t, privacy.EConflict, privacy.ErrorCode(err))
			n, err := db.Read(ctx).CountClients()
			require.NoError(t, err)
			assert.EqualValues(t, 1, n)
		})

		t.Run("purposes upsert and list", func(t *testing.T) {
			p := privacy.Purpose{Key: "b-telemetry", Name: "T", Description: "d", LegalBasis: privacy.BasisConsent, CreatedAt: clock.now(), UpdatedAt: clock.now()}
			require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error { return tx.UpsertPurpose(p) }))
			p.Name = "Telemetry"
			require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error { return tx.UpsertPurpose(p) }))
			a := privacy.Purpose{Key: "a-ads", Name: "Ads", Description: "d", LegalBasis: privacy.BasisConsent, CreatedAt: clock.now(), UpdatedAt: clock.now()}
			require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error { return tx.UpsertPurpose(a) }))
			ps, err := db.Read(ctx).ListPurposes()
			require.NoError(t, err)
			require.Len(t, ps, 2)
			assert.Equal(t, "a-ads", ps[0].Key)
			assert.Equal(t, "Telemetry", ps[1].Name)
			keys, err := db.Read(ctx).PurposeKeys()
			require.NoError(t, err)
			assert.Equal(t, map[string]bool{"a-ads": true, "b-telemetry": true}, keys)
		})

		t.Run("device identity is unique, case-insensitively", func(t *testing.T) {
			d := mustInsertDevice(t, db, privacy.Device{Manufacturer: "Acme", Model: "T1", Serial: "SN1", Firmware: "1", NoticeKey: "n"})
			got, err := db.Read(ctx).DeviceByID(d.ID)
			require.NoError(t, err)
			assert.Equal(t, d, got)
			err = db.Transact(ctx, func(tx *store.Tx) error {
				return tx.InsertDevice(privacy.Device{ID: uuid.NewString(), Manufacturer: "ACME", Model: "t1", Serial: "SN1",
					Firmware: "2", NoticeKey: "n", Status: privacy.DeviceActive, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}, 0)
			})
			require.Equal(t, privacy.EConflict, privacy.ErrorCode(err))
			var perr *privacy.Error
			require.ErrorAs(t, err, &perr)
			assert.Len(t, perr.Fields, 3)
		})

		t.Run("device search and pagination", func(t *testing.T) {
			var ids []string
			for i := range 5 {
				d := mustInsertDevice(t, db, privacy.Device{Manufacturer: "Search Co", Model: "M", Serial: fmt.Sprintf("S%d", i),
					Firmware: fmt.Sprintf("fw%d", i%2), NoticeKey: "n", OwnerSubject: fmt.Sprintf("subj-%d", i%3)})
				ids = append(ids, d.ID)
			}
			tx := db.Read(ctx)
			page, more, err := tx.ListDevices(privacy.DeviceFilter{Manufacturer: "search co", Limit: 2})
			require.NoError(t, err)
			assert.True(t, more)
			assert.Equal(t, []string{ids[0], ids[1]}, deviceIDs(page))
			page, more, err = tx.ListDevices(privacy.DeviceFilter{Manufacturer: "search co", Limit: 2, After: ids[1]})
			require.NoError(t, err)
			assert.True(t, more)
			assert.Equal(t, []string{ids[2], ids[3]}, deviceIDs(page))
			page, more, err = tx.ListDevices(privacy.DeviceFilter{Manufacturer: "search co", Limit: 2, After: ids[3]})
			require.NoError(t, err)
			assert.False(t, more)
			assert.Equal(t, []string{ids[4]}, deviceIDs(page))

			page, _, err = tx.ListDevices(privacy.DeviceFilter{Firmware: "fw1", Subject: "subj-0", Limit: 10})
			require.NoError(t, err)
			assert.Equal(t, []string{ids[3]}, deviceIDs(page))
		})

		t.Run("device status update", func(t *testing.T) {
			d := mustInsertDevice(t, db, privacy.Device{Manufacturer: "Acme", Model: "T2", Serial: "X", Firmware: "1", NoticeKey: "n"})
			d.Status = privacy.DeviceDeactivated
			require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error { return tx.UpdateDeviceStatus(d) }))
			got, err := db.Read(ctx).DeviceByID(d.ID)
			require.NoError(t, err)
			assert.Equal(t, privacy.DeviceDeactivated, got.Status)
			err = db.Transact(ctx, func(tx *store.Tx) error {
				return tx.UpdateDeviceStatus(privacy.Device{ID: uuid.NewString(), Status: privacy.DeviceDisposed})
			})
			assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err))
		})

		t.Run("inventories are versioned and append-only", func(t *testing.T) {
			d := mustInsertDevice(t, db, privacy.Device{Manufacturer: "Acme", Model: "T3", Serial: "INV", Firmware: "1", NoticeKey: "n"})
			v, err := db.Read(ctx).LatestInventoryVersion(d.ID)
			require.NoError(t, err)
			assert.Zero(t, v)
			el := privacy.DataElement{Key: "temp", Description: "t", Category: "nonpersonal.environment.sensor", Sensitivity: privacy.SensitivityNone,
				Purposes: []string{"a-ads"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}
			for i := 1; i <= 2; i++ {
				inv := privacy.Inventory{DeviceID: d.ID, Version: i, CreatedBy: "c", CreatedAt: clock.now(), Elements: []privacy.DataElement{el}}
				el.Retention = "P60D"
				require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error { return tx.InsertInventory(inv) }))
			}
			v, err = db.Read(ctx).LatestInventoryVersion(d.ID)
			require.NoError(t, err)
			assert.Equal(t, 2, v)
			inv1, err := db.Read(ctx).InventoryVersion(d.ID, 1)
			require.NoError(t, err)
			assert.Equal(t, "P30D", inv1.Elements[0].Retention)
			assert.Equal(t, []string{}, inv1.Elements[0].Recipients, "absent recipients read back as an empty list")
			cur, err := db.Read(ctx).InventoryVersion(d.ID, 0)
			require.NoError(t, err)
			assert.Equal(t, 2, cur.Version, "version 0 is the newest")
			_, err = db.Read(ctx).InventoryVersion(d.ID, 3)
			assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err))

			// The same version twice is a conflict, never an overwrite.
			err = db.Transact(ctx, func(tx *store.Tx) error {
				return tx.InsertInventory(privacy.Inventory{DeviceID: d.ID, Version: 2, CreatedBy: "c", CreatedAt: clock.now()})
			})
			assert.Equal(t, privacy.EConflict, privacy.ErrorCode(err))

			// The triggers refuse UPDATE and DELETE, whatever the code does.
			sqlDB, err := db.SQL()
			require.NoError(t, err)
			for _, stmt := range []string{
				"UPDATE inventories SET created_by = 'x'",
				"DELETE FROM inventories",
				"UPDATE inventory_elements SET retention = 'P1D'",
				"DELETE FROM inventory_elements",
			} {
				_, err := sqlDB.ExecContext(ctx, stmt)
				assert.ErrorContains(t, err, "append-only", stmt)
			}
			after, err := db.Read(ctx).InventoryVersion(d.ID, 1)
			require.NoError(t, err)
			assert.Equal(t, inv1, after)
		})

		t.Run("transactions roll back together", func(t *testing.T) {
			d := privacy.Device{ID: uuid.NewString(), Manufacturer: "Rollback", Model: "R", Serial: "R1", Firmware: "1", NoticeKey: "n", Status: privacy.DeviceActive}
			err := db.Transact(ctx, func(tx *store.Tx) error {
				d.CreatedAt, d.UpdatedAt = tx.Now(), tx.Now()
				if err := tx.InsertDevice(d, 0); err != nil {
					return err
				}
				return tx.InsertInventory(privacy.Inventory{DeviceID: d.ID, Version: 0, CreatedBy: "c", CreatedAt: tx.Now()})
			})
			require.Error(t, err, "version 0 breaks the CHECK constraint")
			_, err = db.Read(ctx).DeviceByID(d.ID)
			assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err), "the device insert was rolled back with the failed inventory")
		})
	})
}

func deviceIDs(ds []privacy.Device) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func TestSQLiteKeepsDataAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "consentry.db")
	db, err := store.Open(ctx, path, store.Options{})
	require.NoError(t, err)
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	d := mustInsertDevice(t, db, privacy.Device{Manufacturer: "Acme", Model: "T", Serial: "S", Firmware: "1", NoticeKey: "n"})
	require.NoError(t, db.Close())

	db, err = store.Open(ctx, path, store.Options{})
	require.NoError(t, err)
	defer db.Close()
	got, err := db.Read(ctx).DeviceByID(d.ID)
	require.NoError(t, err)
	assert.Equal(t, d.Serial, got.Serial)

	// The pragmas that make SQLite safe for evidence are on for every connection.
	sqlDB, err := db.SQL()
	require.NoError(t, err)
	var mode string
	var syncLevel, fk int
	require.NoError(t, sqlDB.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
	require.NoError(t, sqlDB.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncLevel))
	require.NoError(t, sqlDB.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
	assert.Equal(t, "wal", mode)
	assert.Equal(t, 2, syncLevel, "synchronous=FULL")
	assert.Equal(t, 1, fk)
}

func TestSQLitePathsWithURICharacters(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"a#b", "c?d", "e%20f"} {
		path := filepath.Join(t.TempDir(), name, "consentry.db")
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		db, err := store.Open(ctx, path, store.Options{})
		require.NoError(t, err)
		_, err = db.Migrate(ctx)
		require.NoError(t, err)
		require.NoError(t, db.Close())
		_, err = os.Stat(path)
		assert.NoError(t, err, "the database is the file named, not a prefix of it")
	}
}

// TestDurabilityCheck: the settings Open makes pass; a session that turns
// durability off is refused, on both dialects.
func TestDurabilityCheck(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		require.NoError(t, db.CheckDurability(ctx))
		raw, err := db.SQL()
		require.NoError(t, err)
		raw.SetMaxOpenConns(1) // the setting below must stay on the connection the check uses
		weaken := "PRAGMA synchronous=NORMAL"
		if dialect == store.DialectPostgres {
			weaken = "SET synchronous_commit = off"
		}
		_, err = raw.ExecContext(ctx, weaken)
		require.NoError(t, err)
		assert.ErrorContains(t, db.CheckDurability(ctx), "could be lost")
	})
}

// TestATransactionReusesItsStatementsAcrossSavepoints: the audit log's
// writer runs the same statements for every change of a batch, bound to
// the transaction once, and undoes a refused change by rolling back to
// its savepoint. The same statement, failed and rolled back, still writes
// afterwards, and what was rolled back stays undone, on both dialects.
func TestATransactionReusesItsStatementsAcrossSavepoints(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		leaf := func(seq int64, body string) privacy.AuditLeaf {
			return privacy.AuditLeaf{Seq: seq, Leaf: []byte(body), Action: "test.reuse", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		}
		err := db.Transact(ctx, func(tx *store.Tx) error {
			require.NoError(t, tx.InsertAudit([]privacy.AuditLeaf{leaf(0, "kept")}, nil))
			// The first change fails in the statement (seq 0 is taken),
			// which on PostgreSQL aborts the transaction until the rollback;
			// the second writes with the same statement, and a third is
			// undone after writing.
			require.NoError(t, tx.SavePoint("change_0"))
			require.Error(t, tx.InsertAudit([]privacy.AuditLeaf{leaf(0, "duplicate")}, nil))
			require.NoError(t, tx.RollbackTo("change_0"))
			require.NoError(t, tx.SavePoint("change_1"))
			require.NoError(t, tx.InsertAudit([]privacy.AuditLeaf{leaf(1, "written")}, nil))
			require.NoError(t, tx.Release("change_1"))
			require.NoError(t, tx.SavePoint("change_2"))
			require.NoError(t, tx.InsertAudit([]privacy.AuditLeaf{leaf(2, "undone")}, nil))
			require.NoError(t, tx.RollbackTo("change_2"))
			return nil
		})
		require.NoError(t, err)
		entries, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 10})
		require.NoError(t, err)
		require.Len(t, entries, 2)
		assert.Equal(t, "kept", string(entries[0].Leaf))
		assert.Equal(t, "written", string(entries[1].Leaf))
	})
}

// TestConcurrentReadsKeepTheirSessions: reads in parallel up to the pool's
// size reuse their connections, none closed for want of an idle slot: a
// new session per read (on PostgreSQL, a server process with cold caches,
// every statement prepared again) cost more than the reads.
func TestConcurrentReadsKeepTheirSessions(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		db := storetest.MustOpenDB(t, dialect, nil)
		raw, err := db.SQL()
		require.NoError(t, err)
		ctx := context.Background()
		for range 5 {
			var wg sync.WaitGroup
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := db.Read(ctx).AuditSize()
					assert.NoError(t, err)
				}()
			}
			wg.Wait()
		}
		assert.Zero(t, raw.Stats().MaxIdleClosed, "connections closed because too few may stay idle")
	})
}
