package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClientsCommands: clients list, rotate and revoke work from the
// command line on the database a server uses, the server refuses a
// revoked token within a second, and the bootstrap admin token can be
// revoked like any other.
func TestClientsCommands(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"CONSENTRY_DATA_DIR": dataDir}
	srv := MustRunMain(t, env)
	base := "http://" + srv.addr
	bootstrap := mustAdminToken(t, dataDir)
	cli := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"clients"}, args...), getenv(env), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	out, _, err := cli("create", "--name", "ops", "--role", "admin", "--expires-in", "720h")
	require.NoError(t, err)
	ops := strings.TrimSpace(out)
	out, _, err = cli("list")
	require.NoError(t, err)
	assert.Contains(t, out, "bootstrap-admin")
	assert.Regexp(t, `ops\s+admin\s+active`, out)
	assert.NotContains(t, out, ops, "tokens are never listed")
	_, _, err = cli("create", "--name", "x", "--role", "app", "--expires-in", "1h", "--expires-at", "2030-01-01T00:00:00Z")
	assert.Error(t, err)

	// The bootstrap admin is revoked with the ops admin's API token.
	status, list := call(t, ops, http.MethodGet, base+"/v1/clients", nil)
	require.Equal(t, http.StatusOK, status)
	var bootstrapID string
	for _, it := range list["items"].([]any) {
		if it.(map[string]any)["name"] == "bootstrap-admin" {
			bootstrapID = it.(map[string]any)["id"].(string)
		}
	}
	require.NotEmpty(t, bootstrapID)
	status, _ = call(t, ops, http.MethodPost, base+"/v1/clients/"+bootstrapID+"/revoke", nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = call(t, bootstrap, http.MethodGet, base+"/v1/purposes", nil)
	assert.Equal(t, http.StatusUnauthorized, status)

	// Rotation and revocation from the command line reach the server.
	opsID := ""
	status, list = call(t, ops, http.MethodGet, base+"/v1/clients", nil)
	require.Equal(t, http.StatusOK, status)
	for _, it := range list["items"].([]any) {
		if it.(map[string]any)["name"] == "ops" {
			opsID = it.(map[string]any)["id"].(string)
		}
	}
	out, errOut, err := cli("rotate", opsID, "--grace", "1h")
	require.NoError(t, err)
	rotated := strings.TrimSpace(out)
	assert.Contains(t, errOut, "the previous one works until")
	for _, tok := range []string{ops, rotated} {
		status, _ = call(t, tok, http.MethodGet, base+"/v1/purposes", nil)
		assert.Equal(t, http.StatusOK, status)
	}
	out, _, err = cli("revoke", opsID)
	require.NoError(t, err)
	assert.Contains(t, out, "revoked client "+opsID)
	assert.Eventually(t, func() bool {
		s1, _ := call(t, ops, http.MethodGet, base+"/v1/purposes", nil)
		s2, _ := call(t, rotated, http.MethodGet, base+"/v1/purposes", nil)
		return s1 == http.StatusUnauthorized && s2 == http.StatusUnauthorized
	}, time.Second, 20*time.Millisecond, "the server refuses the revoked tokens within a second")
	_, _, err = cli("revoke", opsID)
	assert.ErrorContains(t, err, "revoked")
}

// TestRevocationAcrossInstances: two servers on one PostgreSQL database; a
// client revoked through one is refused by the other within a second.
func TestRevocationAcrossInstances(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	name := "consentry_e2e_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	admin := execSQL(t, dsn, "CREATE DATABASE "+name)
	t.Cleanup(func() { admin("DROP DATABASE " + name + " WITH (FORCE)") })
	db := withDatabase(t, dsn, name)
	dataDir := t.TempDir()
	a := MustRunMain(t, map[string]string{"CONSENTRY_DATA_DIR": dataDir, "CONSENTRY_DB": db})
	b := MustRunMain(t, map[string]string{"CONSENTRY_DATA_DIR": dataDir, "CONSENTRY_DB": db})
	root := mustAdminToken(t, dataDir)

	status, c := call(t, root, http.MethodPost, "http://"+a.addr+"/v1/clients", map[string]string{"name": "leaky", "role": "service"})
	require.Equal(t, http.StatusCreated, status, c)
	token := c["token"].(string)
	status, _ = call(t, token, http.MethodGet, "http://"+b.addr+"/v1/purposes", nil)
	require.Equal(t, http.StatusOK, status, "b knows the token now")
	status, _ = call(t, root, http.MethodPost, "http://"+a.addr+"/v1/clients/"+c["id"].(string)+"/revoke", nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = call(t, token, http.MethodGet, "http://"+a.addr+"/v1/purposes", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "refused at once where it was revoked")
	revoked := time.Now()
	assert.Eventually(t, func() bool {
		status, _ := call(t, token, http.MethodGet, "http://"+b.addr+"/v1/purposes", nil)
		return status == http.StatusUnauthorized
	}, time.Second, 10*time.Millisecond, "refused by the other instance within a second")
	t.Logf("instance b refused the revoked token %s after the revocation", time.Since(revoked).Round(time.Millisecond))
}
