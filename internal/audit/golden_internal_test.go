package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/event/eventtest"
	"github.com/consentry/consentry/internal/memo"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/require"
)

// TestGoldenEntries: the exact leaf bytes of an entry of every kind of
// event, as an auditor's verifier hashes them. A change here changes what
// every verifier must accept: entries already written keep their bytes.
func TestGoldenEntries(t *testing.T) {
	// The examples' subject is named by the pseudonym its entries had when
	// pseudonyms were HMACs under this key: the bytes of those entries
	// are unchanged.
	m := hmac.New(sha256.New, []byte("golden-hmac-key-not-a-secret-000"))
	m.Write([]byte("alice"))
	l := &Log{pseudonyms: memo.New[string, string](16)}
	b := &batch{log: l, named: map[string]string{"alice": hex.EncodeToString(m.Sum(nil))}}
	ctx := privacy.WithRequestID(privacy.WithActor(context.Background(), privacy.Actor{ClientID: "client-1", Role: "admin"}), "req-1")
	at := time.Date(2026, 12, 7, 12, 0, 0, 123456000, time.UTC)
	var out bytes.Buffer
	for i, ev := range eventtest.Examples() {
		e, _, err := l.entry(b, int64(i), at, ctx, ev)
		require.NoError(t, err, ev.Action())
		leaf, err := canonicalEntry(e)
		require.NoError(t, err, ev.Action())
		out.Write(leaf)
		out.WriteByte('\n')
	}
	testkit.Golden(t, "entries.golden", out.Bytes())
}
