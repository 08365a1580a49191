package httpapi_test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChildrenAndGuardians(t *testing.T) {
	e, deviceID, notice := consentEnv(t) // alice owns the device
	allowNavigation(t, e)
	path := "/v1/devices/" + deviceID
	for _, kid := range []string{"kid-1", "kid-2"} {
		require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleAdmin, http.MethodPost, path+"/members", map[string]any{"subject": kid, "role": "member"}).Code)
	}
	consentOf := func(subject, guardian string) map[string]any {
		b := consentBody(deviceID, notice, choice("navigation", true))
		b["subject"] = subject
		if guardian != "" {
			b["guardian"] = guardian
		}
		return b
	}
	majority := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	declaration := map[string]any{"majority_at": majority, "age_band": "13_15", "guardians": []string{"alice", "gina-guardian"}}

	t.Run("bad input and wrong role", func(t *testing.T) {
		child := "/v1/subjects/kid-1/child"
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPut, child, map[string]any{"age_band": "13_15"}), 422, "invalid", "guardians")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPut, child, map[string]any{"guardians": []string{"alice"}}), 422, "invalid", "majority_at")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPut, child, map[string]any{"age_band": "toddler", "guardians": []string{"alice"}}), 422, "invalid", "age_band")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPut, child, map[string]any{"majority_at": "2020-01-01T00:00:00Z", "guardians": []string{"alice"}}), 422, "invalid", "majority_at")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPut, child, map[string]any{"age_band": "16_17", "guardians": []string{"kid-1"}}), 422, "invalid", "guardians[0]")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPut, child, map[string]any{"age_band": "16_17", "guardians": []string{"a", "a"}}), 422, "invalid", "guardians[1]")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPut, child, map[string]any{"age_band": "16_17", "guardians": []string{"a", "b", "c", "d", "e"}}), 422, "invalid", "guardians")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPut, child, map[string]any{"age_band": "16_17", "guardians": []string{"a"}, "school": "x"}), 400, "malformed", "school")
		for _, role := range []privacy.Role{privacy.RoleService, privacy.RoleAuditor} {
			assertProblem(t, e.do(t, role, http.MethodPut, child, declaration), 403, "forbidden")
			assertProblem(t, e.do(t, role, http.MethodPost, child+"/majority", nil), 403, "forbidden")
		}
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "kid-1"), http.MethodPut, child, mustJSON(t, declaration)), 403, "forbidden")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodGet, child, nil), 404, "not_found")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, child+"/majority", nil), 404, "not_found")
	})

	// kid-2 consented alone before anyone said they were a child.
	require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("kid-2", "")).Code)
	require.Equal(t, "allow", decideFor(t, e, "kid-2", deviceID)["decision"])

	t.Run("a child consents only with a guardian, in one record naming both", func(t *testing.T) {
		for _, kid := range []string{"kid-1", "kid-2"} {
			r := e.do(t, privacy.RoleApp, http.MethodPut, "/v1/subjects/"+kid+"/child", declaration)
			require.Equal(t, http.StatusOK, r.Code, r.Body.String())
			assert.Equal(t, true, r.JSON(t)["minor"])
			assert.Equal(t, []any{"alice", "gina-guardian"}, r.JSON(t)["guardians"])
		}
		d := decideFor(t, e, "kid-2", deviceID)
		assert.Equal(t, "deny", d["decision"])
		assert.Equal(t, []any{"guardian_consent_required"}, d["reasons"], "the grant kid-2 gave alone no longer counts")

		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("kid-1", "")), 422, "invalid", "guardian")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("kid-1", "mallory")), 403, "forbidden", "guardian")
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("alice", "kid-1")), 422, "invalid", "guardian")
		// A guardian's own token consents with the child; another's does not.
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "mallory"), http.MethodPost, "/v1/consents", mustJSON(t, consentOf("kid-1", "alice"))), 403, "forbidden")
		r := e.asSubject(t, subjectToken(t, e, "alice"), http.MethodPost, "/v1/consents", mustJSON(t, consentOf("kid-1", "alice")))
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		rec := r.JSON(t)
		assert.Equal(t, "kid-1", rec["subject"])
		assert.Equal(t, "alice", rec["guardian"])
		receipt := verifyReceipt(t, rec["receipt"].(string), jwksFromHTTP(t, e))
		iso := receipt["iso27560"].(map[string]any)
		assert.Equal(t, "kid-1", iso["pii_principal_id"])
		assert.Equal(t, "alice", iso["guardian"], "the receipt names both")
		assert.Equal(t, "allow", decideFor(t, e, "kid-1", deviceID)["decision"])
		require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/consents/"+rec["id"].(string), nil).Code,
			"the record is what its entry committed to")

		got := e.asSubject(t, subjectToken(t, e, "kid-1"), http.MethodGet, "/v1/subjects/kid-1/child", "")
		require.Equal(t, http.StatusOK, got.Code, got.Body.String())
		assert.Equal(t, "13_15", got.JSON(t)["age_band"])
		assertProblem(t, e.asSubject(t, subjectToken(t, e, "kid-2"), http.MethodGet, "/v1/subjects/kid-1/child", ""), 403, "forbidden")
	})

	t.Run("a guardian no longer declared: the proxy consents they gave end", func(t *testing.T) {
		require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("kid-2", "gina-guardian")).Code)
		assert.Equal(t, "allow", decideFor(t, e, "kid-2", deviceID)["decision"])
		r := e.do(t, privacy.RoleApp, http.MethodPut, "/v1/subjects/kid-2/child", map[string]any{"majority_at": majority, "guardians": []string{"alice"}})
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		d := decideFor(t, e, "kid-2", deviceID)
		assert.Equal(t, []any{"consent_withdrawn"}, d["reasons"])
		hist := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/kid-2/consents", nil).JSON(t)["history"].([]any)
		receipt := verifyReceipt(t, hist[0].(map[string]any)["receipt"].(string), jwksFromHTTP(t, e))
		assert.Equal(t, privacy.WithdrawalGuardianRemoved, receipt["iso27560"].(map[string]any)["withdrawal_reason"])
	})

	t.Run("at majority the person confirms for themself", func(t *testing.T) {
		r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/kid-1/child/majority", nil)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		assert.Equal(t, false, r.JSON(t)["minor"])
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/kid-1/child/majority", nil), 409, "conflict")
		d := decideFor(t, e, "kid-1", deviceID)
		assert.Equal(t, []any{"reconfirmation_required"}, d["reasons"])
		assertProblem(t, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("kid-1", "alice")), 422, "invalid", "guardian")
		require.Equal(t, http.StatusCreated, e.do(t, privacy.RoleApp, http.MethodPost, "/v1/consents", consentOf("kid-1", "")).Code)
		assert.Equal(t, "allow", decideFor(t, e, "kid-1", deviceID)["decision"])
	})

	t.Run("the evidence bundle verifies, every child's decision judged again", func(t *testing.T) {
		sum, err := evidence.Verify(exportBundle(t, e), evidence.VerifyOptions{VerifierKey: e.log.VerifierKey()})
		require.NoError(t, err)
		assert.Positive(t, sum.Judged)
	})

	t.Run("a guardian's erasure leaves no trace of them, and every record still verifies", func(t *testing.T) {
		r := e.do(t, privacy.RoleApp, http.MethodPost, "/v1/subjects/gina-guardian/requests", map[string]any{"type": "erasure"})
		require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
		require.Equal(t, "completed", r.JSON(t)["request"].(map[string]any)["state"])
		for _, f := range []string{"consentry.db", "consentry.db-wal"} {
			b, err := os.ReadFile(filepath.Join(e.dir, f))
			if err == nil {
				assert.False(t, bytes.Contains(b, []byte("gina-guardian")), "%s holds the guardian's id", f)
			}
		}
		hist := e.do(t, privacy.RoleApp, http.MethodGet, "/v1/subjects/kid-2/consents", nil)
		require.Equal(t, http.StatusOK, hist.Code, hist.Body.String())
		assert.NotContains(t, hist.Body.String(), "gina-guardian")
		for _, it := range hist.JSON(t)["history"].([]any) {
			id := it.(map[string]any)["id"].(string)
			require.Equal(t, http.StatusOK, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/consents/"+id, nil).Code, "record %s", id)
		}
		_, err := evidence.Verify(exportBundle(t, e), evidence.VerifyOptions{VerifierKey: e.log.VerifierKey()})
		require.NoError(t, err)
	})
}
