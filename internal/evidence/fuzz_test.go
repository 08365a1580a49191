package evidence_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/store"
)

// FuzzVerifyBundle gives the offline verifier arbitrary archives: it must
// refuse them with an error, never panic.
func FuzzVerifyBundle(f *testing.F) {
	d := newDeployment(f, store.DialectSQLite, 2)
	path, _ := d.export(f, evidence.Options{})
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	key := d.log.VerifierKey()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "b.zip")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := evidence.Verify(p, evidence.VerifyOptions{VerifierKey: key}); err == nil && !bytes.Equal(data, seed) {
			// Another archive can verify only if it holds the same signed
			// files (zip framing may differ); check the manifest is the seed's.
			if !bytes.Equal(member(t, p, evidence.FileManifest), member(t, path, evidence.FileManifest)) {
				t.Fatal("an archive with a different manifest verified")
			}
		}
	})
}

// FuzzConsistencyProof puts adversarial consistency proofs in a bundle
// whose manifest the key holder re-signed: none but the genuine proof may
// verify against the auditor's previous checkpoint.
func FuzzConsistencyProof(f *testing.F) {
	d := newDeployment(f, store.DialectSQLite, 3)
	first, _ := d.export(f, evidence.Options{})
	previous := member(f, first, evidence.FileCheckpoint)
	d.consent(f, "later", true)
	size, err := evidence.ParseCheckpointSize(previous)
	if err != nil {
		f.Fatal(err)
	}
	path, _ := d.export(f, evidence.Options{PreviousSize: size})
	genuine := member(f, path, evidence.FileConsistency)
	var want evidence.Consistency
	if err := json.Unmarshal(genuine, &want); err != nil {
		f.Fatal(err)
	}
	f.Add(genuine)
	f.Add(bytes.Replace(genuine, []byte(`"proof": [`), []byte(`"proof": [ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",`), 1))
	f.Fuzz(func(t *testing.T, proof []byte) {
		bad := rewrite(t, path, only(evidence.FileConsistency, func([]byte) []byte { return proof }), d.log)
		_, err := evidence.Verify(bad, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey(), Previous: previous})
		if err != nil {
			return
		}
		var got evidence.Consistency
		if json.Unmarshal(proof, &got) != nil || len(got.Proof) != len(want.Proof) {
			t.Fatalf("a proof other than the genuine one verified: %s", proof)
		}
		for i := range got.Proof {
			if !bytes.Equal(got.Proof[i], want.Proof[i]) {
				t.Fatalf("a proof other than the genuine one verified: %s", proof)
			}
		}
	})
}

// FuzzReceipt puts adversarial receipts beside a consent record of a
// with-receipts bundle whose manifest the key holder re-signed: only the
// receipt the deployment signed for that record may verify.
func FuzzReceipt(f *testing.F) {
	d := newDeployment(f, store.DialectSQLite, 1)
	path, _ := d.export(f, evidence.Options{Receipts: true})
	line := bytes.TrimSpace(member(f, path, evidence.FileReceipts))
	var rec evidence.Receipt
	if err := json.Unmarshal(line, &rec); err != nil {
		f.Fatal(err)
	}
	f.Add(rec.Receipt)
	f.Add(rec.Receipt[:len(rec.Receipt)-2] + "AA")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, receipt string) {
		forged := rec
		forged.Receipt = receipt
		b, err := json.Marshal(forged)
		if err != nil {
			return
		}
		bad := rewrite(t, path, only(evidence.FileReceipts, func([]byte) []byte { return append(b, '\n') }), d.log)
		if _, err := evidence.Verify(bad, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()}); err == nil && receipt != rec.Receipt {
			t.Fatalf("a receipt the deployment did not sign for this record verified: %q", receipt)
		}
	})
}
