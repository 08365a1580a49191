package privacy_test

import (
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
)

// TestIdentityLookAlikes: a device identity written with look-alike
// characters either folds to the original identity or is refused.
func TestIdentityLookAlikes(t *testing.T) {
	orig := privacy.Device{Manufacturer: "Acme Corp", Model: "Tracker 2", Serial: "SN-0042-AB", Firmware: "1", NoticeKey: "n"}
	orig.Normalize()
	folds := []privacy.Device{
		{Manufacturer: "Acme Corp", Model: "Tracker 2", Serial: "ＳＮ-0042-AB"},
		{Manufacturer: "Acme Corp", Model: "Tracker 2", Serial: "SN–0042–AB"},
		{Manufacturer: "Acme Corp", Model: "Tracker 2", Serial: "sn\u22120042\u2014ab"},
		{Manufacturer: "ＡＣＭＥ\u00a0Corp", Model: "Tracker  2", Serial: "SN 0042 AB"},
	}
	for _, d := range folds {
		d.Normalize()
		assert.Equal(t, orig.Serial, d.Serial, "%+v", d)
		assert.Equal(t, privacy.IdentityKey(orig.Manufacturer), privacy.IdentityKey(d.Manufacturer), "%+v", d)
		assert.Equal(t, privacy.IdentityKey(orig.Model), privacy.IdentityKey(d.Model), "%+v", d)
	}
	for _, tc := range []struct {
		name, manufacturer, model, serial, field string
	}{
		{"zero-width space in the model", "Acme Corp", "Tracker\u200b 2", "SN-0042-AB", "model"},
		{"Cyrillic A in Acme", "\u0410cme Corp", "Tracker 2", "SN-0042-AB", "manufacturer"},
		{"Greek O in a serial", "Acme Corp", "Tracker 2", "SN-\u039f042-AB", "serial"},
		{"Devanagari zero in a serial", "Acme Corp", "Tracker 2", "SN-\u0966042-AB", "serial"},
		{"right-to-left override", "Acme \u202eCorp", "Tracker 2", "SN-0042-AB", "manufacturer"},
		{"emoji", "Acme Corp \U0001F600", "Tracker 2", "SN-0042-AB", "manufacturer"},
		{"soft hyphen", "Acme Corp", "Tracker 2", "SN-00\u00ad42-AB", "serial"},
		{"byte order mark", "\ufeffAcme Corp", "Tracker 2", "SN-0042-AB", "manufacturer"},
		{"word joiner", "Acme Corp", "Track\u2060er 2", "SN-0042-AB", "model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := privacy.Device{Manufacturer: tc.manufacturer, Model: tc.model, Serial: tc.serial, Firmware: "1", NoticeKey: "n"}
			d.Normalize()
			err := d.Validate()
			var perr *privacy.Error
			if assert.ErrorAs(t, err, &perr) {
				assert.Equal(t, privacy.EInvalid, perr.Code)
				assert.Equal(t, tc.field, perr.Fields[0].Field, perr.Error())
			}
		})
	}
	for _, ok := range []privacy.Device{
		{Manufacturer: "Müller & Söhne GmbH", Model: "Thermo 3+", Serial: "ÄB-12"},
		{Manufacturer: "ソニー Sony", Model: "カメラ X1", Serial: "JP-001"},
		{Manufacturer: "Самсунг", Model: "Трекер", Serial: "RU-1"},
		{Manufacturer: "टाटा", Model: "मॉडल १", Serial: "१२३"},
		{Manufacturer: "Acme Corp.", Model: "T-2 (2026)", Serial: "A/B#1"},
	} {
		ok.Firmware, ok.NoticeKey = "1", "n"
		ok.Normalize()
		assert.NoError(t, ok.Validate(), "%+v", ok)
	}
}
