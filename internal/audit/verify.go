package audit

import (
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/event"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// StoredEntry is an entry as exported or served: its sequence number and
// exact leaf bytes.
type StoredEntry struct {
	Seq  int64
	Leaf []byte
}

// VerifyInput is what Verify checks.
type VerifyInput struct {
	// Checkpoint is the signed note to check the log against.
	Checkpoint []byte
	// VerifierKey is the log's public key in note text form.
	VerifierKey string
	// Older is an earlier signed checkpoint the auditor saved; the log
	// must extend it. Optional.
	Older []byte
	// Entries yields the log from sequence 0 on, in order.
	Entries iter.Seq2[StoredEntry, error]
	// Judged says the caller replays every decision itself, through Each,
	// more fully than this log-only replay (the evidence verifier, with the
	// records the entries commit to): the consent state is then not kept
	// twice, and VerifyResult.Allows is 0.
	Judged bool
	// Each, when set, is given every entry below the checkpoint's size,
	// parsed, in order, after the log's own checks of it: a caller that
	// checks more of each entry reads the log once. An error stops the
	// verification at that entry.
	Each func(seq int64, e Entry) error
	// Prove, when set (online), returns the server's inclusion proof for
	// seq in the tree of size; it is used to name the entry that breaks
	// the root.
	Prove func(seq, size int64) ([]tlog.Hash, error)
}

// VerifyResult summarises a log that verified.
type VerifyResult struct {
	Origin    string
	Size      int64
	Root      tlog.Hash
	OlderSize int64
	// Allows is how many allow decisions the replay checked.
	Allows int
}

// Failure is a check that did not hold. Seq is the first entry that
// breaks it, or -1 when the failure is not about one entry.
type Failure struct {
	Seq    int64
	Check  string
	Detail string
}

func (f *Failure) Error() string {
	if f.Seq < 0 {
		return fmt.Sprintf("%s: %s", f.Check, f.Detail)
	}
	return fmt.Sprintf("entry %d: %s: %s", f.Seq, f.Check, f.Detail)
}

func fail(seq int64, check, format string, a ...any) *Failure {
	return &Failure{Seq: seq, Check: check, Detail: fmt.Sprintf(format, a...)}
}

// Verify checks a log against a signed checkpoint with no trust in
// whoever supplied either: the signature, every entry's form and place,
// the tree root, consistency with an older checkpoint, and the
// strictest-by-default property (no allow without a consent in force).
// Entries past the checkpoint's size are ignored.
func Verify(in VerifyInput) (VerifyResult, error) {
	vr, err := newVerifier(in)
	if err != nil {
		return VerifyResult{}, err
	}
	for se, err := range in.Entries {
		if err != nil {
			return vr.res, fail(vr.n, "read", "%v", err)
		}
		if vr.n >= int64(vr.cp.Size) {
			break
		}
		if err := vr.entry(se); err != nil {
			return vr.res, err
		}
	}
	return vr.finish()
}

// verifier is one run of Verify.
type verifier struct {
	in     VerifyInput
	cp     *log.Checkpoint
	older  *log.Checkpoint // nil: none given
	res    VerifyResult
	hashes map[int64]tlog.Hash
	reader tlog.HashReader
	// leafHashes are kept only when a bad entry can be named online
	// (in.Prove); offline, a million entries would cost 32 MB for nothing.
	leafHashes []tlog.Hash
	replay     *replay
	n          int64 // entries hashed so far
	// olderErr is reported only after the root is checked, so that an
	// altered entry is named rather than reported as a rewrite.
	olderErr error
}

// newVerifier checks the key and the checkpoints' signatures and sizes.
func newVerifier(in VerifyInput) (*verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(in.VerifierKey))
	if err != nil {
		return nil, fail(-1, "key", "not a note verifier key: %v", err)
	}
	vr := &verifier{in: in, hashes: map[int64]tlog.Hash{}, replay: newReplay()}
	if vr.cp, err = parseCheckpoint(in.Checkpoint, v); err != nil {
		return nil, fail(-1, "checkpoint", "%v", err)
	}
	vr.res = VerifyResult{Origin: vr.cp.Origin, Size: int64(vr.cp.Size)}
	copy(vr.res.Root[:], vr.cp.Hash)
	if len(in.Older) > 0 {
		if vr.older, err = parseCheckpoint(in.Older, v); err != nil {
			return nil, fail(-1, "older checkpoint", "%v", err)
		}
		if vr.older.Size > vr.cp.Size {
			return nil, fail(-1, "consistency", "the older checkpoint has size %d, larger than the current %d: the log was truncated", vr.older.Size, vr.cp.Size)
		}
		vr.res.OlderSize = int64(vr.older.Size)
	}
	vr.reader = tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			h, ok := vr.hashes[x]
			if !ok {
				return nil, fmt.Errorf("hash %d not computed", x)
			}
			out[i] = h
		}
		return out, nil
	})
	return vr, nil
}

// entry checks the next entry's place and form, replays it and hashes it
// into the tree.
func (vr *verifier) entry(se StoredEntry) error {
	n := vr.n
	if se.Seq != n {
		if se.Seq > n {
			return fail(n, "missing", "the log skips from %d to %d: entry %d was deleted", n-1, se.Seq, n)
		}
		return fail(se.Seq, "order", "entry %d appears again after %d", se.Seq, n-1)
	}
	e, err := ParseLeaf(se.Leaf)
	if err != nil {
		return fail(n, "form", "%v", err)
	}
	if e.Seq != n {
		return fail(n, "sequence", "the leaf says seq %d", e.Seq)
	}
	if !vr.in.Judged {
		if err := vr.replay.apply(e); err != nil {
			return err
		}
	}
	if vr.in.Each != nil {
		if err := vr.in.Each(n, e); err != nil {
			if IsFailure(err) {
				return err
			}
			return fail(n, "check", "%v", err)
		}
	}
	hs, err := tlog.StoredHashes(n, se.Leaf, vr.reader)
	if err != nil {
		return fail(n, "tree", "%v", err)
	}
	base := tlog.StoredHashIndex(0, n)
	for k, h := range hs {
		vr.hashes[base+int64(k)] = h
	}
	if vr.in.Prove != nil {
		vr.leafHashes = append(vr.leafHashes, hs[0])
	}
	vr.n++
	if vr.olderErr == nil {
		if vr.olderErr = vr.checkOlder(); vr.olderErr != nil && !IsFailure(vr.olderErr) {
			return fail(-1, "tree", "%v", vr.olderErr)
		}
	}
	if len(vr.hashes) > 1024 {
		keepFrontier(vr.hashes, vr.n)
	}
	return nil
}

// checkOlder compares, once the log has reached the older checkpoint's
// size, the root of its first entries with that checkpoint's.
func (vr *verifier) checkOlder() error {
	if vr.older == nil || vr.n != int64(vr.older.Size) || vr.n == 0 {
		return nil
	}
	root, err := tlog.TreeHash(vr.n, vr.reader)
	if err != nil {
		return err
	}
	var want tlog.Hash
	copy(want[:], vr.older.Hash)
	if root != want {
		return fail(-1, "consistency", "the first %d entries do not hash to the older checkpoint's root: the log was rewritten", vr.n)
	}
	return nil
}

// finish checks that the log reached the checkpoint's size and root.
func (vr *verifier) finish() (VerifyResult, error) {
	res, n := vr.res, vr.n
	if n < int64(vr.cp.Size) {
		return res, fail(n, "missing", "the checkpoint covers %d entries but the log ends at %d: entry %d is missing", vr.cp.Size, n, n)
	}
	if n == 0 {
		return res, nil
	}
	root, err := tlog.TreeHash(n, vr.reader)
	if err != nil {
		return res, fail(-1, "tree", "%v", err)
	}
	if root != res.Root {
		return res, nameBadEntry(vr.in.Prove, vr.leafHashes, res.Root)
	}
	if vr.olderErr != nil {
		return res, vr.olderErr
	}
	res.Allows = vr.replay.allows
	return res, nil
}

// keepFrontier drops every stored hash but the roots of the complete
// subtrees that make up a tree of size n: the only ones that hashing
// further leaves, or the root of n, reads. Verifying a log of any size
// then holds a few dozen hashes, not two per entry.
func keepFrontier(hashes map[int64]tlog.Hash, n int64) {
	keep := map[int64]bool{}
	start := int64(0)
	for level := 62; level >= 0; level-- {
		if n&(1<<level) != 0 {
			keep[tlog.StoredHashIndex(level, start>>level)] = true
			start += 1 << level
		}
	}
	for idx := range hashes {
		if !keep[idx] {
			delete(hashes, idx)
		}
	}
}

// nameBadEntry finds the first entry whose leaf is not the one the signed
// tree holds, using the server's inclusion proofs.
func nameBadEntry(prove func(seq, size int64) ([]tlog.Hash, error), leafHashes []tlog.Hash, root tlog.Hash) error {
	if prove == nil {
		return fail(-1, "root", "the entries do not hash to the checkpoint's root: an entry was altered (verify online to name it)")
	}
	size := int64(len(leafHashes))
	for seq, lh := range leafHashes {
		p, err := prove(int64(seq), size)
		if err != nil {
			return fail(int64(seq), "root", "the entries do not hash to the checkpoint's root, and no proof for this entry: %v", err)
		}
		if err := tlog.CheckRecord(p, size, root, int64(seq), lh); err != nil {
			return fail(int64(seq), "altered", "the leaf is not the one the signed tree holds")
		}
	}
	return fail(-1, "root", "the entries do not hash to the checkpoint's root")
}

func parseCheckpoint(b []byte, v note.Verifier) (*log.Checkpoint, error) {
	cp, _, _, err := log.ParseCheckpoint(b, v.Name(), v)
	if err != nil {
		return nil, err
	}
	return cp, nil
}

// replay tracks, per subject, device and purpose, the consent entry in
// force, and checks every allow against it.
type replay struct {
	state  map[string]consentState
	allows int
}

type consentState struct {
	seq     int64
	granted bool
	expires time.Time
	notice  string
	version int
}

func newReplay() *replay { return &replay{state: map[string]consentState{}} }

func consentKey(e Entry) string {
	return e.Targets["subject"] + "\x00" + e.Targets["device"] + "\x00" + e.Targets["purpose"]
}

func (r *replay) apply(e Entry) error {
	switch e.Action {
	case event.ActionNoticePublished:
		// A material change to a purpose ends every consent to it that was
		// given on an earlier version of the notice.
		published, _ := strconv.Atoi(e.Targets["version"])
		for _, reason := range e.Reasons {
			purpose, ok := strings.CutPrefix(reason, "material_change:")
			if !ok {
				continue
			}
			for k, st := range r.state {
				if st.notice == e.Targets["notice"] && strings.HasSuffix(k, "\x00"+purpose) && st.version < published {
					st.granted = false
					r.state[k] = st
				}
			}
		}
	case event.ActionConsentRecorded, event.ActionConsentWithdrawn:
		st := consentState{seq: e.Seq, granted: e.Action == event.ActionConsentRecorded && e.Outcome == event.OutcomeGranted, notice: e.Targets["notice"]}
		st.version, _ = strconv.Atoi(e.Targets["notice_version"])
		if e.ExpiresAt != "" {
			t, err := time.Parse(TimeFormat, e.ExpiresAt)
			if err != nil {
				return fail(e.Seq, "form", "expires_at %q: %v", e.ExpiresAt, err)
			}
			st.expires = t
		}
		r.state[consentKey(e)] = st
	case event.ActionDecision:
		if e.Outcome != event.OutcomeAllow {
			return nil
		}
		r.allows++
		if e.ReliesOn == nil {
			return fail(e.Seq, "strictest by default", "an allow that names no consent entry")
		}
		st, ok := r.state[consentKey(e)]
		switch {
		case !ok:
			return fail(e.Seq, "strictest by default", "an allow with no consent recorded for its subject, device and purpose")
		case st.seq != *e.ReliesOn:
			return fail(e.Seq, "strictest by default", "the allow relies on entry %d but the consent in force is entry %d", *e.ReliesOn, st.seq)
		case !st.granted:
			return fail(e.Seq, "strictest by default", "the allow relies on entry %d, which is not a granted consent", st.seq)
		}
		if !st.expires.IsZero() {
			at, err := time.Parse(TimeFormat, e.Time)
			if err != nil {
				return fail(e.Seq, "form", "time %q: %v", e.Time, err)
			}
			if !at.Before(st.expires) {
				return fail(e.Seq, "strictest by default", "the allow at %s relies on a consent that expired at %s", e.Time, FormatTime(st.expires))
			}
		}
	}
	return nil
}

// Replay is the verifier's strictest-by-default replay, for whoever
// reads a log in order and wants to count what Verify would refuse.
type Replay struct{ r *replay }

// NewReplay starts a replay at entry 0.
func NewReplay() *Replay { return &Replay{r: newReplay()} }

// Apply takes the next entry. A *Failure is an allow without a consent in
// force (the replay goes on); any other error is a malformed entry.
func (r *Replay) Apply(e Entry) error { return r.r.apply(e) }

// IsFailure reports whether err is a verification failure (as opposed to
// an error reading the inputs).
func IsFailure(err error) bool {
	var f *Failure
	return errors.As(err, &f)
}
