package httpapi_test

import (
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIncidentDevices(t *testing.T) {
	e := reportScenario(t) // alice's tracker (navigation in force), bob's (withdrawn); firmware 1.0.0
	newer := newDevice("consent-3")
	newer["firmware_version"], newer["notice_key"], newer["owner_subject"] = "1.10.0", "cam", "carol"
	mustCreateDevice(t, e, newer)
	other := newDevice("other-1")
	other["manufacturer"] = "Other Inc"
	mustCreateDevice(t, e, other)

	r := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/incidents/devices?manufacturer=acme%20corp&firmware_from=1.0.0&firmware_to=1.9.0", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	got := r.JSON(t)
	assert.Equal(t, false, got["subjects_hashed"])
	items := got["items"].([]any)
	require.Len(t, items, 2, "1.10.0 is after 1.9.0; Other Inc is another manufacturer")
	bySubject := map[string]map[string]any{}
	for _, it := range items {
		m := it.(map[string]any)
		bySubject[m["subjects"].([]any)[0].(string)] = m
	}
	assert.Equal(t, []any{"navigation"}, bySubject["alice"]["purposes_in_force"])
	assert.Equal(t, []any{"acme-cloud"}, bySubject["alice"]["recipients"])
	assert.Equal(t, []any{}, bySubject["bob"]["purposes_in_force"], "bob withdrew")
	assert.Equal(t, []any{}, bySubject["bob"]["recipients"])

	// Auditors see the audit log's HMACs, never the subject ids.
	r = e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/incidents/devices?manufacturer=Acme%20Corp&model=tracker%202", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	assert.Equal(t, true, r.JSON(t)["subjects_hashed"])
	assert.NotContains(t, r.Body.String(), "alice")
	assert.NotContains(t, r.Body.String(), "carol")
	assert.Regexp(t, `"subjects":\["[0-9a-f]{64}"\]`, r.Body.String())

	// CSV, streamed.
	r = e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/incidents/devices?manufacturer=acme%20corp&format=csv", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	assert.Equal(t, "text/csv; charset=utf-8", r.Header().Get("Content-Type"))
	rows, err := csv.NewReader(strings.NewReader(r.Body.String())).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4, "header and three Acme devices")
	assert.Equal(t, []string{"device_id", "manufacturer", "model", "serial", "firmware_version", "status", "subjects", "purposes_in_force", "recipients"}, rows[0])
	// Nothing matches: a header alone.
	r = e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/incidents/devices?manufacturer=nobody&format=csv", nil)
	require.Equal(t, http.StatusOK, r.Code)
	assert.Equal(t, 1, strings.Count(r.Body.String(), "\n"))

	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/incidents/devices", nil), 422, "invalid", "manufacturer")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/incidents/devices?manufacturer=acme&firmware_from=2.0.0&firmware_to=1.0.0", nil), 422, "invalid", "firmware_to")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/incidents/devices?manufacturer=acme&format=xml", nil), 422, "invalid", "format")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/incidents/devices?manufacturer=acme&serial=1", nil), 400, "malformed", "serial")
	for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService} {
		assertProblem(t, e.do(t, role, http.MethodGet, "/v1/incidents/devices?manufacturer=acme", nil), 403, "forbidden")
	}
}
