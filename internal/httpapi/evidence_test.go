package httpapi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEvidenceAPI(t *testing.T) {
	e := MustOpenEnv(t)
	putPurpose(t, e, "navigation")
	mustCreateDevice(t, e, newDevice("evidence-1"))

	r := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	assert.Equal(t, "application/zip", r.Header().Get("Content-Type"))
	assert.Contains(t, r.Header().Get("Content-Disposition"), "attachment")
	path := filepath.Join(t.TempDir(), "evidence.zip")
	require.NoError(t, os.WriteFile(path, r.Body.Bytes(), 0o600))
	key := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/key", nil)
	require.Equal(t, http.StatusOK, key.Code)
	sum, err := evidence.Verify(path, evidence.VerifyOptions{VerifierKey: strings.TrimSpace(key.Body.String())})
	require.NoError(t, err)
	assert.Positive(t, sum.AuditSize)

	// The export itself is on the record, after the bundle's checkpoint.
	r = e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=evidence.exported", nil)
	require.Equal(t, http.StatusOK, r.Code)
	assert.Len(t, r.JSON(t)["items"], 1)

	// The next bundle carries the proof that it extends the first.
	cp, err := evidence.ReadCheckpoint(path)
	require.NoError(t, err)
	size, err := evidence.ParseCheckpointSize(cp)
	require.NoError(t, err)
	r = e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence?previous_size="+strconv.FormatInt(size, 10)+"&from=2026-01-01T00:00:00Z", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	next := filepath.Join(t.TempDir(), "next.zip")
	require.NoError(t, os.WriteFile(next, r.Body.Bytes(), 0o600))
	sum, err = evidence.Verify(next, evidence.VerifyOptions{VerifierKey: strings.TrimSpace(key.Body.String()), Previous: cp})
	require.NoError(t, err)
	assert.Equal(t, size, sum.PreviousSize)

	for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService} {
		assertProblem(t, e.do(t, role, http.MethodGet, "/v1/evidence", nil), http.StatusForbidden, "forbidden")
	}
	// Receipts name their subjects: an admin's export only.
	assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence?receipts=true", nil), http.StatusForbidden, "forbidden")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/evidence?receipts=yes", nil), http.StatusUnprocessableEntity, "invalid", "receipts")
	r = e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/evidence?receipts=true", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	withReceipts := filepath.Join(t.TempDir(), "receipts.zip")
	require.NoError(t, os.WriteFile(withReceipts, r.Body.Bytes(), 0o600))
	sum, err = evidence.Verify(withReceipts, evidence.VerifyOptions{VerifierKey: strings.TrimSpace(key.Body.String())})
	require.NoError(t, err)
	assert.Equal(t, evidence.ProfileWithReceipts, sum.Profile)
	r = e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=evidence.exported", nil)
	require.Equal(t, http.StatusOK, r.Code)
	assert.Contains(t, r.Body.String(), `"profile":"with-receipts"`, "the log says receipts were handed out")
	assertProblem(t, e.do(t, "", http.MethodGet, "/v1/evidence", nil), http.StatusUnauthorized, "unauthorized")
	assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence?format=tar", nil), http.StatusBadRequest, "malformed", "format")
	assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence?from=yesterday", nil), http.StatusUnprocessableEntity, "invalid", "from")
	assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", nil),
		http.StatusUnprocessableEntity, "invalid", "to")
	assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence?previous_size=999999", nil), http.StatusUnprocessableEntity, "invalid", "previous_size")
	assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/evidence?previous_size=-1", nil), http.StatusUnprocessableEntity, "invalid", "previous_size")
}
