package httpapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSwaggerUICallsItsOwnAddress: Swagger UI, served by the service on
// an address other than make run's, sends "Try it out" to that address:
// the contract's server is relative.
func TestSwaggerUICallsItsOwnAddress(t *testing.T) {
	path := chromium(t)
	e := MustOpenEnv(t)
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	require.False(t, strings.HasSuffix(ts.URL, ":8080"))

	ctx := browser(t, path)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/docs")))
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.opblock-summary-path[data-path="/healthz"]`))))
	// GET /healthz: open it, try it out, execute.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.opblock-summary-path[data-path="/healthz"]`))))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.opblock.is-open .try-out__btn`))))
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.opblock.is-open .execute`))))
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.opblock.is-open .request-url pre`))))
	url, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.opblock.is-open .request-url pre`)))
	require.NoError(t, err)
	assert.Equal(t, ts.URL+"/healthz", strings.TrimSpace(url))
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.opblock.is-open .responses-table .response .response-col_status`)))
	require.NoError(t, err)
	assert.Contains(t, status, "200", "the call reached the service")
}
