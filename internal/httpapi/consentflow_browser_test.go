package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// axeSource is axe-core, pinned in testdata/browser/package.json (make
// test installs it with npm ci). Without it the test skips, saying why,
// unless CONSENTRY_REQUIRE_BROWSER is set.
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "browser", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		if os.Getenv("CONSENTRY_REQUIRE_BROWSER") != "" {
			t.Fatalf("CONSENTRY_REQUIRE_BROWSER is set but axe-core is not installed (make browser-deps): %v", err)
		}
		t.Skip("SKIPPING: axe-core is not installed; make test installs it")
	}
	return string(b)
}

// axeViolations runs axe-core on the page against WCAG 2.1 A and AA and
// best practices, and lists what it finds (rule: target).
func axeViolations(t *testing.T, ctx context.Context, axe string) []string {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[any](axe+";true"))
	require.NoError(t, err)
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}).then(r => JSON.stringify(r.violations.map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "))))`,
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	var out []string
	require.NoError(t, json.Unmarshal([]byte(res), &out))
	return out
}

// TestConsentFlowInChromium clicks through the hosted flow in headless
// Chromium as a person would, with the keyboard: open the app's link
// (the token leaves the address), turn one purpose on, save, check the
// record and its receipt through the API, withdraw, check the decision
// denies. axe-core finds no WCAG 2.1 A/AA or best-practice violation on
// either page, and no script runs on them.
func TestConsentFlowInChromium(t *testing.T) {
	path := chromium(t)
	axe := axeSource(t)
	f := newFlowEnv(t)
	ctx := browser(t, path)

	open := f.ts.URL + "/consent/cam?token=" + url.QueryEscape(f.subject) + "&redirect_uri=" + url.QueryEscape(appRedirect) + "&locale=fr"
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(open)))
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#p-navigation"))))
	location, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.NotContains(t, location, "token=", "the token left the address")
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("input[type=checkbox]:checked").length`))
	require.NoError(t, err)
	assert.Zero(t, checked, "every purpose off by default")
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	require.NoError(t, err)
	assert.Equal(t, "fr", lang)
	assert.Empty(t, axeViolations(t, ctx, axe), "the consent page")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)

	// By keyboard: the checkbox takes focus and Space turns it on; the
	// form submits from its button.
	require.NoError(t, chromedp.Do(ctx, chromedp.Focus(chromedp.CSS("#p-navigation"))))
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent(" ")))
	on, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#p-navigation").checked`))
	require.NoError(t, err)
	require.True(t, on)
	require.NoError(t, chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`form[action="/consent/cam"] button[type=submit]`))))
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\r")))
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".done"))))
	back, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".done a.button").getAttribute("href")`))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(back, appRedirect+"?record_id="), back)
	recordID := strings.TrimPrefix(back, appRedirect+"?record_id=")
	assert.Empty(t, axeViolations(t, ctx, axe), "the result page")

	// The record and its receipt, through the API.
	r := f.e.do(t, privacy.RoleApp, http.MethodGet, "/v1/consents/"+recordID, nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	rec := r.JSON(t)
	assert.Equal(t, "fr", rec["locale"])
	receipt := rec["receipt"].(string)
	parts := strings.Split(receipt, ".")
	require.Len(t, parts, 3)
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	assert.Contains(t, string(hdr), `"alg":"Ed25519"`)
	verifyReceipt(t, receipt, jwksFromHTTP(t, f.e))
	receiptLink, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".done a[download]").getAttribute("href")`))
	require.NoError(t, err)
	assert.Equal(t, "/consent/cam/receipts/"+recordID, receiptLink)
	assert.Equal(t, "granted", currentStatuses(t, f.e)["navigation"])
	r = f.e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", decisionBody(f.deviceID, "location", "navigation", "use"))
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	assert.Equal(t, "allow", r.JSON(t)["decision"])

	// Withdraw in one click; the next decision denies.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[action="/consent/cam/withdraw"] button`))))
	// The result page of the save is still up until the withdrawal's loads.
	waitUntil(t, ctx, `location.search.includes("withdrawn=1") && document.readyState === "complete"`)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(".done"))))
	done, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".done")))
	require.NoError(t, err)
	assert.Contains(t, done, "Votre consentement a été retiré.")
	assert.Equal(t, "withdrawn", currentStatuses(t, f.e)["navigation"])
	r = f.e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", decisionBody(f.deviceID, "location", "navigation", "use"))
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	assert.Equal(t, "deny", r.JSON(t)["decision"])

	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.scripts.length`))
	require.NoError(t, err)
	assert.Zero(t, scripts, "the pages carry no script")
	require.Greater(t, len(png), 10_000, "a real screenshot")
	if testkit.Update() { // -update: also rewrites docs/consent-flow.png
		require.NoError(t, os.WriteFile("../../docs/consent-flow.png", png, 0o644))
	}
}

// waitUntil evaluates expr until it is true, across the navigations the
// page makes meanwhile (an evaluation during one fails, and is retried).
func waitUntil(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the page never satisfied %s", expr)
}
