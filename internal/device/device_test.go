package device_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustSetup(t testing.TB, db *store.DB) *device.Service {
	t.Helper()
	log := audittest.MustOpenLog(t, db, audit.Options{})
	_, _, err := purpose.NewService(db, log).Put(context.Background(), privacy.Purpose{Key: "navigation", Name: "Navigation",
		Description: "Route guidance", LegalBasis: privacy.BasisContract})
	require.NoError(t, err)
	return device.NewService(db, log)
}

func element(key string) privacy.DataElement {
	return privacy.DataElement{Key: key, Description: "GPS", Category: "personal.location.precise", Sensitivity: privacy.SensitivityPersonal,
		Purposes: []string{"navigation"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}
}

func mustRegister(t testing.TB, s *device.Service, serial string) privacy.Device {
	t.Helper()
	d, err := s.Register(context.Background(), privacy.Device{Manufacturer: "Acme", Model: "T", Serial: serial, Firmware: "1", NoticeKey: "n"})
	require.NoError(t, err)
	return d
}

func TestService(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		s := mustSetup(t, storetest.MustOpenDB(t, dialect, nil))

		t.Run("register normalizes and refuses duplicates", func(t *testing.T) {
			d := mustRegister(t, s, " ab-12 cd ")
			assert.Equal(t, "AB12CD", d.Serial)
			assert.Equal(t, privacy.DeviceActive, d.Status)
			_, err := s.Register(ctx, privacy.Device{Manufacturer: "ACME", Model: "t", Serial: "AB12CD", Firmware: "2", NoticeKey: "n"})
			assert.Equal(t, privacy.EConflict, privacy.ErrorCode(err))
		})

		t.Run("concurrent declarations get consecutive versions", func(t *testing.T) {
			d := mustRegister(t, s, "concurrent")
			const n = 8
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, errs[i] = s.PutInventory(ctx, d.ID, "c", []privacy.DataElement{element(fmt.Sprintf("e%d", i))})
				}()
			}
			wg.Wait()
			for _, err := range errs {
				require.NoError(t, err)
			}
			inv, err := s.Inventory(ctx, d.ID, 0)
			require.NoError(t, err)
			assert.Equal(t, n, inv.Version)
			for v := 1; v <= n; v++ {
				old, err := s.Inventory(ctx, d.ID, v)
				require.NoError(t, err)
				assert.Equal(t, v, old.Version)
				assert.Len(t, old.Elements, 1)
			}
		})

		t.Run("concurrent lifecycle changes: exactly one wins", func(t *testing.T) {
			d := mustRegister(t, s, "race")
			const n = 6
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = s.Deactivate(ctx, d.ID)
				}()
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				if err == nil {
					won++
				} else {
					assert.Equal(t, privacy.EInvalidTransition, privacy.ErrorCode(err))
				}
			}
			assert.Equal(t, 1, won)
		})

		t.Run("an invalid inventory stores nothing", func(t *testing.T) {
			d := mustRegister(t, s, "invalid")
			bad := element("x")
			bad.Purposes = []string{"unknown-purpose"}
			_, _, err := s.PutInventory(ctx, d.ID, "c", []privacy.DataElement{bad})
			assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
			_, err = s.Inventory(ctx, d.ID, 0)
			assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err))
		})

		t.Run("list limits", func(t *testing.T) {
			_, _, err := s.List(ctx, privacy.DeviceFilter{Limit: device.MaxLimit + 1})
			assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
			ds, _, err := s.List(ctx, privacy.DeviceFilter{})
			require.NoError(t, err)
			assert.NotEmpty(t, ds)
		})
	})
}
