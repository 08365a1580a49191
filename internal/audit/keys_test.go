package audit_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	k, err := audit.LoadOrCreateKeys(dir, "consentry.example/audit")
	require.NoError(t, err)
	assert.Equal(t, "consentry.example/audit", k.Origin())
	assert.NoFileExists(t, filepath.Join(dir, "audit-hmac.key"), "subjects get random pseudonyms: no key could recompute one")
	for name, mode := range map[string]os.FileMode{"audit-signer.key": 0o600, "audit-verifier.key": 0o644} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, mode, st.Mode().Perm(), name)
	}
	again, err := audit.LoadOrCreateKeys(dir, "ignored/when-keys-exist")
	require.NoError(t, err)
	assert.Equal(t, k.VerifierKey, again.VerifierKey)

	// A verifier key that does not match the signer is refused.
	other := t.TempDir()
	_, err = audit.LoadOrCreateKeys(other, "other/log")
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(other, "audit-verifier.key"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit-verifier.key"), b, 0o644))
	_, err = audit.LoadOrCreateKeys(dir, "x")
	assert.Error(t, err)

	_, err = audit.LoadOrCreateKeys(t.TempDir(), "bad name with spaces")
	assert.Error(t, err)
}
