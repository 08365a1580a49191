package httpapi_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium finds Debian's chromium. Without it the test skips, saying why,
// unless CONSENTRY_REQUIRE_BROWSER is set (CI installs it and sets that).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CONSENTRY_REQUIRE_BROWSER") != "" {
		t.Fatal("CONSENTRY_REQUIRE_BROWSER is set but chromium is not installed (apt-get install chromium)")
	}
	t.Skip("SKIPPING: chromium is not installed; .ci/run installs it")
	return ""
}

// browser starts headless Chromium at path for the test, with a minute
// for everything it does.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.WindowSize(1000, 1300))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	return ctx
}

// TestNoticePageInChromium drives the notice page in headless Chromium:
// what a person sees must name the purposes, recipients and retention,
// in their language, in an accessible table.
func TestNoticePageInChromium(t *testing.T) {
	path := chromium(t)
	e := MustOpenEnv(t)
	putPurpose(t, e, "navigation")
	putPurpose(t, e, "maintenance")
	mustPublishedNotice(t, e, "cam")
	ts := httptest.NewServer(e.srv)
	defer ts.Close()

	ctx := browser(t, path)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/notices/cam?locale=fr")))
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("table"))))
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	require.NoError(t, err)
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	require.NoError(t, err)
	caption, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("caption").textContent`))
	require.NoError(t, err)
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("tbody tr").length`))
	require.NoError(t, err)
	unscoped, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("th:not([scope])").length`))
	require.NoError(t, err)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	assert.Equal(t, "fr", lang)
	assert.Equal(t, "Ce que nous collectons et pourquoi", caption)
	assert.Equal(t, 2, rows, "one row per purpose")
	assert.Zero(t, unscoped, "every header cell says what it heads")
	for _, want := range []string{"Guidage", "Entretien", "Acme Cloud (hébergeur)", "30 jours", "1 an", "Votre position", "Niveau de batterie",
		"Pendant les trajets que vous lancez.", "Chaque jour.",
		"Comment votre traceur utilise vos données", "privacy@acme.example"} {
		assert.Contains(t, text, want)
	}
	for _, key := range []string{"navigation", "maintenance", "acme-cloud", "location", "battery", "During trips you start."} {
		assert.NotContains(t, text, key, "the French page shows no key and no English")
	}
	require.Greater(t, len(png), 10_000, "a real screenshot")
	if testkit.Update() { // -update: also rewrites docs/notice-page.png
		require.NoError(t, os.WriteFile("../../docs/notice-page.png", png, 0o644))
	}
}
