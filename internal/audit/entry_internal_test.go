package audit

import (
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCanonicalEntryIsRFC8785 checks the fast encoder against the general
// RFC 8785 implementation on entries full of awkward characters.
func TestCanonicalEntryIsRFC8785(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	alphabet := []string{"a", "Z", "é", "<", ">", "&", "\"", "\\", "/", "\n", "\t", "\x01", "\u2028", "\u2029", "😀", "\x7f", "€", " ", "\ufffd", "\b", "\f", "\r", "\x1f"}
	// Strings that are not valid UTF-8, and target names that are not
	// ASCII, take the general path; the first pass holds none, so that
	// every entry takes the direct one.
	invalid := []string{"\xff", "\xe2\x82"}
	str := func() string {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return b.String()
	}
	for pass := range 2 {
		if pass == 1 {
			alphabet = append(alphabet, invalid...)
		}
		names := []string{"device", "b", "a-b", "z"}
		if pass == 1 {
			names = append(names, "😀x", "\ufffdy", str())
		}
		checkCanonicalEntries(t, r, str, names, pass == 0)
	}
}

func checkCanonicalEntries(t *testing.T, r *rand.Rand, str func() string, names []string, direct bool) {
	for range 2000 {
		seq := r.Int64N(1 << 40)
		e := Entry{Action: str(), Actor: EntryActor{ClientID: str(), Role: str()}, Outcome: str(), RequestID: str(), Seq: seq, Time: str(),
			ExpiresAt: str(), PayloadSHA256: str(), Reasons: []string{str(), str()}, Targets: map[string]string{}}
		for _, n := range names {
			e.Targets[n] = str()
		}
		if r.IntN(2) == 0 {
			e.ReliesOn = &seq
		}
		if direct {
			require.True(t, plainEntry(e))
		}
		fast, err := canonicalEntry(e)
		require.NoError(t, err)
		slow, err := Canonical(e)
		require.NoError(t, err)
		assert.Equal(t, string(slow), string(fast))
	}
}

// TestInParallelCoversEachIndexOnce: seal's parts together make every
// entry of the batch once, on several goroutines where the process runs
// them, and a part's failure is the whole's.
func TestInParallelCoversEachIndexOnce(t *testing.T) {
	prev := runtime.GOMAXPROCS(4)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	for _, n := range []int{0, 1, 63, 64, 65, 200, 1001} {
		var mu sync.Mutex
		seen, parts := make([]int, n), 0
		require.NoError(t, inParallel(n, 64, func(lo, hi int) error {
			mu.Lock()
			defer mu.Unlock()
			parts++
			for i := lo; i < hi; i++ {
				seen[i]++
			}
			return nil
		}))
		for i, c := range seen {
			require.Equal(t, 1, c, "index %d of %d", i, n)
		}
		if n >= 64 {
			assert.Greater(t, parts, 1, "%d entries are made in parts", n)
		} else {
			assert.Equal(t, 1, parts, "%d entries are made at once", n)
		}
	}
	failed := errors.New("part failed")
	err := inParallel(300, 64, func(lo, _ int) error {
		if lo > 0 {
			return failed
		}
		return nil
	})
	assert.ErrorIs(t, err, failed)
}
