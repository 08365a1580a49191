package rights_test

import (
	"bytes"
	"testing"

	"github.com/consentry/consentry/internal/rights"
)

// FuzzVerifyExport: whatever bytes are handed to the export verifier, it
// answers (an error or a summary) without panicking, and never accepts a
// document that carries no signed checkpoint.
func FuzzVerifyExport(f *testing.F) {
	f.Add([]byte(`{"format":"consentry-subject-export/1","subject":"a","pseudonym":"` + string(bytes.Repeat([]byte("a"), 64)) + `","log":{},"entries":[]}`))
	f.Add([]byte(`{"format":"consentry-subject-export/1","log":{"verifier_key":"x+1+AQ","checkpoint":"x\n1\nAAAA\n\n— x AAAA\n"},"entries":[{"seq":-1,"proof":["zz"]}]}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := rights.VerifyExport(bytes.NewReader(b), ""); err == nil {
			t.Fatalf("accepted an export with no valid signed checkpoint: %q", b)
		}
	})
}
