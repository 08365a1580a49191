package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFindingsAPI(t *testing.T) {
	e := MustOpenEnv(t)
	putPurpose(t, e, "navigation")
	dev := mustCreateDevice(t, e, newDevice("finding-1")) // names tracker-notice, never published; no inventory

	kinds := func(role privacy.Role) map[string]map[string]any {
		r := e.do(t, role, http.MethodGet, "/v1/findings", nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		out := map[string]map[string]any{}
		for _, it := range r.JSON(t)["items"].([]any) {
			f := it.(map[string]any)
			out[f["kind"].(string)] = f
		}
		return out
	}
	got := kinds(privacy.RoleAuditor)
	require.Contains(t, got, "device_without_inventory")
	f := got["device_without_inventory"]
	assert.Equal(t, "high", f["severity"])
	assert.Equal(t, "29", f["control"])
	assert.Equal(t, true, f["open"])
	assert.Equal(t, []any{map[string]any{"type": "device", "id": dev["id"]}}, f["objects"])
	assert.Contains(t, got, "device_without_notice")
	assert.Contains(t, got, "review_overdue")
	open := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/findings", nil).JSON(t)["open"].(map[string]any)
	assert.EqualValues(t, 2, open["high"])

	r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/findings/device_without_inventory/acknowledge", map[string]any{"note": "vendor sends it Monday"})
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	ack := r.JSON(t)
	assert.Equal(t, "device_without_inventory", ack["finding_id"])
	assert.NotZero(t, ack["audit_seq"])
	got = kinds(privacy.RoleAdmin)
	assert.Equal(t, false, got["device_without_inventory"]["open"])
	assert.Equal(t, "vendor sends it Monday", got["device_without_inventory"]["acknowledgment"].(map[string]any)["note"])

	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/findings/device_without_inventory/acknowledge", map[string]any{"note": "again"}), 409, "conflict")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/findings/nothing/acknowledge", map[string]any{"note": "x"}), 404, "not_found")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/findings/review_overdue/acknowledge", map[string]any{}), 422, "invalid", "note")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/findings/review_overdue/acknowledge", map[string]any{"note": "x", "by": "me"}), 400, "malformed", "by")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/findings?severity=high", nil), 400, "malformed", "severity")
	for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService} {
		assertProblem(t, e.do(t, role, http.MethodGet, "/v1/findings", nil), 403, "forbidden")
	}
	for _, role := range []privacy.Role{privacy.RoleAuditor, privacy.RoleApp, privacy.RoleService} {
		assertProblem(t, e.do(t, role, http.MethodPost, "/v1/findings/review_overdue/acknowledge", map[string]any{"note": "x"}), 403, "forbidden")
	}
}
