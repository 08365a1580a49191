package rights_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/consentry/consentry/internal/app"
	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/rights"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instance is one Consentry instance of a deployment: its own database
// handle and log, with the reactions serve wires.
type instance struct {
	db       *store.DB
	log      *audit.Log
	memory   *decide.Memory
	consents *consent.Service
	rights   *rights.Service
	ledger   *rights.Ledger
}

// deployment is two instances on one database, with a device of alice's
// and her consent recorded through the first.
type deployment struct {
	a, b     instance
	device   privacy.Device
	notice   privacy.NoticeVersion
	recordID string
}

func setup(t *testing.T, dialect string) *deployment {
	t.Helper()
	ctx := context.Background()
	dbs := storetest.MustOpenMany(t, dialect, nil, 2)
	keys, err := consent.OpenKeys(filepath.Join(t.TempDir(), "receipt-keys.json"))
	require.NoError(t, err)
	var insts [2]instance
	reacts := make([]audit.Reactor, 2)
	for i := range insts {
		ledger, err := rights.OpenLedger(filepath.Join(t.TempDir(), rights.LedgerFile), nil)
		require.NoError(t, err)
		insts[i] = instance{db: dbs[i], memory: decide.NewMemory(), ledger: ledger}
		reacts[i] = &app.Reactions{Memory: insts[i].memory, Erasures: ledger}
	}
	logs := audittest.MustOpenLogsSharingKeys(t, dbs, audit.Options{}, reacts...)
	for i := range insts {
		insts[i].log = logs[i]
		insts[i].consents = consent.NewService(dbs[i], logs[i], keys, "https://consentry.example")
		insts[i].rights = rights.New(dbs[i], logs[i], insts[i].consents, keys, insts[i].ledger, rights.Options{})
	}
	d := &deployment{a: insts[0], b: insts[1]}
	_, _, err = purpose.NewService(d.a.db, d.a.log).Put(ctx, privacy.Purpose{Key: "a", Name: "A", Description: "Why a", LegalBasis: privacy.BasisConsent})
	require.NoError(t, err)
	notices := notice.NewService(d.a.db, d.a.log)
	_, err = notices.Create(ctx, "cam", "en")
	require.NoError(t, err)
	v, err := notices.Draft(ctx, "cam", testkit.Labelled(privacy.NoticeContent{Controller: privacy.Controller{Name: "Acme", Contact: "privacy@acme.example", Address: "1 Street",
		Jurisdiction: "IE"}, Purposes: []privacy.NoticePurpose{{Purpose: "a", LegalBasis: privacy.BasisConsent, Elements: []string{"video"},
		CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor}, CollectionScope: "while armed", Retention: "P30D", Recipients: []string{"acme-cloud"}}},
		Texts: map[string]privacy.NoticeText{"en": {Title: "Camera", Body: "b"}}}))
	require.NoError(t, err)
	d.notice, err = notices.Publish(ctx, "cam", v.Version)
	require.NoError(t, err)
	d.device, err = device.NewService(d.a.db, d.a.log).Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "Cam", Serial: "S1", Firmware: "1",
		NoticeKey: "cam", OwnerSubject: "alice"})
	require.NoError(t, err)
	rec, err := d.a.consents.Record(ctx, consent.Input{SubjectID: "alice", DeviceID: d.device.ID, NoticeKey: "cam", NoticeVersion: d.notice.Version,
		NoticeHash: d.notice.ContentHash, Locale: "en", Method: privacy.MethodApp, ClientID: "app-1",
		Choices: []privacy.ConsentChoice{{Purpose: "a", Granted: true}}})
	require.NoError(t, err)
	d.recordID = rec.ID
	return d
}

// holding counts the rows of each table that hold subject in a column
// meant for a subject id.
func holding(t *testing.T, db *store.DB, subject string) map[string]int {
	t.Helper()
	s, err := db.SQL()
	require.NoError(t, err)
	out := map[string]int{}
	for table, col := range map[string]string{"consent_records": "subject_id", "consent_state": "subject_id", "decisions": "subject_id",
		"devices": "owner_subject", "device_owners": "owner_subject", "subject_pseudonyms": "subject_id", "subject_requests": "subject_id"} {
		var n int
		q := "SELECT COUNT(*) FROM " + table + " WHERE " + col + " = $1"
		if db.Dialect() == store.DialectSQLite {
			q = "SELECT COUNT(*) FROM " + table + " WHERE " + col + " = ?"
		}
		require.NoError(t, s.QueryRow(q, subject).Scan(&n), table)
		if n > 0 {
			out[table] = n
		}
	}
	return out
}

func TestErasureOnEveryDialect(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "app-1", Role: "app"})
		d := setup(t, dialect)
		// The second instance has seen alice: her pseudonym is in its memo.
		p, err := d.b.log.PseudonymOf(ctx, "alice")
		require.NoError(t, err)
		require.Len(t, p, 64)
		require.NotEmpty(t, holding(t, d.a.db, "alice"))

		res, err := d.a.rights.Request(ctx, "alice", privacy.RequestErasure, "", "app-1")
		require.NoError(t, err)
		assert.Equal(t, privacy.RequestCompleted, res.Request.State, "no backend to wait for")
		assert.Equal(t, p, res.Request.Pseudonym)
		assert.Equal(t, privacy.ErasedCounts{ConsentRecords: 2, Receipts: 2, ConsentStates: 1, Devices: 1}, res.Request.Erased)
		assert.Empty(t, holding(t, d.a.db, "alice"), "no row holds alice")
		assert.Empty(t, res.Request.SubjectID)

		// The evidence stays append-only but for the erasure's own change.
		s, err := d.a.db.SQL()
		require.NoError(t, err)
		bind := "?"
		if dialect == store.DialectPostgres {
			bind = "$1"
		}
		for _, q := range []string{"UPDATE consent_records SET locale = 'fr' WHERE id = " + bind, "UPDATE consent_records SET subject_id = 'mallory' WHERE id = " + bind,
			"DELETE FROM consent_records WHERE id = " + bind} {
			_, err := s.Exec(q, d.recordID)
			assert.Error(t, err, q)
		}

		// The other instance forgets alice at its next write.
		require.NoError(t, d.b.log.Refresh(ctx))
		again, err := d.b.log.PseudonymOf(ctx, "alice")
		require.NoError(t, err)
		assert.Empty(t, again, "the other instance's memo forgot the erased pseudonym")
		pseudonyms, err := d.b.ledger.Pseudonyms()
		require.NoError(t, err)
		assert.Equal(t, []string{p}, pseudonyms, "and its ledger holds the erasure too")

		// A record from before still checks against its entry.
		rec, err := d.b.consents.Get(ctx, d.recordID)
		require.NoError(t, err)
		assert.Equal(t, privacy.ErasedSubject(p), rec.SubjectID)
		assert.Empty(t, rec.Receipt)

		// A restore: alice back in the rows, and in the pseudonyms.
		restore(t, d.a.db, p)
		n, err := d.b.rights.Reapply(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.Empty(t, holding(t, d.a.db, "alice"))
		n, err = d.b.rights.Reapply(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "once erased again, nothing to do")
	})
}

// restore puts alice back as a restored backup would: her pseudonym p, and
// a consent state naming her.
func restore(t *testing.T, db *store.DB, p string) {
	t.Helper()
	require.NoError(t, db.Transact(context.Background(), func(tx *store.Tx) error { return tx.InsertPseudonym("alice", p) }))
}

func TestLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), rights.LedgerFile)
	l, err := rights.OpenLedger(path, nil)
	require.NoError(t, err)
	p := bytes.Repeat([]byte("ab"), 32)
	require.NoError(t, l.Record(string(p)))
	require.NoError(t, l.Record(string(p)))
	assert.Error(t, l.Record("alice"), "only pseudonyms")
	got, err := l.Pseudonyms()
	require.NoError(t, err)
	assert.Equal(t, []string{string(p)}, got)
}

// TestGuardianErasureOnEveryDialect: a guardian's erasure replaces them in
// the proxy consents they gave (whose receipts name them), and the child's
// erasure after it still passes the append-only rule; every record still
// checks against its entry.
func TestGuardianErasureOnEveryDialect(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "app-1", Role: "app"})
		d := setup(t, dialect)
		devices := device.NewService(d.a.db, d.a.log).EndConsentsWith(d.a.consents.WithdrawDevice)
		_, err := devices.AddMember(ctx, d.device.ID, privacy.Member{Subject: "kid", Role: privacy.RoleMember}, device.Actor{ClientID: "app-1"})
		require.NoError(t, err)
		_, err = d.a.consents.DeclareChild(ctx, privacy.Child{Subject: "kid", AgeBand: "under_13", Guardians: []string{"gina", "alice"}}, "app-1")
		require.NoError(t, err)
		rec, err := d.a.consents.Record(ctx, consent.Input{SubjectID: "kid", Guardian: "gina", DeviceID: d.device.ID, NoticeKey: "cam",
			NoticeVersion: d.notice.Version, NoticeHash: d.notice.ContentHash, Locale: "en", Method: privacy.MethodApp, ClientID: "app-1",
			Choices: []privacy.ConsentChoice{{Purpose: "a", Granted: true}}})
		require.NoError(t, err)
		require.Contains(t, rec.Receipt, ".")

		s, err := d.a.db.SQL()
		require.NoError(t, err)
		bind := "?"
		if dialect == store.DialectPostgres {
			bind = "$1"
		}
		_, err = s.Exec("UPDATE consent_records SET guardian_subject = 'mallory' WHERE id = "+bind, rec.ID)
		assert.Error(t, err, "the guardian of a record is evidence too")

		for _, subject := range []string{"gina", "kid"} {
			res, err := d.a.rights.Request(ctx, subject, privacy.RequestErasure, "", "app-1")
			require.NoError(t, err, subject)
			assert.Equal(t, privacy.RequestCompleted, res.Request.State, subject)
			var n int
			require.NoError(t, s.QueryRow("SELECT COUNT(*) FROM consent_records WHERE "+bind+" IN (guardian_subject, subject_id)", subject).Scan(&n))
			assert.Zero(t, n, "no record names %s", subject)
			require.NoError(t, s.QueryRow("SELECT COUNT(*) FROM subject_guardians WHERE guardian_id = "+bind, subject).Scan(&n))
			assert.Zero(t, n)
			got, err := d.a.consents.Get(ctx, rec.ID)
			require.NoError(t, err, "the record still checks against its entry after %s's erasure", subject)
			assert.Empty(t, got.Receipt)
		}
	})
}
