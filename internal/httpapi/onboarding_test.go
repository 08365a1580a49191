package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOnboarding(t *testing.T) {
	e, deviceID, notice := consentEnv(t) // alice owns the device "consent-1"
	dev := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices/"+deviceID, nil).JSON(t)

	t.Run("by the identity as printed, in another spelling", func(t *testing.T) {
		serial := strings.ToLower(dev["serial"].(string))
		serial = serial[:2] + "-" + serial[2:]
		q := url.Values{"manufacturer": {strings.ToUpper(dev["manufacturer"].(string))}, "model": {dev["model"].(string)}, "serial": {" " + serial + " "},
			"locale": {"fr-CA"}}
		r := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/devices/resolve?"+q.Encode(), nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		got := r.JSON(t)
		assert.Equal(t, deviceID, got["id"])
		assert.Equal(t, "cam", got["notice_key"])
		assert.Equal(t, "active", got["status"])
		n := got["notice"].(map[string]any)
		assert.Equal(t, notice["version"], n["version"])
		assert.Equal(t, notice["content_hash"], n["content_hash"])
		assert.Equal(t, "fr", n["locale"])
		assert.Equal(t, true, n["fallback"])
		assert.NotEmpty(t, got["inventory"].(map[string]any)["elements"])
		assert.NotContains(t, r.Body.String(), "alice", "nothing about any person")
		assert.NotContains(t, got, "owner_subject")
	})

	t.Run("by id", func(t *testing.T) {
		r := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices/resolve?id="+deviceID, nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Equal(t, dev["serial"], r.JSON(t)["serial"])
	})

	t.Run("a device with no notice published and no inventory", func(t *testing.T) {
		d := newDevice("onboard-bare")
		d["notice_key"] = "nothing-yet"
		id := mustCreateDevice(t, e, d)["id"].(string)
		r := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/devices/resolve?id="+id, nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.NotContains(t, r.JSON(t), "notice")
		assert.NotContains(t, r.JSON(t), "inventory")
	})

	t.Run("bad input", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/devices/resolve", nil), 422, "invalid", "manufacturer", "model", "serial")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/devices/resolve?manufacturer=Acme", nil), 422, "invalid", "model", "serial")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/devices/resolve?id="+deviceID+"&serial=x", nil), 422, "invalid", "id")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/devices/resolve?qr=x", nil), 400, "malformed")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/devices/resolve?id=nope", nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/devices/resolve?manufacturer=Acme&model=Cam&serial=NOPE", nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/devices/resolve?id="+deviceID+"&locale=%%", nil), 400, "malformed")
	})

	t.Run("wrong role, and another subject's token", func(t *testing.T) {
		for _, role := range []privacy.Role{privacy.RoleService, privacy.RoleAuditor} {
			assertProblem(t, e.do(t, role, http.MethodGet, "/v1/devices/resolve?id="+deviceID, nil), 403, "forbidden")
		}
		for subject, want := range map[string]int{"alice": http.StatusOK, "bob": http.StatusNotFound} {
			tok := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subject-tokens", map[string]any{"subject": subject}).JSON(t)["token"].(string)
			req, _ := http.NewRequest(http.MethodGet, "/v1/devices/resolve?id="+deviceID, nil)
			assert.Equal(t, want, e.raw(t, req, tok).Code, subject)
		}
	})
}
