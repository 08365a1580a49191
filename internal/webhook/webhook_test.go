package webhook_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/consentry/consentry/api/webhooksig"
	"github.com/consentry/consentry/internal/app"
	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/consentry/consentry/internal/webhook/webhooktest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const secret = "whsec_YS13ZWJob29rLXNlY3JldC1vZi1hdC1sZWFzdC0zMi1jaGFyYWN0ZXJz"

type fixture struct {
	db       *store.DB
	log      *audit.Log
	hooks    *webhook.Service
	consents *consent.Service
	notices  *notice.Service
	devices  *device.Service
	notice   privacy.NoticeVersion
	dev      map[string]privacy.Device // by owner
}

func content(recipientsB ...string) privacy.NoticeContent {
	p := func(key string) privacy.NoticePurpose {
		return privacy.NoticePurpose{Purpose: key, LegalBasis: privacy.BasisConsent, Elements: []string{"video"},
			CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor}, CollectionScope: "while armed", Retention: "P30D", Recipients: []string{"acme-cloud"}}
	}
	c := testkit.Labelled(privacy.NoticeContent{Controller: privacy.Controller{Name: "Acme Ltd", Contact: "privacy@acme.example", Address: "1 Street", Jurisdiction: "IE"},
		Purposes: []privacy.NoticePurpose{p("a"), p("b"), p("c")}, Texts: map[string]privacy.NoticeText{"en": {Title: "Camera", Body: "b"}}})
	c.Purposes[1].Recipients = append(c.Purposes[1].Recipients, recipientsB...)
	c.Purposes[2].Validity = "PT1S"
	return c
}

func setup(t *testing.T, dialect string, opts webhook.Options) *fixture {
	t.Helper()
	// Real time throughout: deliveries are scheduled, signed and checked
	// on the wall clock, and c's consent lasts one second.
	db := storetest.MustOpenDB(t, dialect, nil)
	outbox := webhook.NewOutbox()
	log := audittest.MustOpenLog(t, db, audit.Options{React: &app.Reactions{Outbox: outbox}})
	f := instance(t, db, log, outbox, t.TempDir()+"/receipt-keys.json", opts)
	f.populate(t)
	return f
}

// instance is one Consentry instance's services on db and log, whose
// reactions write to outbox.
func instance(t *testing.T, db *store.DB, log *audit.Log, outbox *webhook.Outbox, receiptKeys string, opts webhook.Options) *fixture {
	t.Helper()
	f := &fixture{db: db, log: log, dev: map[string]privacy.Device{}}
	var err error
	if opts.Poll == 0 {
		opts.Poll = 20 * time.Millisecond
	}
	opts.ExpiryScan, opts.Backoff = 30*time.Millisecond, 10*time.Millisecond
	f.hooks, err = webhook.New(f.db, f.log, outbox, opts)
	require.NoError(t, err)
	t.Cleanup(f.hooks.Stop)
	keys, err := consent.OpenKeys(receiptKeys)
	require.NoError(t, err)
	f.consents = consent.NewService(f.db, f.log, keys, "https://consentry.example")
	f.notices = notice.NewService(f.db, f.log)
	f.devices = device.NewService(f.db, f.log).EndConsentsWith(f.consents.WithdrawDevice)
	return f
}

// populate makes the purposes, the notice and a device for alice and bob.
func (f *fixture) populate(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ps := purpose.NewService(f.db, f.log)
	for _, k := range []string{"a", "b", "c"} {
		_, _, err := ps.Put(ctx, privacy.Purpose{Key: k, Name: "Purpose " + k, Description: "Why " + k, LegalBasis: privacy.BasisConsent})
		require.NoError(t, err)
	}
	_, err := f.notices.Create(ctx, "cam", "en")
	require.NoError(t, err)
	v, err := f.notices.Draft(ctx, "cam", testkit.Labelled(content()))
	require.NoError(t, err)
	f.notice, err = f.notices.Publish(ctx, "cam", v.Version)
	require.NoError(t, err)
	for _, owner := range []string{"alice", "bob"} {
		d, err := f.devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "Cam", Serial: "S-" + owner, Firmware: "1", NoticeKey: "cam", OwnerSubject: owner})
		require.NoError(t, err)
		_, _, err = f.devices.PutInventory(ctx, d.ID, "c", []privacy.DataElement{{Key: "video", Description: "Video", Category: "personal.media.image",
			Sensitivity: privacy.SensitivitySensitive, Purposes: []string{"a", "b", "c"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D",
			Recipients: []string{"acme-cloud"}, StorageRegion: "EU"}})
		require.NoError(t, err)
		f.dev[owner] = d
	}
}

func (f *fixture) record(t *testing.T, subject string, choices map[string]bool) privacy.ConsentRecord {
	t.Helper()
	in := consent.Input{SubjectID: subject, DeviceID: f.dev[subject].ID, NoticeKey: "cam", NoticeVersion: f.notice.Version, NoticeHash: f.notice.ContentHash,
		Locale: "en", Method: privacy.MethodApp, ClientID: "app-1"}
	for _, p := range []string{"a", "b", "c"} {
		if g, ok := choices[p]; ok {
			in.Choices = append(in.Choices, privacy.ConsentChoice{Purpose: p, Granted: g})
		}
	}
	rec, err := f.consents.Record(context.Background(), in)
	require.NoError(t, err)
	return rec
}

// TestTwoInstances: two instances on one database both write events and
// both run dispatchers; the lease lets one at a time deliver the webhook,
// so every event arrives once after de-duplication, each subject's in
// commit order, whichever instance made the change.
func TestTwoInstances(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		dbs := storetest.MustOpenMany(t, dialect, nil, 2)
		outboxes := []*webhook.Outbox{webhook.NewOutbox(), webhook.NewOutbox()}
		logs := audittest.MustOpenLogsSharingKeys(t, dbs, audit.Options{}, &app.Reactions{Outbox: outboxes[0]}, &app.Reactions{Outbox: outboxes[1]})
		keys := t.TempDir() + "/receipt-keys.json"
		a := instance(t, dbs[0], logs[0], outboxes[0], keys, webhook.Options{})
		b := instance(t, dbs[1], logs[1], outboxes[1], keys, webhook.Options{})
		a.populate(t)
		b.notice, b.dev = a.notice, a.dev
		// B writes before the webhook exists (nothing to announce, and it
		// learns there are no subscribers); A's creation must reach it.
		b.record(t, "alice", map[string]bool{"b": true})
		rx := webhooktest.New(t, secret, 1)
		_, err := a.hooks.Create(ctx, webhook.Input{URL: rx.URL, Kinds: []privacy.WebhookKind{privacy.KindConsentGranted, privacy.KindConsentWithdrawn},
			Secret: secret})
		require.NoError(t, err)
		a.hooks.Start()
		b.hooks.Start()

		// Each subject's changes alternate between the instances.
		const rounds = 6
		for i := range rounds {
			on := []*fixture{a, b}[i%2]
			for _, subject := range []string{"alice", "bob"} {
				rec := on.record(t, subject, map[string]bool{"a": true})
				_, err := []*fixture{b, a}[i%2].consents.Withdraw(ctx, rec.ID, nil, privacy.MethodApp, "app-1")
				require.NoError(t, err)
			}
		}
		rx.WaitFor(t, 4*rounds, 30*time.Second)
		time.Sleep(200 * time.Millisecond)
		events := rx.Events()
		require.Len(t, events, 4*rounds, "each event once after de-duplication")
		per := map[string][]privacy.WebhookKind{}
		last := map[string]int64{}
		for _, ev := range events {
			per[ev.Subject] = append(per[ev.Subject], ev.Kind)
			assert.Greater(t, ev.Sequence, last[ev.Subject], "in commit order per subject")
			last[ev.Subject] = ev.Sequence
		}
		var want []privacy.WebhookKind
		for range rounds {
			want = append(want, privacy.KindConsentGranted, privacy.KindConsentWithdrawn)
		}
		assert.Equal(t, want, per["alice"])
		assert.Equal(t, want, per["bob"])
		_, _, bad := rx.Stats()
		assert.Empty(t, bad)
	})
}

// want is an expected event: its kind, subject, device owner and purposes.
type want struct {
	kind     privacy.WebhookKind
	subject  string
	purposes []string
}

// TestScenario drives every kind of event through a receiver that refuses
// the first two tries of each: after de-duplication it gets each event
// exactly once, in order per subject, signed.
func TestScenario(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		f := setup(t, dialect, webhook.Options{MaxAttempts: 5})
		rx := webhooktest.New(t, secret, 2)
		w, err := f.hooks.Create(ctx, webhook.Input{URL: rx.URL, Kinds: privacy.WebhookKinds, Secret: secret, ClientID: "admin-1"})
		require.NoError(t, err)
		f.hooks.Start()

		alice1 := f.record(t, "alice", map[string]bool{"a": true, "b": true})
		f.record(t, "bob", map[string]bool{"a": true, "b": true})
		// Saying no to b where yes was in force takes it back; no to c
		// (never granted) changes nothing and is not announced.
		f.record(t, "alice", map[string]bool{"b": false, "c": false})
		_, err = f.consents.Withdraw(ctx, alice1.ID, []string{"a"}, privacy.MethodApp, "app-1")
		require.NoError(t, err)
		// A material change to b: bob's grant of b needs renewing (alice's b is no longer granted).
		v2, err := f.notices.Draft(ctx, "cam", testkit.Labelled(content("analytics-inc")))
		require.NoError(t, err)
		v2, err = f.notices.Publish(ctx, "cam", v2.Version)
		require.NoError(t, err)
		require.Equal(t, []string{"b"}, v2.MaterialPurposes)
		f.notice = v2
		// c is valid for one second: granted, then it runs out.
		f.record(t, "alice", map[string]bool{"c": true})
		time.Sleep(1100 * time.Millisecond)
		// Bob's device leaves service.
		_, err = f.devices.Deactivate(ctx, f.dev["bob"].ID)
		require.NoError(t, err)
		_, err = f.devices.Dispose(ctx, f.dev["bob"].ID, nil, "admin-1")
		require.NoError(t, err)

		expect := map[string][]want{
			"alice": {
				{privacy.KindConsentGranted, "alice", []string{"a", "b"}},
				{privacy.KindConsentWithdrawn, "alice", []string{"b"}},
				{privacy.KindConsentWithdrawn, "alice", []string{"a"}},
				{privacy.KindConsentGranted, "alice", []string{"c"}},
				{privacy.KindConsentExpired, "alice", []string{"c"}},
			},
			"bob": {
				{privacy.KindConsentGranted, "bob", []string{"a", "b"}},
				{privacy.KindConsentReconsentRequired, "bob", []string{"b"}},
				{privacy.KindDeviceDeactivated, "bob", nil},
				// Disposal ends bob's consents on the device first.
				{privacy.KindConsentWithdrawn, "bob", []string{"a", "b"}},
				{privacy.KindDeviceDisposed, "bob", nil},
			},
			"notice:cam": {{privacy.KindNoticePublished, "", []string{"b"}}},
		}
		n := 0
		for _, ws := range expect {
			n += len(ws)
		}
		rx.WaitFor(t, n, 30*time.Second)
		time.Sleep(200 * time.Millisecond) // anything extra would arrive now
		events := rx.Events()
		require.Len(t, events, n, "exactly the scripted events, each once")

		got := map[string][]want{}
		lastSeq := map[string]int64{}
		for _, ev := range events {
			if ev.Kind == privacy.KindConsentWithdrawn && ev.Subject == "bob" {
				assert.Equal(t, privacy.WithdrawalDeviceDisposed, ev.Reason, "the service withdrew, and says why")
			} else {
				assert.Empty(t, ev.Reason)
			}
			key := ev.Subject
			if ev.Kind == privacy.KindNoticePublished {
				key = "notice:" + ev.NoticeKey
			}
			got[key] = append(got[key], want{ev.Kind, ev.Subject, ev.Purposes})
			assert.Greater(t, ev.Sequence, lastSeq[key], "arrival order is commit order per subject")
			lastSeq[key] = ev.Sequence
			if ev.Subject != "" {
				assert.Equal(t, f.dev[ev.Subject].ID, ev.DeviceID)
			}
		}
		assert.Equal(t, expect, got)

		requests, dupes, bad := rx.Stats()
		assert.Empty(t, bad, "every delivery carried a valid signature")
		assert.GreaterOrEqual(t, requests, 3*n, "each event was refused twice before it was taken")
		t.Logf("%d events, %d requests, %d duplicates", n, requests, dupes)

		// Delivery state is visible: all delivered, after three tries each.
		ds, err := f.hooks.Deliveries(ctx, w.ID, "", 0, 100)
		require.NoError(t, err)
		require.Len(t, ds, n)
		for _, d := range ds {
			assert.Equal(t, privacy.DeliveryDelivered, d.State)
			assert.Equal(t, 3, d.Attempts)
			assert.Equal(t, http.StatusNoContent, d.LastStatus)
		}

		// The documented check catches an altered or replayed delivery.
		body, h := rx.Delivery(events[0].ID)
		require.NoError(t, webhooksig.Verify(secret, h, body, time.Now(), webhooksig.DefaultTolerance))
		altered := bytes.Replace(body, []byte(`"kind":"`), []byte(`"kind": "`), 1)
		require.NotEqual(t, body, altered)
		assert.ErrorIs(t, webhooksig.Verify(secret, h, altered, time.Now(), webhooksig.DefaultTolerance), webhooksig.ErrMismatch)
		assert.ErrorIs(t, webhooksig.Verify(secret, h, body, time.Now().Add(10*time.Minute), webhooksig.DefaultTolerance), webhooksig.ErrStale,
			"a delivery replayed ten minutes later is outside the window")
		other, err := webhooksig.NewSecret()
		require.NoError(t, err)
		assert.ErrorIs(t, webhooksig.Verify(other, h, body, time.Now(), webhooksig.DefaultTolerance), webhooksig.ErrMismatch)
	})
}

// TestDeadLetterAndRetry: a receiver that keeps failing gets the
// configured number of tries, then the delivery is dead and later events
// for other subjects still flow; a retry after the receiver recovers
// delivers it.
func TestDeadLetterAndRetry(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		f := setup(t, dialect, webhook.Options{MaxAttempts: 3})
		rx := webhooktest.New(t, secret, 1000)
		w, err := f.hooks.Create(ctx, webhook.Input{URL: rx.URL, Kinds: []privacy.WebhookKind{privacy.KindConsentGranted}, Secret: secret})
		require.NoError(t, err)
		f.hooks.Start()
		f.record(t, "alice", map[string]bool{"a": true})

		var dead privacy.WebhookDelivery
		require.Eventually(t, func() bool {
			ds, err := f.hooks.Deliveries(ctx, w.ID, privacy.DeliveryDead, 0, 10)
			require.NoError(t, err)
			if len(ds) == 1 {
				dead = ds[0]
			}
			return len(ds) == 1
		}, 20*time.Second, 20*time.Millisecond)
		assert.Equal(t, 3, dead.Attempts)
		assert.Equal(t, http.StatusInternalServerError, dead.LastStatus)
		assert.Equal(t, "the receiver answered 500", dead.LastError)
		requests, _, _ := rx.Stats()
		assert.Equal(t, 3, requests, "no try after the last")

		rx.SetFailFirst(0)
		_, err = f.hooks.Retry(ctx, w.ID, dead.ID)
		require.NoError(t, err)
		evs := rx.WaitFor(t, 1, 10*time.Second)
		assert.Equal(t, dead.Event.ID, evs[0].ID, "the same event id, so receivers can de-duplicate")
		require.Eventually(t, func() bool {
			d, err := f.db.Read(ctx).WebhookDelivery(w.ID, dead.ID)
			require.NoError(t, err)
			return d.State == privacy.DeliveryDelivered
		}, 5*time.Second, 20*time.Millisecond)
		_, err = f.hooks.Retry(ctx, w.ID, dead.ID)
		assert.Equal(t, privacy.EConflict, privacy.ErrorCode(err), "a delivered delivery is not sent again")

		// Deleting the webhook cancels what is pending and stops new events.
		rx.SetFailFirst(1000)
		f.record(t, "bob", map[string]bool{"a": true})
		require.NoError(t, f.hooks.Delete(ctx, w.ID))
		ds, err := f.hooks.Deliveries(ctx, w.ID, privacy.DeliveryPending, 0, 10)
		require.NoError(t, err)
		assert.Empty(t, ds)
		f.record(t, "alice", map[string]bool{"a": true})
		all, err := f.hooks.Deliveries(ctx, w.ID, "", 0, 10)
		require.NoError(t, err)
		assert.Len(t, all, 2, "no delivery for an event after the deletion")
		assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(f.hooks.Delete(ctx, w.ID)))

		// History past the retention goes; a dead delivery would stay.
		var pruned int64
		require.NoError(t, f.db.Transact(ctx, func(tx *store.Tx) error {
			var err error
			pruned, err = tx.PruneWebhookDeliveries(time.Now().Add(time.Hour))
			return err
		}))
		assert.EqualValues(t, 2, pruned, "the delivered and the cancelled delivery")
		all, err = f.hooks.Deliveries(ctx, w.ID, "", 0, 10)
		require.NoError(t, err)
		assert.Empty(t, all)
	})
}

// TestOrderPerSubject: while one subject's event is being retried, that
// subject's later events wait; other subjects' events are not held up.
func TestOrderPerSubject(t *testing.T) {
	ctx := context.Background()
	f := setup(t, store.DialectSQLite, webhook.Options{MaxAttempts: 50})
	var blocked string
	rx := webhooktest.New(t, secret, 0)
	w, err := f.hooks.Create(ctx, webhook.Input{URL: rx.URL, Kinds: []privacy.WebhookKind{privacy.KindConsentGranted, privacy.KindConsentWithdrawn}, Secret: secret})
	require.NoError(t, err)
	first := f.record(t, "alice", map[string]bool{"a": true})
	_, err = f.consents.Withdraw(ctx, first.ID, nil, privacy.MethodApp, "app-1")
	require.NoError(t, err)
	f.record(t, "bob", map[string]bool{"a": true})
	ds, err := f.hooks.Deliveries(ctx, w.ID, privacy.DeliveryPending, 0, 10)
	require.NoError(t, err)
	require.Len(t, ds, 3)
	for _, d := range ds {
		if d.Event.Subject == "alice" && d.Event.Kind == privacy.KindConsentGranted {
			blocked = d.Event.ID
		}
	}
	require.NotEmpty(t, blocked)
	rx.SetFailFirst(4) // every event's first four tries fail; bob's goes through on the fifth while alice's later one waits
	f.hooks.Start()
	evs := rx.WaitFor(t, 3, 20*time.Second)
	pos := map[string]int{}
	for i, ev := range evs {
		pos[string(ev.Kind)+" "+ev.Subject] = i
	}
	assert.Less(t, pos["consent.granted alice"], pos["consent.withdrawn alice"], "alice's withdrawal never overtakes her grant")
	assert.Equal(t, blocked, evs[pos["consent.granted alice"]].ID)
}

func TestCreateValidation(t *testing.T) {
	ctx := context.Background()
	f := setup(t, store.DialectSQLite, webhook.Options{})
	for name, c := range map[string]struct {
		in     webhook.Input
		fields []string
	}{
		"plain http off loopback": {webhook.Input{URL: "http://backend.example/hook", Kinds: []privacy.WebhookKind{privacy.KindConsentGranted}}, []string{"url"}},
		"not a URL":               {webhook.Input{URL: "backend", Kinds: []privacy.WebhookKind{privacy.KindConsentGranted}}, []string{"url"}},
		"user info":               {webhook.Input{URL: "https://u:p@backend.example/", Kinds: []privacy.WebhookKind{privacy.KindConsentGranted}}, []string{"url"}},
		"no kinds":                {webhook.Input{URL: "https://backend.example/"}, []string{"events"}},
		"unknown and twice": {webhook.Input{URL: "https://backend.example/", Kinds: []privacy.WebhookKind{"consent.granted", "consent.granted", "consent.eaten"}},
			[]string{"events[1]", "events[2]"}},
		"short secret": {webhook.Input{URL: "https://backend.example/", Kinds: []privacy.WebhookKind{privacy.KindConsentGranted}, Secret: "short"}, []string{"secret"}},
		"not a Standard Webhooks secret": {webhook.Input{URL: "https://backend.example/", Kinds: []privacy.WebhookKind{privacy.KindConsentGranted},
			Secret: "a-long-secret-that-is-not-whsec-and-base64"}, []string{"secret"}},
		"base64url, unpadded": {webhook.Input{URL: "https://backend.example/", Kinds: []privacy.WebhookKind{privacy.KindConsentGranted},
			Secret: "whsec_q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c"}, []string{"secret"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.hooks.Create(ctx, c.in)
			var pe *privacy.Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, privacy.EInvalid, pe.Code)
			var fields []string
			for _, fe := range pe.Fields {
				fields = append(fields, fe.Field)
			}
			assert.ElementsMatch(t, c.fields, fields)
		})
	}
	w, err := f.hooks.Create(ctx, webhook.Input{URL: "https://backend.example/hook", Kinds: []privacy.WebhookKind{privacy.KindNoticePublished}})
	require.NoError(t, err)
	assert.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, w.Secret, "a secret is made when none is given: 32 bytes, standard base64")
	assert.True(t, webhooksig.IsStandardSecret(w.Secret))
	ws, err := f.hooks.List(ctx)
	require.NoError(t, err)
	assert.Len(t, ws, 1)
	_, err = f.hooks.Get(ctx, "nope")
	assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err))
	_, err = f.hooks.Retry(ctx, w.ID, 12345)
	assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err))
}

// TestStopIsNoFailure: stopping the dispatcher, even as it starts (its
// first prune then runs on a canceled context), logs no error.
func TestStopIsNoFailure(t *testing.T) {
	var logged testkit.SyncBuffer
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	outbox := webhook.NewOutbox()
	hooks, err := webhook.New(db, audittest.MustOpenLog(t, db, audit.Options{React: &app.Reactions{Outbox: outbox}}), outbox, webhook.Options{
		Log: slog.New(slog.NewJSONHandler(&logged, nil)), ExpiryScan: time.Millisecond})
	require.NoError(t, err)
	for range 20 {
		hooks.Start()
		hooks.Stop()
	}
	hooks.Start()
	time.Sleep(20 * time.Millisecond) // expiry scans run
	hooks.Stop()
	assert.NotContains(t, logged.String(), `"level":"ERROR"`)
}
