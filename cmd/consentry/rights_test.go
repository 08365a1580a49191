package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rightsDeployment is a data directory with the example notice, an admin
// and an app client, and a server running on it (in-process).
type rightsDeployment struct {
	dataDir, admin, app, base string
	env                       map[string]string
	srv                       *running
	cli                       func(args ...string) (string, error)
}

func newRightsDeployment(t *testing.T, dataDir string, prepared bool) *rightsDeployment {
	t.Helper()
	d := &rightsDeployment{dataDir: dataDir, env: map[string]string{"CONSENTRY_DATA_DIR": dataDir}}
	d.cli = func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, getenv(d.env), &stdout, &stderr)
		if err != nil {
			err = &cliError{err: err, stderr: stderr.String()}
		}
		return strings.TrimSpace(stdout.String()), err
	}
	must := func(args ...string) string {
		out, err := d.cli(args...)
		require.NoError(t, err)
		return out
	}
	if !prepared {
		must("purposes", "load", filepath.Join("..", "..", "notices", "purposes.yaml"))
		must("notices", "publish", filepath.Join("..", "..", "notices", "acme-cam"))
		d.admin, d.app = must("clients", "create", "--name", "ops", "--role", "admin"), must("clients", "create", "--name", "app", "--role", "app")
	}
	return d
}

type cliError struct {
	err    error
	stderr string
}

func (e *cliError) Error() string { return e.err.Error() + ": " + e.stderr }

func (d *rightsDeployment) start(t *testing.T) {
	t.Helper()
	d.srv = MustRunMain(t, d.env)
	d.base = "http://" + d.srv.addr
}

// consent records subject's grant on a new device of theirs.
func consentFor(t *testing.T, base, admin, app, subject, serial string) (device, record string) {
	t.Helper()
	status, dev := call(t, admin, http.MethodPost, base+"/v1/devices", map[string]string{"manufacturer": "Acme", "model": "Cam", "serial": serial,
		"firmware_version": "1", "notice_key": "acme-cam", "owner_subject": subject})
	require.Equal(t, http.StatusCreated, status, dev)
	status, notice := call(t, app, http.MethodGet, base+"/v1/notices/acme-cam/versions/current", nil)
	require.Equal(t, http.StatusOK, status)
	status, rec := call(t, app, http.MethodPost, base+"/v1/consents", map[string]any{"subject": subject, "device_id": dev["id"],
		"notice_key": "acme-cam", "notice_version": notice["version"], "notice_hash": notice["content_hash"], "locale": "en", "method": "app",
		"choices": []map[string]any{{"purpose": "security-monitoring", "granted": true}}})
	require.Equal(t, http.StatusCreated, status, rec)
	return dev["id"].(string), rec["id"].(string)
}

// files reads the database and its WAL.
func dbFiles(t *testing.T, dataDir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{"consentry.db", "consentry.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(dataDir, f)); err == nil {
			out[f] = b
		}
	}
	require.Contains(t, out, "consentry.db")
	return out
}

func assertNowhere(t *testing.T, files map[string][]byte, needles ...string) {
	t.Helper()
	for name, b := range files {
		for _, n := range needles {
			assert.False(t, bytes.Contains(b, []byte(n)), "%s holds %q", name, n)
		}
	}
}

// keyedNeedles is subject, and its HMAC-SHA256 (hex) under every file of
// the data directory taken as a key: every pseudonym a surviving key
// could make of it.
func keyedNeedles(t *testing.T, dataDir, subject string) []string {
	t.Helper()
	out := []string{subject}
	entries, err := os.ReadDir(dataDir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dataDir, e.Name()))
		if err != nil || e.IsDir() || strings.HasPrefix(e.Name(), "consentry.db") {
			continue
		}
		for _, key := range [][]byte{b, bytes.TrimSpace(b)} {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(subject))
			out = append(out, hex.EncodeToString(m.Sum(nil)))
		}
	}
	require.Greater(t, len(out), 6, "the keys are in the data directory")
	return out
}

// TestErasureSurvivesARestore: a backup taken before an erasure, restored,
// does not bring the subject back: the erasure ledger (beside the keys,
// not in the database) makes the next start erase it again, before the
// service answers.
func TestErasureSurvivesARestore(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING: serves twice and restores a backup")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	d := newRightsDeployment(t, dataDir, false)
	d.start(t)
	_, record := consentFor(t, d.base, d.admin, d.app, "carol-restore", "RESTORE-1")
	consentFor(t, d.base, d.admin, d.app, "dan-stays", "RESTORE-2")
	// dan asks for a copy, and checks it offline.
	status, access := call(t, d.app, http.MethodPost, d.base+"/v1/subjects/dan-stays/requests", map[string]any{"type": "access"})
	require.Equal(t, http.StatusCreated, status, access)
	req, err := http.NewRequest(http.MethodGet, d.base+access["request"].(map[string]any)["export_url"].(string), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+d.app)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	export, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(export))
	exportFile := filepath.Join(t.TempDir(), "dan.json")
	require.NoError(t, os.WriteFile(exportFile, export, 0o600))
	verified, err := d.cli("evidence", "verify", exportFile, "--key", filepath.Join(dataDir, "audit-verifier.key"))
	require.NoError(t, err)
	assert.Contains(t, verified, "ok: access export for dan-stays")
	assert.Contains(t, verified, "ok: 1 consent records and their receipts")
	bad := bytes.Replace(export, []byte(`"granted":true`), []byte(`"granted":false`), -1)
	require.NoError(t, os.WriteFile(exportFile, bad, 0o600))
	_, err = d.cli("evidence", "verify", exportFile, "--key", filepath.Join(dataDir, "audit-verifier.key"))
	require.ErrorContains(t, err, "access export does NOT verify")

	before := filepath.Join(t.TempDir(), "before.db")
	_, err = d.cli("backup", "--out", before)
	require.NoError(t, err)

	status, out := call(t, d.app, http.MethodPost, d.base+"/v1/subjects/carol-restore/requests", map[string]any{"type": "erasure"})
	require.Equal(t, http.StatusCreated, status, out)
	assert.Equal(t, "completed", out["request"].(map[string]any)["state"], "no backend to wait for")
	// A backup and an evidence bundle made after the erasure, with the
	// database and its WAL, hold neither carol's id nor any value a key of
	// the data directory makes of it.
	after := filepath.Join(t.TempDir(), "after.db")
	_, err = d.cli("backup", "--out", after)
	require.NoError(t, err)
	bundle := filepath.Join(t.TempDir(), "after.zip")
	_, err = d.cli("evidence", "export", "--out", bundle)
	require.NoError(t, err)
	require.NoError(t, d.srv.stop())
	files := dbFiles(t, dataDir)
	if files["backup"], err = os.ReadFile(after); err != nil {
		t.Fatal(err)
	}
	z, err := zip.OpenReader(bundle)
	require.NoError(t, err)
	for _, f := range z.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(rc)
		require.NoError(t, err)
		rc.Close()
		files["bundle:"+f.Name] = b
	}
	z.Close()
	assertNowhere(t, files, keyedNeedles(t, dataDir, "carol-restore")...)

	// The operator restores the database file from the backup.
	b, err := os.ReadFile(before)
	require.NoError(t, err)
	require.True(t, bytes.Contains(b, []byte("carol-restore")), "the backup predates the erasure")
	for _, f := range []string{"consentry.db-wal", "consentry.db-shm"} {
		_ = os.Remove(filepath.Join(dataDir, f))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "consentry.db"), b, 0o600))

	d.start(t)
	assert.Contains(t, d.srv.stderr.String(), "erased again")
	require.FileExists(t, filepath.Join(dataDir, "erasures.ledger"))
	status, got := call(t, d.admin, http.MethodGet, d.base+"/v1/consents/"+record, nil)
	require.Equal(t, http.StatusOK, status, got)
	assert.True(t, strings.HasPrefix(got["subject"].(string), "erased:"), got["subject"])
	status, _ = call(t, d.admin, http.MethodPost, d.base+"/v1/audit/hash", map[string]any{"value": "carol-restore"})
	assert.Equal(t, http.StatusNotFound, status)
	require.NoError(t, d.srv.stop())
	files = dbFiles(t, dataDir)
	assertNowhere(t, files, keyedNeedles(t, dataDir, "carol-restore")...)
	assert.True(t, bytes.Contains(files["consentry.db"], []byte("dan-stays")), "only the erased subject goes")
	out2, err := d.cli("audit", "verify", "--database")
	require.NoError(t, err, out2)
}

// legacyRevision is the last build whose pseudonyms were HMACs under a
// key in the data directory.
const legacyRevision = "64efefa256811f28442fb92d4e2b1c3d974bef59"

// buildLegacy builds consentry as of legacyRevision, from this repository's
// history.
// buildLegacy builds legacyRevision and returns the binary and the
// source tree it came from (whose notices/ it can read: the files of
// later versions may carry keys it does not know).
func buildLegacy(t *testing.T) (bin, src string) {
	t.Helper()
	src = t.TempDir()
	archive := exec.Command("git", "archive", "--format=tar", legacyRevision)
	archive.Dir = filepath.Join("..", "..")
	tar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	require.NoError(t, err)
	tar.Stdin = pipe
	var stderr bytes.Buffer
	archive.Stderr = &stderr
	require.NoError(t, tar.Start())
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v: %s (the test needs the repository's history)", legacyRevision, err, stderr.String())
	}
	require.NoError(t, tar.Wait())
	bin = filepath.Join(t.TempDir(), "consentry-legacy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/consentry")
	build.Dir = src
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin, src
}

// TestLegacySubjectsAreErasable: data written before random pseudonyms
// (entries naming subjects by HMAC under audit-hmac.key) is brought under
// the scheme at the first start of this build: each subject keeps its
// pseudonym, the key is destroyed, records still check against their
// entries, and such a subject can be erased.
func TestLegacySubjectsAreErasable(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING: builds the previous release and migrates its data")
	}
	legacy, legacySrc := buildLegacy(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	runLegacy := func(args ...string) string {
		out, err := exec.Command(legacy, append(args, "--data-dir", dataDir)...).Output()
		require.NoError(t, err, string(out))
		return strings.TrimSpace(string(out))
	}
	runLegacy("purposes", "load", filepath.Join(legacySrc, "notices", "purposes.yaml"))
	runLegacy("notices", "publish", filepath.Join(legacySrc, "notices", "acme-cam"))
	admin, app := runLegacy("clients", "create", "--name", "ops", "--role", "admin"), runLegacy("clients", "create", "--name", "app", "--role", "app")
	cmd, base := testkit.StartServer(t, legacy, dataDir)
	_, erinRecord := consentFor(t, base, admin, app, "erin-legacy", "LEGACY-1")
	_, frankRecord := consentFor(t, base, admin, app, "frank-legacy", "LEGACY-2")
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	_ = cmd.Wait()
	key, err := os.ReadFile(filepath.Join(dataDir, "audit-hmac.key"))
	require.NoError(t, err, "the legacy build keys pseudonyms with audit-hmac.key")
	keyBytes, err := hex.DecodeString(strings.TrimSpace(string(key)))
	require.NoError(t, err)
	m := hmac.New(sha256.New, keyBytes)
	m.Write([]byte("erin-legacy"))
	erinHMAC := hex.EncodeToString(m.Sum(nil))

	d := newRightsDeployment(t, dataDir, true)
	d.admin, d.app = admin, app
	d.start(t)
	assert.Contains(t, d.srv.stderr.String(), "subjects from before random pseudonyms adopted")
	assert.NoFileExists(t, filepath.Join(dataDir, "audit-hmac.key"), "the key that made the old pseudonyms is destroyed")
	for _, rec := range []string{erinRecord, frankRecord} {
		status, got := call(t, admin, http.MethodGet, d.base+"/v1/consents/"+rec, nil)
		require.Equal(t, http.StatusOK, status, "a record from before still checks against its entry: %v", got)
	}
	status, hash := call(t, admin, http.MethodPost, d.base+"/v1/audit/hash", map[string]any{"value": "erin-legacy"})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, erinHMAC, hash["pseudonym"], "erin keeps the pseudonym her entries name")

	status, out := call(t, app, http.MethodPost, d.base+"/v1/subjects/erin-legacy/requests", map[string]any{"type": "erasure"})
	require.Equal(t, http.StatusCreated, status, out)
	assert.Equal(t, erinHMAC, out["request"].(map[string]any)["pseudonym"])
	status, got := call(t, admin, http.MethodGet, d.base+"/v1/consents/"+erinRecord, nil)
	require.Equal(t, http.StatusOK, status, got)
	assert.Equal(t, "erased:"+erinHMAC, got["subject"])
	require.NoError(t, d.srv.stop())

	// Nothing in the data directory holds erin's id, nor the key that
	// could recompute her pseudonym.
	all := dbFiles(t, dataDir)
	entries, err := os.ReadDir(dataDir)
	require.NoError(t, err)
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join(dataDir, e.Name())); err == nil && !e.IsDir() {
			all[e.Name()] = b
		}
	}
	assertNowhere(t, all, "erin-legacy", strings.TrimSpace(string(key)))
	assert.True(t, bytes.Contains(all["consentry.db"], []byte("frank-legacy")))

	out2, err := d.cli("audit", "verify", "--database")
	require.NoError(t, err, out2)
	bundle := filepath.Join(t.TempDir(), "after.zip")
	_, err = d.cli("evidence", "export", "--out", bundle)
	require.NoError(t, err)
	verified, err := d.cli("evidence", "verify", bundle, "--key", filepath.Join(dataDir, "audit-verifier.key"))
	require.NoError(t, err, verified)
}
