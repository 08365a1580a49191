package audit

import (
	"context"
	"fmt"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint returns the latest signed checkpoint, first signing a new one
// if the tree has grown. It refuses to sign a tree that is not an
// extension of the last one it signed (the log was rewritten or
// truncated), and the log then reports itself unhealthy.
func (l *Log) Checkpoint(ctx context.Context) (privacy.Checkpoint, error) {
	l.signMu.Lock()
	defer l.signMu.Unlock()
	tx := l.db.Read(ctx)
	// The last checkpoint first, then the size: another instance may
	// append and sign in between, and read the other way round its newer
	// checkpoint would look larger than the log, a false alarm. Read this
	// way, the size can only have grown past it.
	last, err := tx.LatestCheckpoint()
	found := err == nil
	if err != nil && privacy.ErrorCode(err) != privacy.ENotFound {
		return privacy.Checkpoint{}, err
	}
	size, err := tx.AuditSize()
	if err != nil {
		return privacy.Checkpoint{}, err
	}
	if found && last.Size == size {
		return last, nil
	}
	if size == 0 {
		return privacy.Checkpoint{}, privacy.Errorf(privacy.ENotFound, "the audit log is empty; no checkpoint yet")
	}
	r := l.reader(tx, nil)
	root, err := tlog.TreeHash(size, r)
	if err != nil {
		return privacy.Checkpoint{}, fmt.Errorf("audit: tree hash: %w", err)
	}
	if found {
		if err := consistent(r, last, size, root); err != nil {
			err = fmt.Errorf("audit: refusing to sign size %d: %w", size, err)
			setFailure(&l.signFailure, err)
			l.log.Error("audit log is inconsistent with its last signed checkpoint", "error", err)
			return privacy.Checkpoint{}, privacy.Errorf(privacy.EUnavailable, "the audit log is inconsistent with its last signed checkpoint; refusing to sign")
		}
	}
	text := log.Checkpoint{Origin: l.keys.Origin(), Size: uint64(size), Hash: root[:]}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, l.keys.Signer)
	if err != nil {
		return privacy.Checkpoint{}, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	cp := privacy.Checkpoint{Size: size, Root: root[:], Note: string(signed)}
	err = l.writeAside(ctx, func(tx *store.Tx) error {
		cp.SignedAt = tx.Now()
		return tx.InsertCheckpoint(cp)
	})
	if privacy.ErrorCode(err) == privacy.EConflict {
		// Another instance signed this size first; its note is as good.
		return l.db.Read(ctx).LatestCheckpoint()
	}
	if err != nil {
		return privacy.Checkpoint{}, err
	}
	setFailure(&l.signFailure, nil)
	return cp, nil
}

// writeAside runs fn, which appends no entry, in the writer's next
// transaction while the writer runs, and in a transaction of its own
// otherwise (before Start, after Close). A transaction of its own would
// wait for the database's write lock, which under a steady load the writer
// takes again as soon as it lets it go: SQLite's busy handler polls, and a
// checkpoint then waited past the lock timeout.
func (l *Log) writeAside(ctx context.Context, fn func(tx *store.Tx) error) error {
	l.mu.RLock()
	running := l.started && !l.closed
	l.mu.RUnlock()
	if !running {
		return l.db.Transact(ctx, fn)
	}
	_, err := l.Do(ctx, func(tx *Tx) ([]event.Event, error) { return nil, fn(tx.Tx) })
	return err
}

// consistent checks that the tree (size, root) extends the signed tree last.
func consistent(r tlog.HashReader, last privacy.Checkpoint, size int64, root tlog.Hash) error {
	if last.Size > size {
		return fmt.Errorf("the log has %d entries but a checkpoint of size %d was signed", size, last.Size)
	}
	var lastRoot tlog.Hash
	copy(lastRoot[:], last.Root)
	proof, err := tlog.ProveTree(size, last.Size, r)
	if err != nil {
		return err
	}
	if err := tlog.CheckTree(proof, size, root, last.Size, lastRoot); err != nil {
		return fmt.Errorf("size %d is not an extension of the signed size %d: %w", size, last.Size, err)
	}
	return nil
}

// SignNote signs text (UTF-8, ending in a newline) with the log's key, as
// a note any holder of the verifier key can check: evidence manifests use
// it, so one pinned key vouches for the log and for what was exported.
func (l *Log) SignNote(text string) ([]byte, error) {
	b, err := note.Sign(&note.Note{Text: text}, l.keys.Signer)
	if err != nil {
		return nil, fmt.Errorf("audit: sign note: %w", err)
	}
	return b, nil
}
