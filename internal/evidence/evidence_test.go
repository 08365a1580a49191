package evidence_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/app"
	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/policy"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// deployment is one Consentry: its database, log, keys and services.
type deployment struct {
	db       *store.DB
	log      *audit.Log
	keys     *consent.Keys
	data     *authz.Data
	consents *consent.Service
	decide   *decide.Service
	device   privacy.Device
	notice   privacy.NoticeVersion
}

// newDeployment seeds a tracker notice (en and fr), a device with an
// inventory, a data policy rule and subjects consents, then asks for a
// decision per subject (allowed when granted).
func newDeployment(t testing.TB, dialect string, subjects int) *deployment {
	t.Helper()
	return newDeploymentWith(t, dialect, subjects, nil)
}

// newDeploymentWith is newDeployment with legacy run once the notice is
// published, before anything else: where a test writes entries as the
// code before record commitments did, which came before any of this
// version's.
func newDeploymentWith(t testing.TB, dialect string, subjects int, legacy func(d *deployment)) *deployment {
	t.Helper()
	ctx := context.Background()
	d := &deployment{db: storetest.MustOpenDB(t, dialect, nil)}
	var err error
	d.data, err = authz.NewData(func() authz.Lines { return d.db.Read(context.Background()) })
	require.NoError(t, err)
	memory := decide.NewMemory()
	d.log = audittest.MustOpenLog(t, d.db, audit.Options{React: &app.Reactions{Memory: memory, Policy: d.data, Outbox: webhook.NewOutbox()}})
	d.keys, err = consent.OpenKeys(filepath.Join(t.TempDir(), "receipt-keys.json"))
	require.NoError(t, err)
	d.consents = consent.NewService(d.db, d.log, d.keys, "https://c.example")
	d.decide = decide.NewService(d.db, d.log, d.data, memory)
	ps := purpose.NewService(d.db, d.log)
	for _, k := range []string{"navigation", "maintenance"} {
		_, _, err := ps.Put(ctx, privacy.Purpose{Key: k, Name: k, Description: k, LegalBasis: privacy.BasisConsent})
		require.NoError(t, err)
	}
	notices := notice.NewService(d.db, d.log)
	_, err = notices.Create(ctx, "tracker", "en")
	require.NoError(t, err)
	v, err := notices.Draft(ctx, "tracker", testkit.Labelled(privacy.NoticeContent{Controller: privacy.Controller{Name: "Acme", Contact: "privacy@acme.example"},
		Purposes: []privacy.NoticePurpose{{Purpose: "navigation", LegalBasis: privacy.BasisConsent, Elements: []string{"location"},
			CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor}, CollectionScope: "trips", Retention: "P30D"}},
		Texts: map[string]privacy.NoticeText{"en": {Title: "Tracker", Body: "We track trips."}, "fr": {Title: "Traceur", Body: "Nous suivons les trajets."}}}))
	require.NoError(t, err)
	d.notice, err = notices.Publish(ctx, "tracker", v.Version)
	require.NoError(t, err)
	if legacy != nil {
		legacy(d)
	}
	devices := device.NewService(d.db, d.log)
	d.device, err = devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "T", Serial: "1", Firmware: "1", NoticeKey: "tracker"})
	require.NoError(t, err)
	_, _, err = devices.PutInventory(ctx, d.device.ID, "admin", []privacy.DataElement{{Key: "location", Description: "where", Category: "personal.location.precise",
		Sensitivity: privacy.SensitivitySensitive, Purposes: []string{"navigation"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}})
	require.NoError(t, err)
	require.NoError(t, policy.NewService(d.db, d.log, d.data).Add(ctx, policy.Change{Rule: &authz.Rule{Subject: "route-planner",
		Category: "personal.location.*", Purpose: "navigation", Action: "use", Effect: "allow"}}))
	for i := range subjects {
		d.consent(t, fmt.Sprintf("subject-%d", i), i%3 != 0)
	}
	return d
}

func (d *deployment) consent(t testing.TB, subject string, granted bool) privacy.ConsentRecord {
	t.Helper()
	ctx := context.Background()
	rec, err := d.consents.Record(ctx, consent.Input{SubjectID: subject, DeviceID: d.device.ID, NoticeKey: "tracker",
		NoticeVersion: d.notice.Version, NoticeHash: d.notice.ContentHash, Locale: "en", Method: privacy.MethodApp, ClientID: "app",
		Choices: []privacy.ConsentChoice{{Purpose: "navigation", Granted: granted}}})
	require.NoError(t, err)
	dec, err := d.decide.Decide(ctx, decide.Request{ServiceID: "svc", ServiceName: "route-planner", Subject: subject, DeviceID: d.device.ID,
		Element: "location", Purpose: "navigation", Action: "use"})
	require.NoError(t, err)
	require.Equal(t, granted, dec.Allow)
	return rec
}

func (d *deployment) sources() evidence.Sources {
	return evidence.Sources{DB: d.db, Log: d.log, JWKS: d.keys.JWKS, NoticePage: notice.WritePage}
}

func (d *deployment) export(t testing.TB, opts evidence.Options) (string, evidence.Manifest) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "evidence.zip")
	f, err := os.Create(path)
	require.NoError(t, err)
	m, err := evidence.Export(context.Background(), f, d.sources(), opts)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return path, m
}

func TestExportAndVerify(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		d := newDeployment(t, dialect, 6)
		path, m := d.export(t, evidence.Options{})
		sum, err := evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
		require.NoError(t, err)
		assert.True(t, sum.KeyPinned)
		assert.Equal(t, m.AuditSize, sum.AuditSize)
		assert.Equal(t, 6, sum.Consents)
		assert.Zero(t, sum.Unbound, "every record is bound to its entries")
		assert.Equal(t, evidence.ProfilePseudonymous, sum.Profile)
		assert.Zero(t, sum.Receipts, "a pseudonymous bundle holds no receipt")
		assert.Equal(t, 4, sum.Allows, "subjects 1, 2, 4, 5 granted and were allowed")
		assert.Equal(t, 1, sum.Notices)

		var names []string
		for _, f := range m.Files {
			names = append(names, f.Path)
		}
		assert.Equal(t, []string{evidence.FileVerifierKey, evidence.FileJWKS, evidence.FileCheckpoint, evidence.FileEntries,
			evidence.FileDevices, evidence.FileInventories, "notices/tracker/v1.json", "notices/tracker/v1.en.html", "notices/tracker/v1.fr.html",
			evidence.FileConsents, evidence.FilePolicies, evidence.FileReport}, names)
		page := member(t, path, "notices/tracker/v1.fr.html")
		assert.Contains(t, string(page), "Traceur")
		assert.Contains(t, string(page), d.notice.ContentHash)
		var pol evidence.Policies
		require.NoError(t, json.Unmarshal(member(t, path, evidence.FilePolicies), &pol))
		assert.Equal(t, []evidence.Rule{{Subject: "route-planner", Category: "personal.location.*", Purpose: "navigation", Action: "use", Effect: "allow"}}, pol.Rules)

		// The next export proves it extends this one.
		previous := member(t, path, evidence.FileCheckpoint)
		d.consent(t, "late", true)
		size, err := evidence.ParseCheckpointSize(previous)
		require.NoError(t, err)
		next, m2 := d.export(t, evidence.Options{PreviousSize: size})
		assert.Greater(t, m2.AuditSize, size)
		sum, err = evidence.Verify(next, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey(), Previous: previous})
		require.NoError(t, err)
		assert.Equal(t, size, sum.PreviousSize)
		assert.Equal(t, 7, sum.Consents)
	})
}

func TestReportCounts(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		d := newDeployment(t, dialect, 6) // subjects 0 and 3 refuse; 1, 2, 4, 5 grant and are allowed
		rec := d.consent(t, "subject-9", true)
		_, err := d.consents.Withdraw(context.Background(), rec.ID, nil, privacy.MethodApp, "app")
		require.NoError(t, err)

		r, err := evidence.BuildReport(context.Background(), d.sources(), evidence.Options{})
		require.NoError(t, err)
		assert.Equal(t, 1, r.Devices)
		assert.Equal(t, map[string]int{"active": 1}, r.DevicesByStatus)
		assert.Equal(t, 1, r.InventoryVersions)
		assert.Zero(t, r.WithoutInventory)
		assert.Zero(t, r.WithoutNotice)
		assert.Equal(t, []evidence.NoticeSummary{{Key: "tracker", Version: 1, Versions: 1, Locales: []string{"en", "fr"}}}, r.Notices)
		assert.Equal(t, 5, r.Allowed)
		assert.Equal(t, 2, r.Denied)
		assert.Equal(t, map[string]int{"no_consent": 2}, r.DeniedByReason)
		assert.Zero(t, r.AllowsWithoutConsent)
		assert.Equal(t, evidence.ConsentEvents{Given: 5, Refused: 2, Withdrawn: 1}, *r.ConsentEvents["navigation"])
		assert.Equal(t, evidence.ConsentStateSummary{Granted: 4, Refused: 2, Withdrawn: 1}, *r.ConsentState["navigation"])
		require.Len(t, r.Days, 1)
		assert.Equal(t, 5, r.Days[0].Allow)

		var page bytes.Buffer
		require.NoError(t, r.WriteHTML(&page))
		for _, want := range []string{`id="allowed">5<`, `id="denied">2<`, `id="allows-without-consent">0<`, `id="devices">1<`, "<svg", "Control 35-1"} {
			assert.Contains(t, page.String(), want)
		}
		assert.NotContains(t, page.String(), "<script")
	})
}

func TestExportWindowAndRefusals(t *testing.T) {
	d := newDeployment(t, store.DialectSQLite, 3)
	ctx := context.Background()
	future := time.Now().Add(time.Hour)
	path, _ := d.export(t, evidence.Options{From: future, To: future.Add(time.Hour)})
	sum, err := evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
	require.NoError(t, err)
	assert.Zero(t, sum.Consents, "no record was made in the window")
	assert.Equal(t, 2, sum.Allows, "the audit log is always whole")

	_, err = evidence.Export(ctx, io.Discard, d.sources(), evidence.Options{From: future, To: future.Add(-time.Minute)})
	assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
	_, err = evidence.Export(ctx, io.Discard, d.sources(), evidence.Options{PreviousSize: 1 << 40})
	assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))

	// Another deployment's key pinned: refused before anything else.
	other := newDeployment(t, store.DialectSQLite, 0)
	_, err = evidence.Verify(path, evidence.VerifyOptions{VerifierKey: other.log.VerifierKey()})
	assertFailure(t, err, evidence.FileVerifierKey, "not the pinned key")
	// Unpinned, the bundle's own key is used and it says so.
	sum, err = evidence.Verify(path, evidence.VerifyOptions{})
	require.NoError(t, err)
	assert.False(t, sum.KeyPinned)
}

func TestVerifyAcrossManyEntries(t *testing.T) {
	// More entries than the verifier keeps hashes for: the frontier pruning
	// must leave the root and every later leaf computable.
	d := newDeployment(t, store.DialectSQLite, 0)
	events := make([]event.Event, 3000)
	for i := range events {
		events[i] = audittest.Event{Name: "test.filler", Targets: map[string]string{"n": fmt.Sprint(i)}}
	}
	_, err := d.log.Append(context.Background(), events...)
	require.NoError(t, err)
	first, _ := d.export(t, evidence.Options{})
	d.consent(t, "after", true)
	previous := member(t, first, evidence.FileCheckpoint)
	size, err := evidence.ParseCheckpointSize(previous)
	require.NoError(t, err)
	path, m := d.export(t, evidence.Options{PreviousSize: size})
	assert.Greater(t, m.AuditSize, int64(3000))
	_, err = evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey(), Previous: previous})
	require.NoError(t, err)
}

func assertFailure(t *testing.T, err error, item, detail string) {
	t.Helper()
	var f *evidence.Failure
	require.ErrorAs(t, err, &f, "want a named failure, got %v", err)
	assert.Equal(t, item, f.Item, "%v", err)
	assert.Contains(t, f.Detail, detail, "%v", err)
}

// member reads one file of a bundle.
func member(t testing.TB, path, name string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	require.NoError(t, err)
	defer zr.Close()
	r, err := zr.Open(name)
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

// rewrite copies a bundle, passing each member through edit (nil drops
// it). With signer set, it then writes a fresh manifest over the new
// contents and signs it, as an operator holding the key could.
func rewrite(t *testing.T, src string, edit func(name string, b []byte) []byte, signer *audit.Log) string {
	t.Helper()
	zr, err := zip.OpenReader(src)
	require.NoError(t, err)
	defer zr.Close()
	dst := filepath.Join(t.TempDir(), "tampered.zip")
	f, err := os.Create(dst)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	var files []evidence.File
	var manifest []byte
	for _, m := range zr.File {
		r, err := m.Open()
		require.NoError(t, err)
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		r.Close()
		if m.Name == evidence.FileManifest && signer != nil {
			manifest = b
			continue
		}
		if b = edit(m.Name, b); b == nil {
			continue
		}
		w, err := zw.Create(m.Name)
		require.NoError(t, err)
		_, err = w.Write(b)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		files = append(files, evidence.File{Path: m.Name, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b))})
	}
	if signer != nil {
		n, err := note.Open(manifest, note.VerifierList(mustVerifier(t, signer)))
		require.NoError(t, err)
		var m evidence.Manifest
		require.NoError(t, json.Unmarshal([]byte(n.Text), &m))
		m.Files = files
		text, err := json.Marshal(m)
		require.NoError(t, err)
		signed, err := signer.SignNote(string(text) + "\n")
		require.NoError(t, err)
		w, err := zw.Create(evidence.FileManifest)
		require.NoError(t, err)
		_, err = w.Write(signed)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	return dst
}

func mustVerifier(t *testing.T, l *audit.Log) note.Verifier {
	v, err := note.NewVerifier(l.VerifierKey())
	require.NoError(t, err)
	return v
}

// lines edits an NDJSON member.
func lines(b []byte, edit func([]string) []string) []byte {
	ls := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	return []byte(strings.Join(edit(ls), "\n") + "\n")
}

func only(target string, edit func([]byte) []byte) func(string, []byte) []byte {
	return func(name string, b []byte) []byte {
		if name == target {
			return edit(b)
		}
		return b
	}
}

func TestTamperingIsNamed(t *testing.T) {
	d := newDeployment(t, store.DialectSQLite, 6)
	path, m := d.export(t, evidence.Options{})
	key := evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()}

	t.Run("one changed byte in any file", func(t *testing.T) {
		for _, f := range append(m.Files, evidence.File{Path: evidence.FileManifest}) {
			bad := rewrite(t, path, only(f.Path, func(b []byte) []byte {
				b = bytes.Clone(b)
				b[len(b)/2] ^= 0x01
				return b
			}), nil)
			_, err := evidence.Verify(bad, key)
			var failure *evidence.Failure
			require.ErrorAs(t, err, &failure, f.Path)
			assert.Equal(t, f.Path, failure.Item, "%v", err)
		}
	})
	t.Run("a removed line", func(t *testing.T) {
		for _, name := range []string{evidence.FileEntries, evidence.FileConsents, evidence.FileDevices} {
			bad := rewrite(t, path, only(name, func(b []byte) []byte {
				return lines(b, func(ls []string) []string { return ls[:len(ls)-1] })
			}), nil)
			_, err := evidence.Verify(bad, key)
			assertFailure(t, err, name, "changed")
		}
	})
	t.Run("a reordered line", func(t *testing.T) {
		for _, name := range []string{evidence.FileEntries, evidence.FileConsents} {
			bad := rewrite(t, path, only(name, func(b []byte) []byte {
				return lines(b, func(ls []string) []string { ls[1], ls[2] = ls[2], ls[1]; return ls })
			}), nil)
			_, err := evidence.Verify(bad, key)
			assertFailure(t, err, name, "changed")
		}
	})
	t.Run("an added file", func(t *testing.T) {
		_, err := evidence.Verify(addMember(t, path, "extra.txt", []byte("hello")), key)
		assertFailure(t, err, "extra.txt", "not in the signed manifest")
	})

	// The operator holds the key and re-signs the manifest: the checks
	// below the manifest must still catch the change.
	t.Run("re-signed: an entry removed", func(t *testing.T) {
		bad := rewrite(t, path, only(evidence.FileEntries, func(b []byte) []byte {
			return lines(b, func(ls []string) []string { return append(ls[:3:3], ls[4:]...) })
		}), d.log)
		_, err := evidence.Verify(bad, key)
		assertFailure(t, err, evidence.FileEntries+" line 4", "missing")
	})
	t.Run("re-signed: entries reordered", func(t *testing.T) {
		bad := rewrite(t, path, only(evidence.FileEntries, func(b []byte) []byte {
			return lines(b, func(ls []string) []string { ls[3], ls[4] = ls[4], ls[3]; return ls })
		}), d.log)
		_, err := evidence.Verify(bad, key)
		assertFailure(t, err, evidence.FileEntries+" line 4", "missing")
	})
	t.Run("re-signed: a record from another deployment", func(t *testing.T) {
		other := newDeployment(t, store.DialectSQLite, 1)
		otherPath, _ := other.export(t, evidence.Options{})
		foreign := strings.TrimSpace(string(member(t, otherPath, evidence.FileConsents)))
		bad := rewrite(t, path, only(evidence.FileConsents, func(b []byte) []byte {
			return lines(b, func(ls []string) []string { ls[2] = foreign; return ls })
		}), d.log)
		_, err := evidence.Verify(bad, key)
		var failure *evidence.Failure
		require.ErrorAs(t, err, &failure)
		assert.Contains(t, failure.Item, evidence.FileConsents+" line 3")
	})
	// Every field of a record line is bound to the entries that recorded
	// it: with the manifest re-signed, each edit is still named.
	edits := map[string]func(*evidence.ConsentRecord){
		"a refusal turned into a grant": func(r *evidence.ConsentRecord) { r.Choices[0].Granted = !r.Choices[0].Granted },
		"a purpose renamed":             func(r *evidence.ConsentRecord) { r.Choices[0].Purpose = "maintenance" },
		"the method":                    func(r *evidence.ConsentRecord) { r.Method = "web" },
		"the locale":                    func(r *evidence.ConsentRecord) { r.Locale = "fr" },
		"the notice version":            func(r *evidence.ConsentRecord) { r.NoticeVersion++ },
		"the receipt hash":              func(r *evidence.ConsentRecord) { r.ReceiptSHA256 = strings.Repeat("0", 64) },
		"the subject":                   func(r *evidence.ConsentRecord) { r.Subject = strings.Repeat("a", 64) },
		"the creation time":             func(r *evidence.ConsentRecord) { r.CreatedAt = "2020-01-01T00:00:00.000000Z" },
		"an expiry added":               func(r *evidence.ConsentRecord) { r.Choices[0].ExpiresAt = "2999-01-01T00:00:00.000000Z" },
	}
	for name, edit := range edits {
		t.Run("re-signed: "+name, func(t *testing.T) {
			bad := rewrite(t, path, only(evidence.FileConsents, func(b []byte) []byte {
				return lines(b, func(ls []string) []string {
					var r evidence.ConsentRecord
					require.NoError(t, json.Unmarshal([]byte(ls[0]), &r))
					edit(&r)
					b, _ := json.Marshal(r)
					ls[0] = string(b)
					return ls
				})
			}), d.log)
			_, err := evidence.Verify(bad, key)
			var failure *evidence.Failure
			require.ErrorAs(t, err, &failure)
			assert.Contains(t, failure.Item, evidence.FileConsents+" line 1 (record ")
			assert.Contains(t, failure.Detail, "does not record this record as it stands")
		})
	}
	t.Run("re-signed: a record line removed", func(t *testing.T) {
		bad := rewrite(t, path, only(evidence.FileConsents, func(b []byte) []byte {
			return lines(b, func(ls []string) []string { return append(ls[:1:1], ls[2:]...) })
		}), d.log)
		_, err := evidence.Verify(bad, key)
		assertFailure(t, err, evidence.FileConsents, "a record was removed")
	})
	t.Run("re-signed: record lines reordered or repeated", func(t *testing.T) {
		for name, edit := range map[string]func([]string) []string{
			"reordered": func(ls []string) []string { ls[1], ls[2] = ls[2], ls[1]; return ls },
			"repeated":  func(ls []string) []string { return append(ls[:2:2], ls[1:]...) },
		} {
			bad := rewrite(t, path, only(evidence.FileConsents, func(b []byte) []byte { return lines(b, edit) }), d.log)
			_, err := evidence.Verify(bad, key)
			var failure *evidence.Failure
			require.ErrorAs(t, err, &failure, name)
			assert.Contains(t, failure.Item, evidence.FileConsents+" line ", name)
			assert.Contains(t, failure.Detail, "entry order", name)
		}
	})
	t.Run("re-signed: a checkpoint from a rewritten log", func(t *testing.T) {
		previous := member(t, path, evidence.FileCheckpoint)
		d.consent(t, "later", true)
		next, _ := d.export(t, evidence.Options{})
		// Rewrite an early entry's time, recompute the tree and sign a new
		// checkpoint for it: a whole, self-consistent, different history.
		var rewritten []byte
		bad := rewrite(t, next, func(name string, b []byte) []byte {
			if name != evidence.FileEntries {
				return b
			}
			var out bytes.Buffer
			var hashes []tlog.Hash
			store := map[int64]tlog.Hash{}
			reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
				hs := make([]tlog.Hash, len(idx))
				for i, x := range idx {
					hs[i] = store[x]
				}
				return hs, nil
			})
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				var e evidence.Entry
				require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
				if e.Seq == 1 {
					e.Leaf = []byte(strings.Replace(string(e.Leaf), `"time":"20`, `"time":"19`, 1))
				}
				hs, err := tlog.StoredHashes(e.Seq, e.Leaf, reader)
				require.NoError(t, err)
				for k, h := range hs {
					store[tlog.StoredHashIndex(0, e.Seq)+int64(k)] = h
				}
				hashes = append(hashes, hs[0])
				line, _ := json.Marshal(e)
				out.Write(append(line, '\n'))
			}
			root, err := tlog.TreeHash(int64(len(hashes)), reader)
			require.NoError(t, err)
			rewritten, err = d.log.SignNote(string(log.Checkpoint{Origin: d.log.Origin(), Size: uint64(len(hashes)), Hash: root[:]}.Marshal()))
			require.NoError(t, err)
			return out.Bytes()
		}, d.log)
		bad = rewrite(t, bad, only(evidence.FileCheckpoint, func([]byte) []byte { return rewritten }), d.log)
		// Alone, the rewritten bundle is self-consistent ...
		_, err := evidence.Verify(bad, key)
		require.NoError(t, err)
		// ... but not with the checkpoint the auditor kept.
		_, err = evidence.Verify(bad, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey(), Previous: previous})
		var failure *evidence.Failure
		require.ErrorAs(t, err, &failure)
		assert.Contains(t, failure.Error(), "rewritten")
	})
}

// addMember appends a file to a bundle without touching the manifest.
func addMember(t *testing.T, src, name string, content []byte) string {
	t.Helper()
	zr, err := zip.OpenReader(src)
	require.NoError(t, err)
	defer zr.Close()
	dst := filepath.Join(t.TempDir(), "added.zip")
	f, err := os.Create(dst)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	for _, m := range zr.File {
		require.NoError(t, zw.Copy(m))
	}
	w, err := zw.Create(name)
	require.NoError(t, err)
	_, err = w.Write(content)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
	return dst
}

// TestPseudonymousByDefault: no file of a default bundle names a subject
// in clear; the admin's profile adds the receipts, each checked against
// its record line, and a receipt out of place is named.
func TestPseudonymousByDefault(t *testing.T) {
	d := newDeployment(t, store.DialectSQLite, 4)
	ctx := context.Background()
	owned, err := device.NewService(d.db, d.log).Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "T", Serial: "2", Firmware: "1",
		NoticeKey: "tracker", OwnerSubject: "subject-owner"})
	require.NoError(t, err)
	path, m := d.export(t, evidence.Options{})
	for _, f := range m.Files {
		assert.NotContains(t, string(member(t, path, f.Path)), "subject-", "%s names a subject in clear", f.Path)
	}
	owner, err := d.log.PseudonymOf(ctx, owned.OwnerSubject)
	require.NoError(t, err)
	require.Len(t, owner, 64)
	assert.Contains(t, string(member(t, path, evidence.FileDevices)), `"owner":"`+owner+`"`)
	assert.Contains(t, string(member(t, path, evidence.FileReport)), `id="profile">pseudonymous<`)

	withReceipts, m := d.export(t, evidence.Options{Receipts: true})
	assert.Equal(t, evidence.ProfileWithReceipts, m.Profile)
	key := evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()}
	sum, err := evidence.Verify(withReceipts, key)
	require.NoError(t, err)
	assert.Equal(t, 4, sum.Receipts)
	assert.Equal(t, 4, sum.Consents)
	assert.Contains(t, string(member(t, withReceipts, evidence.FileReport)), `id="profile">with-receipts<`)

	bad := rewrite(t, withReceipts, only(evidence.FileReceipts, func(b []byte) []byte {
		return lines(b, func(ls []string) []string { ls[0], ls[1] = ls[1], ls[0]; return ls })
	}), d.log)
	_, err = evidence.Verify(bad, key)
	assertFailure(t, err, evidence.FileReceipts+" line 1", "the record line in its place")
	bad = rewrite(t, withReceipts, only(evidence.FileReceipts, func(b []byte) []byte {
		return lines(b, func(ls []string) []string {
			var r evidence.Receipt
			require.NoError(t, json.Unmarshal([]byte(ls[0]), &r))
			r.Receipt += "x"
			b, _ := json.Marshal(r)
			ls[0] = string(b)
			return ls
		})
	}), d.log)
	_, err = evidence.Verify(bad, key)
	assertFailure(t, err, evidence.FileReceipts+" line 1", "does not hash to its record's receipt_sha256")
	// A receipts file dropped, the manifest re-signed: the profile says it
	// must be there.
	bad = rewrite(t, withReceipts, func(name string, b []byte) []byte {
		if name == evidence.FileReceipts {
			return nil
		}
		return b
	}, d.log)
	_, err = evidence.Verify(bad, key)
	assertFailure(t, err, evidence.FileReceipts, "profile is with-receipts")
}

// TestRecordsFromBeforeBindingVerify: a consent entry written before
// entries committed to whole records (no record_sha256, only the
// receipt's hash) still verifies, bound by its receipt's hash alone, and
// the summary counts it.
func TestRecordsFromBeforeBindingVerify(t *testing.T) {
	ctx := context.Background()
	receipt := "old.receipt.jws"
	sum := sha256.Sum256([]byte(receipt))
	receiptHash := hex.EncodeToString(sum[:])
	d := newDeploymentWith(t, store.DialectSQLite, 2, func(d *deployment) {
		old := registerLegacyDevice(t, d)
		_, err := d.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
			rec := privacy.ConsentRecord{ID: "0190a0a0-0000-7000-8000-000000000001", Kind: privacy.RecordConsent, SubjectID: "subject-old",
				DeviceID: old.ID, NoticeKey: "tracker", NoticeVersion: d.notice.Version, NoticeHash: d.notice.ContentHash, Locale: "en",
				Method: privacy.MethodApp, CreatedAt: tx.Now(), ClientID: "app", Receipt: receipt,
				Choices: []privacy.ConsentChoice{{Purpose: "navigation", Granted: false, AuditSeq: tx.Reserve(1)}}}
			if err := tx.InsertConsentRecord(rec); err != nil {
				return nil, err
			}
			// As the code before record commitments wrote it: no RecordSHA256.
			return []event.Event{event.ConsentRecorded{Consent: event.Consent{ReceiptSHA256: receiptHash, ConsentState: privacy.ConsentState{
				SubjectID: rec.SubjectID, DeviceID: rec.DeviceID, Purpose: "navigation", RecordID: rec.ID, Kind: rec.Kind, NoticeKey: "tracker",
				NoticeVersion: rec.NoticeVersion, AuditSeq: rec.Choices[0].AuditSeq}}}}, nil
		})
		require.NoError(t, err)
	})
	path, _ := d.export(t, evidence.Options{})
	got, err := evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
	require.NoError(t, err)
	assert.Equal(t, 3, got.Consents)
	assert.Equal(t, 1, got.Unbound)

	// Its receipt hash still binds it: a changed hash is named. It is the
	// first line: the oldest record.
	bad := rewrite(t, path, only(evidence.FileConsents, func(b []byte) []byte {
		return lines(b, func(ls []string) []string {
			var r evidence.ConsentRecord
			require.NoError(t, json.Unmarshal([]byte(ls[0]), &r))
			r.ReceiptSHA256 = strings.Repeat("0", 64)
			b, _ := json.Marshal(r)
			ls[0] = string(b)
			return ls
		})
	}), d.log)
	_, err = evidence.Verify(bad, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
	var failure *evidence.Failure
	require.ErrorAs(t, err, &failure)
	assert.Contains(t, failure.Item, evidence.FileConsents+" line 1")

	// After this version's first consent entry, one without its
	// commitment is not old: it fails, named.
	_, err = d.log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		return []event.Event{event.ConsentRecorded{Consent: event.Consent{ReceiptSHA256: receiptHash, ConsentState: privacy.ConsentState{
			SubjectID: "subject-late", DeviceID: d.device.ID, Purpose: "navigation", RecordID: "late", Kind: privacy.RecordConsent,
			NoticeKey: "tracker", NoticeVersion: d.notice.Version, AuditSeq: tx.NextSeq()}}}}, nil
	})
	require.NoError(t, err)
	path, m := d.export(t, evidence.Options{})
	_, err = evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
	assertFailure(t, err, fmt.Sprintf("%s line %d", evidence.FileEntries, m.AuditSize), "no record_sha256, though consent entries commit")
}

// registerLegacyDevice registers a device as the code before record
// commitments did: its entry holds no record_sha256.
func registerLegacyDevice(t testing.TB, d *deployment) privacy.Device {
	t.Helper()
	old := privacy.Device{ID: "0190a0a0-0000-7000-8000-0000000000d1", Manufacturer: "Acme", Model: "Old", Serial: "1", Firmware: "1",
		NoticeKey: "tracker", Status: privacy.DeviceActive}
	_, err := d.log.Do(context.Background(), func(tx *audit.Tx) ([]event.Event, error) {
		old.CreatedAt, old.UpdatedAt = tx.Now(), tx.Now()
		return []event.Event{event.DeviceRegistered{Device: old}}, tx.InsertDevice(old, tx.NextSeq())
	})
	require.NoError(t, err)
	return old
}

// TestDeviceAndInventoryLinesAreBound: every device line is its device as
// its last entry left it, every inventory line the version its entry
// declared; with the manifest re-signed, a changed field, a removed,
// added or reordered line is named.
func TestDeviceAndInventoryLinesAreBound(t *testing.T) {
	d := newDeployment(t, store.DialectSQLite, 2)
	ctx := context.Background()
	devices := device.NewService(d.db, d.log)
	second, err := devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "T", Serial: "2", Firmware: "1", NoticeKey: "tracker",
		OwnerSubject: "owner-2"})
	require.NoError(t, err)
	_, err = devices.Deactivate(ctx, second.ID)
	require.NoError(t, err)
	_, _, err = devices.PutInventory(ctx, second.ID, "admin", []privacy.DataElement{{Key: "battery", Description: "level", Category: "nonpersonal.device.status",
		Sensitivity: privacy.SensitivityNone, Purposes: []string{"maintenance"}, CollectionMethod: privacy.CollectSensor, Retention: "P7D", StorageRegion: "EU"}})
	require.NoError(t, err)
	path, _ := d.export(t, evidence.Options{})
	key := evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()}
	sum, err := evidence.Verify(path, key)
	require.NoError(t, err)
	assert.Equal(t, 2, sum.Devices)
	assert.Equal(t, 2, sum.Inventories)
	assert.Zero(t, sum.UnboundLines)
	assert.Contains(t, string(member(t, path, evidence.FileDevices)), `"status":"deactivated"`)

	edit := func(file string, line int, change func(map[string]any)) string {
		return rewrite(t, path, only(file, func(b []byte) []byte {
			return lines(b, func(ls []string) []string {
				var v map[string]any
				require.NoError(t, json.Unmarshal([]byte(ls[line]), &v))
				change(v)
				b, _ := json.Marshal(v)
				ls[line] = string(b)
				return ls
			})
		}), d.log)
	}
	// Which line is the deactivated device: ids are UUIDv7, so the second.
	for name, c := range map[string]struct {
		file   string
		line   int
		change func(map[string]any)
		detail string
	}{
		"a device reactivated":         {evidence.FileDevices, 1, func(v map[string]any) { v["status"] = "active" }, "does not record this line"},
		"a device's serial":            {evidence.FileDevices, 0, func(v map[string]any) { v["serial"] = "9" }, "does not record this line"},
		"a device's owner dropped":     {evidence.FileDevices, 1, func(v map[string]any) { delete(v, "owner") }, "does not record this line"},
		"an element's category":        {evidence.FileInventories, 0, func(v map[string]any) { v["elements"].([]any)[0].(map[string]any)["category"] = "x" }, "does not record this line"},
		"an element's purposes":        {evidence.FileInventories, 1, func(v map[string]any) { v["elements"].([]any)[0].(map[string]any)["purposes"] = []string{"navigation"} }, "does not record this line"},
		"an inventory version renamed": {evidence.FileInventories, 0, func(v map[string]any) { v["version"] = 7 }, "no audit entry declared this version"},
	} {
		_, err := evidence.Verify(edit(c.file, c.line, c.change), key)
		var failure *evidence.Failure
		require.ErrorAs(t, err, &failure, name)
		assert.Contains(t, failure.Item, c.file+fmt.Sprintf(" line %d (", c.line+1), name)
		assert.Contains(t, failure.Detail, c.detail, name)
	}
	for _, file := range []string{evidence.FileDevices, evidence.FileInventories} {
		removed := rewrite(t, path, only(file, func(b []byte) []byte {
			return lines(b, func(ls []string) []string { return ls[1:] })
		}), d.log)
		_, err := evidence.Verify(removed, key)
		assertFailure(t, err, file, "a line was removed")
		swapped := rewrite(t, path, only(file, func(b []byte) []byte {
			return lines(b, func(ls []string) []string { ls[0], ls[1] = ls[1], ls[0]; return ls })
		}), d.log)
		_, err = evidence.Verify(swapped, key)
		var failure *evidence.Failure
		require.ErrorAs(t, err, &failure, file)
		assert.Contains(t, failure.Detail, "order", file)
	}
}

// TestNoticeAndPolicyFilesAreBound: a notice file is the version its
// entry published, policies.json the policy the entries leave; with the
// manifest re-signed, an edit to either is named.
func TestNoticeAndPolicyFilesAreBound(t *testing.T) {
	d := newDeployment(t, store.DialectSQLite, 1)
	path, _ := d.export(t, evidence.Options{})
	key := evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()}
	const file = "notices/tracker/v1.json"
	editNotice := func(change func(map[string]any)) string {
		return rewrite(t, path, only(file, func(b []byte) []byte {
			var v map[string]any
			require.NoError(t, json.Unmarshal(b, &v))
			change(v)
			out, _ := json.Marshal(v)
			return out
		}), d.log)
	}
	_, err := evidence.Verify(editNotice(func(v map[string]any) { v["material_purposes"] = []string{"maintenance"} }), key)
	assertFailure(t, err, file, "material_purposes")
	_, err = evidence.Verify(editNotice(func(v map[string]any) { v["published_at"] = "2020-01-01T00:00:00Z" }), key)
	assertFailure(t, err, file, "published_at")
	// Other content with its own, correct hash: not what was published.
	_, err = evidence.Verify(editNotice(func(v map[string]any) {
		c := v["content"].(map[string]any)
		c["controller"].(map[string]any)["name"] = "Someone else"
		raw, _ := json.Marshal(c)
		canon, err := audit.Canonical(json.RawMessage(raw))
		require.NoError(t, err)
		sum := sha256.Sum256(canon)
		v["content_sha256"] = hex.EncodeToString(sum[:])
	}), key)
	assertFailure(t, err, file, "published other content")
	removed := rewrite(t, path, func(name string, b []byte) []byte {
		if strings.HasPrefix(name, "notices/") {
			return nil
		}
		return b
	}, d.log)
	_, err = evidence.Verify(removed, key)
	assertFailure(t, err, "notices/", "a file was removed")

	widened := rewrite(t, path, only(evidence.FilePolicies, func(b []byte) []byte {
		var p evidence.Policies
		require.NoError(t, json.Unmarshal(b, &p))
		p.Rules = append(p.Rules, evidence.Rule{Subject: "ad-broker", Category: "*", Purpose: "*", Action: "share", Effect: "allow"})
		out, _ := json.Marshal(p)
		return out
	}), d.log)
	_, err = evidence.Verify(widened, key)
	assertFailure(t, err, evidence.FilePolicies, "is not the data policy the policy.* entries leave")
}
