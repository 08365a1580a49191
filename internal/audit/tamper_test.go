package audit_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tamperable opens a SQLite log of n entries with a signed checkpoint,
// and a raw handle on which the append-only triggers are dropped, as an
// operator with database access could.
func tamperable(t *testing.T, n int) (*audit.Log, *sql.DB, privacy.Checkpoint, audit.Keys) {
	t.Helper()
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	l, keys := audittest.MustOpenLogWithKeys(t, db, audit.Options{})
	appendN(t, l, n)
	cp, err := l.Checkpoint(context.Background())
	require.NoError(t, err)
	raw, err := db.SQL()
	require.NoError(t, err)
	for _, trg := range []string{"audit_entries_no_update", "audit_entries_no_delete", "audit_hashes_no_update", "audit_hashes_no_delete"} {
		_, err := raw.Exec("DROP TRIGGER " + trg)
		require.NoError(t, err)
	}
	return l, raw, cp, keys
}

func verifyFailure(t *testing.T, in audit.VerifyInput) *audit.Failure {
	t.Helper()
	_, err := audit.Verify(in)
	require.Error(t, err)
	var f *audit.Failure
	require.ErrorAs(t, err, &f)
	return f
}

func TestOneChangedByteIsNamed(t *testing.T) {
	l, raw, cp, _ := tamperable(t, 40)
	// Change one byte inside entry 17's leaf: "test.event" becomes "test.evenT".
	storetest.EditLeaf(t, raw, 17, "test.event", "test.evenT")
	f := verifyFailure(t, audit.VerifyInput{Checkpoint: []byte(cp.Note), VerifierKey: l.VerifierKey(), Entries: entries(l), Prove: prover(l)})
	assert.EqualValues(t, 17, f.Seq, f.Error())
	assert.Equal(t, "altered", f.Check)

	// Offline, without the server's proofs, the root still fails.
	f = verifyFailure(t, audit.VerifyInput{Checkpoint: []byte(cp.Note), VerifierKey: l.VerifierKey(), Entries: entries(l)})
	assert.Equal(t, "root", f.Check)
}

func TestADeletedEntryIsNamed(t *testing.T) {
	l, raw, cp, _ := tamperable(t, 30)
	_, err := raw.Exec(`DELETE FROM audit_entries WHERE seq = 11`)
	require.NoError(t, err)
	f := verifyFailure(t, audit.VerifyInput{Checkpoint: []byte(cp.Note), VerifierKey: l.VerifierKey(), Entries: entries(l)})
	assert.EqualValues(t, 11, f.Seq, f.Error())
	assert.Equal(t, "missing", f.Check)

	_, err = raw.Exec(`DELETE FROM audit_entries WHERE seq = 29`)
	require.NoError(t, err)
	_, err = raw.Exec(`INSERT INTO audit_entries (seq, leaf, action, subject_hmac, created_at) SELECT 11, leaf, action, subject_hmac, created_at FROM audit_entries WHERE seq = 10`)
	require.NoError(t, err)
	f = verifyFailure(t, audit.VerifyInput{Checkpoint: []byte(cp.Note), VerifierKey: l.VerifierKey(), Entries: entries(l)})
	assert.EqualValues(t, 11, f.Seq, "a copied entry carries the wrong sequence number: %s", f.Error())
}

// TestARewrittenLogIsCaught rewrites an entry and rebuilds every stored
// hash so the tree is self-consistent: the server refuses to sign it, and
// a checkpoint forged with the stolen key is caught by the auditor's
// older checkpoint.
func TestARewrittenLogIsCaught(t *testing.T) {
	ctx := context.Background()
	l, raw, older, keys := tamperable(t, 25)
	storetest.EditLeaf(t, raw, 4, "test.event", "test.evenT")
	_, err := raw.Exec(`DELETE FROM audit_hashes`)
	require.NoError(t, err)
	m := &memTree{hashes: map[int64]tlog.Hash{}}
	for se, err := range entries(l) {
		require.NoError(t, err)
		hs, err := tlog.StoredHashes(se.Seq, se.Leaf, m)
		require.NoError(t, err)
		base := tlog.StoredHashIndex(0, se.Seq)
		for k, h := range hs {
			m.hashes[base+int64(k)] = h
			_, err := raw.Exec(`INSERT INTO audit_hashes (idx, hash) VALUES (?, ?)`, base+int64(k), h[:])
			require.NoError(t, err)
		}
	}
	appendN(t, l, 1) // the log grows, so the server is asked to sign a new size
	_, err = l.Checkpoint(ctx)
	assert.Equal(t, privacy.EUnavailable, privacy.ErrorCode(err), "the server refuses to sign a rewritten log")
	assert.Error(t, l.Health(), "and says so on /readyz")

	// An operator who holds the key signs the rewritten log anyway.
	m = &memTree{hashes: map[int64]tlog.Hash{}}
	var size int64
	for se, err := range entries(l) {
		require.NoError(t, err)
		hs, err := tlog.StoredHashes(se.Seq, se.Leaf, m)
		require.NoError(t, err)
		for k, h := range hs {
			m.hashes[tlog.StoredHashIndex(0, se.Seq)+int64(k)] = h
		}
		size++
	}
	root, err := tlog.TreeHash(size, m)
	require.NoError(t, err)
	forged := forge(t, keys, size, root)
	res, err := audit.Verify(audit.VerifyInput{Checkpoint: forged, VerifierKey: l.VerifierKey(), Entries: entries(l)})
	require.NoError(t, err, "alone, the forged checkpoint and the rewritten log agree")
	assert.EqualValues(t, size, res.Size)
	f := verifyFailure(t, audit.VerifyInput{Checkpoint: forged, Older: []byte(older.Note), VerifierKey: l.VerifierKey(), Entries: entries(l)})
	assert.Equal(t, "consistency", f.Check, f.Error())

	// A truncated log cannot hide behind a smaller checkpoint either.
	small := forge(t, keys, 10, mustTreeHash(t, m, 10))
	f = verifyFailure(t, audit.VerifyInput{Checkpoint: small, Older: []byte(older.Note), VerifierKey: l.VerifierKey(), Entries: entries(l)})
	assert.Equal(t, "consistency", f.Check)
}

func mustTreeHash(t *testing.T, m *memTree, size int64) tlog.Hash {
	t.Helper()
	r, err := tlog.TreeHash(size, m)
	require.NoError(t, err)
	return r
}

// forge signs a checkpoint with the log's own key, outside the server.
func forge(t *testing.T, keys audit.Keys, size int64, root tlog.Hash) []byte {
	t.Helper()
	text := log.Checkpoint{Origin: keys.Origin(), Size: uint64(size), Hash: root[:]}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, keys.Signer)
	require.NoError(t, err)
	return signed
}

// TestALeafThatIsNotJSONIsNamed: an entry rewritten into bytes that are
// not JSON at all, or into a packed value that does not unpack (read as
// it is stored), is named by its own sequence number.
func TestALeafThatIsNotJSONIsNamed(t *testing.T) {
	for name, stored := range map[string][]byte{"text": []byte(`{"seq":7,`), "packed": {1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0}} {
		t.Run(name, func(t *testing.T) {
			l, raw, cp, _ := tamperable(t, 20)
			_, err := raw.Exec(`UPDATE audit_entries SET leaf = ? WHERE seq = 7`, stored)
			require.NoError(t, err)
			for _, prove := range []bool{true, false} {
				in := audit.VerifyInput{Checkpoint: []byte(cp.Note), VerifierKey: l.VerifierKey(), Entries: entries(l)}
				if prove {
					in.Prove = prover(l)
				}
				f := verifyFailure(t, in)
				assert.EqualValues(t, 7, f.Seq, f.Error())
				assert.Equal(t, "form", f.Check)
			}
		})
	}
}
