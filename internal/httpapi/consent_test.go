package httpapi_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// consentEnv is an env with a published notice "cam" and a device naming it.
func consentEnv(t testing.TB) (e *env, deviceID string, notice map[string]any) {
	t.Helper()
	return consentEnvOn(t, MustOpenEnv(t))
}

// consentEnvOn seeds e as consentEnv does.
func consentEnvOn(t testing.TB, e *env) (_ *env, deviceID string, notice map[string]any) {
	t.Helper()
	putPurpose(t, e, "navigation")
	putPurpose(t, e, "maintenance")
	notice = mustPublishedNotice(t, e, "cam")
	d := newDevice("consent-1")
	d["notice_key"] = "cam"
	d["owner_subject"] = "alice"
	deviceID = mustCreateDevice(t, e, d)["id"].(string)
	inv := validInventory()
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/devices/"+deviceID+"/inventory", inv).Code)
	return e, deviceID, notice
}

func consentBody(deviceID string, notice map[string]any, choices ...any) map[string]any {
	return map[string]any{"subject": "alice", "device_id": deviceID, "notice_key": "cam", "notice_version": notice["version"],
		"notice_hash": notice["content_hash"], "locale": "en", "method": "app", "client_time": "2026-11-28T11:59:00Z", "choices": choices}
}

func choice(purpose string, granted bool) map[string]any {
	return map[string]any{"purpose": purpose, "granted": granted}
}

func currentStatuses(t *testing.T, e *env) map[string]string {
	t.Helper()
	r := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/alice/consents", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	out := map[string]string{}
	for _, it := range r.JSON(t)["current"].([]any) {
		m := it.(map[string]any)
		out[m["purpose"].(string)] = m["status"].(string)
		assert.Equal(t, m["status"] == "granted", m["given"])
	}
	return out
}

func jwksFromHTTP(t *testing.T, e *env) map[string]ed25519.PublicKey {
	t.Helper()
	r := e.do(t, "", http.MethodGet, "/.well-known/jwks.json", nil)
	require.Equal(t, http.StatusOK, r.Code)
	var set struct {
		Keys []struct{ Kty, Crv, X, Kid, Alg, Use string }
	}
	require.NoError(t, json.Unmarshal(r.Body.Bytes(), &set))
	out := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		assert.Equal(t, "Ed25519", k.Alg, "a new deployment's keys sign Ed25519 only")
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		require.NoError(t, err)
		out[k.Kid] = x
	}
	return out
}

// verifyReceipt checks a compact JWS with crypto/ed25519 alone.
func verifyReceipt(t *testing.T, jws string, keys map[string]ed25519.PublicKey) map[string]any {
	t.Helper()
	parts := strings.Split(jws, ".")
	require.Len(t, parts, 3)
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	var h struct{ Alg, Kid string }
	require.NoError(t, json.Unmarshal(hdr, &h))
	require.Equal(t, "Ed25519", h.Alg, "RFC 9864's fully-specified algorithm")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	require.NoError(t, err)
	require.True(t, ed25519.Verify(keys[h.Kid], []byte(parts[0]+"."+parts[1]), sig), "receipt signature")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(payload, &m))
	return m
}

func TestConsentAPI(t *testing.T) {
	e, deviceID, notice := consentEnv(t)

	r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true)))
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	rec := r.JSON(t)
	id := rec["id"].(string)
	assert.Equal(t, "/v1/consents/"+id, r.Header().Get("Location"))
	assert.Equal(t, "consent", rec["kind"])
	keys := jwksFromHTTP(t, e)
	receipt := verifyReceipt(t, rec["receipt"].(string), keys)
	assert.Equal(t, id, receipt["consentReceiptID"])
	assert.EqualValues(t, notice["content_hash"], receipt["iso27560"].(map[string]any)["privacy_notice"].(map[string]any)["sha256"])
	assert.Equal(t, map[string]string{"navigation": "granted", "maintenance": "denied"}, currentStatuses(t, e))

	for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleAdmin, privacy.RoleAuditor} {
		got := e.do(t, role, http.MethodGet, "/v1/consents/"+id, nil)
		require.Equal(t, http.StatusOK, got.Code)
		assert.Equal(t, rec, got.JSON(t))
	}
	assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, "/v1/consents/0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e", nil), 404, "not_found")

	t.Run("refusals", func(t *testing.T) {
		stale := consentBody(deviceID, notice, choice("navigation", true))
		stale["notice_version"] = 7
		p := assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", stale), 409, "conflict", "notice_version")
		assert.Contains(t, p["detail"], notice["content_hash"])
		badHash := consentBody(deviceID, notice, choice("navigation", true))
		badHash["notice_hash"] = strings.Repeat("a", 64)
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", badHash), 409, "conflict", "notice_hash")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("ads", true))), 422, "invalid", "choices[0].purpose")
		mallory := consentBody(deviceID, notice, choice("navigation", true))
		mallory["subject"] = "mallory"
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", mallory), 403, "forbidden", "subject")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", map[string]any{"subject": "alice"}), 422, "invalid",
			"device_id", "notice_key", "notice_version", "notice_hash", "locale", "choices", "method")
		noGranted := consentBody(deviceID, notice, map[string]any{"purpose": "navigation"})
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", noGranted), 422, "invalid", "choices[0].granted")
		extra := consentBody(deviceID, notice, choice("navigation", true))
		extra["ip"] = "1.2.3.4"
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", extra), 400, "malformed", "ip")
		history := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/alice/consents", nil).JSON(t)["history"].([]any)
		assert.Len(t, history, 1, "no refusal stored anything")
	})

	t.Run("withdraw one purpose, then everything", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents/"+id+"/withdraw", map[string]any{"purposes": []string{"ads"}}), 422, "invalid", "purposes[0]")
		w := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents/"+id+"/withdraw", nil)
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		wr := w.JSON(t)
		assert.Equal(t, "withdrawal", wr["kind"])
		assert.Equal(t, id, wr["withdraws"])
		verifyReceipt(t, wr["receipt"].(string), keys)
		assert.Equal(t, "withdrawn", currentStatuses(t, e)["navigation"])
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents/"+wr["id"].(string)+"/withdraw", nil), 409, "conflict")

		again := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true), choice("maintenance", true)))
		require.Equal(t, http.StatusCreated, again.Code)
		all := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/alice/withdraw", map[string]any{"method": "voice"})
		require.Equal(t, http.StatusOK, all.Code, all.Body.String())
		recs := all.JSON(t)["records"].([]any)
		require.Len(t, recs, 1)
		assert.Equal(t, "voice", recs[0].(map[string]any)["method"])
		assert.Equal(t, map[string]string{"navigation": "withdrawn", "maintenance": "withdrawn"}, currentStatuses(t, e))
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/alice/withdraw", map[string]any{"purposes": []string{"navigation"}}), 422, "invalid", "purposes")
	})

	t.Run("history pages, newest first", func(t *testing.T) {
		p1 := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/subjects/alice/consents?limit=2", nil).JSON(t)
		require.Len(t, p1["history"], 2)
		next := p1["next_cursor"].(string)
		p2 := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/subjects/alice/consents?limit=2&cursor="+next, nil).JSON(t)
		assert.Len(t, p2["history"], 2)
		_, more := p2["next_cursor"]
		assert.False(t, more)
		assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/subjects/alice/consents?limit=0", nil), 422, "invalid", "limit")
		assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/subjects/alice/consents?cursor=nope", nil), 422, "invalid", "cursor")
	})

	t.Run("the subject's privacy view", func(t *testing.T) {
		r := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/alice/privacy", nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		v := r.JSON(t)
		devices := v["devices"].([]any)
		require.Len(t, devices, 1)
		d := devices[0].(map[string]any)
		assert.Equal(t, deviceID, d["device_id"])
		purposes := d["purposes"].([]any)
		require.Len(t, purposes, 2)
		nav := purposes[0].(map[string]any)
		assert.Equal(t, "navigation", nav["purpose"])
		assert.Equal(t, "withdrawn", nav["status"])
		assert.Equal(t, []any{"acme-cloud"}, nav["recipients"])
		assert.Contains(t, nav["summary"], "30 days")
		assert.Contains(t, nav["summary"], "acme-cloud")
		assert.Contains(t, nav["summary"], "You withdrew")
		empty := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/nobody/privacy", nil).JSON(t)
		assert.Equal(t, []any{}, empty["devices"])
	})

	assertForbidden(t, e, []roleCheck{
		{privacy.RoleAdmin, http.MethodPost, "/v1/consents"},
		{privacy.RoleService, http.MethodPost, "/v1/consents"},
		{privacy.RoleAuditor, http.MethodPost, "/v1/consents"},
		{privacy.RoleService, http.MethodGet, "/v1/consents/" + id},
		{privacy.RoleAdmin, http.MethodPost, "/v1/consents/" + id + "/withdraw"},
		{privacy.RoleAuditor, http.MethodPost, "/v1/subjects/alice/withdraw"},
		{privacy.RoleService, http.MethodGet, "/v1/subjects/alice/consents"},
		{privacy.RoleAdmin, http.MethodGet, "/v1/subjects/alice/privacy"},
	})
}
