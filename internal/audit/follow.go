package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/store"
)

// Following other instances. Instances that share a PostgreSQL database
// announce each commit holding changes (store.Tx.NotifyChange); each
// listens, and at another's announcement runs its writer once (Refresh),
// which hands the changes appended meanwhile to Reactor.Foreign. Without an
// announcement (SQLite, a lost connection) they are seen at this
// instance's next write, before its changes.

// followOthers listens for the other instances' announcements until Close.
func (l *Log) followOthers() {
	ctx, cancel := context.WithCancel(context.Background())
	l.follow = cancel
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		_ = l.db.Listen(ctx, time.Second, func(instance string) {
			if instance == l.instance {
				return
			}
			select {
			case l.refresh <- struct{}{}:
			default: // one refresh pending covers this change too
			}
		}, func(err error) {
			l.log.Warn("not told of other instances' changes; they are seen at this instance's next write", "error", err)
		})
	}()
	go func() {
		defer l.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.refresh:
				if err := l.Refresh(ctx); err != nil && ctx.Err() == nil {
					l.log.Warn("refresh after another instance's change failed", "error", err)
				}
			}
		}
	}()
}

// Refresh runs the writer once with no change of its own: entries that
// other instances appended meanwhile reach Reactor.Foreign, and a load
// the Reactor wants is made (Reactor.Begin). Start calls it whenever
// another instance announces a change; a process calls it once after
// Start to load what it keeps in memory.
func (l *Log) Refresh(ctx context.Context) error {
	_, err := l.Do(ctx, func(*Tx) ([]event.Event, error) { return nil, nil })
	return err
}

// foreign notices entries appended by someone else since this process
// last committed, tells the Reactor the changes among them and counts
// them, so that every decision of the batch is re-checked.
func (l *Log) foreign(tx *store.Tx, size int64) error {
	if l.knownSize < 0 || size == l.knownSize {
		l.knownSize = size
		return nil
	}
	leaves, err := tx.AuditChanges(l.knownSize, size)
	if err != nil {
		return err
	}
	events := make([]event.Event, len(leaves))
	for i, lf := range leaves {
		var e Entry
		if err := json.Unmarshal(lf.Leaf, &e); err != nil {
			return fmt.Errorf("audit: entry %d: %w", lf.Seq, err)
		}
		events[i] = event.Decode(lf.Action, e.Targets, e.Reasons)
		if erased, ok := events[i].(event.SubjectErased); ok {
			// The subject's id is not in the entry; this instance knows it
			// if it met the subject lately, and tells the Reactor, which can
			// then forget that subject alone. The cache entry goes either way.
			p := erased.Pseudonym
			if subject, found := l.pseudonyms.KeyOf(func(v string) bool { return v == p }); found {
				erased.Subject = subject
				events[i] = erased
				l.pseudonyms.Delete(subject)
			}
		}
	}
	// Only changes count: every decision of the batch evaluated before
	// them is re-checked. Others' decisions and reads (all AuditChanges
	// leaves out) change no fact a decision reads; counted, they made
	// every decision of every batch of every instance be read again from
	// the database, under the log's lock, as soon as two instances
	// decided (docs/scaling.md).
	l.applied.Add(int64(len(events)))
	l.opts.React.Foreign(tx.Reader, events)
	l.knownSize = size
	return nil
}
