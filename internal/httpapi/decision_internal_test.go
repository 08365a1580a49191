package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// appendDecision and appendBatch write what encoding/json writes for
// every shape of answer: allow, deny, no reasons, odd strings, batches.
func TestDecisionAnswersAreEncodingJSON(t *testing.T) {
	seq := int64(17)
	at := time.Date(2026, 12, 7, 15, 4, 5, 123456789, time.UTC)
	var all []decisionResponse
	for _, r := range []decisionResponse{
		{ID: "0193a1b2-0000-7000-8000-000000000001", Decision: "allow", Reasons: []string{}, AuditSeq: 42, ConsentRecord: "0193a1b2-0000-7000-8000-000000000002",
			ConsentSeq: &seq, NoticeVersion: 3, DecidedAt: at},
		{ID: "x", Decision: "deny", Reasons: []string{"no_consent", "policy_denied"}, AuditSeq: 0, DecidedAt: at.Truncate(time.Second)},
		{ID: "q\"<&>\u2028é\x01", Decision: "deny", Reasons: nil, DecidedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))},
	} {
		want, err := json.Marshal(r)
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(appendDecision(nil, r)))
		var back decisionResponse
		require.NoError(t, json.Unmarshal(appendDecision(nil, r), &back))
		require.Equal(t, r.ID, back.ID)
		require.True(t, r.DecidedAt.Equal(back.DecidedAt))
		all = append(all, r)
	}
	for _, batch := range []batchResponse{{Results: all}, {Results: all[:1]}, {Results: []decisionResponse{}}, {}} {
		want, err := json.Marshal(batch)
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(appendBatch(nil, batch)))
	}
}
