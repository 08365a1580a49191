package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// subjectToken mints a token for subject.
func subjectToken(t *testing.T, e *env, subject string) string {
	t.Helper()
	r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subject-tokens", map[string]any{"subject": subject})
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	return r.JSON(t)["token"].(string)
}

// asSubject sends a JSON request with a subject token.
func (e *env) asSubject(t *testing.T, token, method, path, body string) response {
	t.Helper()
	req := newJSONRequest(method, path, body)
	return e.raw(t, req, token)
}

func TestOwnershipTransfer(t *testing.T) {
	e, deviceID, notice := consentEnv(t) // alice owns the device
	allowNavigation(t, e)
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true))).Code)
	require.Equal(t, "allow", decideFor(t, e, "alice", deviceID)["decision"])
	path := "/v1/devices/" + deviceID

	t.Run("bad input and wrong role", func(t *testing.T) {
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/transfer", map[string]any{}), 422, "invalid", "to")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/transfer", map[string]any{"to": "erased:00"}), 422, "invalid", "to")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/transfer", map[string]any{"to": "carol", "price": 3}), 400, "malformed", "price")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/transfer", map[string]any{"to": "alice"}), 409, "conflict", "to")
		for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService, privacy.RoleAuditor} {
			assertProblem(t, e.do(t, role, http.MethodPost, path+"/transfer", map[string]any{"to": "carol"}), 403, "forbidden")
		}
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "mallory"), http.MethodPost, path+"/transfer", `{"to":"mallory"}`), 404, "not_found")
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "mallory"), http.MethodPost, path+"/transfer/accept", ""), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, path+"/owners", nil), 403, "forbidden")
	})

	t.Run("an admin transfers: every consent ends, the new owner starts with nothing", func(t *testing.T) {
		r := e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/transfer", map[string]any{"to": "carol"})
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Equal(t, "carol", r.JSON(t)["owner_subject"])
		assert.Equal(t, "deny", decideFor(t, e, "alice", deviceID)["decision"], "no allow on the old owner's consent after the transfer")
		assert.Equal(t, "deny", decideFor(t, e, "carol", deviceID)["decision"], "the new owner has granted nothing")
		hist := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/alice/consents", nil).JSON(t)["history"].([]any)
		w := hist[0].(map[string]any)
		require.Equal(t, "withdrawal", w["kind"])
		receipt := verifyReceipt(t, w["receipt"].(string), jwksFromHTTP(t, e))
		assert.Equal(t, privacy.WithdrawalOwnershipTransferred, receipt["iso27560"].(map[string]any)["withdrawal_reason"])
		// The old owner may no longer consent on it; the new one may.
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentBody(deviceID, notice, choice("navigation", true))), 403, "forbidden", "subject")
		carol := consentBody(deviceID, notice, choice("navigation", true))
		carol["subject"] = "carol"
		require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", carol).Code)
		assert.Equal(t, "allow", decideFor(t, e, "carol", deviceID)["decision"])

		owners := e.do(t, privacy.RoleAdmin, http.MethodGet, path+"/owners", nil)
		require.Equal(t, http.StatusOK, owners.Code, owners.Body.String())
		items := owners.JSON(t)["items"].([]any)
		require.Len(t, items, 2)
		assert.Equal(t, "alice", items[0].(map[string]any)["owner"])
		assert.Equal(t, "carol", items[1].(map[string]any)["owner"])
		audited := e.do(t, privacy.RoleAuditor, http.MethodGet, path+"/owners", nil)
		require.Equal(t, http.StatusOK, audited.Code)
		assert.NotContains(t, audited.Body.String(), "carol", "auditors see pseudonyms")
		assert.Len(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=device.transferred", nil).JSON(t)["items"], 1)
	})

	t.Run("the owner offers, the new owner accepts with their own token", func(t *testing.T) {
		carol, dave := subjectToken(t, e, "carol"), subjectToken(t, e, "dave")
		r := e.asSubject(t, carol, http.MethodPost, path+"/transfer", `{"to":"dave"}`)
		require.Equal(t, http.StatusAccepted, r.Code, r.Body.String())
		assert.Equal(t, "dave", r.JSON(t)["to"])
		assert.Equal(t, "allow", decideFor(t, e, "carol", deviceID)["decision"], "an offer changes nothing yet")
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "erin"), http.MethodPost, path+"/transfer/accept", ""), 404, "not_found")
		r = e.asSubject(t, dave, http.MethodPost, path+"/transfer/accept", "")
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Equal(t, "dave", r.JSON(t)["owner_subject"])
		assert.Equal(t, "deny", decideFor(t, e, "carol", deviceID)["decision"])
		assertProblem(t, e.asSubject(t, dave, http.MethodPost, path+"/transfer/accept", ""), 404, "not_found")
		assert.Len(t, e.do(t, privacy.RoleAdmin, http.MethodGet, path+"/owners", nil).JSON(t)["items"], 3)
	})

	t.Run("the evidence bundle verifies: devices bound to their transfer entries, every decision judged again", func(t *testing.T) {
		sum, err := evidence.Verify(exportBundle(t, e), evidence.VerifyOptions{VerifierKey: e.log.VerifierKey()})
		require.NoError(t, err)
		assert.Positive(t, sum.Judged)
	})
}

// newJSONRequest is a request with body (none when "") as JSON.
func newJSONRequest(method, path, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}
