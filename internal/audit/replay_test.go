package audit_test

import (
	"crypto/rand"
	"fmt"
	"iter"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// signedLog turns entries into leaves, a tree and a signed checkpoint, as
// a server would, for verifier tests that need exact logs.
func signedLog(t *testing.T, es []audit.Entry) (checkpoint []byte, vkey string, all iter.Seq2[audit.StoredEntry, error]) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "consentry.test/replay")
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	m := &memTree{hashes: map[int64]tlog.Hash{}}
	var stored []audit.StoredEntry
	for i, e := range es {
		e.Seq = int64(i)
		if e.Time == "" {
			e.Time = "2026-11-28T12:00:00.000000Z"
		}
		leaf, err := audit.Canonical(e)
		require.NoError(t, err)
		hs, err := tlog.StoredHashes(int64(i), leaf, m)
		require.NoError(t, err)
		for k, h := range hs {
			m.hashes[tlog.StoredHashIndex(0, int64(i))+int64(k)] = h
		}
		stored = append(stored, audit.StoredEntry{Seq: int64(i), Leaf: leaf})
	}
	root, err := tlog.TreeHash(int64(len(es)), m)
	require.NoError(t, err)
	cp, err := note.Sign(&note.Note{Text: string(log.Checkpoint{Origin: "consentry.test/replay", Size: uint64(len(es)), Hash: root[:]}.Marshal())}, signer)
	require.NoError(t, err)
	return cp, vkey, func(yield func(audit.StoredEntry, error) bool) {
		for _, s := range stored {
			if !yield(s, nil) {
				return
			}
		}
	}
}

func ptr(n int64) *int64 { return &n }

// onNotice places a consent entry on version v of notice n1.
func onNotice(e audit.Entry, v int) audit.Entry {
	t := map[string]string{}
	for k, val := range e.Targets {
		t[k] = val
	}
	t["notice"], t["notice_version"] = "n1", fmt.Sprint(v)
	e.Targets = t
	return e
}

// publish is the entry of version v of notice n1 being published.
func publish(v int, reasons ...string) audit.Entry {
	return audit.Entry{Action: event.ActionNoticePublished, Outcome: "ok", Targets: map[string]string{"notice": "n1", "version": fmt.Sprint(v)}, Reasons: reasons}
}

func TestReplayStrictestByDefault(t *testing.T) {
	target := map[string]string{"subject": "h1", "device": "d1", "purpose": "p1"}
	other := map[string]string{"subject": "h2", "device": "d1", "purpose": "p1"}
	grant := audit.Entry{Action: event.ActionConsentRecorded, Outcome: event.OutcomeGranted, Targets: target}
	grantUntil := func(exp string) audit.Entry { g := grant; g.ExpiresAt = exp; return g }
	refuse := audit.Entry{Action: event.ActionConsentRecorded, Outcome: "denied", Targets: target}
	withdraw := audit.Entry{Action: event.ActionConsentWithdrawn, Outcome: "withdrawn", Targets: target}
	allow := func(relies int64, at string) audit.Entry {
		return audit.Entry{Action: event.ActionDecision, Outcome: event.OutcomeAllow, Targets: target, ReliesOn: ptr(relies), Time: at}
	}
	deny := audit.Entry{Action: event.ActionDecision, Outcome: "deny", Targets: target, Reasons: []string{"no_consent"}}
	noise := audit.Entry{Action: "device.registered", Outcome: "ok"}

	tests := []struct {
		name    string
		log     []audit.Entry
		badSeq  int64 // -1: the log verifies
		allows  int
		comment string
	}{
		{"allow relying on the granted consent", []audit.Entry{noise, grant, allow(1, ""), deny}, -1, 1, ""},
		{"allow before expiry", []audit.Entry{grantUntil("2026-11-28T13:00:00.000000Z"), allow(0, "2026-11-28T12:59:59.999999Z")}, -1, 1, ""},
		{"deny needs no consent", []audit.Entry{deny, noise}, -1, 0, ""},
		{"allow with no consent at all", []audit.Entry{noise, allow(0, "")}, 1, 0, ""},
		{"allow naming no consent", []audit.Entry{grant, {Action: event.ActionDecision, Outcome: event.OutcomeAllow, Targets: target}}, 1, 0, ""},
		{"allow after withdrawal", []audit.Entry{grant, withdraw, allow(0, "")}, 2, 0, ""},
		{"allow relying on a refusal", []audit.Entry{refuse, allow(0, "")}, 1, 0, ""},
		{"allow after expiry", []audit.Entry{grantUntil("2026-11-28T12:00:00.000000Z"), allow(0, "2026-11-28T12:00:00.000000Z")}, 1, 0, ""},
		{"allow relying on a superseded consent", []audit.Entry{grant, grant, allow(0, "")}, 2, 0, ""},
		{"allow relying on another subject's consent", []audit.Entry{{Action: event.ActionConsentRecorded, Outcome: event.OutcomeGranted, Targets: other}, allow(0, "")}, 1, 0, ""},
		{"the first bad allow is named", []audit.Entry{grant, allow(0, ""), withdraw, allow(0, ""), allow(0, "")}, 3, 0, ""},
		{"allow after a material change to its purpose", []audit.Entry{onNotice(grant, 1), publish(2, "material_change:p1"), allow(0, "")}, 2, 0, ""},
		{"a material change to another purpose leaves it alone", []audit.Entry{onNotice(grant, 1), publish(2, "material_change:p2"), allow(0, "")}, -1, 1, ""},
		{"consent given on the new version holds", []audit.Entry{onNotice(grant, 1), publish(2, "material_change:p1"), onNotice(grant, 2), allow(2, "")}, -1, 1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp, vkey, all := signedLog(t, tc.log)
			res, err := audit.Verify(audit.VerifyInput{Checkpoint: cp, VerifierKey: vkey, Entries: all})
			if tc.badSeq < 0 {
				require.NoError(t, err)
				assert.Equal(t, tc.allows, res.Allows)
				return
			}
			var f *audit.Failure
			require.ErrorAs(t, err, &f)
			assert.Equal(t, tc.badSeq, f.Seq, f.Error())
			assert.Equal(t, "strictest by default", f.Check)
		})
	}
}

func TestVerifyRefusesBadCheckpoints(t *testing.T) {
	cp, vkey, all := signedLog(t, []audit.Entry{{Action: "x"}, {Action: "y"}})
	_, otherKey, _ := signedLog(t, []audit.Entry{{Action: "x"}})
	tampered := []byte(string(cp[:len(cp)-10]) + "AAAAAAAAA\n")
	for name, in := range map[string]audit.VerifyInput{
		"wrong key":        {Checkpoint: cp, VerifierKey: otherKey, Entries: all},
		"bad signature":    {Checkpoint: tampered, VerifierKey: vkey, Entries: all},
		"not a key":        {Checkpoint: cp, VerifierKey: "nope", Entries: all},
		"not a checkpoint": {Checkpoint: []byte("hello"), VerifierKey: vkey, Entries: all},
	} {
		_, err := audit.Verify(in)
		assert.True(t, audit.IsFailure(err), "%s: %v", name, err)
	}
	// Entries beyond the checkpoint are not judged by it.
	short, vk, _ := signedLog(t, []audit.Entry{{Action: "x"}})
	_, err := audit.Verify(audit.VerifyInput{Checkpoint: short, VerifierKey: vk, Entries: func(yield func(audit.StoredEntry, error) bool) {
		leaf, _ := audit.Canonical(audit.Entry{Action: "x", Time: "2026-11-28T12:00:00.000000Z"})
		if !yield(audit.StoredEntry{Seq: 0, Leaf: leaf}, nil) {
			return
		}
		yield(audit.StoredEntry{Seq: 1, Leaf: []byte("garbage")}, nil)
	}})
	assert.NoError(t, err)
}
