package audit_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// memTree is the tlog stored-hash layout the audit log keeps in its
// database, held in memory.
type memTree struct {
	hashes map[int64]tlog.Hash
	leaves []tlog.Hash
	// roots[n] is the independent implementation's root of the first n leaves.
	roots [][]byte
}

func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		h, ok := m.hashes[x]
		if !ok {
			return nil, fmt.Errorf("missing hash %d", x)
		}
		out[i] = h
	}
	return out, nil
}

// buildTrees appends n leaves to a tlog tree and, independently, to a
// transparency-dev/merkle compact range, keeping every root.
func buildTrees(t testing.TB, n int) *memTree {
	t.Helper()
	m := &memTree{hashes: map[int64]tlog.Hash{}, roots: [][]byte{rfc6962.DefaultHasher.EmptyRoot()}}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	cr := rf.NewEmptyRange(0)
	for i := range n {
		data := fmt.Appendf(nil, `{"seq":%d}`, i)
		hs, err := tlog.StoredHashes(int64(i), data, m)
		require.NoError(t, err)
		base := tlog.StoredHashIndex(0, int64(i))
		for k, h := range hs {
			m.hashes[base+int64(k)] = h
		}
		m.leaves = append(m.leaves, hs[0])
		require.Equal(t, rfc6962.DefaultHasher.HashLeaf(data), hs[0][:], "leaf hash is RFC 6962 SHA-256(0x00||leaf)")
		require.NoError(t, cr.Append(hs[0][:], nil))
		root, err := cr.GetRootHash(nil)
		require.NoError(t, err)
		m.roots = append(m.roots, root)
	}
	return m
}

func toBytes(hs []tlog.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		h := hs[i]
		out[i] = h[:]
	}
	return out
}

// flipBit returns a copy of p with one bit flipped.
func flipBit(p [][]byte, r *rand.Rand) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = append([]byte(nil), p[i]...)
	}
	i := r.IntN(len(out))
	out[i][r.IntN(len(out[i]))] ^= 1 << r.IntN(8)
	return out
}

// TestProofsAgreeWithAnIndependentImplementation checks, for every tree
// size from 1 to 1000 and every index in it, that the inclusion proof the
// audit log's tree code produces verifies with transparency-dev/merkle,
// and that a flipped bit anywhere makes it fail; likewise consistency
// proofs between every pair of sizes up to 200 and sampled pairs beyond.
// With -short, sizes up to 300 (and every pair up to 100): the same
// shapes of tree, a tenth of the work.
func TestProofsAgreeWithAnIndependentImplementation(t *testing.T) {
	n, allPairs := int64(1000), int64(200)
	if testing.Short() {
		n, allPairs = 300, 100
	}
	m := buildTrees(t, int(n))
	r := rand.New(rand.NewPCG(1, 2))
	hasher := rfc6962.DefaultHasher
	for size := int64(1); size <= n; size++ {
		root, err := tlog.TreeHash(size, m)
		require.NoError(t, err)
		require.Equal(t, m.roots[size], root[:], "root of size %d", size)
		for i := range size {
			p, err := tlog.ProveRecord(size, i, m)
			require.NoError(t, err)
			pb := toBytes(p)
			require.NoError(t, proof.VerifyInclusion(hasher, uint64(i), uint64(size), m.leaves[i][:], pb, root[:]), "inclusion %d in %d", i, size)
			if len(pb) > 0 {
				bad := flipBit(pb, r)
				require.Error(t, proof.VerifyInclusion(hasher, uint64(i), uint64(size), m.leaves[i][:], bad, root[:]), "flipped bit, inclusion %d in %d", i, size)
				var badT tlog.RecordProof
				for _, b := range bad {
					badT = append(badT, tlog.Hash(b))
				}
				require.Error(t, tlog.CheckRecord(badT, size, root, i, m.leaves[i]))
			}
		}
	}
	checkConsistency := func(from, to int64) {
		p, err := tlog.ProveTree(to, from, m)
		require.NoError(t, err)
		pb := toBytes(p)
		require.NoError(t, proof.VerifyConsistency(hasher, uint64(from), uint64(to), pb, m.roots[from], m.roots[to]), "consistency %d→%d", from, to)
		if len(pb) > 0 {
			require.Error(t, proof.VerifyConsistency(hasher, uint64(from), uint64(to), flipBit(pb, r), m.roots[from], m.roots[to]), "flipped bit, consistency %d→%d", from, to)
		}
	}
	for to := int64(1); to <= allPairs; to++ {
		for from := int64(1); from <= to; from++ {
			checkConsistency(from, to)
		}
	}
	for to := allPairs + 1; to <= n; to++ {
		checkConsistency(1, to)
		checkConsistency(to, to)
		checkConsistency(1+r.Int64N(to), to)
		checkConsistency(to-1, to)
	}
}

// TestEveryBitOfAProofMatters flips each bit of whole proofs, one at a time.
func TestEveryBitOfAProofMatters(t *testing.T) {
	m := buildTrees(t, 77)
	hasher := rfc6962.DefaultHasher
	for _, c := range []struct{ i, size int64 }{{0, 77}, {38, 77}, {76, 77}, {5, 8}} {
		p, err := tlog.ProveRecord(c.size, c.i, m)
		require.NoError(t, err)
		pb := toBytes(p)
		for h := range pb {
			for bit := range len(pb[h]) * 8 {
				bad := toBytes(p)
				bad[h][bit/8] ^= 1 << (bit % 8)
				require.Error(t, proof.VerifyInclusion(hasher, uint64(c.i), uint64(c.size), m.leaves[c.i][:], bad, m.roots[c.size]))
			}
		}
	}
}
