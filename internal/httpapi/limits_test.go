package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/httpapi"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRateLimitPerClient: a client past its bucket gets 429 with
// Retry-After; another client is not slowed by it.
func TestRateLimitPerClient(t *testing.T) {
	e := mustOpenEnvWith(t, func(d *httpapi.Deps) { d.RateLimit = 0.5 }) // burst 1, then one per 2 s
	require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/purposes", nil).Code)
	r := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/purposes", nil)
	assertProblem(t, r, http.StatusTooManyRequests, "rate_limited")
	retry, err := strconv.Atoi(r.Header().Get("Retry-After"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, retry, 1)
	assert.LessOrEqual(t, retry, 2)
	assert.Equal(t, http.StatusOK, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/purposes", nil).Code, "the auditor has its own bucket")
	// Each subject token of an app has its own bucket, apart from the app's.
	mint := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subject-tokens", map[string]any{"subject": "alice"})
	require.Equal(t, http.StatusCreated, mint.Code, mint.Body.String())
	assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/alice/consents", nil), http.StatusTooManyRequests, "rate_limited")
	req := httptest.NewRequest(http.MethodGet, "/v1/subjects/alice/consents", nil)
	req.Header.Set("Authorization", "Bearer "+mint.JSON(t)["token"].(string))
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	// Every response, refusals included, carries the security headers.
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
		assert.Equal(t, want, r.Header().Get(h), h)
	}
	// Unauthenticated requests are refused before they cost a bucket.
	assertProblem(t, e.do(t, "", http.MethodGet, "/v1/purposes", nil), http.StatusUnauthorized, "unauthorized")
}

// TestBodyCapsPerRoute: routes whose bodies are a few fields refuse more
// than SmallBody; inventories, notices, consents and batches take up to
// the server's cap.
func TestBodyCapsPerRoute(t *testing.T) {
	e := MustOpenEnv(t)
	big := `{"name":"` + strings.Repeat("x", httpapi.SmallBody) + `","description":"d","legal_basis":"consent"}`
	r := e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/purposes/navigation", big)
	assertProblem(t, r, http.StatusRequestEntityTooLarge, "too_large")
	assert.Contains(t, r.JSON(t)["detail"], "16384 bytes")
	// The same size is accepted, and judged on its content, where bodies are large.
	d := mustCreateDevice(t, e, newDevice("caps-1"))
	inv := `{"elements":[{"key":"location","description":"` + strings.Repeat("x", httpapi.SmallBody) + `"}]}`
	r = e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/devices/"+d["id"].(string)+"/inventory", inv)
	assertProblem(t, r, http.StatusUnprocessableEntity, "invalid")
}
