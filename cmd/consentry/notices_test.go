package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNoticesPublishCommand(t *testing.T) {
	dataDir := t.TempDir()
	env := getenv(map[string]string{"CONSENTRY_DATA_DIR": dataDir})
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(ctx, []string{"purposes", "load", "../../notices/purposes.yaml"}, env, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "purpose security-monitoring created")

	stdout.Reset()
	require.NoError(t, run(ctx, []string{"notices", "publish", "../../notices/acme-cam", "../../notices/acme-speaker", "../../notices/acme-band"}, env, &stdout, &stderr), stderr.String())
	for _, key := range []string{"acme-cam", "acme-speaker", "acme-band"} {
		assert.Contains(t, stdout.String(), key+": published version 1 (sha256 ")
	}
	stdout.Reset()
	require.NoError(t, run(ctx, []string{"notices", "publish", "../../notices/acme-cam"}, env, &stdout, &stderr))
	assert.Contains(t, stdout.String(), "acme-cam: version 1 already in force")

	// A camera that also records audio: a new version of the notice files
	// that does not state it is refused, naming the gap.
	cfg := &config{dataDir: dataDir}
	var hook privacy.Webhook
	require.NoError(t, withLog(ctx, cfg, &stderr, func(ctx context.Context, db *store.DB, log *audit.Log) error {
		d, err := device.NewService(db, log).Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "Cam", Serial: "1", Firmware: "1", NoticeKey: "acme-cam"})
		if err != nil {
			return err
		}
		_, _, err = device.NewService(db, log).PutInventory(ctx, d.ID, "cli", []privacy.DataElement{{Key: "audio", Description: "sound",
			Category: "personal.media.audio", Sensitivity: privacy.SensitivitySensitive, Purposes: []string{"security-monitoring"},
			CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}})
		if err != nil {
			return err
		}
		// A backend listens for new notices.
		hooks, err := webhook.New(db, log, webhook.NewOutbox(), webhook.Options{})
		if err != nil {
			return err
		}
		hook, err = hooks.Create(ctx, webhook.Input{URL: "https://backend.example/hook", Kinds: []privacy.WebhookKind{privacy.KindNoticePublished}})
		return err
	}))
	dir := filepath.Join(t.TempDir(), "acme-cam")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, f := range []string{"notice.yaml", "en.md", "fr.md"} {
		b, err := os.ReadFile(filepath.Join("../../notices/acme-cam", f))
		require.NoError(t, err)
		if f == "en.md" {
			b = append(b, []byte("\nReworded.\n")...)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	stdout.Reset()
	stderr.Reset()
	err := run(ctx, []string{"notices", "publish", dir}, env, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, stderr.String(), "gap: device ")
	assert.Contains(t, stderr.String(), "element audio purpose security-monitoring")
	assert.Contains(t, stderr.String(), "(element_not_stated)")

	// Stating it publishes version 2, with that purpose materially changed.
	yml, err := os.ReadFile(filepath.Join(dir, "notice.yaml"))
	require.NoError(t, err)
	yml = []byte(strings.Replace(string(yml), "elements: [video, motion-events]", "elements: [video, motion-events, audio]", 1))
	yml = []byte(strings.Replace(string(yml), "elements: {video: Video,", "elements: {audio: Sound, video: Video,", 1))
	yml = []byte(strings.Replace(string(yml), "elements: {video: Vidéo,", "elements: {audio: Son, video: Vidéo,", 1))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notice.yaml"), yml, 0o644))
	stdout.Reset()
	require.NoError(t, run(ctx, []string{"notices", "publish", dir}, env, &stdout, &stderr), stderr.String())
	assert.Contains(t, stdout.String(), "acme-cam: published version 2")
	assert.Contains(t, stdout.String(), "materially changed purposes: security-monitoring\n")
	// The command's publication went to the webhook outbox like the server's would.
	require.NoError(t, withLog(ctx, cfg, &stderr, func(ctx context.Context, db *store.DB, log *audit.Log) error {
		hooks, err := webhook.New(db, log, webhook.NewOutbox(), webhook.Options{})
		if err != nil {
			return err
		}
		ds, err := hooks.Deliveries(ctx, hook.ID, privacy.DeliveryPending, 0, 10)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		assert.Equal(t, privacy.KindNoticePublished, ds[0].Event.Kind)
		assert.Equal(t, 2, ds[0].Event.NoticeVersion)
		assert.Equal(t, []string{"security-monitoring"}, ds[0].Event.Purposes)
		return nil
	}))

	// Bad files say what is wrong.
	bad := filepath.Join(t.TempDir(), "bad")
	require.NoError(t, os.MkdirAll(bad, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(bad, "notice.yaml"), []byte("key: bad\nsurprise: 1\n"), 0o644))
	stderr.Reset()
	require.Error(t, run(ctx, []string{"notices", "publish", bad}, env, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "surprise")
}

func TestKeysRotateCommand(t *testing.T) {
	dataDir := t.TempDir()
	env := getenv(map[string]string{"CONSENTRY_DATA_DIR": dataDir})
	var kids []string
	for range 2 {
		var stdout, stderr bytes.Buffer
		require.NoError(t, run(context.Background(), []string{"keys", "rotate"}, env, &stdout, &stderr), stderr.String())
		kids = append(kids, strings.TrimSpace(stdout.String()))
	}
	assert.NotEqual(t, kids[0], kids[1])
	keys, err := consent.OpenKeys(filepath.Join(dataDir, "receipt-keys.json"))
	require.NoError(t, err)
	assert.Equal(t, kids[1], keys.CurrentKID(), "the newest key signs")
	assert.Len(t, keys.JWKS().Keys, 3, "the first key and both rotations stay published")
	st, err := os.Stat(filepath.Join(dataDir, "receipt-keys.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// The rotations are in the audit log.
	db, err := store.Open(context.Background(), filepath.Join(dataDir, "consentry.db"), store.Options{})
	require.NoError(t, err)
	defer db.Close()
	entries, err := db.Read(context.Background()).AuditEntries(store.AuditFilter{Action: "receipt_key.rotated", Limit: 10})
	require.NoError(t, err)
	assert.Len(t, entries, 2)
}
