package notice_test

import (
	"context"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fixture struct {
	db      *store.DB
	notices *notice.Service
	devices *device.Service
}

func setup(t *testing.T, dialect string) fixture {
	t.Helper()
	db := storetest.MustOpenDB(t, dialect, nil)
	log := audittest.MustOpenLog(t, db, audit.Options{})
	ps := purpose.NewService(db, log)
	for _, k := range []string{"security", "maintenance", "ads"} {
		_, _, err := ps.Put(context.Background(), privacy.Purpose{Key: k, Name: k, Description: "d", LegalBasis: privacy.BasisConsent})
		require.NoError(t, err)
	}
	return fixture{db: db, notices: notice.NewService(db, log), devices: device.NewService(db, log)}
}

func content() privacy.NoticeContent {
	return testkit.Labelled(privacy.NoticeContent{
		Controller: privacy.Controller{Name: "Acme", Contact: "privacy@acme.example"},
		Purposes: []privacy.NoticePurpose{
			{Purpose: "security", LegalBasis: privacy.BasisConsent, Elements: []string{"video"}, CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor},
				CollectionScope: "while armed", Retention: "P30D", Recipients: []string{"acme-cloud"}},
		},
		Texts: map[string]privacy.NoticeText{"en": {Title: "Camera", Body: "We record."}, "fr": {Title: "Caméra", Body: "Nous enregistrons."}},
	})
}

// camera registers an active device naming notice key, collecting what elements say.
func (f fixture) camera(t *testing.T, serial, key string, elements ...privacy.DataElement) (string, []privacy.Gap) {
	t.Helper()
	d, err := f.devices.Register(context.Background(), privacy.Device{Manufacturer: "Acme", Model: "Cam", Serial: serial, Firmware: "1", NoticeKey: key})
	require.NoError(t, err)
	_, uncovered, err := f.devices.PutInventory(context.Background(), d.ID, "c", elements)
	require.NoError(t, err)
	return d.ID, uncovered
}

func element(key string, purposes []string, retention string, recipients ...string) privacy.DataElement {
	return privacy.DataElement{Key: key, Description: key, Category: "personal.media.image", Sensitivity: privacy.SensitivitySensitive,
		Purposes: purposes, CollectionMethod: privacy.CollectSensor, Retention: retention, Recipients: recipients, StorageRegion: "EU"}
}

func TestNoticeLifecycle(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		f := setup(t, dialect)

		_, err := f.notices.Create(ctx, "acme-cam", "EN")
		require.NoError(t, err)
		_, err = f.notices.Create(ctx, "acme-cam", "en")
		assert.Equal(t, privacy.EConflict, privacy.ErrorCode(err))
		_, err = f.notices.Create(ctx, "Bad Key", "xx-!!")
		assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))

		// A device collects more than the first draft states.
		dev, uncovered := f.camera(t, "c1", "acme-cam",
			element("video", []string{"security"}, "P30D", "acme-cloud"),
			element("audio", []string{"security"}, "P30D"),
			element("clips", []string{"ads"}, "P1D"),
			element("thumbs", []string{"security"}, "P90D", "acme-cloud", "broker"))
		assert.Len(t, uncovered, 4, "no notice is published: every element is uncovered")

		v1, err := f.notices.Draft(ctx, "acme-cam", testkit.Labelled(content()))
		require.NoError(t, err)
		assert.Equal(t, 1, v1.Version)
		assert.False(t, v1.Published())
		assert.Len(t, v1.ContentHash, 64)
		_, err = f.notices.Draft(ctx, "acme-cam", testkit.Labelled(content()))
		assert.Equal(t, privacy.EConflict, privacy.ErrorCode(err), "one draft at a time")

		_, err = f.notices.Publish(ctx, "acme-cam", 1)
		require.Equal(t, privacy.ENoticeUncovered, privacy.ErrorCode(err))
		var perr *privacy.Error
		require.ErrorAs(t, err, &perr)
		var got []string
		for _, g := range perr.Gaps {
			assert.Equal(t, dev, g.DeviceID)
			got = append(got, g.Kind+":"+g.Element+":"+g.Purpose)
		}
		assert.ElementsMatch(t, []string{
			"element_not_stated:audio:security", "purpose_not_stated:clips:ads",
			"element_not_stated:thumbs:security", "recipient_not_disclosed:thumbs:security", "retention_not_disclosed:thumbs:security"}, got)

		// Stating everything makes it publish.
		c := content()
		c.Purposes[0].Elements = []string{"video", "audio", "thumbs"}
		c.Purposes[0].Recipients = []string{"acme-cloud", "broker"}
		c.Purposes[0].Retention = "P3M"
		c.Purposes = append(c.Purposes, privacy.NoticePurpose{Purpose: "ads", LegalBasis: privacy.BasisConsent, Elements: []string{"clips"},
			CollectionMethods: []privacy.CollectionMethod{privacy.CollectDerived}, CollectionScope: "clips", Retention: "P1D"})
		v1, err = f.notices.UpdateDraft(ctx, "acme-cam", 1, testkit.Labelled(c))
		require.NoError(t, err)
		// The store's cache of published versions never serves a draft.
		_, err = f.db.Read(ctx).PublishedNoticeVersion("acme-cam", 1)
		assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err))
		v1, err = f.notices.Publish(ctx, "acme-cam", 1)
		require.NoError(t, err)
		assert.True(t, v1.Published())
		assert.Equal(t, []string{"ads", "security"}, v1.MaterialPurposes)

		// Published is final, through the service and through SQL.
		_, err = f.notices.UpdateDraft(ctx, "acme-cam", 1, testkit.Labelled(content()))
		assert.Equal(t, privacy.EConflict, privacy.ErrorCode(err))
		_, err = f.notices.Publish(ctx, "acme-cam", 1)
		assert.Equal(t, privacy.EConflict, privacy.ErrorCode(err))
		raw, err := f.db.SQL()
		require.NoError(t, err)
		for _, stmt := range []string{"UPDATE notice_versions SET content_hash = 'x'", "DELETE FROM notice_versions"} {
			_, err := raw.ExecContext(ctx, stmt)
			assert.ErrorContains(t, err, "immutable", stmt)
		}
		again, err := f.notices.Version(ctx, "acme-cam", 1)
		require.NoError(t, err)
		assert.Equal(t, v1.ContentHash, again.ContentHash)
		cached, err := f.db.Read(ctx).PublishedNoticeVersion("acme-cam", 1)
		require.NoError(t, err)
		assert.Equal(t, v1.ContentHash, cached.ContentHash)

		version, gaps, err := f.notices.Coverage(ctx, "acme-cam")
		require.NoError(t, err)
		assert.Equal(t, 1, version)
		assert.Empty(t, gaps)

		// Version 2 adds a recipient to one purpose: exactly that purpose is material.
		c2 := c
		c2.Purposes = append([]privacy.NoticePurpose(nil), c.Purposes...)
		c2.Purposes[1].Recipients = []string{"ad-partner"}
		c2.Texts = map[string]privacy.NoticeText{"en": {Title: "Camera", Body: "Reworded."}, "fr": c.Texts["fr"]}
		v2, err := f.notices.Draft(ctx, "acme-cam", testkit.Labelled(c2))
		require.NoError(t, err)
		v2, err = f.notices.Publish(ctx, "acme-cam", v2.Version)
		require.NoError(t, err)
		assert.Equal(t, []string{"ads"}, v2.MaterialPurposes)
		// Version 3 only rewords: nothing is material.
		c3 := c2
		c3.Texts = map[string]privacy.NoticeText{"en": {Title: "Your camera", Body: "Reworded again."}, "fr": c.Texts["fr"]}
		v3, err := f.notices.Draft(ctx, "acme-cam", testkit.Labelled(c3))
		require.NoError(t, err)
		v3, err = f.notices.Publish(ctx, "acme-cam", v3.Version)
		require.NoError(t, err)
		assert.Empty(t, v3.MaterialPurposes)

		// The inventory grows beyond the notice: accepted, but uncovered.
		_, uncovered, err = f.devices.PutInventory(ctx, dev, "c", []privacy.DataElement{
			element("video", []string{"security"}, "P30D", "acme-cloud"), element("face", []string{"security"}, "P30D")})
		require.NoError(t, err)
		require.Len(t, uncovered, 1)
		assert.Equal(t, "face", uncovered[0].Element)
		version, gaps, err = f.notices.Coverage(ctx, "acme-cam")
		require.NoError(t, err)
		assert.Equal(t, 3, version)
		require.Len(t, gaps, 1)
		assert.Equal(t, privacy.GapElementNotStated, gaps[0].Kind)

		// A deactivated device no longer holds a notice back.
		_, err = f.devices.Deactivate(ctx, dev)
		require.NoError(t, err)
		_, gaps, err = f.notices.Coverage(ctx, "acme-cam")
		require.NoError(t, err)
		assert.Empty(t, gaps)
	})
}

func TestCurrentLocale(t *testing.T) {
	ctx := context.Background()
	f := setup(t, store.DialectSQLite)
	_, err := f.notices.Create(ctx, "n", "en")
	require.NoError(t, err)
	_, err = f.notices.Current(ctx, "n", "")
	assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err), "nothing published yet")
	c := content()
	c.Texts["fr-CA"] = privacy.NoticeText{Title: "Caméra (Canada)", Body: "b"}
	v, err := f.notices.Draft(ctx, "n", testkit.Labelled(c))
	require.NoError(t, err)
	_, err = f.notices.Publish(ctx, "n", v.Version)
	require.NoError(t, err)

	tests := []struct {
		requested, served string
		fallback          bool
	}{
		{"", "en", false},
		{"en", "en", false},
		{"fr-CA", "fr-CA", false},
		{"fr-ca", "fr-CA", false},
		{"fr-BE", "fr", true},
		{"fr", "fr", false},
		{"en-GB", "en", true},
		{"de-DE", "en", true},
		{"zh-Hant-TW", "en", true},
	}
	for _, tc := range tests {
		t.Run(tc.requested, func(t *testing.T) {
			shown, err := f.notices.Current(ctx, "n", tc.requested)
			require.NoError(t, err)
			assert.Equal(t, tc.served, shown.Locale)
			assert.Equal(t, tc.fallback, shown.Fallback)
			assert.Equal(t, c.Texts[tc.served].Title, shown.Text.Title)
		})
	}
	_, err = f.notices.Current(ctx, "n", "not a tag!")
	assert.Equal(t, privacy.EMalformed, privacy.ErrorCode(err))
	_, err = f.notices.Current(ctx, "nope", "en")
	assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err))
}

func TestExampleNoticesPublish(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		log := audittest.MustOpenLog(t, db, audit.Options{})
		ps := purpose.NewService(db, log)
		for _, k := range []string{"security-monitoring", "person-detection", "device-maintenance", "voice-assistant", "music-personalisation", "activity-tracking", "route-recording"} {
			_, _, err := ps.Put(ctx, privacy.Purpose{Key: k, Name: k, Description: "d", LegalBasis: privacy.BasisConsent})
			require.NoError(t, err)
		}
		svc := notice.NewService(db, log)
		for _, dir := range []string{"acme-cam", "acme-speaker", "acme-band"} {
			f, err := notice.LoadDir("../../notices/" + dir)
			require.NoError(t, err)
			assert.Len(t, f.Content.Texts, 2, dir)
			v, unchanged, err := svc.Apply(ctx, f)
			require.NoError(t, err, dir)
			assert.False(t, unchanged)
			assert.Equal(t, 1, v.Version)
			_, unchanged, err = svc.Apply(ctx, f)
			require.NoError(t, err)
			assert.True(t, unchanged, "publishing the same files again changes nothing")
			shown, err := svc.Current(ctx, f.Key, "fr-FR")
			require.NoError(t, err)
			assert.Equal(t, "fr", shown.Locale)
		}
	})
}
