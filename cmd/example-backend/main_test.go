package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/consentry/consentry/api/client"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startConsentry builds and starts a real server on a fresh data dir with
// the example notices loaded, and returns its URL and admin, app and
// service tokens.
func startConsentry(t *testing.T) (base, admin, app, service string) {
	t.Helper()
	bin := testkit.BuildConsentry(t, "../consentry")
	data := filepath.Join(t.TempDir(), "data")
	cli := func(args ...string) string {
		out, err := exec.Command(bin, append(args, "--data-dir", data)...).Output()
		require.NoError(t, err, args)
		return strings.TrimSpace(string(out))
	}
	cli("purposes", "load", "../../notices/purposes.yaml")
	cli("notices", "publish", "../../notices/acme-cam")
	admin, app, service = cli("clients", "create", "--name", "ops", "--role", "admin"), cli("clients", "create", "--name", "ios-app", "--role", "app"),
		cli("clients", "create", "--name", "video-analytics", "--role", "service")
	cmd, base := testkit.StartServer(t, bin, data)
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	return base, admin, app, service
}

// TestBackendFlow runs the example against a local server: the set-up is
// made with the generated client; the example's decide says allow while
// consent and policy allow, its listener gets the signed withdrawal, and
// decide then says deny with the reason.
func TestBackendFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPING: builds and starts the server")
	}
	ctx := context.Background()
	base, admin, app, service := startConsentry(t)
	as := func(token string) *client.ClientWithResponses {
		c, err := client.NewClientWithResponses(base, client.WithRequestEditorFn(client.BearerToken(token)))
		require.NoError(t, err)
		return c
	}
	ops, phone := as(admin), as(app)

	owner := "user-7f3a"
	dev, err := ops.CreateDeviceWithResponse(ctx, client.DeviceRequest{Manufacturer: "Acme", Model: "Cam 2", Serial: "EX-1", FirmwareVersion: "1.0",
		NoticeKey: "acme-cam", OwnerSubject: &owner})
	require.NoError(t, err)
	require.NotNil(t, dev.JSON201, string(dev.Body))
	deviceID := dev.JSON201.Id
	none := []string{}
	inv, err := ops.PutInventoryWithResponse(ctx, deviceID, client.InventoryRequest{Elements: []client.ElementBody{{
		Key: "video", Description: "Camera video while armed", Category: "personal.media.image", Sensitivity: client.ElementBodySensitivitySensitive,
		Purposes: []string{"security-monitoring"}, CollectionMethod: client.ElementBodyCollectionMethodSensor, Retention: "P30D",
		Recipients: &none, StorageRegion: "EU"}}})
	require.NoError(t, err)
	require.NotNil(t, inv.JSON201, string(inv.Body))
	pol, err := ops.AddPolicyWithResponse(ctx, client.PolicyChange{Subject: ptr("video-analytics"), Category: ptr("personal.media.*"),
		Purpose: ptr("security-monitoring"), Action: ptr(client.PolicyChangeActionUse), Effect: ptr(client.PolicyChangeEffectAllow)})
	require.NoError(t, err)
	require.NotNil(t, pol.JSON201, string(pol.Body))

	// The app shows the notice in force and records the choice.
	cur, err := phone.CurrentNoticeWithResponse(ctx, "acme-cam", &client.CurrentNoticeParams{Locale: ptr("en")})
	require.NoError(t, err)
	require.NotNil(t, cur.JSON200, string(cur.Body))
	rec, err := phone.RecordConsentWithResponse(ctx, client.ConsentRequest{Subject: owner, DeviceId: deviceID, NoticeKey: "acme-cam",
		NoticeVersion: cur.JSON200.Version, NoticeHash: cur.JSON200.ContentHash, Locale: "en", Method: client.ConsentRequestMethodApp,
		Choices: []client.ChoiceBody{{Purpose: "security-monitoring", Granted: true}}})
	require.NoError(t, err)
	require.NotNil(t, rec.JSON201, string(rec.Body))

	env := map[string]string{"CONSENTRY_URL": base, "CONSENTRY_TOKEN": service}
	getenv := func(k string) string { return env[k] }
	ask := []string{"decide", "--subject", owner, "--device", deviceID.String(), "--element", "video", "--purpose", "security-monitoring"}
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(ctx, ask, getenv, &stdout, &stderr), stdout.String()+stderr.String())
	assert.Contains(t, stdout.String(), "allow (decision")
	assert.Contains(t, stdout.String(), "consent ")

	// The listener, subscribed to withdrawals.
	const secret = "whsec_ZXhhbXBsZS1iYWNrZW5kLXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm"
	listenAddr := testkit.FreeAddr(t)
	lctx, cancel := context.WithCancel(ctx)
	listened := &testkit.SyncBuffer{}
	done := make(chan int)
	go func() {
		done <- run(lctx, []string{"listen", "--addr", listenAddr, "--secret", secret}, getenv, listened, listened)
	}()
	t.Cleanup(func() { cancel(); <-done })
	hook, err := ops.CreateWebhookWithResponse(ctx, client.WebhookRequest{Url: "http://" + listenAddr + "/consentry",
		Events: []client.WebhookRequestEvents{client.WebhookRequestEventsConsentWithdrawn}, Secret: ptr(secret)})
	require.NoError(t, err)
	require.NotNil(t, hook.JSON201, string(hook.Body))

	wd, err := phone.WithdrawConsentWithResponse(ctx, rec.JSON201.Id, client.WithdrawRequest{})
	require.NoError(t, err)
	require.NotNil(t, wd.JSON201, string(wd.Body))
	require.Eventually(t, func() bool { return strings.Contains(listened.String(), "consent.withdrawn: stop processing") },
		10*time.Second, 20*time.Millisecond, listened.String())
	assert.Contains(t, listened.String(), owner)

	stdout.Reset()
	assert.Equal(t, 1, run(ctx, ask, getenv, &stdout, &stderr), stdout.String())
	assert.Contains(t, stdout.String(), "deny: consent_withdrawn")

	// Without a usable device id, no question is asked.
	assert.Equal(t, 2, run(ctx, []string{"decide", "--device", "nope"}, getenv, &stdout, &stderr))
}

func ptr[T any](v T) *T { return &v }
