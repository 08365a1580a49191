package audit

import (
	"context"

	"github.com/consentry/consentry/internal/event"
)

// Notes are entries that record no change and need no acknowledgement:
// reads of personal data (ISO/IEC 27400 Control 12). A read must not wait
// for, or cost, an fsync of its own, so its entry is queued and written
// with the next batch of changes, or, when none comes, by a commit every
// NoteEvery. A process killed in between loses the notes it queued then;
// a clean Close writes them.

// queued is a note with the context that names its actor and
// request.
type queued struct {
	ctx context.Context
	ev  event.Event
}

// maxNotes bounds the queue: a caller that finds it full writes the
// queue itself and waits for that commit, so nothing is dropped.
const maxNotes = 10000

// Note queues events for the next commit and returns at once.
func (l *Log) Note(ctx context.Context, events ...event.Event) {
	if len(events) == 0 {
		return
	}
	// The actor and request live in ctx's values; the request itself may
	// end before the commit.
	ctx = context.WithoutCancel(ctx)
	l.notesMu.Lock()
	for _, ev := range events {
		l.notes = append(l.notes, queued{ctx: ctx, ev: ev})
	}
	full := len(l.notes) >= maxNotes
	l.notesMu.Unlock()
	if full {
		l.flushNotes()
	}
}

// takeNotes empties the queue for a batch.
func (l *Log) takeNotes() []queued {
	l.notesMu.Lock()
	defer l.notesMu.Unlock()
	ns := l.notes
	l.notes = nil
	return ns
}

// requeue puts back the notes of a batch that was not committed, ahead
// of any queued since.
func (l *Log) requeue(ns []queued) {
	if len(ns) == 0 {
		return
	}
	l.notesMu.Lock()
	l.notes = append(ns, l.notes...)
	l.notesMu.Unlock()
}

// pendingNotes reports whether notes wait for a commit.
func (l *Log) pendingNotes() bool {
	l.notesMu.Lock()
	defer l.notesMu.Unlock()
	return len(l.notes) > 0
}

// flushNotes commits the queued notes now, with nothing else if no change
// is queued.
func (l *Log) flushNotes() {
	if _, err := l.DoPure(context.Background(), func(*Tx) ([]event.Event, error) { return nil, nil }); err != nil {
		l.log.Error("audit notes not written; they stay queued", "error", err)
	}
}

// noter writes the queued notes every NoteEvery when no change did.
func (l *Log) noter() {
	l.every(l.opts.NoteEvery, func() {
		if l.pendingNotes() {
			l.flushNotes()
		}
	})
}

// appendNotes adds the notes to the batch, after its changes.
func (l *Log) appendNotes(b *batch, ns []queued) error {
	for _, n := range ns {
		if err := l.appendEvent(b, &job{ctx: n.ctx}, n.ev); err != nil {
			return err
		}
	}
	return nil
}
