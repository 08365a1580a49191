package httpapi_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/httpapi"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const appRedirect = "com.acme.tracker:/consent"

// flowEnv is a consent env with an app client that registered
// appRedirect, a subject token of its for alice, and the service on a
// loopback listener.
type flowEnv struct {
	e        *env
	ts       *httptest.Server
	deviceID string
	notice   map[string]any
	app      string // the app client's token
	subject  string // alice's subject token
}

func newFlowEnv(t *testing.T) flowEnv {
	t.Helper()
	e, deviceID, notice := consentEnv(t)
	r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]any{"name": "tracker-app", "role": "app", "redirect_uris": []string{appRedirect}})
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	app := r.JSON(t)["token"].(string)
	assert.Equal(t, []any{appRedirect}, r.JSON(t)["redirect_uris"])
	f := flowEnv{e: e, deviceID: deviceID, notice: notice, app: app, subject: mintSubjectToken(t, e, app, "alice")}
	// The backend may use location for navigation: consent decides.
	rule := map[string]any{"subject": "service-client", "category": "personal.location.*", "purpose": "navigation", "action": "use", "effect": "allow"}
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/policies", rule).Code)
	f.ts = httptest.NewServer(e.srv)
	t.Cleanup(f.ts.Close)
	return f
}

func mintSubjectToken(t *testing.T, e *env, appToken, subject string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/subject-tokens", strings.NewReader(`{"subject":"`+subject+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+appToken)
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	return response{rec}.JSON(t)["token"].(string)
}

// browserClient keeps cookies and does not follow redirects, so the test
// sees each answer.
func browserClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	return send(t, c, req, header)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return send(t, c, req, header)
}

// send sends req with header (name, value, ...) and reads the answer whole.
func send(t *testing.T, c *http.Client, req *http.Request, header []string) (*http.Response, string) {
	t.Helper()
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// formOf is the hidden fields of the page's first form.
func formOf(t *testing.T, page string) url.Values {
	t.Helper()
	start := strings.Index(page, `<form method="post"`)
	require.GreaterOrEqual(t, start, 0, "a form on the page")
	end := strings.Index(page[start:], "</form>")
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(page[start:start+end], -1) {
		v.Set(m[1], strings.ReplaceAll(m[2], "&#43;", "+"))
	}
	return v
}

// open exchanges the subject token for the session and returns the page.
func (f flowEnv) open(t *testing.T, c *http.Client, query string, header ...string) string {
	t.Helper()
	resp, body := get(t, c, f.ts.URL+"/consent/cam?token="+url.QueryEscape(f.subject)+query, header...)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	cookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"consentry_session=", "HttpOnly", "SameSite=Strict", "Path=/consent/"} {
		assert.Contains(t, cookie, want)
	}
	assert.NotContains(t, body, f.subject, "the token leaves the page")
	m := regexp.MustCompile(`<meta http-equiv="refresh" content="0; url=([^"]+)">`).FindStringSubmatch(body)
	require.Len(t, m, 2, body)
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	assert.NotContains(t, next, "token", "the next address has no token")
	resp, page := get(t, c, f.ts.URL+next, header...)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	return page
}

// TestConsentFlow walks the hosted flow as a browser does, over HTTP:
// open with the token, read the notice in French with every toggle off,
// choose, get the receipt, return to the app, withdraw.
func TestConsentFlow(t *testing.T) {
	f := newFlowEnv(t)
	c := browserClient(t)
	page := f.open(t, c, "&redirect_uri="+url.QueryEscape(appRedirect), "Accept-Language", "fr-CA,fr;q=0.9")

	for _, want := range []string{`<html lang="fr">`, "Guidage", "Entretien", "Votre position", "Acme Cloud (hébergeur)", "30 jours",
		"Pendant les trajets que vous lancez.", `<label for="p-navigation">Autoriser : Guidage</label>`, "Enregistrer mes choix"} {
		assert.Contains(t, page, want)
	}
	assert.NotContains(t, page, "checked", "every purpose is off until the person turns it on")
	form := formOf(t, page)
	assert.Equal(t, f.deviceID, form.Get("device"), "alice's only device under the notice is taken")
	assert.Equal(t, appRedirect, form.Get("redirect_uri"))
	require.NotEmpty(t, form.Get("csrf"))

	form.Add("purpose", "navigation")
	resp, body := post(t, c, f.ts.URL+"/consent/cam", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	loc := resp.Header.Get("Location")
	require.Contains(t, loc, "recorded=")
	recordID := regexp.MustCompile(`recorded=([0-9a-f-]{36})`).FindStringSubmatch(loc)[1]

	_, page = get(t, c, f.ts.URL+loc, "Accept-Language", "fr")
	assert.Contains(t, page, "Vos choix ont été enregistrés.")
	assert.Contains(t, page, `href="com.acme.tracker:/consent?record_id=`+recordID+`"`, "back to the app with the record id")
	assert.Contains(t, page, "Guidage : autorisé")
	assert.Contains(t, page, "Entretien : non autorisé")

	// The record through the API: exactly what was chosen, against the version and hash shown.
	r := f.e.do(t, privacy.RoleApp, http.MethodGet, "/v1/consents/"+recordID, nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	rec := r.JSON(t)
	assert.Equal(t, "web", rec["method"])
	assert.Equal(t, form.Get("hash"), rec["notice_hash"])
	assert.Equal(t, map[string]string{"navigation": "granted", "maintenance": "denied"}, currentStatuses(t, f.e))
	r = f.e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", decisionBody(f.deviceID, "location", "navigation", "use"))
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	assert.Equal(t, "allow", r.JSON(t)["decision"], "the choice made on the page is in force")

	// The receipt the page links is the record's, and only alice's session gets it.
	resp, receipt := get(t, c, f.ts.URL+"/consent/cam/receipts/"+recordID)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, rec["receipt"], receipt)
	assert.Equal(t, "application/jose", resp.Header.Get("Content-Type"))
	bob := browserClient(t)
	bf := f
	bf.subject = mintSubjectToken(t, f.e, f.app, "bob")
	bf.open(t, bob, "")
	resp, _ = get(t, bob, f.ts.URL+"/consent/cam/receipts/"+recordID)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "another person's receipt")

	// Withdraw the one purpose in one click.
	_, page = get(t, c, f.ts.URL+"/consent/cam")
	w := regexp.MustCompile(`(?s)<form method="post" action="/consent/cam/withdraw">.*?</form>`).FindString(page)
	require.NotEmpty(t, w, "a withdrawal button per granted purpose")
	wf := formOf(t, w)
	assert.Equal(t, "navigation", wf.Get("purpose"))
	resp, body = post(t, c, f.ts.URL+"/consent/cam/withdraw", wf)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	assert.Equal(t, "withdrawn", currentStatuses(t, f.e)["navigation"])
	r = f.e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", decisionBody(f.deviceID, "location", "navigation", "use"))
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	assert.Equal(t, "deny", r.JSON(t)["decision"])
}

// TestConsentFlowRefuses: no session, a forged or cross-site post, an
// unknown field, a redirect URI the app did not register, another
// person's record: each refused with a page, nothing recorded.
func TestConsentFlowRefuses(t *testing.T) {
	f := newFlowEnv(t)

	resp, body := get(t, browserClient(t), f.ts.URL+"/consent/cam")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	assert.Contains(t, body, "This page has expired")
	resp, _ = get(t, browserClient(t), f.ts.URL+"/consent/cam?token=not-a-token")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = get(t, browserClient(t), f.ts.URL+"/consent/cam", "Authorization", "Bearer "+f.app)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an app's client token is not a person's session")

	c := browserClient(t)
	page := f.open(t, c, "")
	form := formOf(t, page)
	form.Add("purpose", "navigation")
	for name, tc := range map[string]struct {
		form   func(url.Values) url.Values
		header []string
		status int
	}{
		"no csrf":       {func(v url.Values) url.Values { v.Del("csrf"); return v }, nil, http.StatusForbidden},
		"forged csrf":   {func(v url.Values) url.Values { v.Set("csrf", "AAAA"); return v }, nil, http.StatusForbidden},
		"another site":  {func(v url.Values) url.Values { return v }, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		"unknown field": {func(v url.Values) url.Values { v.Set("subject", "bob"); return v }, nil, http.StatusBadRequest},
		"unknown purpose": {func(v url.Values) url.Values { v.Set("purpose", "advertising"); return v }, nil,
			http.StatusUnprocessableEntity},
		"unregistered redirect": {func(v url.Values) url.Values { v.Set("redirect_uri", "https://evil.example/steal"); return v }, nil,
			http.StatusUnprocessableEntity},
		"stale version": {func(v url.Values) url.Values { v.Set("version", "7"); return v }, nil, http.StatusConflict},
	} {
		t.Run(name, func(t *testing.T) {
			v := url.Values{}
			for k, vs := range form {
				v[k] = append([]string(nil), vs...)
			}
			resp, body := post(t, c, f.ts.URL+"/consent/cam", tc.form(v), tc.header...)
			assert.Equal(t, tc.status, resp.StatusCode, body)
			assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
		})
	}
	resp, _ = post(t, c, f.ts.URL+"/consent/cam", form, "Content-Type", "application/json")
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	assert.Empty(t, currentStatuses(t, f.e), "nothing was recorded")

	resp, _ = get(t, c, f.ts.URL+"/consent/cam?redirect_uri="+url.QueryEscape("https://evil.example/"))
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	resp, _ = get(t, c, f.ts.URL+"/consent/cam?subject=bob")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, _ = get(t, c, f.ts.URL+"/consent/nope")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Withdrawing someone else's record: not found, nothing withdrawn.
	r := f.e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(f.deviceID, f.notice, choice("navigation", true)))
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	bob := browserClient(t)
	bf := f
	bf.subject = mintSubjectToken(t, f.e, f.app, "bob")
	bobPage := bf.open(t, bob, "&device="+f.deviceID)
	csrf := formOf(t, bobPage).Get("csrf")
	resp, _ = post(t, bob, f.ts.URL+"/consent/cam/withdraw", url.Values{"csrf": {csrf}, "record": {r.JSON(t)["id"].(string)}, "purpose": {"navigation"}})
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "granted", currentStatuses(t, f.e)["navigation"])
}

// TestConsentFlowHeaders: the pages forbid scripts, frames and other
// origins, and are never cached.
func TestConsentFlowHeaders(t *testing.T) {
	f := newFlowEnv(t)
	c := browserClient(t)
	f.open(t, c, "")
	resp, _ := get(t, c, f.ts.URL+"/consent/cam")
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "style-src 'self'"} {
		assert.Contains(t, csp, want)
	}
	assert.NotContains(t, csp, "script-src")
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	resp, css := get(t, c, f.ts.URL+"/consent-assets/style.css")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, css, "--primary:#005ea2")
	resp, _ = get(t, c, f.ts.URL+"/consent-assets/logo.png")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no theme, no logo")
}

// TestClientRedirectURIs: an app registers where the flow may return
// people; anything a browser could be sent to against them is refused,
// and only apps have them.
func TestClientRedirectURIs(t *testing.T) {
	e := MustOpenEnv(t)
	r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]any{"name": "ok", "role": "app",
		"redirect_uris": []string{"com.acme.tracker:/consent", "https://app.acme.example/consent?from=flow", "http://127.0.0.1:8765/cb"}})
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	list := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/clients", nil)
	assert.Contains(t, list.Body.String(), "https://app.acme.example/consent?from=flow")

	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]any{"name": "bad", "role": "app",
		"redirect_uris": []string{"javascript:alert(1)", "http://evil.example/x", "https://app.example/#frag", "/relative", "https://u:p@app.example/",
			"com.acme.tracker:/consent", "com.acme.tracker:/consent"}}), 422, "invalid",
		"redirect_uris[0]", "redirect_uris[1]", "redirect_uris[2]", "redirect_uris[3]", "redirect_uris[4]", "redirect_uris[6]")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]any{"name": "svc", "role": "service",
		"redirect_uris": []string{"https://app.example/cb"}}), 422, "invalid", "redirect_uris")
	assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/clients", map[string]any{"name": "self", "role": "app",
		"redirect_uris": []string{"https://app.example/cb"}}), 403, "forbidden")
}

// TestConsentFlowTheme: the operator's theme dresses the pages: its
// colors in the stylesheet, its logo served and shown with its name as
// the text alternative.
func TestConsentFlowTheme(t *testing.T) {
	logo := []byte("\x89PNG\r\n\x1a\n-the-logo-bytes")
	e := mustOpenEnvWith(t, func(d *httpapi.Deps) {
		d.ConsentTheme = &notice.Theme{Name: "Acme Trackers", Primary: "#7a1f00", Background: "#fffdf7", Text: "#202020", Logo: logo}
	})
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	c := browserClient(t)
	resp, css := get(t, c, ts.URL+"/consent-assets/style.css")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, css, "--primary:#7a1f00")
	resp, got := get(t, c, ts.URL+"/consent-assets/logo.png")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "image/png", resp.Header.Get("Content-Type"))
	assert.Equal(t, string(logo), got)
	resp, page := get(t, c, ts.URL+"/consent/cam")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, page, `<img class="logo" src="/consent-assets/logo.png" alt="Acme Trackers">`, "even the expired page wears the theme")
	resp, _ = get(t, c, ts.URL+"/consent-assets/theme.json")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "only the stylesheet and the logo")
}
