package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decisionBody(deviceID, element, purpose, action string) map[string]any {
	return map[string]any{"subject": "alice", "device_id": deviceID, "element": element, "purpose": purpose, "action": action}
}

func TestDecisionsAndPolicies(t *testing.T) {
	e, deviceID, notice := consentEnv(t)
	// The service client is called "service-client" (MustOpenEnv names clients after their role).
	rule := map[string]any{"subject": "service-client", "category": "personal.location.*", "purpose": "navigation", "action": "use", "effect": "allow"}

	t.Run("default deny: no rule, no consent", func(t *testing.T) {
		r := e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", decisionBody(deviceID, "location", "navigation", "use"))
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		d := r.JSON(t)
		assert.Equal(t, "deny", d["decision"])
		assert.Equal(t, []any{"policy_denied", "no_consent"}, d["reasons"])
		assert.NotZero(t, d["audit_seq"])
	})

	t.Run("policies", func(t *testing.T) {
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/policies", rule)
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/policies", rule), 409, "conflict")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/policies",
			map[string]any{"subject": "x y", "category": "personal.thoughts", "purpose": "ads", "action": "sell", "effect": "maybe"}), 422, "invalid",
			"subject", "category", "purpose", "action", "effect")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/policies", map[string]any{"member": "a", "group": "b", "effect": "allow"}), 422, "invalid")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/policies", map[string]any{"subject": "a", "priority": 1}), 400, "malformed", "priority")
		require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/policies", map[string]any{"member": "service-client", "group": "navigators"}).Code)
		for _, role := range []privacy.Role{privacy.RoleAdmin, privacy.RoleAuditor} {
			list := e.do(t, role, http.MethodGet, "/v1/policies", nil)
			require.Equal(t, http.StatusOK, list.Code)
			l := list.JSON(t)
			assert.Len(t, l["rules"], 1)
			assert.Len(t, l["groups"], 1)
		}
		r = e.do(t, privacy.RoleAdmin, http.MethodDelete, "/v1/policies", map[string]any{"member": "service-client", "group": "navigators"})
		require.Equal(t, http.StatusNoContent, r.Code, r.Body.String())
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodDelete, "/v1/policies", map[string]any{"member": "service-client", "group": "navigators"}), 404, "not_found")
		entries := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=policy.rule.added", nil).JSON(t)["items"].([]any)
		assert.Len(t, entries, 1, "policy changes are audited")
	})

	t.Run("allow with consent, explained", func(t *testing.T) {
		c := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true)))
		require.Equal(t, http.StatusCreated, c.Code, c.Body.String())
		r := e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", decisionBody(deviceID, "location", "navigation", "use"))
		require.Equal(t, http.StatusOK, r.Code)
		d := r.JSON(t)
		assert.Equal(t, "allow", d["decision"])
		assert.Equal(t, []any{}, d["reasons"])
		assert.Equal(t, c.JSON(t)["id"], d["consent_record"])
		assert.NotNil(t, d["consent_seq"])
		assert.EqualValues(t, notice["version"], d["notice_version"])
		for _, role := range []privacy.Role{privacy.RoleService, privacy.RoleAdmin, privacy.RoleAuditor} {
			x := e.do(t, role, http.MethodGet, "/v1/decisions/"+d["id"].(string), nil)
			require.Equal(t, http.StatusOK, x.Code)
			ex := x.JSON(t)
			assert.Len(t, ex["steps"], 5)
			assert.Equal(t, "service-client", ex["service"])
		}
		assertProblem(t, e.do(t, privacy.RoleService, http.MethodGet, "/v1/decisions/0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e", nil), 404, "not_found")
		// Decisions are listed by action although the action index leaves
		// them out (migration 00008).
		entries := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=decision", nil).JSON(t)["items"].([]any)
		require.NotEmpty(t, entries)
		assert.EqualValues(t, d["audit_seq"], entries[len(entries)-1].(map[string]any)["seq"])
		for _, it := range entries {
			assert.Equal(t, "decision", it.(map[string]any)["entry"].(map[string]any)["action"])
		}
		// Another service does not see it: decisions name their subjects.
		other := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]string{"name": "other-service", "role": "service"})
		require.Equal(t, http.StatusCreated, other.Code)
		e.tokens["other-service"] = other.JSON(t)["token"].(string)
		assertProblem(t, e.do(t, "other-service", http.MethodGet, "/v1/decisions/"+d["id"].(string), nil), 404, "not_found")
	})

	t.Run("batch, in order", func(t *testing.T) {
		r := e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions/batch", map[string]any{"checks": []any{
			decisionBody(deviceID, "location", "navigation", "use"),
			decisionBody(deviceID, "location", "navigation", "share"),
			decisionBody(deviceID, "battery", "maintenance", "use"),
		}})
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		res := r.JSON(t)["results"].([]any)
		require.Len(t, res, 3)
		assert.Equal(t, "allow", res[0].(map[string]any)["decision"])
		assert.Equal(t, []any{"policy_denied"}, res[1].(map[string]any)["reasons"])
		assert.Equal(t, []any{"policy_denied", "no_consent"}, res[2].(map[string]any)["reasons"])
		assertProblem(t, e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions/batch", map[string]any{"checks": []any{}}), 422, "invalid", "checks")
		assertProblem(t, e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions/batch", map[string]any{"checks": []any{
			decisionBody(deviceID, "location", "navigation", "use"), decisionBody("nope", "location", "navigation", "steal")}}), 422, "invalid",
			"checks[1].device_id", "checks[1].action")
	})

	t.Run("bad input", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", map[string]any{"subject": "alice"}), 422, "invalid",
			"device_id", "element", "purpose", "action")
		assertProblem(t, e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", decisionBody(deviceID, "location", "navigation", "sell")), 422, "invalid", "action")
		extra := decisionBody(deviceID, "location", "navigation", "use")
		extra["urgent"] = true
		assertProblem(t, e.do(t, privacy.RoleService, http.MethodPost, "/v1/decisions", extra), 400, "malformed", "urgent")
	})

	assertForbidden(t, e, []roleCheck{
		{privacy.RoleApp, http.MethodPost, "/v1/decisions"},
		{privacy.RoleAdmin, http.MethodPost, "/v1/decisions"},
		{privacy.RoleAuditor, http.MethodPost, "/v1/decisions/batch"},
		{privacy.RoleApp, http.MethodGet, "/v1/decisions/0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"},
		{privacy.RoleService, http.MethodGet, "/v1/policies"},
		{privacy.RoleService, http.MethodPost, "/v1/policies"},
		{privacy.RoleAuditor, http.MethodDelete, "/v1/policies"},
	})
}
