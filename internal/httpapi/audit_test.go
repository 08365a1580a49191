package httpapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

func b64s(t *testing.T, v any) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range v.([]any) {
		b, err := base64.StdEncoding.DecodeString(s.(string))
		require.NoError(t, err)
		out = append(out, b)
	}
	return out
}

func TestAuditAPI(t *testing.T) {
	e := MustOpenEnv(t)
	putPurpose(t, e, "navigation")
	dev := mustCreateDevice(t, e, newDevice("audit-1"))

	// Every change left an entry; the leaf is the exact canonical JSON.
	r := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?limit=2", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	page := r.JSON(t)
	items := page["items"].([]any)
	require.Len(t, items, 2)
	assert.EqualValues(t, 2, page["next_from"])
	var all []map[string]any
	for from := 0; ; {
		p := e.do(t, privacy.RoleAuditor, http.MethodGet, fmt.Sprintf("/v1/audit/entries?from=%d&limit=3", from), nil).JSON(t)
		for _, it := range p["items"].([]any) {
			all = append(all, it.(map[string]any))
		}
		next, ok := p["next_from"].(float64)
		if !ok {
			break
		}
		from = int(next)
	}
	var actions []string
	for i, it := range all {
		assert.EqualValues(t, i, it["seq"])
		leaf, err := base64.StdEncoding.DecodeString(it["leaf"].(string))
		require.NoError(t, err)
		entry, err := audit.ParseLeaf(leaf)
		require.NoError(t, err)
		assert.EqualValues(t, i, entry.Seq)
		assert.Equal(t, entry.Action, it["entry"].(map[string]any)["action"])
		actions = append(actions, entry.Action)
		assert.NotContains(t, string(leaf), "subject-1", "no raw subject id in the log")
	}
	assert.Equal(t, []string{"client.created", "client.created", "client.created", "client.created", "purpose.put", "device.registered"}, actions)
	last := all[len(all)-1]["entry"].(map[string]any)
	assert.Equal(t, dev["id"], last["targets"].(map[string]any)["device"])
	assert.Equal(t, "admin", last["actor"].(map[string]any)["role"])
	assert.NotEmpty(t, last["request_id"])

	// Checkpoint and key: a signed note an auditor can check.
	key := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/key", nil)
	require.Equal(t, http.StatusOK, key.Code)
	assert.Contains(t, key.Header().Get("Content-Type"), "text/plain")
	v, err := note.NewVerifier(strings.TrimSpace(key.Body.String()))
	require.NoError(t, err)
	cpr := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/checkpoint", nil)
	require.Equal(t, http.StatusOK, cpr.Code)
	cp, _, _, err := log.ParseCheckpoint(cpr.Body.Bytes(), v.Name(), v)
	require.NoError(t, err)
	require.EqualValues(t, len(all), cp.Size)

	// Inclusion proof for every entry, against the signed root.
	for i, it := range all {
		pr := e.do(t, privacy.RoleAuditor, http.MethodGet, fmt.Sprintf("/v1/audit/entries/%d/proof", i), nil)
		require.Equal(t, http.StatusOK, pr.Code, pr.Body.String())
		p := pr.JSON(t)
		assert.EqualValues(t, cp.Size, p["tree_size"])
		leaf, _ := base64.StdEncoding.DecodeString(it["leaf"].(string))
		lh := rfc6962.DefaultHasher.HashLeaf(leaf)
		assert.Equal(t, base64.StdEncoding.EncodeToString(lh), p["leaf_hash"])
		require.NoError(t, proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), cp.Size, lh, b64s(t, p["proof"]), cp.Hash))
	}
	// Consistency between an older size and the checkpoint.
	cr := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/consistency?from=3", nil)
	require.Equal(t, http.StatusOK, cr.Code, cr.Body.String())
	c := cr.JSON(t)
	assert.EqualValues(t, 3, c["from"])
	assert.EqualValues(t, cp.Size, c["to"])
	old := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries/0/proof?size=3", nil).JSON(t)
	assert.EqualValues(t, 3, old["tree_size"])

	// Searching by subject: the admin computes the HMAC, the auditor searches.
	h := e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/audit/hash", map[string]string{"value": "subject-1"})
	require.Equal(t, http.StatusOK, h.Code, h.Body.String())
	hm := h.JSON(t)["hmac"].(string)
	found := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?subject="+hm, nil).JSON(t)["items"].([]any)
	require.Len(t, found, 1)
	assert.Equal(t, "device.registered", found[0].(map[string]any)["entry"].(map[string]any)["action"])
	byAction := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?action=purpose.put", nil).JSON(t)["items"].([]any)
	assert.Len(t, byAction, 1)

	t.Run("bad input", func(t *testing.T) {
		for path, want := range map[string]string{
			"/v1/audit/entries?from=-1":            "from",
			"/v1/audit/entries?limit=0":            "limit",
			"/v1/audit/entries?limit=1001":         "limit",
			"/v1/audit/entries/abc/proof":          "seq",
			"/v1/audit/entries/0/proof?size=999":   "size",
			"/v1/audit/entries/5/proof?size=5":     "seq",
			"/v1/audit/consistency":                "from",
			"/v1/audit/consistency?from=0":         "from",
			"/v1/audit/consistency?from=4&to=2":    "from",
			"/v1/audit/consistency?from=1&to=9999": "size",
		} {
			assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, path, nil), 422, "invalid", want)
		}
		assertProblem(t, e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?fron=1", nil), 400, "malformed", "fron")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/audit/hash", map[string]string{}), 422, "invalid", "value")
		assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/audit/hash", map[string]string{"value": "x", "key": "y"}), 400, "malformed", "key")
	})
	var checks []roleCheck
	for _, role := range []privacy.Role{privacy.RoleAdmin, privacy.RoleApp, privacy.RoleService} {
		for _, p := range []string{"/v1/audit/entries", "/v1/audit/entries/0/proof", "/v1/audit/consistency?from=1", "/v1/audit/checkpoint", "/v1/audit/key"} {
			checks = append(checks, roleCheck{role, http.MethodGet, p})
		}
	}
	for _, role := range []privacy.Role{privacy.RoleApp, privacy.RoleService, privacy.RoleAuditor} {
		checks = append(checks, roleCheck{role, http.MethodPost, "/v1/audit/hash"})
	}
	assertForbidden(t, e, checks)
}

func TestWritesFailClosedWhenTheAuditLogCannotBeWritten(t *testing.T) {
	e := MustOpenEnv(t)
	putPurpose(t, e, "navigation")
	before := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries", nil).JSON(t)["items"].([]any)
	sqlDB, err := e.db.SQL()
	require.NoError(t, err)
	_, err = sqlDB.Exec(`CREATE TRIGGER audit_unwritable BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'audit store unwritable'); END`)
	require.NoError(t, err)

	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/devices", newDevice("blocked")), 503, "unavailable")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPut, "/v1/purposes/navigation",
		map[string]string{"name": "changed", "description": "d", "legal_basis": "consent"}), 503, "unavailable")
	assertProblem(t, e.do(t, privacy.RoleAdmin, http.MethodPost, "/v1/clients", map[string]string{"name": "x", "role": "app"}), 503, "unavailable")
	assertProblem(t, e.do(t, "", http.MethodGet, "/readyz", nil), 503, "unavailable")

	// Nothing else changed.
	assert.Empty(t, e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/devices", nil).JSON(t)["items"])
	purposes := e.do(t, privacy.RoleAdmin, http.MethodGet, "/v1/purposes", nil).JSON(t)["items"].([]any)
	assert.Equal(t, "navigation", purposes[0].(map[string]any)["name"])
	after := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries", nil).JSON(t)["items"].([]any)
	assert.Equal(t, before, after)

	_, err = sqlDB.Exec(`DROP TRIGGER audit_unwritable`)
	require.NoError(t, err)
	mustCreateDevice(t, e, newDevice("unblocked"))
	assert.Equal(t, http.StatusOK, e.do(t, "", http.MethodGet, "/readyz", nil).Code)
}

// TestACorruptedEntryIsServedAsStored: an entry whose stored leaf an
// operator rewrote into bytes that are not JSON is served with its leaf as
// stored and entry null, in a page like any other, so that a verifier
// names that entry (not the first of the page).
func TestACorruptedEntryIsServedAsStored(t *testing.T) {
	e := MustOpenEnv(t)
	raw, err := e.db.SQL()
	require.NoError(t, err)
	_, err = raw.Exec(`DROP TRIGGER audit_entries_no_update`)
	require.NoError(t, err)
	_, err = raw.Exec(`UPDATE audit_entries SET leaf = CAST('{"seq":2,' AS BLOB) WHERE seq = 2`)
	require.NoError(t, err)

	r := e.do(t, privacy.RoleAuditor, http.MethodGet, "/v1/audit/entries?from=0&limit=10", nil)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	items := r.JSON(t)["items"].([]any)
	require.Greater(t, len(items), 3)
	bad := items[2].(map[string]any)
	assert.EqualValues(t, 2, bad["seq"])
	assert.Nil(t, bad["entry"])
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte(`{"seq":2,`)), bad["leaf"])
	assert.NotNil(t, items[3].(map[string]any)["entry"], "the entries after it are served as usual")
}
