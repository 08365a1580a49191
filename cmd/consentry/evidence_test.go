package main

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEvidenceExportAndVerify runs the auditor's loop from the command
// line: export, verify with the pinned key, keep the checkpoint; export
// again with it, verify consistency; and a changed bundle fails, named.
func TestEvidenceExportAndVerify(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cli := cliOn(dataDir)
	_, err := cli("purposes", "load", filepath.Join("..", "..", "notices", "purposes.yaml"))
	require.NoError(t, err)

	first, key, saved := filepath.Join(dir, "first.zip"), filepath.Join(dataDir, "audit-verifier.key"), filepath.Join(dir, "last.checkpoint")
	out, err := cli("evidence", "export", "--out", first)
	require.NoError(t, err, out)
	assert.Contains(t, out, "wrote "+first)
	out, err = cli("evidence", "verify", first, "--key", key, "--save-checkpoint", saved)
	require.NoError(t, err, out)
	assert.Contains(t, out, "ok: manifest signed by")
	assert.Contains(t, out, "ok: 0 allow decisions")
	assert.NotContains(t, out, "warning")
	_, err = os.Stat(saved)
	require.NoError(t, err)

	_, err = cli("purposes", "load", filepath.Join("..", "..", "notices", "purposes.yaml"))
	require.NoError(t, err)
	second := filepath.Join(dir, "second.zip")
	out, err = cli("evidence", "export", "--out", second, "--previous-checkpoint", saved, "--from", "2020-01-01T00:00:00Z")
	require.NoError(t, err, out)
	out, err = cli("evidence", "verify", second, "--key", key, "--previous-checkpoint", saved)
	require.NoError(t, err, out)
	assert.Contains(t, out, "ok: consistent with the previous checkpoint")

	// Unpinned: it verifies, and says what that does not prove.
	out, err = cli("evidence", "verify", second)
	require.NoError(t, err, out)
	assert.Contains(t, out, "warning: no --key given")

	// One byte changed in the policies file.
	bad := filepath.Join(dir, "bad.zip")
	copyZip(t, second, bad, "policies.json")
	out, err = cli("evidence", "verify", bad, "--key", key)
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), "does NOT verify: first broken item: policies.json")

	_, err = cli("evidence", "export", "--out", filepath.Join(dir, "x.zip"), "--from", "yesterday")
	assert.ErrorContains(t, err, "--from: not an RFC 3339 time")
	_, err = cli("evidence", "verify", filepath.Join(dir, "missing.zip"))
	assert.ErrorContains(t, err, "not a readable zip archive")
}

// cliOn runs consentry commands on a data directory, as a shell would,
// returning what they print.
func cliOn(dataDir string) func(args ...string) (string, error) {
	env := getenv(map[string]string{"CONSENTRY_DATA_DIR": dataDir})
	return func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, env, &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
}

// copyZip copies a zip, flipping one bit in the member named change.
func copyZip(t *testing.T, src, dst, change string) {
	t.Helper()
	zr, err := zip.OpenReader(src)
	require.NoError(t, err)
	defer zr.Close()
	f, err := os.Create(dst)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	for _, m := range zr.File {
		if m.Name != change {
			require.NoError(t, zw.Copy(m))
			continue
		}
		r, err := m.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		b[len(b)/2] ^= 1
		w, err := zw.Create(m.Name)
		require.NoError(t, err)
		_, err = w.Write(b)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
}
