package evidence_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/require"
)

// TestGoldenReport: the report an auditor reads first, whole, from a
// fixed set of figures: every control's section, the consent table by
// purpose, the decisions by reason and by day, the open findings.
func TestGoldenReport(t *testing.T) {
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := &evidence.Report{Origin: "consentry.example/audit", GeneratedAt: day.Add(6*24*time.Hour + 9*time.Hour),
		From: day, To: day.Add(7 * 24 * time.Hour), AuditSize: 1234,
		DevicesByStatus: map[string]int{"active": 40, "deactivated": 2, "disposed": 1}, Devices: 43, WithoutInventory: 1,
		InventoryVersions: 45,
		Notices:           []evidence.NoticeSummary{{Key: "tracker", Version: 2, Versions: 2, Locales: []string{"en", "fr"}, Gaps: 1}},
		ConsentEvents:     map[string]*evidence.ConsentEvents{"navigation": {Given: 30, Refused: 5, Withdrawn: 3}, "ads": {Refused: 9}},
		ConsentState: map[string]*evidence.ConsentStateSummary{"navigation": {Granted: 25, Refused: 5, Withdrawn: 3, Expired: 1, AwaitingReconsent: 2},
			"ads": {Refused: 9}},
		Allowed: 900, Denied: 120, DeniedByReason: map[string]int{"no_consent": 80, "consent_withdrawn": 30, "policy_denied": 10},
		Days:          []evidence.DayCount{{Day: "2026-12-01", Allow: 400, Deny: 20}, {Day: "2026-12-02", Allow: 500, Deny: 100}},
		Reviewed:      true,
		ReadsByClient: map[string]int{"support-desk": 3, "companion-app": 12},
		Requests:      []evidence.RequestMonth{{Month: "2026-12", Access: 4, Erasure: 2, Completed: 5, Failed: 1, Median: "1.2s", Longest: "3.5 days"}},
		OpenFindings: []privacy.Finding{{ID: "device_without_inventory", Kind: "device_without_inventory", Severity: "high", Control: "29",
			Detail: "1 active devices declare no data inventory", Remedy: "declare what each device collects", Count: 1,
			Objects: []privacy.FindingObject{{Type: "device", ID: "d-1"}}}},
	}
	var b bytes.Buffer
	require.NoError(t, r.WriteHTML(&b))
	testkit.Golden(t, "report.golden.html", b.Bytes())
}
