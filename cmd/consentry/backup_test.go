package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBackupAndCheck: a backup is written while data exists, checks
// clean (integrity and audit log), is never overwritten, and a backup
// whose audit log was altered fails the check.
func TestBackupAndCheck(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cli := cliOn(dataDir)
	_, err := cli("purposes", "load", filepath.Join("..", "..", "notices", "purposes.yaml"))
	require.NoError(t, err)
	// A checkpoint to verify against: the evidence export signs one.
	_, err = cli("evidence", "export", "--out", filepath.Join(dir, "e.zip"))
	require.NoError(t, err)

	backup := filepath.Join(dir, "backup.db")
	out, err := cli("backup", "--out", backup)
	require.NoError(t, err, out)
	assert.Contains(t, out, "wrote "+backup)
	assert.Contains(t, out, "passes the integrity check; its audit log of")
	before, err := os.ReadFile(backup)
	require.NoError(t, err)
	out, err = cli("backup", "check", backup, "--key", filepath.Join(dataDir, "audit-verifier.key"))
	require.NoError(t, err, out)
	after, err := os.ReadFile(backup)
	require.NoError(t, err)
	assert.Equal(t, before, after, "checking a backup does not change it")
	_, err = cli("backup", "--out", backup)
	assert.ErrorContains(t, err, "exists")

	// Alter one entry in the copy, as someone holding the file could.
	raw, err := sql.Open("sqlite3", backup)
	require.NoError(t, err)
	_, err = raw.Exec(`DROP TRIGGER audit_entries_no_update`)
	require.NoError(t, err)
	storetest.EditLeaf(t, raw, 1, `"purpose.put"`, `"purpose.xxx"`)
	require.NoError(t, raw.Close())
	out, err = cli("backup", "check", backup, "--key", filepath.Join(dataDir, "audit-verifier.key"))
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), "does NOT verify")
}
