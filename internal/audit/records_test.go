package audit

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConsentLineCanonicalIsRFC8785: the direct writer of a consent line
// gives exactly the general canonical form, for lines with and without
// optional fields, escapes, non-ASCII text and invalid UTF-8.
func TestConsentLineCanonicalIsRFC8785(t *testing.T) {
	strs := []string{"", "a", "navigation", "é\u2028\"\\\n\x01", "日本", "<a&b>", "\xff\xfe", "2026-12-07T00:00:00.000000Z"}
	pick := func(r *rand.Rand) string { return strs[r.IntN(len(strs))] }
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		l := ConsentLine{ID: pick(r), Kind: pick(r), Subject: pick(r), DeviceID: pick(r), NoticeKey: pick(r), NoticeVersion: r.IntN(1 << 20),
			NoticeSHA256: pick(r), Locale: pick(r), Method: pick(r), ClientID: pick(r), ClientTime: pick(r), CreatedAt: pick(r),
			Withdraws: pick(r), Reason: pick(r), ReceiptSHA256: pick(r), Choices: []ConsentLineChoice{}}
		for range r.IntN(4) {
			l.Choices = append(l.Choices, ConsentLineChoice{Purpose: pick(r), Granted: r.IntN(2) == 1, ExpiresAt: pick(r), AuditSeq: r.Int64N(1 << 40)})
		}
		want, err := PayloadHash(l)
		require.NoError(t, err)
		got, err := LineSHA256(l)
		require.NoError(t, err)
		require.Equal(t, want, got, "%+v", l)
		if b, ok := l.canonical(); ok {
			c, err := Canonical(l)
			require.NoError(t, err)
			assert.Equal(t, string(c), string(b))
		}
	}
}

// TestDecisionStepsSHA256IsRFC8785: the direct writer gives the hash of
// the general canonical form.
func TestDecisionStepsSHA256IsRFC8785(t *testing.T) {
	for _, steps := range [][]DecisionStep{
		{},
		{{Check: "device", OK: true, Detail: "device is active"}},
		{{Check: "consent", Reason: "no_consent", Detail: "é <&> \"quoted\"\n"}, {Check: "policy", OK: true, Detail: "\xff"}},
	} {
		want, err := PayloadHash(steps)
		require.NoError(t, err)
		got, err := DecisionStepsSHA256(steps)
		require.NoError(t, err)
		assert.Equal(t, want, got, "%+v", steps)
	}
}
