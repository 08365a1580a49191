package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDevicesMigrationKeepsRows: migration 15 rebuilds SQLite's devices
// table (its identity constraint becomes an index over the devices in
// service) under the rows that reference it, and starts every device's
// firmware history.
func TestDevicesMigrationKeepsRows(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		require.NoError(t, db.MigrateDownTo(ctx, 14))
		raw, err := db.SQL()
		require.NoError(t, err)
		q := func(s string) string {
			if dialect != store.DialectPostgres {
				return s
			}
			var b strings.Builder
			n := 0
			for _, r := range s {
				if r == '?' {
					n++
					fmt.Fprintf(&b, "$%d", n)
					continue
				}
				b.WriteRune(r)
			}
			return b.String()
		}
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		id := "0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"
		_, err = raw.ExecContext(ctx, q(`INSERT INTO devices (id, manufacturer, model, serial, manufacturer_key, model_key, firmware, notice_key,
			owner_subject, status, created_at, updated_at) VALUES (?, 'Acme', 'T', 'S1', 'acme', 't', '2.1', 'n', 'alice', 'disposed', ?, ?)`), id, at, at)
		require.NoError(t, err)
		_, err = raw.ExecContext(ctx, q(`INSERT INTO device_owners (device_id, owner_subject, since, audit_seq) VALUES (?, 'alice', ?, -1)`), id, at)
		require.NoError(t, err)
		_, err = raw.ExecContext(ctx, q(`INSERT INTO inventories (device_id, version, created_by, created_at) VALUES (?, 1, 'admin', ?)`), id, at)
		require.NoError(t, err)

		_, err = db.Migrate(ctx)
		require.NoError(t, err)
		d, err := db.Read(ctx).DeviceByID(id)
		require.NoError(t, err)
		assert.Equal(t, "alice", d.OwnerSubject)
		assert.Equal(t, privacy.DeviceDisposed, d.Status)
		history, err := db.Read(ctx).DeviceAttributeHistory(id)
		require.NoError(t, err)
		require.Len(t, history, 1)
		assert.Equal(t, privacy.DeviceAttributes{DeviceID: id, Firmware: "2.1", Since: at, AuditSeq: -1}, history[0])
		if dialect == store.DialectSQLite {
			rows, err := raw.QueryContext(ctx, "PRAGMA foreign_key_check")
			require.NoError(t, err)
			assert.False(t, rows.Next(), "every reference still finds its device")
			require.NoError(t, rows.Close())
			var fk int
			require.NoError(t, raw.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
			assert.Equal(t, 1, fk, "foreign keys are on again")
		}
		// The identity of the disposed device is free for a unit in
		// service, once.
		unit := privacy.Device{ID: "0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7f", Manufacturer: "Acme", Model: "T", Serial: "S1", Firmware: "3",
			NoticeKey: "n", Status: privacy.DeviceActive, RefurbishedFrom: id}
		require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error {
			unit.CreatedAt, unit.UpdatedAt = tx.Now(), tx.Now()
			return tx.InsertDevice(unit, 1)
		}))
		err = db.Transact(ctx, func(tx *store.Tx) error {
			again := unit
			again.ID = "0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d80"
			return tx.InsertDevice(again, 2)
		})
		assert.Equal(t, privacy.EConflict, privacy.ErrorCode(err))
		got, err := db.Read(ctx).DeviceByIdentity("acme", "t", "S1")
		require.NoError(t, err)
		assert.Equal(t, unit.ID, got.ID, "the identity resolves to the unit in service")
	})
}
