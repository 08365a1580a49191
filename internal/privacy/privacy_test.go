package privacy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fields returns the offending fields of err.
func fields(t *testing.T, err error) []string {
	t.Helper()
	var e *privacy.Error
	require.ErrorAs(t, err, &e)
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

func TestErrorCode(t *testing.T) {
	assert.Equal(t, "", privacy.ErrorCode(nil))
	assert.Equal(t, privacy.EInternal, privacy.ErrorCode(errors.New("boom")))
	wrapped := fmt.Errorf("ctx: %w", privacy.Errorf(privacy.ENotFound, "device not found"))
	assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(wrapped))
}

func TestDeviceNormalizeAndValidate(t *testing.T) {
	d := privacy.Device{Manufacturer: "  Acme   Corp ", Model: "Thermo\t3", Serial: " sn-00 42-ab ", Firmware: " 1.0 ", NoticeKey: "thermo"}
	d.Normalize()
	assert.Equal(t, "Acme Corp", d.Manufacturer)
	assert.Equal(t, "Thermo 3", d.Model)
	assert.Equal(t, "SN0042AB", d.Serial)
	assert.Equal(t, "1.0", d.Firmware)
	require.NoError(t, d.Validate())
	assert.Equal(t, privacy.IdentityKey("ACME  corp"), privacy.IdentityKey(d.Manufacturer))

	tests := []struct {
		name string
		d    privacy.Device
		want []string
	}{
		{"all missing", privacy.Device{}, []string{"manufacturer", "model", "serial", "firmware_version", "notice_key"}},
		{"bad notice key", privacy.Device{Manufacturer: "a", Model: "b", Serial: "c", Firmware: "1", NoticeKey: "Upper"}, []string{"notice_key"}},
		{"control characters", privacy.Device{Manufacturer: "a\x00", Model: "b", Serial: "c", Firmware: "1", NoticeKey: "k"}, []string{"manufacturer"}},
		{"too long", privacy.Device{Manufacturer: strings.Repeat("a", 101), Model: "b", Serial: "c", Firmware: "1", NoticeKey: "k",
			OwnerSubject: strings.Repeat("s", 201)}, []string{"manufacturer", "owner_subject"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.d.Validate()
			assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
			assert.Equal(t, tc.want, fields(t, err))
		})
	}
}

func TestDeviceTransition(t *testing.T) {
	tests := []struct {
		from, to privacy.DeviceStatus
		ok       bool
	}{
		{privacy.DeviceActive, privacy.DeviceDeactivated, true},
		{privacy.DeviceDeactivated, privacy.DeviceDisposed, true},
		{privacy.DeviceActive, privacy.DeviceDisposed, false},
		{privacy.DeviceActive, privacy.DeviceActive, false},
		{privacy.DeviceDeactivated, privacy.DeviceActive, true}, // repaired
		{privacy.DeviceDeactivated, privacy.DeviceDeactivated, false},
		{privacy.DeviceDisposed, privacy.DeviceActive, false},
		{privacy.DeviceDisposed, privacy.DeviceDeactivated, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s to %s", tc.from, tc.to), func(t *testing.T) {
			d := privacy.Device{Status: tc.from}
			err := d.Transition(tc.to)
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, tc.to, d.Status)
			} else {
				assert.Equal(t, privacy.EInvalidTransition, privacy.ErrorCode(err))
				assert.Equal(t, tc.from, d.Status, "a refused transition changes nothing")
			}
		})
	}
}

func validElement() privacy.DataElement {
	return privacy.DataElement{Key: "location", Description: "GPS", Category: "personal.location.precise", Sensitivity: privacy.SensitivityPersonal,
		Purposes: []string{"navigation"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}
}

func TestInventoryValidate(t *testing.T) {
	known := func(k string) bool { return k == "navigation" || k == "ads" }
	tests := []struct {
		name   string
		mutate func(e *privacy.DataElement)
		want   []string
	}{
		{"valid", func(*privacy.DataElement) {}, nil},
		{"valid with recipients and long retention", func(e *privacy.DataElement) {
			e.Recipients, e.Retention, e.StorageRegion = []string{"acme-cloud"}, "P1Y6M", "eu-west-1"
		}, nil},
		{"bad key", func(e *privacy.DataElement) { e.Key = "Location" }, []string{"elements[0].key"}},
		{"unknown category", func(e *privacy.DataElement) { e.Category = "personal.thoughts" }, []string{"elements[0].category"}},
		{"sensitivity below the category floor", func(e *privacy.DataElement) {
			e.Category, e.Sensitivity = "personal.health.vitals", privacy.SensitivityPersonal
		}, []string{"elements[0].sensitivity"}},
		{"personal data declared as none", func(e *privacy.DataElement) { e.Sensitivity = privacy.SensitivityNone }, []string{"elements[0].sensitivity"}},
		{"unknown sensitivity", func(e *privacy.DataElement) { e.Sensitivity = "high" }, []string{"elements[0].sensitivity"}},
		{"no purposes", func(e *privacy.DataElement) { e.Purposes = nil }, []string{"elements[0].purposes"}},
		{"unknown and duplicate purposes", func(e *privacy.DataElement) { e.Purposes = []string{"ads", "ads", "nope"} },
			[]string{"elements[0].purposes[1]", "elements[0].purposes[2]"}},
		{"bad method", func(e *privacy.DataElement) { e.CollectionMethod = "magic" }, []string{"elements[0].collection_method"}},
		{"retention not ISO 8601", func(e *privacy.DataElement) { e.Retention = "30d" }, []string{"elements[0].retention"}},
		{"zero retention", func(e *privacy.DataElement) { e.Retention = "PT0S" }, []string{"elements[0].retention"}},
		{"negative retention", func(e *privacy.DataElement) { e.Retention = "-P1D" }, []string{"elements[0].retention"}},
		{"very long retention", func(e *privacy.DataElement) { e.Retention = "P500Y" }, nil},
		{"multiline description", func(e *privacy.DataElement) { e.Description = "line one\nline two" }, nil},
		{"control character in description", func(e *privacy.DataElement) { e.Description = "bell\a" }, []string{"elements[0].description"}},
		{"newline in recipient", func(e *privacy.DataElement) { e.Recipients = []string{"acme\nforged"} }, []string{"elements[0].recipients[0]"}},
		{"missing retention", func(e *privacy.DataElement) { e.Retention = "" }, []string{"elements[0].retention"}},
		{"empty recipient", func(e *privacy.DataElement) { e.Recipients = []string{" "} }, []string{"elements[0].recipients[0]"}},
		{"bad region", func(e *privacy.DataElement) { e.StorageRegion = "the cloud" }, []string{"elements[0].storage_region"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := validElement()
			tc.mutate(&e)
			inv := privacy.Inventory{Elements: []privacy.DataElement{e}}
			err := inv.Validate(known)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
			assert.Equal(t, tc.want, fields(t, err))
		})
	}

	t.Run("duplicate element keys", func(t *testing.T) {
		inv := privacy.Inventory{Elements: []privacy.DataElement{validElement(), validElement()}}
		assert.Equal(t, []string{"elements[1].key"}, fields(t, inv.Validate(known)))
	})
	t.Run("too many elements", func(t *testing.T) {
		inv := privacy.Inventory{Elements: make([]privacy.DataElement, privacy.MaxElements+1)}
		assert.Equal(t, []string{"elements"}, fields(t, inv.Validate(known)))
	})
	t.Run("empty inventory is valid", func(t *testing.T) {
		assert.NoError(t, (&privacy.Inventory{}).Validate(known))
	})
}

func TestTaxonomy(t *testing.T) {
	cats := privacy.Categories()
	require.NotEmpty(t, cats)
	for i, c := range cats {
		if i > 0 {
			assert.Less(t, cats[i-1].Key, c.Key, "sorted and unique")
		}
		got, ok := privacy.LookupCategory(c.Key)
		assert.True(t, ok)
		assert.Equal(t, c, got)
		// Anything under personal.* is personal data: never declarable as "none".
		if strings.HasPrefix(c.Key, "personal.") {
			assert.NotEqual(t, privacy.SensitivityNone, c.Floor, c.Key)
		}
		assert.NotEmpty(t, c.DPV, c.Key)
	}
	_, ok := privacy.LookupCategory("personal")
	assert.False(t, ok)
}

func TestPurposeAndClientValidate(t *testing.T) {
	p := privacy.Purpose{Key: "energy-insights", Name: "Energy", Description: "d", LegalBasis: privacy.BasisConsent}
	assert.NoError(t, p.Validate())
	assert.Equal(t, []string{"key", "name", "description", "legal_basis"}, fields(t, (&privacy.Purpose{Key: "1bad"}).Validate()))

	assert.NoError(t, (&privacy.Client{Name: "app", Role: privacy.RoleApp}).Validate())
	assert.Equal(t, []string{"name", "role"}, fields(t, (&privacy.Client{Role: "root"}).Validate()))
}
