package rights

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Export is an access export as read back.
type Export struct {
	Format      string        `json:"format"`
	GeneratedAt string        `json:"generated_at"`
	Subject     string        `json:"subject"`
	Pseudonym   string        `json:"pseudonym"`
	Log         ExportLog     `json:"log"`
	Entries     []ExportEntry `json:"entries"`
}

// ExportSummary is what VerifyExport checked.
type ExportSummary struct {
	Subject        string
	Origin         string
	Size           int64
	Entries        int
	ConsentRecords int
	Decisions      int
}

// IsExport reports whether b begins an access export (a JSON object
// naming ExportFormat first), not an evidence bundle.
func IsExport(b []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(b), []byte(`{"format":"`+ExportFormat+`"`))
}

// VerifyExport checks an access export offline: the checkpoint's
// signature under verifierKey (the deployment's audit key, obtained out
// of band; "" trusts the export's own, which proves it whole but not
// whose it is); every entry's leaf hash and its RFC 6962 inclusion proof
// against the checkpoint; that every entry names the export's pseudonym;
// that every consent record, rebuilt from the export, is the line its
// entry committed to (every field, every choice, the receipt's hash); and
// that every decision is the one its entry recorded, steps included.
func VerifyExport(r io.Reader, verifierKey string) (ExportSummary, error) {
	var x Export
	dec := json.NewDecoder(r)
	if err := dec.Decode(&x); err != nil {
		return ExportSummary{}, fmt.Errorf("not an access export: %w", err)
	}
	if x.Format != ExportFormat {
		return ExportSummary{}, fmt.Errorf("format %q is not %s", x.Format, ExportFormat)
	}
	if verifierKey == "" {
		verifierKey = x.Log.VerifierKey
	}
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return ExportSummary{}, fmt.Errorf("verifier key: %w", err)
	}
	n, err := note.Open([]byte(x.Log.Checkpoint), note.VerifierList(v))
	if err != nil {
		return ExportSummary{}, fmt.Errorf("checkpoint: not signed by the verifier key: %w", err)
	}
	cp := &log.Checkpoint{}
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return ExportSummary{}, fmt.Errorf("checkpoint: %w", err)
	}
	if cp.Origin != v.Name() {
		return ExportSummary{}, fmt.Errorf("checkpoint: origin %q is not the key's %q", cp.Origin, v.Name())
	}
	var root tlog.Hash
	copy(root[:], cp.Hash)
	size := int64(cp.Size)
	sum := ExportSummary{Subject: x.Subject, Origin: cp.Origin, Size: size}
	for _, e := range x.Entries {
		if err := checkEntry(e, x.Pseudonym, size, root); err != nil {
			return sum, fmt.Errorf("entry %d: %w", e.Seq, err)
		}
		sum.Entries++
		if e.ConsentRecord != nil {
			sum.ConsentRecords++
		}
		if e.Decision != nil {
			sum.Decisions++
		}
	}
	return sum, nil
}

// checkEntry checks one entry against the tree (size, root).
func checkEntry(x ExportEntry, pseudonym string, size int64, root tlog.Hash) error {
	leaf := []byte(x.Leaf)
	lh := tlog.RecordHash(leaf)
	if hex.EncodeToString(lh[:]) != x.LeafHash {
		return fmt.Errorf("leaf_hash is not SHA-256(0x00 || leaf)")
	}
	proof := make(tlog.RecordProof, len(x.Proof))
	for i, p := range x.Proof {
		b, err := hex.DecodeString(p)
		if err != nil || len(b) != tlog.HashSize {
			return fmt.Errorf("proof[%d] is not a hex SHA-256", i)
		}
		copy(proof[i][:], b)
	}
	if x.Seq < 0 || x.Seq >= size {
		return fmt.Errorf("not in a tree of size %d", size)
	}
	if err := tlog.CheckRecord(proof, size, root, x.Seq, lh); err != nil {
		return fmt.Errorf("not in the checkpoint's tree: %w", err)
	}
	e, err := audit.ParseLeaf(leaf)
	if err != nil {
		return err
	}
	if e.Seq != x.Seq {
		return fmt.Errorf("the leaf says seq %d", e.Seq)
	}
	if e.Targets["subject"] != pseudonym {
		return fmt.Errorf("names another subject")
	}
	if x.ConsentRecord != nil {
		if e.Action != event.ActionConsentRecorded && e.Action != event.ActionConsentWithdrawn || e.Targets["record"] != x.ConsentRecord.ID {
			return fmt.Errorf("does not record consent record %s", x.ConsentRecord.ID)
		}
		rec, err := x.ConsentRecord.domain(pseudonym)
		if err != nil {
			return fmt.Errorf("consent record %s: %w", rec.ID, err)
		}
		h := sha256.Sum256([]byte(rec.Receipt))
		want, err := audit.LineSHA256(audit.NewConsentLine(rec, pseudonym, x.ConsentRecord.GuardianPseudonym, hex.EncodeToString(h[:])))
		if err != nil {
			return err
		}
		if e.RecordSHA256 != want {
			return fmt.Errorf("consent record %s (or its receipt) is not what the entry committed to", rec.ID)
		}
	}
	if d := x.Decision; d != nil {
		outcome := event.OutcomeDeny
		if d.Allow {
			outcome = event.OutcomeAllow
		}
		t := e.Targets
		if e.Action != event.ActionDecision || t["decision"] != d.ID || t["device"] != d.DeviceID || t["element"] != d.Element ||
			t["purpose"] != d.Purpose || t["action"] != d.Action || t["service"] != d.ServiceID || e.Outcome != outcome ||
			!slices.Equal(e.Reasons, d.Reasons) && len(e.Reasons)+len(d.Reasons) > 0 {
			return fmt.Errorf("decision %s is not the one the entry recorded", d.ID)
		}
		if e.RecordSHA256 != "" {
			steps, err := audit.DecisionStepsSHA256(d.Steps)
			if err != nil {
				return err
			}
			if steps != e.RecordSHA256 {
				return fmt.Errorf("decision %s: its steps are not the ones the entry committed to", d.ID)
			}
		}
	}
	return nil
}
