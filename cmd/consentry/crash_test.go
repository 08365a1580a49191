package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startBinary runs the built consentry binary as a separate process and
// waits for /readyz.
func startBinary(t *testing.T, bin, dataDir string) (*exec.Cmd, string) {
	t.Helper()
	return testkit.StartServer(t, bin, dataDir)
}

// TestKillNineLosesNoAcknowledgedEntry kills the server with SIGKILL in
// the middle of concurrent writes, three times, and checks after each
// restart that every acknowledged change is there with its audit entry and
// that the whole log verifies against a fresh signed checkpoint and the
// one saved before the crash.
func TestKillNineLosesNoAcknowledgedEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING: builds the binary and kills it")
	}
	dir := t.TempDir()
	bin := testkit.BuildConsentry(t, ".")
	dataDir := filepath.Join(dir, "data")
	env := map[string]string{"CONSENTRY_DATA_DIR": dataDir}

	cmd, base := startBinary(t, bin, dataDir)
	admin := mustAdminToken(t, dataDir)
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"clients", "create", "--name", "auditor", "--role", "auditor"}, getenv(env), &stdout, &stderr))
	auditor := strings.TrimSpace(stdout.String())
	keyFile := filepath.Join(dataDir, "audit-verifier.key")
	saved := filepath.Join(dir, "saved.checkpoint")

	acked := map[string]bool{}
	for round := range 3 {
		var (
			mu      sync.Mutex
			wg      sync.WaitGroup
			stop    = make(chan struct{})
			clients = &http.Client{Timeout: 5 * time.Second}
		)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					key := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					req, _ := http.NewRequest(http.MethodPut, base+"/v1/purposes/"+key,
						strings.NewReader(`{"name":"n","description":"d","legal_basis":"consent"}`))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+admin)
					resp, err := clients.Do(req)
					if err != nil {
						return // the server is gone
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated {
						mu.Lock()
						acked[key] = true
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(300+100*round) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		close(stop)
		wg.Wait()

		cmd, base = startBinary(t, bin, dataDir)
		status, body := call(t, admin, http.MethodGet, base+"/v1/purposes", nil)
		require.Equal(t, http.StatusOK, status)
		stored := map[string]bool{}
		for _, it := range body["items"].([]any) {
			stored[it.(map[string]any)["key"].(string)] = true
		}
		audited := map[string]bool{}
		for from := 0; ; {
			status, page := call(t, auditor, http.MethodGet, fmt.Sprintf("%s/v1/audit/entries?action=purpose.put&limit=1000&from=%d", base, from), nil)
			require.Equal(t, http.StatusOK, status)
			for _, it := range page["items"].([]any) {
				audited[it.(map[string]any)["entry"].(map[string]any)["targets"].(map[string]any)["purpose"].(string)] = true
			}
			next, ok := page["next_from"].(float64)
			if !ok {
				break
			}
			from = int(next)
		}
		require.NotEmpty(t, acked, "round %d acknowledged no writes", round)
		for key := range acked {
			assert.True(t, stored[key], "round %d: acknowledged purpose %s lost", round, key)
			assert.True(t, audited[key], "round %d: acknowledged purpose %s has no audit entry", round, key)
		}
		for key := range stored {
			assert.True(t, audited[key], "round %d: purpose %s exists without its audit entry", round, key)
		}

		args := []string{"audit", "verify", "--server", base, "--key", keyFile, "--save", saved}
		if round > 0 {
			args = append(args, "--older", saved)
		}
		stdout.Reset()
		stderr.Reset()
		require.NoError(t, run(context.Background(), args, getenv(map[string]string{"CONSENTRY_TOKEN": auditor}), &stdout, &stderr),
			"round %d: %s", round, stderr.String())
		t.Logf("round %d: %d acknowledged so far; %s", round, len(acked), strings.SplitN(stdout.String(), "\n", 2)[0])
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "graceful stop after the crashes")
}
