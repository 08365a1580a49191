package notice_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/require"
)

// TestGoldenNoticePage: the page people read, whole: the text (Markdown,
// with raw HTML escaped), the checklist table, the controller, version
// and hash, and the line saying a requested locale was not available.
func TestGoldenNoticePage(t *testing.T) {
	v := privacy.NoticeVersion{NoticeKey: "tracker", Version: 3, ContentHash: "sha256-golden",
		PublishedAt: time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC),
		Content: privacy.NoticeContent{
			Controller: privacy.Controller{Name: "Acme Trackers Ltd", Contact: "privacy@acme.example", Address: "1 Quay St, Dublin", Jurisdiction: "IE"},
			Purposes: []privacy.NoticePurpose{
				{Purpose: "navigation", LegalBasis: privacy.BasisContract, Elements: []string{"location"},
					CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor}, CollectionScope: "GPS position while a trip runs.",
					Retention: "P30D", Recipients: []string{"acme-cloud"}, Validity: "P1Y"},
				{Purpose: "maintenance", LegalBasis: privacy.BasisLegitimateInterests, Elements: []string{"battery"},
					CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor}, CollectionScope: "Battery level, hourly.", Retention: "P1Y"},
			},
			Texts: map[string]privacy.NoticeText{"en": {Title: "How your tracker uses your data",
				Body: "We use **your position** to guide you.\n\n<script>alert(1)</script>\n\n- one\n- two"}},
		}}
	for _, c := range []struct {
		name  string
		shown notice.Shown
	}{
		{"notice_page.golden.html", notice.Shown{Version: v, Locale: "en", Requested: "en", Text: v.Content.Texts["en"]}},
		{"notice_page_fallback.golden.html", notice.Shown{Version: v, Locale: "en", Requested: "de-AT", Fallback: true, Text: v.Content.Texts["en"]}},
	} {
		var b bytes.Buffer
		require.NoError(t, notice.RenderPage(&b, c.shown))
		testkit.Golden(t, c.name, b.Bytes())
	}
}
