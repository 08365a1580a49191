package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCrashConsents is the crash test of the consent path: 64 concurrent
// writers record consents while the server is killed with SIGKILL at a
// random moment, round after round. After each kill: SQLite's integrity
// check passes, every consent the server acknowledged is stored, and after
// the restart the audit log verifies against the checkpoint saved the
// round before. CONSENTRY_CRASH_ROUNDS sets the rounds (3 in `make test`;
// `make crashtest` runs 20).
func TestCrashConsents(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING: builds the binary and kills it")
	}
	rounds := 3
	if v := os.Getenv("CONSENTRY_CRASH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "CONSENTRY_CRASH_ROUNDS")
		rounds = n
	}
	dir := t.TempDir()
	bin, dataDir, cli := deployment(t)
	admin, app, auditor := cli("clients", "create", "--name", "ops", "--role", "admin"), cli("clients", "create", "--name", "app", "--role", "app"),
		cli("clients", "create", "--name", "audit", "--role", "auditor")

	cmd, base := startBinary(t, bin, dataDir)
	status, dev := call(t, admin, http.MethodPost, base+"/v1/devices", map[string]string{"manufacturer": "Acme", "model": "Cam", "serial": "CRASH-1",
		"firmware_version": "1", "notice_key": "acme-cam"})
	require.Equal(t, http.StatusCreated, status, dev)
	status, notice := call(t, app, http.MethodGet, base+"/v1/notices/acme-cam/versions/current", nil)
	require.Equal(t, http.StatusOK, status)
	consentBody := func(subject string) string {
		return fmt.Sprintf(`{"subject":%q,"device_id":%q,"notice_key":"acme-cam","notice_version":%v,"notice_hash":%q,"locale":"en","method":"app",`+
			`"choices":[{"purpose":"security-monitoring","granted":true},{"purpose":"device-maintenance","granted":false}]}`,
			subject, dev["id"], notice["version"], notice["content_hash"])
	}
	keyFile, saved := filepath.Join(dataDir, "audit-verifier.key"), filepath.Join(dir, "saved.checkpoint")
	acked := map[string]bool{}
	var mu sync.Mutex
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for round := range rounds {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest(http.MethodPost, base+"/v1/consents", strings.NewReader(consentBody(fmt.Sprintf("r%d-w%d-%d", round, w, i))))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+app)
					resp, err := client.Do(req)
					if err != nil {
						return // the server is gone
					}
					var body bytes.Buffer
					_, _ = body.ReadFrom(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated {
						id := strings.SplitN(strings.SplitN(body.String(), `"id":"`, 2)[1], `"`, 2)[0]
						mu.Lock()
						acked[id] = true
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(200+rand.IntN(800)) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		close(stop)
		wg.Wait()

		// The database as the kill left it (opening it replays the WAL, as
		// the server would), checked before the server runs again.
		db, err := sql.Open("sqlite3", filepath.Join(dataDir, "consentry.db"))
		require.NoError(t, err)
		var check string
		require.NoError(t, db.QueryRow(`PRAGMA integrity_check`).Scan(&check))
		require.Equal(t, "ok", check, "round %d", round)
		rows, err := db.Query(`SELECT id FROM consent_records`)
		require.NoError(t, err)
		stored := map[string]bool{}
		for rows.Next() {
			var id string
			require.NoError(t, rows.Scan(&id))
			stored[id] = true
		}
		require.NoError(t, rows.Err())
		require.NoError(t, db.Close())
		lost := 0
		for id := range acked {
			if !stored[id] {
				lost++
			}
		}
		require.NotEmpty(t, acked, "round %d acknowledged no consent", round)
		require.Zero(t, lost, "round %d: %d acknowledged consents lost", round, lost)

		cmd, base = startBinary(t, bin, dataDir)
		args := []string{"audit", "verify", "--server", base, "--key", keyFile, "--save", saved}
		if round > 0 {
			args = append(args, "--older", saved)
		}
		var stdout, stderr bytes.Buffer
		require.NoError(t, run(context.Background(), args, getenv(map[string]string{"CONSENTRY_TOKEN": auditor}), &stdout, &stderr),
			"round %d: %s", round, stderr.String())
		t.Logf("round %d: %d consents acknowledged so far, all stored; %s", round, len(acked), strings.SplitN(stdout.String(), "\n", 2)[0])
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "graceful stop after the crashes")
	// Every record the crashes left is the one its entries committed to.
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"audit", "verify", "--database", "--data-dir", dataDir}, getenv(map[string]string{}),
		&stdout, &stderr), stderr.String())
	t.Logf("after the crashes: %s", strings.Join(strings.Split(strings.TrimSpace(stdout.String()), "\n")[5:7], "; "))
}
