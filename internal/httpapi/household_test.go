package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFirmwareHistory(t *testing.T) {
	e, deviceID, _ := consentEnv(t) // alice owns the device, firmware 1.0.0
	path := "/v1/devices/" + deviceID
	registered := time.Now().UTC()
	time.Sleep(5 * time.Millisecond) // the update's time is after registered

	t.Run("bad input and wrong role", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPatch, path, map[string]any{}), 422, "invalid", "firmware_version", "label")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPatch, path, map[string]any{"firmware_version": " "}), 422, "invalid", "firmware_version")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPatch, path, map[string]any{"serial": "X"}), 400, "malformed", "serial")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPatch, "/v1/devices/"+uuidNil, map[string]any{"label": "x"}), 404, "not_found")
		for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService, privacy.RoleAuditor} {
			assertProblem(t, e.do(t, role, http.MethodPatch, path, map[string]any{"label": "x"}), 403, "forbidden")
		}
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "alice"), http.MethodPatch, path, `{"firmware_version":"9"}`), 403, "forbidden", "firmware_version")
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "mallory"), http.MethodPatch, path, `{"label":"mine"}`), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, path+"/history", nil), 403, "forbidden")
	})

	t.Run("an admin reports an update, the owner labels: each audited and kept", func(t *testing.T) {
		r := e.do(t, privacy.RoleAdmin, http.MethodPatch, path, map[string]any{"firmware_version": "1.10.0"})
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Equal(t, "1.10.0", r.JSON(t)["firmware_version"])
		r = e.asSubject(t, subjectToken(t, e, "alice"), http.MethodPatch, path, `{"label":"hallway tracker"}`)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Equal(t, "hallway tracker", r.JSON(t)["label"])
		// The same again changes nothing and is not audited.
		require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodPatch, path, map[string]any{"label": "hallway tracker"}).Code)
		assert.Len(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=device.updated", nil).JSON(t)["items"], 2)

		h := e.do(t, privacy.RoleAuditor, http.MethodGet, path+"/history", nil)
		require.Equal(t, http.StatusOK, h.Code, h.Body.String())
		items := h.JSON(t)["items"].([]any)
		require.Len(t, items, 3)
		assert.Equal(t, "1.0.0", items[0].(map[string]any)["firmware_version"])
		assert.Equal(t, "1.10.0", items[1].(map[string]any)["firmware_version"])
		assert.Equal(t, "hallway tracker", items[2].(map[string]any)["label"])
	})

	incident := func(q url.Values) response {
		q.Set("manufacturer", "acme corp")
		return e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/incidents/devices?"+q.Encode(), nil)
	}
	t.Run("incident search on the firmware in force at a time, or ever run", func(t *testing.T) {
		old := url.Values{"firmware_from": {"1.0.0"}, "firmware_to": {"1.9.9"}}
		r := incident(old)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Empty(t, r.JSON(t)["items"], "it runs 1.10.0 now")
		then := url.Values{"firmware_from": {"1.0.0"}, "firmware_to": {"1.9.9"}, "as_of": {registered.Format(time.RFC3339Nano)}}
		assert.Len(t, incident(then).JSON(t)["items"], 1, "it ran 1.0.0 then")
		before := url.Values{"firmware_from": {"1.0.0"}, "firmware_to": {"1.9.9"}, "as_of": {registered.Add(-time.Hour).Format(time.RFC3339)}}
		assert.Empty(t, incident(before).JSON(t)["items"], "it was not registered yet")
		ever := url.Values{"firmware_from": {"1.0.0"}, "firmware_to": {"1.9.9"}, "ever": {"true"}}
		assert.Len(t, incident(ever).JSON(t)["items"], 1)
		assert.Len(t, incident(url.Values{"firmware_from": {"1.10.0"}}).JSON(t)["items"], 1)

		assertProblem(t, incident(url.Values{"as_of": {registered.Format(time.RFC3339)}}), 422, "invalid", "as_of")
		assertProblem(t, incident(url.Values{"firmware_to": {"2"}, "as_of": {registered.Format(time.RFC3339)}, "ever": {"true"}}), 422, "invalid", "ever")
		assertProblem(t, incident(url.Values{"firmware_to": {"2"}, "as_of": {"yesterday"}}), 422, "invalid", "as_of")
		assertProblem(t, incident(url.Values{"firmware_to": {"2"}, "ever": {"yes"}}), 422, "invalid", "ever")
	})

	t.Run("the evidence bundle binds the device to its update entries", func(t *testing.T) {
		_, err := evidence.Verify(exportBundle(t, e), evidence.VerifyOptions{VerifierKey: e.log.VerifierKey()})
		require.NoError(t, err)
	})

	t.Run("a label may name people: a new owner starts without it, the old owner's erasure clears it", func(t *testing.T) {
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/transfer", map[string]any{"to": "carol"})
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.NotContains(t, r.JSON(t), "label")
		r = e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/alice/requests", map[string]any{"type": "erasure"})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		for _, it := range e.do(t, privacy.RoleAdmin, http.MethodGet, path+"/history", nil).JSON(t)["items"].([]any) {
			assert.NotContains(t, it, "label")
		}
		for _, f := range []string{"consentry.db", "consentry.db-wal"} {
			b, err := os.ReadFile(filepath.Join(e.dir, f))
			if err == nil {
				assert.False(t, bytes.Contains(b, []byte("hallway tracker")), "%s holds the label", f)
			}
		}
		_, err := evidence.Verify(exportBundle(t, e), evidence.VerifyOptions{VerifierKey: e.log.VerifierKey()})
		require.NoError(t, err)
	})
}

func TestRefurbishedUnit(t *testing.T) {
	e, deviceID, _ := consentEnv(t)
	path := "/v1/devices/" + deviceID
	require.Equal(t, http.StatusOK, e.asSubject(t, subjectToken(t, e, "alice"), http.MethodPatch, path, `{"label":"Anna's room"}`).Code)
	require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/deactivate", nil).Code)
	r := e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/dispose", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	assert.NotContains(t, r.JSON(t), "owner_subject", "a disposed device has no owner")
	assert.NotContains(t, r.JSON(t), "label", "nor its owner's label")
	owners := e.do(t, privacy.RoleAdmin, http.MethodGet, path+"/owners", nil).JSON(t)["items"].([]any)
	require.Len(t, owners, 2)
	assert.Equal(t, "alice", owners[0].(map[string]any)["owner"])
	assert.Equal(t, "", owners[1].(map[string]any)["owner"])

	unit := newDevice("consent-1") // the same identity
	unit["notice_key"] = "cam"
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", unit), 409, "conflict", "refurbished_from")
	unit["refurbished_from"] = uuidNil
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", unit), 422, "invalid", "refurbished_from")
	unit["refurbished_from"] = "not-a-uuid"
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", unit), 422, "invalid", "refurbished_from")
	unit["refurbished_from"] = deviceID
	created := mustCreateDevice(t, e, unit)
	assert.Equal(t, deviceID, created["refurbished_from"])
	assert.Equal(t, "active", created["status"])
	// One unit in service per identity.
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", unit), 409, "conflict", "manufacturer", "model", "serial")
	// A device in service is not refurbished.
	other := newDevice("other-1")
	other["refurbished_from"] = created["id"].(string)
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", other), 409, "conflict", "refurbished_from")

	res := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/devices/resolve?manufacturer=ACME+corp&model=tracker+2&serial=CONSENT-1", nil)
	require.Equal(t, http.StatusOK, res.Code, res.Body.String())
	assert.Equal(t, created["id"], res.JSON(t)["id"], "the identity resolves to the unit in service")
	old := e.do(t, privacy.RoleAdmin, http.MethodGet, path, nil)
	assert.Equal(t, "disposed", old.JSON(t)["status"], "the disposed identity stays disposed")

	_, err := evidence.Verify(exportBundle(t, e), evidence.VerifyOptions{VerifierKey: e.log.VerifierKey()})
	require.NoError(t, err)
}

func TestHousehold(t *testing.T) {
	e, deviceID, notice := consentEnv(t) // alice owns the device
	allowNavigation(t, e)
	path := "/v1/devices/" + deviceID
	alice := subjectToken(t, e, "alice")
	consentOf := func(subject string) map[string]any {
		b := consentBody(deviceID, notice, choice("navigation", true))
		b["subject"] = subject
		return b
	}

	t.Run("bad input and wrong role", func(t *testing.T) {
		soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		assertProblem(t, e.asSubject(t, alice, http.MethodPost, path+"/members", `{"subject":"bob","role":"guest"}`), 422, "invalid", "until")
		assertProblem(t, e.asSubject(t, alice, http.MethodPost, path+"/members", `{"subject":"bob","role":"member","until":"`+soon+`"}`), 422, "invalid", "until")
		assertProblem(t, e.asSubject(t, alice, http.MethodPost, path+"/members", `{"subject":"bob","role":"guest","until":"2020-01-01T00:00:00Z"}`), 422, "invalid", "until")
		assertProblem(t, e.asSubject(t, alice, http.MethodPost, path+"/members", `{"subject":"bob","role":"owner"}`), 422, "invalid", "role")
		assertProblem(t, e.asSubject(t, alice, http.MethodPost, path+"/members", `{"subject":"erased:00","role":"member"}`), 422, "invalid", "subject")
		assertProblem(t, e.asSubject(t, alice, http.MethodPost, path+"/members", `{"subject":"bob","role":"member","x":1}`), 400, "malformed", "x")
		assertProblem(t, e.asSubject(t, alice, http.MethodPost, path+"/members", `{"subject":"alice","role":"member"}`), 409, "conflict", "subject")
		for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService, privacy.RoleAuditor} {
			assertProblem(t, e.do(t, role, http.MethodPost, path+"/members", map[string]any{"subject": "bob", "role": "member"}), 403, "forbidden")
		}
		for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService} {
			assertProblem(t, e.do(t, role, http.MethodGet, path+"/members", nil), 403, "forbidden")
			assertProblem(t, e.do(t, role, http.MethodDelete, path+"/members/bob", nil), 403, "forbidden")
		}
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "mallory"), http.MethodPost, path+"/members", `{"subject":"mallory","role":"member"}`), 404, "not_found")
	})

	t.Run("each member consents for themselves; nobody else may", func(t *testing.T) {
		r := e.asSubject(t, alice, http.MethodPost, path+"/members", `{"subject":"bob","role":"member"}`)
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		assert.Equal(t, "member", r.JSON(t)["role"])
		assertProblem(t, e.asSubject(t, alice, http.MethodPost, path+"/members", `{"subject":"bob","role":"member"}`), 409, "conflict", "subject")

		assert.Equal(t, "deny", decideFor(t, e, "bob", deviceID)["decision"], "a member starts with nothing granted")
		require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("bob")).Code)
		assert.Equal(t, "allow", decideFor(t, e, "bob", deviceID)["decision"])
		assert.Equal(t, "deny", decideFor(t, e, "alice", deviceID)["decision"], "decisions are per subject: the owner granted nothing")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("dave")), 403, "forbidden", "subject")
		// A member's own token consents for them, and for nobody else.
		bob := subjectToken(t, e, "bob")
		req := consentOf("bob")
		r = e.asSubject(t, bob, http.MethodPost, "/v1/consents", mustJSON(t, req))
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		req["subject"] = "alice"
		assertProblem(t, e.asSubject(t, bob, http.MethodPost, "/v1/consents", mustJSON(t, req)), 403, "forbidden")
	})

	t.Run("who shares the device is shown to them, and to nobody else", func(t *testing.T) {
		until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/members", map[string]any{"subject": "carol", "role": "guest", "until": until})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		bob := subjectToken(t, e, "bob")
		m := e.asSubject(t, bob, http.MethodGet, path+"/members", "")
		require.Equal(t, http.StatusOK, m.Code, m.Body.String())
		assert.Len(t, m.JSON(t)["items"], 2)
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "dave"), http.MethodGet, path+"/members", ""), 404, "not_found")
		audited := e.do(t, privacy.RoleAuditor, http.MethodGet, path+"/members", nil)
		require.Equal(t, http.StatusOK, audited.Code)
		assert.NotContains(t, audited.Body.String(), "carol", "auditors see pseudonyms")
		assert.Len(t, audited.JSON(t)["items"].([]any)[0].(map[string]any)["subject"], 64)
		require.Equal(t, http.StatusOK, e.asSubject(t, bob, http.MethodGet, "/v1/devices/resolve?id="+deviceID, "").Code)
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "dave"), http.MethodGet, "/v1/devices/resolve?id="+deviceID, ""), 404, "not_found")

		view := e.asSubject(t, bob, http.MethodGet, "/v1/subjects/bob/privacy", "")
		require.Equal(t, http.StatusOK, view.Code, view.Body.String())
		dev := view.JSON(t)["devices"].([]any)[0].(map[string]any)
		assert.Equal(t, "member", dev["role"])
		others := dev["others"].([]any)
		require.Len(t, others, 2)
		assert.Equal(t, map[string]any{"subject": "alice", "role": "owner"}, others[0])
		assert.Equal(t, "carol", others[1].(map[string]any)["subject"])
		assert.Equal(t, "guest", others[1].(map[string]any)["role"])

		// A guest's grants end with their stay.
		c := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("carol"))
		require.Equal(t, http.StatusCreated, c.Code, c.Body.String())
		expires, err := time.Parse(time.RFC3339, c.JSON(t)["choices"].([]any)[0].(map[string]any)["expires_at"].(string))
		require.NoError(t, err)
		assert.True(t, expires.Equal(until), "expires %s, stay ends %s", expires, until)
	})

	t.Run("a member who leaves: their consents end with receipts", func(t *testing.T) {
		bob := subjectToken(t, e, "bob")
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "dave"), http.MethodDelete, path+"/members/bob", ""), 404, "not_found")
		r := e.asSubject(t, bob, http.MethodDelete, path+"/members/bob", "")
		require.Equal(t, http.StatusNoContent, r.Code, r.Body.String())
		assert.Equal(t, "deny", decideFor(t, e, "bob", deviceID)["decision"])
		hist := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/bob/consents", nil).JSON(t)["history"].([]any)
		w := hist[0].(map[string]any)
		require.Equal(t, "withdrawal", w["kind"])
		assert.Equal(t, privacy.WithdrawalMemberRemoved, w["reason"])
		receipt := verifyReceipt(t, w["receipt"].(string), jwksFromHTTP(t, e))
		assert.Equal(t, privacy.WithdrawalMemberRemoved, receipt["iso27560"].(map[string]any)["withdrawal_reason"])
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("bob")), 403, "forbidden", "subject")
		assertProblem(t, e.asSubject(t, bob, http.MethodDelete, path+"/members/bob", ""), 404, "not_found")
		assert.Len(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=household.member_removed", nil).JSON(t)["items"], 1)
	})

	t.Run("a guest's stay ends: decisions deny from then, the end is recorded with receipts", func(t *testing.T) {
		until := time.Now().Add(1500 * time.Millisecond).UTC()
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/members", map[string]any{"subject": "erin", "role": "guest", "until": until})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("erin")).Code)
		assert.Equal(t, "allow", decideFor(t, e, "erin", deviceID)["decision"])
		time.Sleep(time.Until(until) + 50*time.Millisecond)
		assert.Equal(t, "deny", decideFor(t, e, "erin", deviceID)["decision"], "the stay ended: the grant expired with it")
		n, err := e.devices.EndGuests(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		hist := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/erin/consents", nil).JSON(t)["history"].([]any)
		receipt := verifyReceipt(t, hist[0].(map[string]any)["receipt"].(string), jwksFromHTTP(t, e))
		assert.Equal(t, privacy.WithdrawalGuestExpired, receipt["iso27560"].(map[string]any)["withdrawal_reason"])
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("erin")), 403, "forbidden", "subject")
	})

	t.Run("a transfer ends every membership", func(t *testing.T) {
		require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/transfer", map[string]any{"to": "frank"}).Code)
		assert.Empty(t, e.do(t, privacy.RoleAdmin, http.MethodGet, path+"/members", nil).JSON(t)["items"])
		assert.Equal(t, "deny", decideFor(t, e, "carol", deviceID)["decision"])
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("carol")), 403, "forbidden", "subject")
	})

	t.Run("the evidence bundle verifies, every decision judged again", func(t *testing.T) {
		sum, err := evidence.Verify(exportBundle(t, e), evidence.VerifyOptions{VerifierKey: e.log.VerifierKey()})
		require.NoError(t, err)
		assert.Positive(t, sum.Judged)
	})
}

// uuidNil is a well-formed id no device has.
const uuidNil = "00000000-0000-7000-8000-000000000000"

// mustJSON encodes v for a raw request.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
