package privacy_test

import (
	"errors"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func camNotice() privacy.NoticeContent {
	return privacy.NoticeContent{
		Controller: privacy.Controller{Name: "Acme", Contact: "privacy@acme.example"},
		Purposes: []privacy.NoticePurpose{
			{Purpose: "security", LegalBasis: privacy.BasisConsent, Elements: []string{"video", "motion"}, CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor},
				CollectionScope: "while armed", Retention: "P30D", Recipients: []string{"Acme Cloud"}},
			{Purpose: "maintenance", LegalBasis: privacy.BasisLegitimateInterests, Elements: []string{"diagnostics"}, CollectionMethods: []privacy.CollectionMethod{privacy.CollectNetwork},
				CollectionScope: "daily", Retention: "P1Y"},
		},
		Texts: map[string]privacy.NoticeText{"en": {Title: "T", Body: "B"}, "fr": {Title: "T", Body: "B"}},
	}
}

func TestMaterialChanges(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *privacy.NoticeContent)
		want   []string
	}{
		{"wording only", func(c *privacy.NoticeContent) {
			c.Texts["en"] = privacy.NoticeText{Title: "New title", Body: "Reworded"}
			c.Purposes[0].CollectionScope = "only while the camera is armed"
			c.Controller.Address = "1 Street"
		}, []string{}},
		{"new purpose", func(c *privacy.NoticeContent) {
			c.Purposes = append(c.Purposes, privacy.NoticePurpose{Purpose: "ads", LegalBasis: privacy.BasisConsent, Elements: []string{"video"}, Retention: "P1D"})
		}, []string{"ads"}},
		{"new element under a purpose", func(c *privacy.NoticeContent) { c.Purposes[1].Elements = append(c.Purposes[1].Elements, "firmware") }, []string{"maintenance"}},
		{"new recipient", func(c *privacy.NoticeContent) {
			c.Purposes[0].Recipients = append(c.Purposes[0].Recipients, "Analytics Inc")
		}, []string{"security"}},
		{"first recipient", func(c *privacy.NoticeContent) { c.Purposes[1].Recipients = []string{"Support Ltd"} }, []string{"maintenance"}},
		{"longer retention", func(c *privacy.NoticeContent) { c.Purposes[0].Retention = "P2M" }, []string{"security"}},
		{"same retention written differently", func(c *privacy.NoticeContent) { c.Purposes[1].Retention = "P12M" }, []string{}},
		{"shorter retention", func(c *privacy.NoticeContent) { c.Purposes[0].Retention = "P7D" }, []string{}},
		{"legal basis changed", func(c *privacy.NoticeContent) { c.Purposes[1].LegalBasis = privacy.BasisConsent }, []string{"maintenance"}},
		{"element removed", func(c *privacy.NoticeContent) { c.Purposes[0].Elements = []string{"video"} }, []string{}},
		{"recipient removed", func(c *privacy.NoticeContent) { c.Purposes[0].Recipients = nil }, []string{}},
		{"purpose removed", func(c *privacy.NoticeContent) { c.Purposes = c.Purposes[:1] }, []string{}},
		{"method changed", func(c *privacy.NoticeContent) {
			c.Purposes[0].CollectionMethods = []privacy.CollectionMethod{privacy.CollectDerived}
		}, []string{}},
		{"two purposes at once", func(c *privacy.NoticeContent) {
			c.Purposes[0].Recipients = append(c.Purposes[0].Recipients, "X")
			c.Purposes[1].Retention = "P2Y"
		}, []string{"maintenance", "security"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prev, next := camNotice(), camNotice()
			tc.change(&next)
			assert.Equal(t, tc.want, privacy.MaterialChanges(&prev, next))
		})
	}
	t.Run("first version: every purpose", func(t *testing.T) {
		assert.Equal(t, []string{"maintenance", "security"}, privacy.MaterialChanges(nil, camNotice()))
	})
}

func TestGaps(t *testing.T) {
	inv := func(elements ...privacy.DataElement) privacy.Inventory {
		return privacy.Inventory{DeviceID: "d1", Elements: elements}
	}
	video := privacy.DataElement{Key: "video", Purposes: []string{"security"}, Retention: "P30D", Recipients: []string{"Acme Cloud"}}
	tests := []struct {
		name  string
		inv   privacy.Inventory
		kinds []string
	}{
		{"covered", inv(video, privacy.DataElement{Key: "diagnostics", Purposes: []string{"maintenance"}, Retention: "P6M"}), nil},
		{"nothing collected", inv(), nil},
		{"purpose not stated", inv(privacy.DataElement{Key: "video", Purposes: []string{"ads"}, Retention: "P1D"}), []string{privacy.GapPurposeNotStated}},
		{"element not stated", inv(privacy.DataElement{Key: "audio", Purposes: []string{"security"}, Retention: "P1D"}), []string{privacy.GapElementNotStated}},
		{"recipient not disclosed", inv(privacy.DataElement{Key: "video", Purposes: []string{"security"}, Retention: "P1D", Recipients: []string{"Acme Cloud", "Broker"}}),
			[]string{privacy.GapRecipientNotDisclosed}},
		{"longer retention", inv(privacy.DataElement{Key: "video", Purposes: []string{"security"}, Retention: "P31D"}), []string{privacy.GapRetentionLonger}},
		{"one element, two purposes, one missing", inv(privacy.DataElement{Key: "video", Purposes: []string{"security", "ads"}, Retention: "P1D"}),
			[]string{privacy.GapPurposeNotStated}},
		{"everything at once", inv(privacy.DataElement{Key: "audio", Purposes: []string{"security"}, Retention: "P1Y", Recipients: []string{"Broker"}}),
			[]string{privacy.GapElementNotStated, privacy.GapRecipientNotDisclosed, privacy.GapRetentionLonger}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var kinds []string
			for _, g := range camNotice().Gaps(tc.inv) {
				kinds = append(kinds, g.Kind)
				assert.Equal(t, "d1", g.DeviceID)
				assert.NotEmpty(t, g.Detail)
			}
			assert.Equal(t, tc.kinds, kinds)
		})
	}
	t.Run("no notice states nothing", func(t *testing.T) {
		gaps := privacy.NoticeContent{}.Gaps(inv(video))
		require.Len(t, gaps, 1)
		assert.Equal(t, privacy.GapPurposeNotStated, gaps[0].Kind)
	})
}

func TestRetentionSpan(t *testing.T) {
	assert.Equal(t, privacy.RetentionSpan("P1Y"), privacy.RetentionSpan("P12M"))
	assert.Less(t, privacy.RetentionSpan("P30D"), privacy.RetentionSpan("P1M"))
	assert.Less(t, privacy.RetentionSpan("P1M"), privacy.RetentionSpan("P31D"))
	assert.Less(t, privacy.RetentionSpan("PT23H"), privacy.RetentionSpan("P1D"))
	assert.Greater(t, privacy.RetentionSpan("garbage"), privacy.RetentionSpan("P1000Y"), "unparseable is never covered")
}

func TestNoticeContentValidate(t *testing.T) {
	known := func(k string) bool { return k == "security" || k == "maintenance" }
	locale := func(tag string) (string, error) {
		switch tag {
		case "en", "fr":
			return tag, nil
		case "FR":
			return "fr", nil
		}
		return "", errors.New("bad tag")
	}
	c := camNotice()
	require.NoError(t, c.Validate(known, locale, "en"))

	bad := camNotice()
	bad.Controller = privacy.Controller{}
	bad.Purposes[0].Purpose = "ads"
	bad.Purposes[0].Elements = []string{"video", "video"}
	bad.Purposes[0].Retention = "30 days"
	bad.Purposes[1].LegalBasis = "vibes"
	bad.Purposes[1].CollectionMethods = nil
	bad.Texts["not a tag"] = privacy.NoticeText{Title: "x", Body: "y"}
	bad.Texts["FR"] = privacy.NoticeText{Title: "", Body: "y"}
	err := bad.Validate(known, locale, "en")
	assert.ElementsMatch(t, []string{"controller.name", "controller.contact", "purposes[0].purpose", "purposes[0].elements[1]", "purposes[0].retention",
		"purposes[1].legal_basis", "purposes[1].collection_methods", "texts.fr", "texts.FR.title", "texts.not a tag"}, fields(t, err))

	noDefault := camNotice()
	delete(noDefault.Texts, "en")
	assert.Equal(t, []string{"texts"}, fields(t, noDefault.Validate(known, locale, "en")))
	dup := camNotice()
	dup.Purposes = append(dup.Purposes, dup.Purposes[0])
	assert.Equal(t, []string{"purposes[2].purpose"}, fields(t, dup.Validate(known, locale, "en")))
}

// TestLabels: a locale's checklist labels are checked against the
// checklist (no label for what it does not name), and publication needs
// every purpose (name, collection scope), element and recipient labelled
// in every locale; the page falls back to the keys for older versions.
func TestLabels(t *testing.T) {
	known := func(string) bool { return true }
	locale := func(s string) (string, error) { return s, nil }
	c := camNotice()
	err := c.CheckLabels()
	var perr *privacy.Error
	require.ErrorAs(t, err, &perr)
	assert.Equal(t, privacy.EInvalid, perr.Code)
	var fields []string
	for _, f := range perr.Fields {
		fields = append(fields, f.Field)
	}
	assert.Contains(t, fields, "texts.fr.purposes.security.name")
	assert.Contains(t, fields, "texts.en.elements.video")
	assert.Contains(t, fields, "texts.fr.recipients.Acme Cloud")
	assert.Equal(t, "security", c.Texts["en"].PurposeName("security"), "no label: the key")
	assert.Equal(t, "while armed", c.Texts["en"].Scope(c.Purposes[0]), "no label: the checklist's scope")

	for _, tag := range []string{"en", "fr"} {
		tx := c.Texts[tag]
		tx.Purposes = map[string]privacy.PurposeText{"security": {Name: "Sécurité " + tag, CollectionScope: "armée"}, "maintenance": {Name: "Entretien", CollectionScope: "chaque jour"}}
		tx.Elements = map[string]string{"video": "Vidéo", "motion": "Mouvement", "diagnostics": "Diagnostics"}
		tx.Recipients = map[string]string{"Acme Cloud": "Acme Cloud (hébergeur)"}
		c.Texts[tag] = tx
	}
	require.NoError(t, c.CheckLabels())
	require.NoError(t, c.Validate(known, locale, "en"))
	assert.Equal(t, "Sécurité fr", c.Texts["fr"].PurposeName("security"))
	assert.Equal(t, "armée", c.Texts["fr"].Scope(c.Purposes[0]))
	assert.Equal(t, "Acme Cloud (hébergeur)", c.Texts["fr"].RecipientLabel("Acme Cloud"))

	stray := c
	stray.Texts = map[string]privacy.NoticeText{"en": c.Texts["en"], "fr": c.Texts["fr"]}
	fr := stray.Texts["fr"]
	fr.Elements = map[string]string{"video": "Vidéo", "motion": "Mouvement", "diagnostics": "Diagnostics", "audio": "Son"}
	fr.Purposes = map[string]privacy.PurposeText{"security": {Name: "Sécurité\nsur deux lignes"}, "ads": {Name: "Pub"}}
	stray.Texts["fr"] = fr
	err = stray.Validate(known, locale, "en")
	require.ErrorAs(t, err, &perr)
	fields = nil
	for _, f := range perr.Fields {
		fields = append(fields, f.Field)
	}
	assert.ElementsMatch(t, []string{"texts.fr.elements.audio", "texts.fr.purposes.ads", "texts.fr.purposes.security.name"}, fields)
}
