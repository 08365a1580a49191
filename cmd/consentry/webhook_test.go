package main

import (
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/webhook/webhooktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWebhooksSurviveRestart: the server is killed with SIGKILL while it
// is delivering (the receiver refuses the first two tries of every event)
// and started again; the receiver still gets every event of the script
// exactly once after de-duplication, each subject's in order.
func TestWebhooksSurviveRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING: builds the binary and kills it")
	}
	// Fast retries and a short try timeout, so that the killed process's
	// lease (2×timeout + 2s) runs out quickly.
	t.Setenv("CONSENTRY_WEBHOOK_BACKOFF", "150ms")
	t.Setenv("CONSENTRY_WEBHOOK_TIMEOUT", "1s")
	bin, dataDir, cli := deployment(t)
	admin, app := cli("clients", "create", "--name", "ops", "--role", "admin"), cli("clients", "create", "--name", "app", "--role", "app")

	const secret = "whsec_cmVzdGFydC10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm"
	rx := webhooktest.New(t, secret, 2)
	cmd, base := startBinary(t, bin, dataDir)
	status, w := call(t, admin, http.MethodPost, base+"/v1/webhooks", map[string]any{"url": rx.URL, "secret": secret,
		"events": []string{"consent.granted", "consent.withdrawn"}})
	require.Equal(t, http.StatusCreated, status, w)
	status, notice := call(t, app, http.MethodGet, base+"/v1/notices/acme-cam/versions/current", nil)
	require.Equal(t, http.StatusOK, status)

	// The script: 20 subjects, each with a device, a grant and a withdrawal.
	const subjects = 20
	for i := range subjects {
		subject := fmt.Sprintf("subject-%02d", i)
		status, dev := call(t, admin, http.MethodPost, base+"/v1/devices", map[string]string{"manufacturer": "Acme", "model": "Cam",
			"serial": "HOOK-" + subject, "firmware_version": "1", "notice_key": "acme-cam", "owner_subject": subject})
		require.Equal(t, http.StatusCreated, status, dev)
		status, rec := call(t, app, http.MethodPost, base+"/v1/consents", map[string]any{"subject": subject, "device_id": dev["id"],
			"notice_key": "acme-cam", "notice_version": notice["version"], "notice_hash": notice["content_hash"], "locale": "en", "method": "app",
			"choices": []map[string]any{{"purpose": "security-monitoring", "granted": true}}})
		require.Equal(t, http.StatusCreated, status, rec)
		status, wd := call(t, app, http.MethodPost, base+"/v1/consents/"+rec["id"].(string)+"/withdraw", map[string]any{})
		require.Equal(t, http.StatusCreated, status, wd)
	}

	// Kill it as soon as the first event got through: the rest are
	// mid-delivery (tries made and refused, or not made yet).
	deadline := time.Now().Add(20 * time.Second)
	for len(rx.Events()) == 0 {
		require.True(t, time.Now().Before(deadline), "no delivery before the kill")
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	atKill := len(rx.Events())
	require.Less(t, atKill, 2*subjects, "the kill came mid-delivery")

	cmd, _ = startBinary(t, bin, dataDir)
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	rx.WaitFor(t, 2*subjects, 60*time.Second)
	time.Sleep(300 * time.Millisecond) // anything extra would arrive now
	events := rx.Events()
	require.Len(t, events, 2*subjects, "every event once after de-duplication, none extra")
	perSubject := map[string][]privacy.WebhookKind{}
	for _, ev := range events {
		perSubject[ev.Subject] = append(perSubject[ev.Subject], ev.Kind)
	}
	for i := range subjects {
		assert.Equal(t, []privacy.WebhookKind{privacy.KindConsentGranted, privacy.KindConsentWithdrawn}, perSubject[fmt.Sprintf("subject-%02d", i)])
	}
	requests, dupes, bad := rx.Stats()
	assert.Empty(t, bad, "every delivery was signed")
	t.Logf("%d events, %d accepted before the kill, %d requests, %d duplicates after acceptance", len(events), atKill, requests, dupes)
}
