package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reportScenario seeds two trackers: alice grants navigation and refuses
// maintenance on hers; bob grants navigation on his and withdraws; the route planner is asked three
// times for alice (allowed) and once for bob (denied: withdrawn).
func reportScenario(t *testing.T) *env {
	t.Helper()
	e, deviceID, notice := consentEnv(t)
	rule := map[string]any{"subject": "service-client", "category": "personal.location.*", "purpose": "navigation", "action": "use", "effect": "allow"}
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/policies", rule).Code)
	r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true), choice("maintenance", false)))
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	// Bob's tracker is a second device, his own.
	d := newDevice("consent-2")
	d["notice_key"], d["owner_subject"] = "cam", "bob"
	bobDevice := mustCreateDevice(t, e, d)["id"].(string)
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/devices/"+bobDevice+"/inventory", validInventory()).Code)
	bob := consentBody(bobDevice, notice, choice("navigation", true))
	bob["subject"] = "bob"
	r = e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", bob)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents/"+r.JSON(t)["id"].(string)+"/withdraw", nil).Code)
	for range 3 {
		d := e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", decisionBody(deviceID, "location", "navigation", "use"))
		require.Equal(t, "allow", d.JSON(t)["decision"])
	}
	ask := decisionBody(bobDevice, "location", "navigation", "use")
	ask["subject"] = "bob"
	require.Equal(t, "deny", e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", ask).JSON(t)["decision"])
	return e
}

func TestEvidenceReportAPI(t *testing.T) {
	e := reportScenario(t)
	for _, role := range []privacy.Role{privacy.RoleAdmin, privacy.RoleAuditor} {
		r := e.do(t, role, http.MethodGet, "/v1/evidence/report", nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Equal(t, "text/html; charset=utf-8", r.Header().Get("Content-Type"))
		assert.Contains(t, r.Body.String(), `id="allowed">3<`)
	}
	for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService} {
		assertProblem(t, e.do(t, role, http.MethodGet, "/v1/evidence/report", nil), http.StatusForbidden, "forbidden")
	}
	assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence/report?previous_size=3", nil), http.StatusBadRequest, "malformed", "previous_size")
	assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence/report?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", nil),
		http.StatusUnprocessableEntity, "invalid", "to")
}

// TestEvidenceReportInChromium renders the report for the seeded scenario
// in headless Chromium, with scripts off: the counts a person reads must
// be right, and the charts must be there.
func TestEvidenceReportInChromium(t *testing.T) {
	path := chromium(t)
	e := reportScenario(t)
	ts := httptest.NewServer(e.srv)
	defer ts.Close()

	ctx := browser(t, path)

	// Start the browser, then send the auditor's token with every request.
	require.NoError(t, chromedp.Do(ctx))
	_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + e.tokens[privacy.RoleAuditor]}})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/v1/evidence/report"), chromedp.WaitVisible(chromedp.CSS("#consents"))))
	text := func(id string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#"+id)))
		require.NoError(t, err)
		return s
	}
	assert.Equal(t, "3", text("allowed"))
	assert.Equal(t, "1", text("denied"))
	assert.Equal(t, "0", text("allows-without-consent"))
	assert.Equal(t, "2", text("devices"))
	open := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/findings", nil).JSON(t)["open"].(map[string]any)
	assert.Equal(t, fmt.Sprint(open["high"].(float64)+open["medium"].(float64)+open["low"].(float64)), text("findings-open"))
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll("#consents tbody tr")].map(r => [...r.cells].map(c => c.textContent))`))
	require.NoError(t, err)
	assert.Equal(t, [][]string{
		{"maintenance", "0", "1", "0", "0", "0", "0"},
		{"navigation", "2", "0", "1", "1", "0", "0"},
	}, rows, "purpose, given, refused, withdrawn, in force, expired, awaiting re-consent")
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg[role=img] > title").length`))
	require.NoError(t, err)
	assert.Equal(t, 2, charts, "both charts, each with an accessible title")
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length`))
	require.NoError(t, err)
	assert.Zero(t, scripts)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.Greater(t, len(png), 10_000, "a real screenshot")
	if testkit.Update() {
		require.NoError(t, os.WriteFile("../../docs/evidence-report.png", png, 0o644))
	}
}
