package audit

import (
	"context"
	"fmt"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// Change is a use case's work inside the log's writer: it makes its changes
// through tx and returns the events that record them. An error undoes the
// change (and only it) and is returned to its caller.
type Change func(tx *Tx) ([]event.Event, error)

// Tx is a change's transaction on the log's writer: the store's
// transaction, plus what only the writer knows: the sequence number the
// change's next event gets, and the decision rows the batch writes
// together before it commits.
type Tx struct {
	*store.Tx
	next  int64
	batch *batch
}

// NextSeq is the sequence number the change's next event gets (its
// second gets NextSeq()+1, and so on): a record can name its own entry.
func (tx *Tx) NextSeq() int64 { return tx.next }

// Reserve sets aside the sequence numbers of the change's next n events
// and returns the first: a change that stores several records, each
// naming its entries, reserves them record by record.
func (tx *Tx) Reserve(n int) int64 {
	first := tx.next
	tx.next += int64(n)
	return first
}

// InsertDecision defers a decision row: the batch's rows are written
// together, many per statement, just before the batch commits, and the
// row is dropped with its change if the change is undone.
func (tx *Tx) InsertDecision(d store.DecisionRecord) {
	tx.batch.decisions = append(tx.batch.decisions, d)
}

// Reactor is told of every change the log commits. A process wires one
// (internal/app's Reactions) when it opens the log; its methods run on the
// writer, one at a time, and must not call the Log.
type Reactor interface {
	// Begin runs at the start of every transaction of the writer, after
	// Foreign and before the batch's changes: tx then sees exactly what
	// the log's entries so far recorded. It must not write through tx.
	Begin(tx *store.Reader)
	// Foreign is told the events (decisions left out) that another process
	// or instance appended since this one last wrote, rebuilt from their
	// entries (event.Decode). tx sees those changes and no later ones. State kept in memory
	// must be brought up to date (or dropped) here: the batch's decisions
	// are re-checked after it. It must not write through tx.
	Foreign(tx *store.Reader, events []event.Event)
	// InChange runs inside the transaction after each change that
	// succeeded, with its events and the sequence number of the first:
	// what it writes commits with the change or not at all (the webhook
	// outbox). Its error undoes the change, whose caller gets it. ctx is
	// the context of the change's caller (its trace context goes with
	// what it writes).
	InChange(ctx context.Context, tx *store.Tx, first int64, events []event.Event) error
	// Committed is told, after each commit, the events the commit made
	// durable (decisions included), in log order, before Committed counts
	// them: state kept in memory must follow them first.
	Committed(events []event.Event)
}

// NoReactions is the Reactor of a process that keeps nothing in memory
// and announces nothing: tools and tests of the log alone.
type NoReactions struct{}

func (NoReactions) Begin(*store.Reader)                                             {}
func (NoReactions) Foreign(*store.Reader, []event.Event)                            {}
func (NoReactions) InChange(context.Context, *store.Tx, int64, []event.Event) error { return nil }
func (NoReactions) Committed([]event.Event)                                         {}

// Pseudonym is subject's pseudonym, drawn now if the subject is new: a
// record that names its subject (a consent line, a device's owner)
// commits to it.
func (tx *Tx) Pseudonym(subject string) (string, error) {
	return tx.batch.log.pseudonym(tx.batch, subject)
}

// PseudonymStored is Pseudonym for a change that has already read, in its
// transaction, the pseudonym stored for subject ("" for none): a subject
// seen for the first time costs no second read.
func (tx *Tx) PseudonymStored(subject, stored string) (string, error) {
	b := tx.batch
	if p, ok := b.inBatch(subject); ok {
		return p, nil
	}
	if stored != "" {
		if b.named == nil {
			b.named = map[string]string{}
		}
		b.named[subject] = stored
		return stored, nil
	}
	if p, ok := b.log.pseudonyms.Load(subject); ok {
		return p, nil
	}
	return b.log.draw(b, subject)
}

// EraseSubject forgets subject: every row that holds its id holds the
// erased marker instead (the decisions among them found through the
// log's subject index), its pseudonym is deleted, and the batch's entries
// and decision rows after this change name it by that pseudonym and
// marker only. keep is a request whose subject id stays until it
// completes. It returns the pseudonym ("" for a subject never seen) and
// what it changed.
func (tx *Tx) EraseSubject(subject, keep string) (string, privacy.ErasedCounts, error) {
	b := tx.batch
	p, err := b.log.pseudonym(b, subject)
	if err != nil {
		return "", privacy.ErasedCounts{}, err
	}
	var decisions []string
	err = EachEntry(tx.Reader, Filter{Action: event.ActionDecision, SubjectPseudonym: p}, func(_ privacy.AuditLeaf, e Entry) error {
		decisions = append(decisions, e.Targets["decision"])
		return nil
	})
	if err != nil {
		return "", privacy.ErasedCounts{}, err
	}
	counts, err := tx.Tx.EraseSubject(subject, privacy.ErasedSubject(p), decisions, keep)
	if err != nil {
		return "", privacy.ErasedCounts{}, err
	}
	for _, d := range b.decisions {
		if d.SubjectID == subject {
			counts.Decisions++
		}
	}
	if b.erased == nil {
		b.erased = map[string]string{}
	}
	b.erased[subject] = p
	b.forgotten = append(b.forgotten, subject)
	b.log.pseudonyms.Delete(subject)
	return p, counts, nil
}

// EachEntry calls fn for every committed entry f selects, with its
// parsed form (f's Limit is the page size read at a time, 1,000 when
// unset), in log order.
func EachEntry(r *store.Reader, f Filter, fn func(leaf privacy.AuditLeaf, e Entry) error) error {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	for {
		leaves, err := r.AuditEntries(store.AuditFilter(f))
		if err != nil {
			return err
		}
		for _, lf := range leaves {
			e, err := ParseLeaf(lf.Leaf)
			if err != nil {
				return fmt.Errorf("audit: entry %d: %w", lf.Seq, err)
			}
			if err := fn(lf, e); err != nil {
				return err
			}
		}
		if len(leaves) < f.Limit {
			return nil
		}
		f.From = leaves[len(leaves)-1].Seq + 1
	}
}
