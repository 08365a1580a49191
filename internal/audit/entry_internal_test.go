package audit

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCanonicalEntryIsRFC8785 checks the fast encoder against the general
// RFC 8785 implementation on entries full of awkward characters.
func TestCanonicalEntryIsRFC8785(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"a", "Z", "é", "<", ">", "&", "\"", "\\", "/", "\n", "\t", "\x01", "\u2028", "\u2029", "😀", "\x7f", "€", " ", "\ufffd"}
	str := func() string {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 2000 {
		seq := r.Int64N(1 << 40)
		e := Entry{Action: str(), Actor: EntryActor{ClientID: str(), Role: str()}, Outcome: str(), RequestID: str(), Seq: seq, Time: str(),
			ExpiresAt: str(), PayloadSHA256: str(), Reasons: []string{str(), str()}, Targets: map[string]string{str(): str(), "device": str(), "b": str(), "😀x": str(), "\ufffdy": str()}}
		if r.IntN(2) == 0 {
			e.ReliesOn = &seq
		}
		fast, err := canonicalEntry(e)
		require.NoError(t, err)
		slow, err := Canonical(e)
		require.NoError(t, err)
		assert.Equal(t, string(slow), string(fast))
	}
}
