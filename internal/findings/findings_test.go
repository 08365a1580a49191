package findings_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/app"
	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/findings"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/policy"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type world struct {
	t        *testing.T
	clock    *storetest.Clock
	db       *store.DB
	engine   *findings.Engine
	reg      *prometheus.Registry
	devices  *device.Service
	notices  *notice.Service
	policies *policy.Service
	consents *consent.Service
	keyMade  time.Time
}

func newWorld(t *testing.T, dialect string) *world {
	w := &world{t: t, clock: storetest.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)), reg: prometheus.NewRegistry()}
	w.keyMade = w.clock.Now()
	w.db = storetest.MustOpenDB(t, dialect, w.clock.Now)
	data, err := authz.NewData(func() authz.Lines { return w.db.Read(context.Background()) })
	require.NoError(t, err)
	// Wired as serve wires it: the review is woken by the changes it
	// depends on; the log starts once the engine exists.
	react := &app.Reactions{Policy: data}
	log := audittest.MustNewLog(t, w.db, audit.Options{React: react})
	keys, err := consent.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	require.NoError(t, err)
	w.devices, w.notices = device.NewService(w.db, log), notice.NewService(w.db, log)
	w.policies, w.consents = policy.NewService(w.db, log, data), consent.NewService(w.db, log, keys, "https://c.example")
	w.devices.EndConsentsWith(w.consents.WithdrawDevice)
	w.engine, err = findings.New(findings.Sources{DB: w.db, Log: log, Rules: data.Rules, Coverage: w.notices.Coverage,
		KeyCreated: func() time.Time { return w.keyMade }}, findings.Options{Registerer: w.reg})
	require.NoError(t, err)
	react.Review = w.engine
	log.Start()
	ps := purpose.NewService(w.db, log)
	for _, k := range []string{"navigation", "ads"} {
		_, _, err := ps.Put(context.Background(), privacy.Purpose{Key: k, Name: k, Description: k, LegalBasis: privacy.BasisConsent})
		require.NoError(t, err)
	}
	return w
}

// open returns the kinds of the open findings, and the findings by kind.
func (w *world) open() ([]string, map[string]privacy.Finding) {
	w.t.Helper()
	fs, err := w.engine.Refresh(context.Background())
	require.NoError(w.t, err)
	var kinds []string
	byKind := map[string]privacy.Finding{}
	for _, f := range fs {
		if f.Open() {
			kinds = append(kinds, f.Kind)
		}
		byKind[f.Kind] = f
	}
	slices.Sort(kinds)
	return kinds, byKind
}

func (w *world) has(kind string) bool {
	kinds, _ := w.open()
	return slices.Contains(kinds, kind)
}

func location(extra ...privacy.DataElement) []privacy.DataElement {
	return append([]privacy.DataElement{{Key: "location", Description: "where", Category: "personal.location.precise", Sensitivity: privacy.SensitivitySensitive,
		Purposes: []string{"navigation"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}}, extra...)
}

func content(elements ...string) privacy.NoticeContent {
	return testkit.Labelled(privacy.NoticeContent{Controller: privacy.Controller{Name: "Acme", Contact: "privacy@acme.example"},
		Purposes: []privacy.NoticePurpose{{Purpose: "navigation", LegalBasis: privacy.BasisConsent, Elements: elements,
			CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor}, CollectionScope: "trips", Retention: "P30D", Validity: "P20D"}},
		Texts: map[string]privacy.NoticeText{"en": {Title: "Tracker", Body: "b"}}})
}

func (w *world) publish(c privacy.NoticeContent) privacy.NoticeVersion {
	ctx := context.Background()
	v, err := w.notices.Draft(ctx, "tracker", testkit.Labelled(c))
	require.NoError(w.t, err)
	v, err = w.notices.Publish(ctx, "tracker", v.Version)
	require.NoError(w.t, err)
	return v
}

// TestEachFindingAppearsAndClears makes every kind of finding and then
// removes its cause.
func TestEachFindingAppearsAndClears(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "admin-1", Role: "admin"})
		w := newWorld(t, dialect)
		kinds, _ := w.open()
		assert.Equal(t, []string{findings.KindReviewOverdue}, kinds, "an empty deployment has only its first review to do")

		_, err := w.notices.Create(ctx, "tracker", "en")
		require.NoError(t, err)
		dev, err := w.devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "T", Serial: "1", Firmware: "1", NoticeKey: "tracker", OwnerSubject: "alice"})
		require.NoError(t, err)
		assert.True(t, w.has(findings.KindDeviceWithoutInventory))
		assert.True(t, w.has(findings.KindDeviceWithoutNotice))
		_, byKind := w.open()
		assert.Equal(t, []privacy.FindingObject{{Type: "device", ID: dev.ID}}, byKind[findings.KindDeviceWithoutInventory].Objects)
		assert.Equal(t, "29", byKind[findings.KindDeviceWithoutInventory].Control)

		t.Run("device without inventory, then declared", func(t *testing.T) {
			_, _, err := w.devices.PutInventory(ctx, dev.ID, "admin", location())
			require.NoError(t, err)
			assert.False(t, w.has(findings.KindDeviceWithoutInventory))
		})
		v1 := privacy.NoticeVersion{}
		t.Run("device without notice, then published", func(t *testing.T) {
			v1 = w.publish(content("location"))
			assert.False(t, w.has(findings.KindDeviceWithoutNotice))
		})
		t.Run("notice no longer covers, then covers", func(t *testing.T) {
			speed := privacy.DataElement{Key: "speed", Description: "speed", Category: "personal.location.precise", Sensitivity: privacy.SensitivitySensitive,
				Purposes: []string{"navigation"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}
			_, _, err := w.devices.PutInventory(ctx, dev.ID, "admin", location(speed))
			require.NoError(t, err)
			_, byKind := w.open()
			f, ok := byKind[findings.KindNoticeUncovered]
			require.True(t, ok)
			assert.Equal(t, findings.KindNoticeUncovered+":tracker", f.ID)
			assert.Equal(t, findings.SeverityHigh, f.Severity)
			assert.NotEmpty(t, f.Remedy)
			v1 = w.publish(content("location", "speed"))
			assert.False(t, w.has(findings.KindNoticeUncovered))
		})
		t.Run("rule for a purpose no notice states, then removed", func(t *testing.T) {
			rule := policy.Change{Rule: &authz.Rule{Subject: "ad-broker", Category: "personal.location.*", Purpose: "ads", Action: "use", Effect: "allow"}}
			require.NoError(t, w.policies.Add(ctx, rule))
			assert.True(t, w.has(findings.KindPurposeNotInNotice))
			require.NoError(t, w.policies.Remove(ctx, rule))
			assert.False(t, w.has(findings.KindPurposeNotInNotice))
		})
		t.Run("rule no one can consent to, then removed", func(t *testing.T) {
			rule := policy.Change{Rule: &authz.Rule{Subject: "clinic", Category: "personal.health.*", Purpose: "navigation", Action: "use", Effect: "allow"}}
			require.NoError(t, w.policies.Add(ctx, rule))
			assert.True(t, w.has(findings.KindRuleUnconsentable))
			require.NoError(t, w.policies.Remove(ctx, rule))
			assert.False(t, w.has(findings.KindRuleUnconsentable))
			// A rule over declared data is not a finding.
			require.NoError(t, w.policies.Add(ctx, policy.Change{Rule: &authz.Rule{Subject: "planner", Category: "personal.location.*", Purpose: "navigation", Action: "use", Effect: "allow"}}))
			assert.False(t, w.has(findings.KindRuleUnconsentable))
		})
		t.Run("consents expiring within 30 days, then withdrawn", func(t *testing.T) {
			rec, err := w.consents.Record(ctx, consent.Input{SubjectID: "alice", DeviceID: dev.ID, NoticeKey: "tracker", NoticeVersion: v1.Version,
				NoticeHash: v1.ContentHash, Locale: "en", Method: privacy.MethodApp, ClientID: "app",
				Choices: []privacy.ConsentChoice{{Purpose: "navigation", Granted: true}}})
			require.NoError(t, err)
			_, byKind := w.open()
			f, ok := byKind[findings.KindConsentsExpiring]
			require.True(t, ok, "the notice gives consent 20 days")
			assert.Equal(t, 1, f.Count)
			_, err = w.consents.Withdraw(ctx, rec.ID, nil, privacy.MethodApp, "app")
			require.NoError(t, err)
			assert.False(t, w.has(findings.KindConsentsExpiring))
		})
		t.Run("deactivated device still owned, then disposed", func(t *testing.T) {
			_, err := w.devices.Deactivate(ctx, dev.ID)
			require.NoError(t, err)
			assert.True(t, w.has(findings.KindDeactivatedOwned))
			_, err = w.devices.Dispose(ctx, dev.ID, nil, "admin-1")
			require.NoError(t, err)
			assert.False(t, w.has(findings.KindDeactivatedOwned))
			assert.False(t, w.has(findings.KindDisposedUnsanitized), "a week to attest the sanitization")
			w.clock.Add(8 * 24 * time.Hour)
			_, byKind := w.open()
			f, ok := byKind[findings.KindDisposedUnsanitized]
			require.True(t, ok)
			assert.Equal(t, []privacy.FindingObject{{Type: "device", ID: dev.ID}}, f.Objects)
			_, err = w.devices.AttestSanitization(ctx, dev.ID, privacy.SanitizePurge, "cryptographic erase", "admin-1")
			require.NoError(t, err)
			assert.False(t, w.has(findings.KindDisposedUnsanitized))
		})
		t.Run("dead webhook deliveries, then retried", func(t *testing.T) {
			hook := privacy.Webhook{ID: "0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e", URL: "https://backend.example/hook",
				Kinds: []privacy.WebhookKind{privacy.KindConsentWithdrawn}, Secret: "s", CreatedBy: "admin-1", CreatedAt: w.clock.Now()}
			var delivery int64
			require.NoError(t, w.db.Transact(ctx, func(tx *store.Tx) error {
				if err := tx.InsertWebhook(hook); err != nil {
					return err
				}
				if _, err := tx.InsertWebhookEvent(privacy.WebhookEvent{ID: "e1", Kind: privacy.KindConsentWithdrawn, Subject: "alice", OrderKey: "alice"},
					[]string{hook.ID}); err != nil {
					return err
				}
				q, err := tx.DeliveryQueue(hook.ID, 10)
				if err != nil || len(q) != 1 {
					return fmt.Errorf("queue %v: %w", q, err)
				}
				delivery = q[0].ID
				return tx.RecordAttempts([]store.Attempt{{ID: delivery, At: w.clock.Now(), Status: 500, Error: "the receiver answered 500", Dead: true}})
			}))
			_, byKind := w.open()
			f, ok := byKind[findings.KindWebhookDeliveriesDead]
			require.True(t, ok)
			assert.Equal(t, 1, f.Count)
			assert.Equal(t, findings.SeverityHigh, f.Severity)
			require.NoError(t, w.db.Transact(ctx, func(tx *store.Tx) error { return tx.RetryDelivery(hook.ID, delivery) }))
			assert.False(t, w.has(findings.KindWebhookDeliveriesDead))
		})
		t.Run("a request past its due date, and a backend that never confirms", func(t *testing.T) {
			hook := privacy.Webhook{ID: "0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d70", URL: "https://backend.example/erase", Kinds: []privacy.WebhookKind{privacy.KindSubjectErasureRequested},
				Secret: "s", CreatedBy: "admin-1", CreatedAt: w.clock.Now()}
			now := w.clock.Now()
			q := privacy.SubjectRequest{ID: "0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d71", Type: privacy.RequestErasure, Pseudonym: strings.Repeat("a", 64),
				SubjectID: "alice", State: privacy.RequestInProgress, ClientID: "app-1", DueAt: now.Add(30 * 24 * time.Hour), CreatedAt: now, UpdatedAt: now,
				ReceiptSHA256: strings.Repeat("b", 64)}
			require.NoError(t, w.db.Transact(ctx, func(tx *store.Tx) error {
				if err := tx.InsertWebhook(hook); err != nil {
					return err
				}
				return tx.InsertSubjectRequest(q, []string{hook.ID})
			}))
			assert.False(t, w.has(findings.KindRequestsOverdue))
			assert.False(t, w.has(findings.KindErasureUnconfirmed), "a backend has a week")
			w.clock.Add(8 * 24 * time.Hour)
			_, byKind := w.open()
			f, ok := byKind[findings.KindErasureUnconfirmed]
			require.True(t, ok)
			assert.Equal(t, []privacy.FindingObject{{Type: "webhook", ID: hook.ID}}, f.Objects)
			assert.False(t, w.has(findings.KindRequestsOverdue))
			w.clock.Add(23 * 24 * time.Hour)
			_, byKind = w.open()
			f, ok = byKind[findings.KindRequestsOverdue]
			require.True(t, ok)
			assert.Equal(t, findings.SeverityHigh, f.Severity)
			assert.Equal(t, "33", f.Control)
			require.NoError(t, w.db.Transact(ctx, func(tx *store.Tx) error {
				if err := tx.ConfirmSubjectRequest(q.ID, hook.ID, "svc-1"); err != nil {
					return err
				}
				q.State, q.SubjectID, q.CompletedAt, q.UpdatedAt = privacy.RequestCompleted, "", w.clock.Now(), w.clock.Now()
				return tx.UpdateSubjectRequest(q)
			}))
			assert.False(t, w.has(findings.KindRequestsOverdue))
			assert.False(t, w.has(findings.KindErasureUnconfirmed))
		})
		t.Run("receipt key due for rotation, then rotated", func(t *testing.T) {
			w.clock.Add(366 * 24 * time.Hour)
			assert.True(t, w.has(findings.KindKeyRotationDue))
			w.keyMade = w.clock.Now()
			assert.False(t, w.has(findings.KindKeyRotationDue))
		})
		t.Run("review overdue, acknowledged, overdue again", func(t *testing.T) {
			assert.True(t, w.has(findings.KindReviewOverdue))
			ack, err := w.engine.Acknowledge(ctx, findings.KindReviewOverdue, "reviewed all open findings with the DPO")
			require.NoError(t, err)
			assert.Equal(t, "admin-1", ack.ClientID)
			assert.False(t, w.has(findings.KindReviewOverdue))
			w.clock.Add(91 * 24 * time.Hour)
			assert.True(t, w.has(findings.KindReviewOverdue))
		})
	})
}

func TestAcknowledgments(t *testing.T) {
	ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "admin-1", Role: "admin"})
	w := newWorld(t, store.DialectSQLite)
	_, err := w.devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "T", Serial: "1", Firmware: "1", NoticeKey: "tracker"})
	require.NoError(t, err)
	w.open()
	assert.Equal(t, 2.0, gauge(t, w, "high"), "no inventory, no notice")
	assert.Equal(t, 1.0, gauge(t, w, "low"), "the review")

	_, err = w.engine.Acknowledge(ctx, findings.KindDeviceWithoutInventory, "")
	assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err), "a note is required")
	_, err = w.engine.Acknowledge(ctx, "no-such-finding", "x")
	assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err))
	_, err = w.engine.Acknowledge(ctx, findings.KindDeviceWithoutInventory, "inventory due from the vendor on Monday")
	require.NoError(t, err)
	_, err = w.engine.Acknowledge(ctx, findings.KindDeviceWithoutInventory, "again")
	assert.Equal(t, privacy.EConflict, privacy.ErrorCode(err))
	kinds, _ := w.open()
	assert.NotContains(t, kinds, findings.KindDeviceWithoutInventory, "acknowledged")
	assert.Equal(t, 1.0, gauge(t, w, "high"))

	// A second device changes what the finding is about: open again.
	_, err = w.devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "T", Serial: "2", Firmware: "1", NoticeKey: "tracker"})
	require.NoError(t, err)
	assert.True(t, w.has(findings.KindDeviceWithoutInventory))

	// The acknowledgment is evidence: append-only and in the audit log.
	raw, err := w.db.SQL()
	require.NoError(t, err)
	for _, stmt := range []string{"UPDATE finding_acks SET note = 'x'", "DELETE FROM finding_acks"} {
		_, err := raw.ExecContext(ctx, stmt)
		assert.ErrorContains(t, err, "append-only", stmt)
	}
	entries, err := w.db.Read(ctx).AuditEntries(store.AuditFilter{Action: "finding.acknowledged", Limit: 10})
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestEngineRunsAfterChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(privacy.WithActor(context.Background(), privacy.Actor{ClientID: "admin-1", Role: "admin"}))
	defer cancel()
	w := newWorld(t, store.DialectSQLite)
	w.engine.Start(ctx)
	require.Eventually(t, func() bool { _, ran := w.engine.Current(); return !ran.IsZero() }, 10*time.Second, 10*time.Millisecond)
	_, err := w.devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "T", Serial: "1", Firmware: "1", NoticeKey: "tracker"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		fs, _ := w.engine.Current()
		return slices.ContainsFunc(fs, func(f privacy.Finding) bool { return f.Kind == findings.KindDeviceWithoutInventory })
	}, 10*time.Second, 20*time.Millisecond, "a registration triggers the review, well before the 1-minute schedule")
}

// gauge reads consentry_findings_open{severity} as /metrics would serve it.
func gauge(t *testing.T, w *world, severity string) float64 {
	t.Helper()
	mfs, err := w.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "consentry_findings_open" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == severity {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no gauge for %s", severity)
	return 0
}
