package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDisposalEndsConsents: a repaired device returns to service; a
// disposed one ends every consent on it with the service's withdrawal
// (reason device_disposed, in the record and its receipt), records how its
// data was sanitized, and stays disposed.
func TestDisposalEndsConsents(t *testing.T) {
	e, deviceID, notice := consentEnv(t)
	allowNavigation(t, e)
	c := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true)))
	require.Equal(t, http.StatusCreated, c.Code, c.Body.String())
	path := "/v1/devices/" + deviceID

	t.Run("repair: deactivated, then active again", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/activate", nil), 409, "invalid_transition")
		require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/deactivate", nil).Code)
		assert.Equal(t, "deny", decideFor(t, e, "alice", deviceID)["decision"])
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/activate", nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Equal(t, "active", r.JSON(t)["status"])
		assert.Equal(t, "allow", decideFor(t, e, "alice", deviceID)["decision"], "her consent is as it was")
	})

	t.Run("a device first seen deactivated takes consent once repaired", func(t *testing.T) {
		d := newDevice("repair-cache")
		d["notice_key"], d["owner_subject"] = "cam", "zed"
		other := mustCreateDevice(t, e, d)["id"].(string)
		require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/devices/"+other+"/inventory", validInventory()).Code)
		require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+other+"/deactivate", nil).Code)
		body := consentBody(other, notice, choice("navigation", true))
		body["subject"] = "zed"
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", body), 409, "conflict", "device_id")
		require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices/"+other+"/activate", nil).Code)
		r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", body)
		assert.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	})

	t.Run("bad input and wrong role", func(t *testing.T) {
		require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/deactivate", nil).Code)
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/dispose", map[string]any{"sanitization": map[string]any{"method": "burn"}}),
			422, "invalid", "sanitization.method")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/dispose", map[string]any{"wipe": true}), 400, "malformed", "wipe")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/sanitization", map[string]any{"method": "purge"}), 409, "invalid_transition")
		for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService, privacy.RoleAuditor} {
			assertProblem(t, e.do(t, role, http.MethodPost, path+"/dispose", nil), 403, "forbidden")
			assertProblem(t, e.do(t, role, http.MethodPost, path+"/activate", nil), 403, "forbidden")
			assertProblem(t, e.do(t, role, http.MethodPost, path+"/sanitization", map[string]any{"method": "purge"}), 403, "forbidden")
		}
	})

	t.Run("disposal ends every consent, with receipts that say why", func(t *testing.T) {
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/dispose", map[string]any{"sanitization": map[string]any{"method": "purge",
			"note": "cryptographic erase"}})
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Equal(t, "disposed", r.JSON(t)["status"])
		assert.Equal(t, map[string]string{"navigation": "withdrawn", "maintenance": "denied"}, filterStatuses(currentStatuses(t, e), "navigation", "maintenance"))
		hist := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/alice/consents", nil).JSON(t)["history"].([]any)
		w := hist[0].(map[string]any)
		require.Equal(t, "withdrawal", w["kind"])
		receipt := verifyReceipt(t, w["receipt"].(string), jwksFromHTTP(t, e))
		assert.Equal(t, privacy.WithdrawalDeviceDisposed, receipt["iso27560"].(map[string]any)["withdrawal_reason"])
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/activate", nil), 409, "invalid_transition")

		list := e.do(t, privacy.RoleAuditor, http.MethodGet, path+"/sanitization", nil)
		require.Equal(t, http.StatusOK, list.Code, list.Body.String())
		items := list.JSON(t)["items"].([]any)
		require.Len(t, items, 1)
		assert.Equal(t, "purge", items[0].(map[string]any)["method"])
		r = e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/sanitization", map[string]any{"method": "destroy", "note": "shredded"})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		assert.Len(t, e.do(t, privacy.RoleAdmin, http.MethodGet, path+"/sanitization", nil).JSON(t)["items"], 2)
		entries := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=sanitization.attested", nil).JSON(t)["items"].([]any)
		assert.Len(t, entries, 2)
	})
}

// filterStatuses keeps the purposes named.
func filterStatuses(m map[string]string, keep ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keep {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}
