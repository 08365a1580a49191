package audit_test

import (
	"context"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"golang.org/x/mod/sumdb/note"
)

// FuzzVerifyCheckpoint gives the verifier adversarial checkpoints (and
// older checkpoints) for a genuine log: it must never panic, and nothing
// but the signed text may verify, since only the key holder can sign.
func FuzzVerifyCheckpoint(f *testing.F) {
	db := storetest.MustOpenDB(f, store.DialectSQLite, nil)
	l := audittest.MustOpenLog(f, db, audit.Options{})
	appendN(f, l, 5)
	older, err := l.Checkpoint(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	appendN(f, l, 7)
	cp, err := l.Checkpoint(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	v, err := note.NewVerifier(l.VerifierKey())
	if err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{} // the texts the key really signed
	for _, c := range []string{cp.Note, older.Note} {
		n, err := note.Open([]byte(c), note.VerifierList(v))
		if err != nil {
			f.Fatal(err)
		}
		signed[n.Text] = true
	}
	f.Add([]byte(cp.Note), []byte(older.Note))
	f.Add([]byte(cp.Note), []byte(cp.Note))
	f.Add([]byte(older.Note), []byte(cp.Note))
	f.Add([]byte("x\n-1\nAAAA\n\n— x AAAA\n"), []byte{})
	f.Fuzz(func(t *testing.T, checkpoint, olderNote []byte) {
		_, err := audit.Verify(audit.VerifyInput{Checkpoint: checkpoint, VerifierKey: l.VerifierKey(), Older: olderNote, Entries: entries(l)})
		if err != nil {
			return
		}
		n, err := note.Open(checkpoint, note.VerifierList(v))
		if err != nil || !signed[n.Text] {
			t.Fatalf("a checkpoint the key did not sign verified: %q", checkpoint)
		}
	})
}
