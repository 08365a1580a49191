package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// as sends a request with a raw bearer token.
func (e *env) as(t *testing.T, token, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

// TestClientLifecycleAPI: clients are listed without their tokens, expire,
// rotate with a grace period and are revoked, each refused at once.
func TestClientLifecycleAPI(t *testing.T) {
	e := MustOpenEnv(t)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]any{"name": "partner", "role": "service", "expires_at": expires})
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	created := r.JSON(t)
	id, token := created["id"].(string), created["token"].(string)
	assert.Equal(t, "active", created["status"])
	assert.Equal(t, expires.Format(time.RFC3339), created["expires_at"])
	assert.Equal(t, http.StatusOK, e.as(t, token, http.MethodGet, "/v1/purposes").Code)

	list := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/clients?limit=200", nil)
	require.Equal(t, http.StatusOK, list.Code)
	assert.NotContains(t, list.Body.String(), token, "tokens are never listed")
	assert.NotContains(t, list.Body.String(), "token_hash")
	var found map[string]any
	for _, it := range list.JSON(t)["items"].([]any) {
		if it.(map[string]any)["id"] == id {
			found = it.(map[string]any)
		}
	}
	require.NotNil(t, found)
	assert.Equal(t, "service", found["role"])

	// Rotation: the old token works for the grace period, the new one at once.
	r = e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients/"+id+"/rotate", map[string]any{"grace_seconds": 3600})
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	rotated := r.JSON(t)
	fresh := rotated["token"].(string)
	assert.NotEqual(t, token, fresh)
	assert.NotEmpty(t, rotated["previous_token_expires_at"])
	assert.Equal(t, http.StatusOK, e.as(t, token, http.MethodGet, "/v1/purposes").Code, "old token within its grace")
	assert.Equal(t, http.StatusOK, e.as(t, fresh, http.MethodGet, "/v1/purposes").Code)
	// Without a body: grace 0, the replaced token stops at once.
	r = e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients/"+id+"/rotate", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	newest := r.JSON(t)["token"].(string)
	assert.Equal(t, http.StatusUnauthorized, e.as(t, fresh, http.MethodGet, "/v1/purposes").Code)
	assert.Equal(t, http.StatusOK, e.as(t, newest, http.MethodGet, "/v1/purposes").Code)

	// Revocation.
	r = e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients/"+id+"/revoke", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	assert.Equal(t, "revoked", r.JSON(t)["status"])
	for _, tok := range []string{token, fresh, newest} {
		rec := e.as(t, tok, http.MethodGet, "/v1/purposes")
		assert.Equal(t, http.StatusUnauthorized, rec.Code, rec.Body.String())
	}
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients/"+id+"/revoke", nil), http.StatusConflict, "invalid_transition")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients/"+id+"/rotate", nil), http.StatusConflict, "invalid_transition")

	// Bad input.
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]any{"name": "x", "role": "app", "expires_at": "2020-01-01T00:00:00Z"}),
		http.StatusUnprocessableEntity, "invalid", "expires_at")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]any{"name": "x", "role": "app", "expires_at": "tomorrow"}),
		http.StatusBadRequest, "malformed")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients/01a24ea4-c24e-75a9-ac6d-812be5b9f8a3/revoke", nil), http.StatusNotFound, "not_found")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients/"+id+"/rotate", map[string]any{"grace_seconds": -1}),
		http.StatusUnprocessableEntity, "invalid", "grace_seconds")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients/"+id+"/rotate", map[string]any{"grace": 1}),
		http.StatusBadRequest, "malformed", "grace")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/clients?limit=0", nil), http.StatusUnprocessableEntity, "invalid", "limit")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/clients?status=active", nil), http.StatusBadRequest, "malformed", "status")

	// Wrong roles.
	var checks []roleCheck
	for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService, privacy.RoleAuditor} {
		checks = append(checks, roleCheck{role, http.MethodGet, "/v1/clients"},
			roleCheck{role, http.MethodPost, "/v1/clients/" + id + "/revoke"}, roleCheck{role, http.MethodPost, "/v1/clients/" + id + "/rotate"})
	}
	assertForbidden(t, e, checks)

	// The audit log holds every change.
	entries := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=client.rotated", nil).JSON(t)["items"].([]any)
	assert.Len(t, entries, 2)
	entries = e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=client.revoked", nil).JSON(t)["items"].([]any)
	assert.Len(t, entries, 1)
}
