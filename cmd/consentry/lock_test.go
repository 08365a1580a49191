package main

import (
	"bytes"
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestALockedDatabaseFailsFast: while another process holds SQLite's write
// lock (an operator's open transaction), writes and decisions answer 503
// with Retry-After once the lock timeout passes, store nothing, and
// /readyz says why; when the lock goes, the service is ready again by
// itself.
func TestALockedDatabaseFailsFast(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"CONSENTRY_DATA_DIR": dataDir, "CONSENTRY_LOCK_TIMEOUT": "300ms"}
	srv := MustRunMain(t, env)
	base := "http://" + srv.addr
	admin := mustAdminToken(t, dataDir)
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"clients", "create", "--name", "svc", "--role", "service"}, getenv(env), &stdout, &stderr))
	service := strings.TrimSpace(stdout.String())

	db, err := sql.Open("sqlite3", filepath.Join(dataDir, "consentry.db"))
	require.NoError(t, err)
	defer db.Close()
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	require.NoError(t, err)

	send := func(token, method, path string, body any) (*http.Response, map[string]any) {
		return callResponse(t, token, method, base+path, body)
	}
	purpose := map[string]string{"name": "Navigation", "description": "Route guidance", "legal_basis": "contract"}
	resp, p := send(admin, http.MethodPut, "/v1/purposes/navigation", purpose)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, p)
	assert.Equal(t, "unavailable", p["code"])
	assert.Contains(t, p["detail"], "locked")
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	resp, p = send(service, http.MethodPost, "/v1/decisions", map[string]string{"subject": "alice", "device_id": "01a24ea4-c24e-75a9-ac6d-812be5b9f8a3",
		"element": "location", "purpose": "navigation", "action": "use"})
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, p)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	resp, p = send(admin, http.MethodGet, "/readyz", nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, p)
	assert.Contains(t, p["detail"], "locked")

	_, err = conn.ExecContext(context.Background(), "ROLLBACK")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		resp, _ := send(admin, http.MethodGet, "/readyz", nil)
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "ready again once the lock is gone, with no write needed")
	resp, p = send(admin, http.MethodGet, "/v1/purposes", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, p, "items")
	assert.Empty(t, p["items"], "the refused write stored nothing")
	resp, p = send(admin, http.MethodPut, "/v1/purposes/navigation", purpose)
	assert.Equal(t, http.StatusCreated, resp.StatusCode, p)
}
