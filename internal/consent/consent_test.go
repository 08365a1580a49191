package consent_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fixture struct {
	db       *store.DB
	clock    *storetest.Clock
	log      *audit.Log
	otherDB  *store.DB
	otherLog *audit.Log
	consents *consent.Service
	notices  *notice.Service
	devices  *device.Service
	keys     *consent.Keys
	keyFile  string
	notice   privacy.NoticeVersion
	device   privacy.Device
}

func noticeContent(validityC string) privacy.NoticeContent {
	p := func(key string) privacy.NoticePurpose {
		return privacy.NoticePurpose{Purpose: key, LegalBasis: privacy.BasisConsent, Elements: []string{"video"}, CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor},
			CollectionScope: "while armed", Retention: "P30D", Recipients: []string{"acme-cloud"}}
	}
	c := testkit.Labelled(privacy.NoticeContent{Controller: privacy.Controller{Name: "Acme Ltd", Contact: "privacy@acme.example", Address: "1 Street", Jurisdiction: "IE"},
		Purposes: []privacy.NoticePurpose{p("a"), p("b"), p("c")},
		Texts:    map[string]privacy.NoticeText{"en": {Title: "Camera", Body: "b"}, "fr": {Title: "Caméra", Body: "b"}}})
	c.Purposes[2].Validity = validityC
	return c
}

func setup(t *testing.T, dialect string) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{clock: storetest.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))}
	// A second handle on the database, with its own writer, is another
	// process or instance.
	dbs := storetest.MustOpenMany(t, dialect, f.clock.Now, 2)
	logs := audittest.MustOpenLogsSharingKeys(t, dbs, audit.Options{})
	f.db, f.log, f.otherDB, f.otherLog = dbs[0], logs[0], dbs[1], logs[1]
	ps := purpose.NewService(f.db, f.log)
	for _, k := range []string{"a", "b", "c"} {
		_, _, err := ps.Put(ctx, privacy.Purpose{Key: k, Name: "Purpose " + k, Description: "Why " + k, LegalBasis: privacy.BasisConsent})
		require.NoError(t, err)
	}
	var err error
	f.keyFile = filepath.Join(t.TempDir(), "receipt-keys.json")
	f.keys, err = consent.OpenKeys(f.keyFile)
	require.NoError(t, err)
	f.consents = consent.NewService(f.db, f.log, f.keys, "https://consentry.example")
	f.notices = notice.NewService(f.db, f.log)
	f.devices = device.NewService(f.db, f.log)
	_, err = f.notices.Create(ctx, "cam", "en")
	require.NoError(t, err)
	v, err := f.notices.Draft(ctx, "cam", testkit.Labelled(noticeContent("P1D")))
	require.NoError(t, err)
	f.notice, err = f.notices.Publish(ctx, "cam", v.Version)
	require.NoError(t, err)
	f.device, err = f.devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "Cam", Serial: "S1", Firmware: "1", NoticeKey: "cam", OwnerSubject: "alice"})
	require.NoError(t, err)
	_, _, err = f.devices.PutInventory(ctx, f.device.ID, "c", []privacy.DataElement{{Key: "video", Description: "Video", Category: "personal.media.image",
		Sensitivity: privacy.SensitivitySensitive, Purposes: []string{"a", "b", "c"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D",
		Recipients: []string{"acme-cloud"}, StorageRegion: "EU"}})
	require.NoError(t, err)
	return f
}

func (f *fixture) input(choices map[string]bool) consent.Input {
	in := consent.Input{SubjectID: "alice", DeviceID: f.device.ID, NoticeKey: "cam", NoticeVersion: f.notice.Version, NoticeHash: f.notice.ContentHash,
		Locale: "en", Method: privacy.MethodApp, ClientID: "app-1"}
	for _, p := range []string{"a", "b", "c"} {
		if g, ok := choices[p]; ok {
			in.Choices = append(in.Choices, privacy.ConsentChoice{Purpose: p, Granted: g})
		}
	}
	return in
}

func statuses(t *testing.T, f *fixture) map[string]privacy.ConsentStatus {
	t.Helper()
	states, err := f.consents.State(context.Background(), "alice")
	require.NoError(t, err)
	out := map[string]privacy.ConsentStatus{}
	for _, s := range states {
		out[s.Purpose] = s.Status
	}
	return out
}

func countRecords(t *testing.T, f *fixture) int {
	t.Helper()
	recs, _, err := f.consents.History(context.Background(), "alice", "", 200)
	require.NoError(t, err)
	return len(recs)
}

func TestConsentLifecycle(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		f := setup(t, dialect)

		rec, err := f.consents.Record(ctx, f.input(map[string]bool{"a": true, "b": true}))
		require.NoError(t, err)
		assert.Equal(t, privacy.RecordConsent, rec.Kind)
		assert.NotEmpty(t, rec.Receipt)
		assert.Equal(t, map[string]privacy.ConsentStatus{"a": privacy.StatusGranted, "b": privacy.StatusGranted, "c": privacy.StatusDenied}, statuses(t, f),
			"the purpose not mentioned stays denied")
		for _, ch := range rec.Choices {
			assert.Equal(t, f.clock.Now().AddDate(0, 12, 0), ch.ExpiresAt, "default validity is 12 months")
		}

		// c is granted with a validity of one day; after two days it has expired.
		recC, err := f.consents.Record(ctx, f.input(map[string]bool{"c": true}))
		require.NoError(t, err)
		assert.Equal(t, f.clock.Now().AddDate(0, 0, 1), recC.Choices[0].ExpiresAt)
		f.clock.Add(48 * time.Hour)
		assert.Equal(t, privacy.StatusExpired, statuses(t, f)["c"])

		// Withdrawing a: its own record and receipt; a reads back withdrawn (not given), b untouched.
		w, err := f.consents.Withdraw(ctx, rec.ID, []string{"a"}, privacy.MethodWeb, "app-1")
		require.NoError(t, err)
		assert.Equal(t, privacy.RecordWithdrawal, w.Kind)
		assert.Equal(t, rec.ID, w.Withdraws)
		assert.NotEqual(t, rec.Receipt, w.Receipt)
		st := statuses(t, f)
		assert.Equal(t, privacy.StatusWithdrawn, st["a"])
		assert.Equal(t, privacy.StatusGranted, st["b"])

		// A material change to b puts exactly b back to reconsent_required.
		c2 := noticeContent("P1D")
		c2.Purposes[1].Recipients = append(c2.Purposes[1].Recipients, "analytics-inc")
		v2, err := f.notices.Draft(ctx, "cam", testkit.Labelled(c2))
		require.NoError(t, err)
		v2, err = f.notices.Publish(ctx, "cam", v2.Version)
		require.NoError(t, err)
		assert.Equal(t, []string{"b"}, v2.MaterialPurposes)
		st = statuses(t, f)
		assert.Equal(t, privacy.StatusReconsentRequired, st["b"])
		assert.Equal(t, privacy.StatusWithdrawn, st["a"])
		assert.Equal(t, privacy.StatusExpired, st["c"])
		// Re-consent on version 2 holds.
		in := f.input(map[string]bool{"b": true})
		in.NoticeVersion, in.NoticeHash = v2.Version, v2.ContentHash
		_, err = f.consents.Record(ctx, in)
		require.NoError(t, err)
		assert.Equal(t, privacy.StatusGranted, statuses(t, f)["b"])

		// Withdraw everything, every device, in one call.
		ws, err := f.consents.WithdrawSubject(ctx, "alice", privacy.MethodApp, "app-1")
		require.NoError(t, err)
		require.NotEmpty(t, ws)
		for p, s := range statuses(t, f) {
			assert.NotEqual(t, privacy.StatusGranted, s, p)
		}
		again, err := f.consents.WithdrawSubject(ctx, "alice", privacy.MethodApp, "app-1")
		require.NoError(t, err)
		assert.Empty(t, again, "nothing left to withdraw")

		// The state table is a projection: rebuilt from the events, it is identical.
		before, err := f.db.Read(ctx).AllConsentStates()
		require.NoError(t, err)
		require.NoError(t, f.consents.Rebuild(ctx))
		after, err := f.db.Read(ctx).AllConsentStates()
		require.NoError(t, err)
		assert.Equal(t, before, after)

		// History is newest first and pages.
		recs, next, err := f.consents.History(ctx, "alice", "", 2)
		require.NoError(t, err)
		require.Len(t, recs, 2)
		assert.NotEmpty(t, next)
		assert.True(t, !recs[0].CreatedAt.Before(recs[1].CreatedAt))
		rest, _, err := f.consents.History(ctx, "alice", next, 200)
		require.NoError(t, err)
		assert.Equal(t, countRecords(t, f), len(recs)+len(rest))

		// Evidence cannot be rewritten.
		raw, err := f.db.SQL()
		require.NoError(t, err)
		for _, stmt := range []string{"UPDATE consent_records SET subject_id = 'bob'", "DELETE FROM consent_events"} {
			_, err := raw.ExecContext(ctx, stmt)
			assert.ErrorContains(t, err, "append-only", stmt)
		}

		// The audit log replays: consent entries carry what the verifier needs.
		cp, err := f.log.Checkpoint(ctx)
		require.NoError(t, err)
		_, err = audit.Verify(audit.VerifyInput{Checkpoint: []byte(cp.Note), VerifierKey: f.log.VerifierKey(), Entries: func(yield func(audit.StoredEntry, error) bool) {
			es, err := f.log.Entries(ctx, audit.Filter{Limit: 10000})
			if err != nil {
				yield(audit.StoredEntry{}, err)
				return
			}
			for _, e := range es {
				if !yield(audit.StoredEntry{Seq: e.Seq, Leaf: e.Leaf}, nil) {
					return
				}
			}
		}})
		require.NoError(t, err)
	})
}

func TestRefusalsStoreNothing(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		f := setup(t, dialect)
		other, err := f.devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "Cam", Serial: "S2", Firmware: "1", NoticeKey: "cam"})
		require.NoError(t, err)
		_, err = f.devices.Deactivate(ctx, other.ID)
		require.NoError(t, err)

		tests := []struct {
			name   string
			change func(in *consent.Input)
			code   string
			field  string
		}{
			{"stale version", func(in *consent.Input) { in.NoticeVersion = 9 }, privacy.EConflict, "notice_version"},
			{"hash mismatch", func(in *consent.Input) { in.NoticeHash = strings.Repeat("0", 64) }, privacy.EConflict, "notice_hash"},
			{"purpose not stated", func(in *consent.Input) {
				in.Choices = append(in.Choices, privacy.ConsentChoice{Purpose: "ads", Granted: true})
			}, privacy.EInvalid, "choices[1].purpose"},
			{"device not active", func(in *consent.Input) { in.DeviceID, in.SubjectID = other.ID, "bob" }, privacy.EConflict, "device_id"},
			{"not the owner", func(in *consent.Input) { in.SubjectID = "mallory" }, privacy.EForbidden, "subject"},
			{"unknown device", func(in *consent.Input) { in.DeviceID = "0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e" }, privacy.ENotFound, ""},
			{"locale not shown", func(in *consent.Input) { in.Locale = "de" }, privacy.EInvalid, "locale"},
			{"bad input", func(in *consent.Input) { in.Method, in.Choices, in.Locale = "fax", nil, "??" }, privacy.EInvalid, "locale"},
			{"other notice", func(in *consent.Input) { in.NoticeKey = "other" }, privacy.EInvalid, "notice_key"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				in := f.input(map[string]bool{"a": true})
				tc.change(&in)
				_, err := f.consents.Record(ctx, in)
				require.Error(t, err)
				assert.Equal(t, tc.code, privacy.ErrorCode(err), err.Error())
				var perr *privacy.Error
				require.ErrorAs(t, err, &perr)
				if tc.field != "" {
					require.NotEmpty(t, perr.Fields)
					assert.Equal(t, tc.field, perr.Fields[0].Field)
				}
				assert.Zero(t, countRecords(t, f), "nothing stored")
			})
		}
		in := f.input(map[string]bool{"a": true})
		in.NoticeVersion = 9
		_, err = f.consents.Record(ctx, in)
		assert.Contains(t, err.Error(), "show version 1", "the refusal names the current version")

		// A superseded version shown with a hash that matches no version:
		// what the app must fix first is the version, so the refusal names
		// the one in force (not the old version's hash).
		content := noticeContent("P1D")
		content.Texts["en"] = privacy.NoticeText{Title: "Camera", Body: "reworded"}
		v2, err := f.notices.Draft(ctx, "cam", testkit.Labelled(content))
		require.NoError(t, err)
		v2, err = f.notices.Publish(ctx, "cam", v2.Version)
		require.NoError(t, err)
		for name, hash := range map[string]string{"wrong hash": strings.Repeat("0", 64), "the old version's own hash": f.notice.ContentHash} {
			in = f.input(map[string]bool{"a": true})
			in.NoticeHash = hash
			_, err = f.consents.Record(ctx, in)
			var perr *privacy.Error
			require.ErrorAs(t, err, &perr, name)
			assert.Equal(t, privacy.EConflict, perr.Code, name)
			assert.Equal(t, "notice_version", perr.Fields[0].Field, name)
			assert.Contains(t, err.Error(), fmt.Sprintf("show version 2 (content_hash %s)", v2.ContentHash), name)
		}
		assert.Zero(t, countRecords(t, f), "nothing stored")
	})
}

// verifyCompact checks a compact JWS with crypto/ed25519 alone: an
// implementation independent of jwx, which signed it. Receipts are signed
// with alg Ed25519 (RFC 9864).
func verifyCompact(t *testing.T, jws string, keys map[string]ed25519.PublicKey) ([]byte, error) {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return nil, assert.AnError
	}
	hdrRaw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, err
	}
	var hdr struct {
		Alg, Kid string
	}
	if err := json.Unmarshal(hdrRaw, &hdr); err != nil {
		return nil, err
	}
	key, ok := keys[hdr.Kid]
	if hdr.Alg != "Ed25519" || !ok {
		return nil, assert.AnError
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !ed25519.Verify(key, []byte(parts[0]+"."+parts[1]), sig) {
		return nil, assert.AnError
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}

func jwksKeys(t *testing.T, k *consent.Keys) map[string]ed25519.PublicKey {
	t.Helper()
	raw, err := json.Marshal(k.JWKS())
	require.NoError(t, err)
	var set struct {
		Keys []struct{ Kty, Crv, X, Kid, Alg string }
	}
	require.NoError(t, json.Unmarshal(raw, &set))
	out := map[string]ed25519.PublicKey{}
	for _, key := range set.Keys {
		assert.Equal(t, "OKP", key.Kty)
		assert.Equal(t, "Ed25519", key.Crv)
		assert.Contains(t, []string{"Ed25519", "EdDSA"}, key.Alg)
		x, err := base64.RawURLEncoding.DecodeString(key.X)
		require.NoError(t, err)
		out[key.Kid] = ed25519.PublicKey(x)
	}
	return out
}

func kantara(t *testing.T) *jsonschema.Schema {
	t.Helper()
	// api/ holds an unchanged copy of ../shared/external's schema; when the
	// original is beside the repository, they must be the same bytes.
	ours, err := os.ReadFile("../../api/kantara-consent-receipt-v1.1.schema.json")
	require.NoError(t, err)
	if orig, err := os.ReadFile("../../../shared/external/kantara-consent-receipt-v1.1.schema.json"); err == nil {
		require.Equal(t, string(orig), string(ours), "api/ must hold the schema unchanged")
	}
	f, err := os.Open("../../api/kantara-consent-receipt-v1.1.schema.json")
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("kantara.json", doc))
	s, err := c.Compile("kantara.json")
	require.NoError(t, err)
	return s
}

func TestReceipts(t *testing.T) {
	ctx := context.Background()
	f := setup(t, store.DialectSQLite)
	schema := kantara(t)

	rec, err := f.consents.Record(ctx, f.input(map[string]bool{"a": true, "b": false}))
	require.NoError(t, err)
	w, err := f.consents.Withdraw(ctx, rec.ID, nil, "", "app-1")
	require.NoError(t, err)
	oldKID := f.keys.CurrentKID()
	_, err = f.keys.Rotate()
	require.NoError(t, err)
	after, err := f.consents.Record(ctx, f.input(map[string]bool{"c": true}))
	require.NoError(t, err)

	keys := jwksKeys(t, f.keys)
	require.Len(t, keys, 2, "the JWKS keeps the previous key")
	require.Contains(t, keys, oldKID)
	for _, r := range []privacy.ConsentRecord{rec, w, after} {
		payload, err := verifyCompact(t, r.Receipt, keys)
		require.NoError(t, err, "receipt of %s verifies against the JWKS", r.ID)
		var doc any
		require.NoError(t, json.Unmarshal(payload, &doc))
		require.NoError(t, schema.Validate(doc), "receipt of %s validates against the Kantara v1.1 schema: %s", r.ID, payload)
		var receipt consent.Receipt
		require.NoError(t, json.Unmarshal(payload, &receipt))
		assert.Equal(t, r.ID, receipt.ConsentReceiptID)
		assert.Equal(t, "alice", receipt.PIIPrincipalID)
		assert.Equal(t, "IE", receipt.Jurisdiction)
		assert.Equal(t, r.NoticeHash, receipt.ISO27560.PrivacyNotice.SHA256)
		assert.Equal(t, f.device.ID, receipt.ISO27560.DeviceID)
		assert.Equal(t, r.Kind == privacy.RecordConsent, receipt.Sensitive, "video is sensitive data, and only grants list it")
	}
	// Each receipt names a withdrawal call that works: a withdrawal
	// record cannot be withdrawn, so its receipt names its consent record's.
	for _, r := range []privacy.ConsentRecord{rec, w} {
		payload, err := verifyCompact(t, r.Receipt, keys)
		require.NoError(t, err)
		var receipt consent.Receipt
		require.NoError(t, json.Unmarshal(payload, &receipt))
		assert.Equal(t, "POST /v1/consents/"+rec.ID+"/withdraw", receipt.ISO27560.Withdrawal, r.Kind)
	}
	all, err := f.consents.WithdrawSubject(ctx, "alice", "", "app-1")
	require.NoError(t, err)
	require.NotEmpty(t, all)
	for _, r := range all {
		payload, err := verifyCompact(t, r.Receipt, keys)
		require.NoError(t, err)
		var receipt consent.Receipt
		require.NoError(t, json.Unmarshal(payload, &receipt))
		assert.Equal(t, "POST /v1/subjects/alice/withdraw", receipt.ISO27560.Withdrawal)
	}

	first, _ := verifyCompact(t, rec.Receipt, keys)
	var r consent.Receipt
	require.NoError(t, json.Unmarshal(first, &r))
	require.Len(t, r.Services[0].Purposes, 1, "Kantara lists the purpose consented to")
	assert.Equal(t, "a", r.Services[0].Purposes[0].Purpose)
	assert.Len(t, r.ISO27560.Purposes, 2, "ISO 27560 lists every choice, the refusal too")
	assert.Equal(t, "refused", r.ISO27560.Purposes[1].EventState)
	assert.Equal(t, "P12M", r.ISO27560.Purposes[0].ValidityDuration)

	// One changed byte anywhere fails verification.
	for _, i := range []int{5, len(rec.Receipt) / 2, len(rec.Receipt) - 3} {
		b := []byte(rec.Receipt)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		_, err := verifyCompact(t, string(b), keys)
		assert.Error(t, err, "byte %d changed", i)
	}

	// Keys reload from the file after a rotation by another process.
	other, err := consent.OpenKeys(f.keyFile)
	require.NoError(t, err)
	assert.Equal(t, f.keys.CurrentKID(), other.CurrentKID())
	st, err := os.Stat(f.keyFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

// receiptSensitive reads whether rec's receipt lists sensitive data.
func receiptSensitive(t *testing.T, f *fixture, rec privacy.ConsentRecord) bool {
	t.Helper()
	payload, err := verifyCompact(t, rec.Receipt, jwksKeys(t, f.keys))
	require.NoError(t, err)
	var r consent.Receipt
	require.NoError(t, json.Unmarshal(payload, &r))
	return r.Sensitive
}

// TestReceiptsFollowTheInventory: a receipt describes the device's
// inventory in force when the consent is written, though inventories are
// kept in memory: declared through this process, or through another one
// (either way the writer finds the newer version and the receipt is built
// again).
func TestReceiptsFollowTheInventory(t *testing.T) {
	ctx := context.Background()
	f := setup(t, store.DialectSQLite)
	// Sensitive data for purpose a, or only for b and c.
	inventory := func(purposes ...string) []privacy.DataElement {
		return []privacy.DataElement{{Key: "video", Description: "Video", Category: "personal.media.image",
			Sensitivity: privacy.SensitivitySensitive, Purposes: purposes, CollectionMethod: privacy.CollectSensor, Retention: "P30D",
			Recipients: []string{"acme-cloud"}, StorageRegion: "EU"}}
	}

	rec, err := f.consents.Record(ctx, f.input(map[string]bool{"a": true}))
	require.NoError(t, err)
	assert.True(t, receiptSensitive(t, f, rec), "sensitive video for purpose a")
	_, _, err = f.devices.PutInventory(ctx, f.device.ID, "c", inventory("b", "c"))
	require.NoError(t, err)
	rec, err = f.consents.Record(ctx, f.input(map[string]bool{"a": true}))
	require.NoError(t, err)
	assert.False(t, receiptSensitive(t, f, rec), "declared through this process: seen at once")

	// Another process on the same database declares it for a again.
	_, _, err = device.NewService(f.otherDB, f.otherLog).PutInventory(ctx, f.device.ID, "c", inventory("a", "b", "c"))
	require.NoError(t, err)
	rec, err = f.consents.Record(ctx, f.input(map[string]bool{"a": true}))
	require.NoError(t, err)
	assert.True(t, receiptSensitive(t, f, rec), "declared by another process: the writer finds the newer version")
}
