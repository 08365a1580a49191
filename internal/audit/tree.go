package audit

import (
	"context"
	"fmt"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// hashCache keeps stored tree hashes the writer will ask for again (the
// left siblings on the tree's right edge). A stored hash never changes
// once committed, so the cache is never stale, whoever else writes.
//
// It is an LRU: the hashes the writer reads again are those of the right
// edge, recently added, so the oldest are the ones to drop.
type hashCache struct {
	c *lru.Cache[int64, []byte]
}

func newHashCache(size int) *hashCache {
	c, _ := lru.New[int64, []byte](max(1, size)) // fails only for a size below one
	return &hashCache{c: c}
}

func (c *hashCache) get(idx int64) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	return c.c.Get(idx)
}

func (c *hashCache) addAll(hs map[int64][]byte) {
	for k, v := range hs {
		c.c.Add(k, v)
	}
}

// reader reads stored hashes: this batch's first, then (for the writer
// only) the cache, then tx. Proofs and the signer read the database
// itself, so that what they vouch for is what is stored.
func (l *Log) reader(tx *store.Reader, pending map[int64][]byte) tlog.HashReader {
	cache := l.cache
	if pending == nil {
		cache = nil
	}
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		var missing []int64
		var at []int
		for i, idx := range indexes {
			if h, ok := pending[idx]; ok {
				copy(out[i][:], h)
			} else if h, ok := cache.get(idx); ok {
				copy(out[i][:], h)
			} else {
				missing, at = append(missing, idx), append(at, i)
			}
		}
		if len(missing) > 0 {
			hs, err := tx.AuditHashes(missing)
			if err != nil {
				return nil, err
			}
			for k, h := range hs {
				if len(h) != tlog.HashSize {
					return nil, fmt.Errorf("audit: stored hash %d has %d bytes", missing[k], len(h))
				}
				copy(out[at[k]][:], h)
			}
		}
		return out, nil
	})
}

// Size is the number of committed entries.
func (l *Log) Size(ctx context.Context) (int64, error) {
	return l.db.Read(ctx).AuditSize()
}

// Root is the tree hash at size.
func (l *Log) Root(ctx context.Context, size int64) (tlog.Hash, error) {
	return tlog.TreeHash(size, l.reader(l.db.Read(ctx), nil))
}

// Entries lists committed entries.
func (l *Log) Entries(ctx context.Context, f Filter) ([]privacy.AuditLeaf, error) {
	return l.db.Read(ctx).AuditEntries(store.AuditFilter(f))
}

// Filter chooses entries: from a sequence number on, at most Limit, of
// one action (empty: any), of one subject (the pseudonym the entries name;
// empty: any).
type Filter struct {
	From             int64
	Limit            int
	Action           string
	SubjectPseudonym string
}

// InclusionProof proves entry seq is in the tree of the given size: the
// leaf hash and the RFC 6962 audit path, bottom up.
func (l *Log) InclusionProof(ctx context.Context, seq, size int64) (tlog.Hash, []tlog.Hash, error) {
	if err := l.checkRange(ctx, size, seq >= 0 && seq < size, "seq", "entry %d is not in a tree of size %d", seq, size); err != nil {
		return tlog.Hash{}, nil, err
	}
	r := l.reader(l.db.Read(ctx), nil)
	leaf, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, seq)})
	if err != nil {
		return tlog.Hash{}, nil, err
	}
	p, err := tlog.ProveRecord(size, seq, r)
	if err != nil {
		return tlog.Hash{}, nil, fmt.Errorf("audit: inclusion proof: %w", err)
	}
	return leaf[0], p, nil
}

// ConsistencyProof proves the tree of size from is a prefix of the tree
// of size to: the RFC 6962 consistency proof.
func (l *Log) ConsistencyProof(ctx context.Context, from, to int64) ([]tlog.Hash, error) {
	if err := l.checkRange(ctx, to, from >= 1 && from <= to, "from", "need 1 <= from <= to, got from=%d to=%d", from, to); err != nil {
		return nil, err
	}
	p, err := tlog.ProveTree(to, from, l.reader(l.db.Read(ctx), nil))
	if err != nil {
		return nil, fmt.Errorf("audit: consistency proof: %w", err)
	}
	return p, nil
}

// checkRange refuses arguments out of order and trees larger than the log.
func (l *Log) checkRange(ctx context.Context, size int64, ok bool, field, format string, a ...any) error {
	if !ok {
		return privacy.FieldErrorf(privacy.EInvalid, field, format, a...)
	}
	current, err := l.Size(ctx)
	if err != nil {
		return err
	}
	if size > current {
		return privacy.FieldErrorf(privacy.EInvalid, "size", "the log has %d entries; no tree of size %d exists yet", current, size)
	}
	return nil
}
