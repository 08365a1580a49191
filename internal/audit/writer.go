package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/mod/sumdb/tlog"
)

// The single writer. Every change reaches the database through it: it
// takes the queued changes, runs them in one transaction with their
// entries (group commit), and answers each caller once that transaction
// has committed, so an entry exists exactly when its change does.

// writer is the single writer: it takes every queued change, up to
// MaxBatch, commits them together, and acknowledges each.
func (l *Log) writer() {
	defer l.wg.Done()
	lastBatch := 0
	for first := range l.jobs {
		batch := l.more([]*job{first}, nil)
		// Under load (the last commit held more than one change), wait a
		// moment for more: each commit has a fixed cost (the WAL pages it
		// rewrites, the fsync), which more changes share. A lone caller
		// never waits.
		if d := l.opts.GatherDelay; d > 0 && lastBatch > 1 && len(batch) < l.opts.MaxBatch {
			timer := time.NewTimer(d)
			batch = l.more(batch, timer.C)
			timer.Stop()
		}
		lastBatch = len(batch)
		l.commit(batch)
		for _, j := range batch {
			close(j.done)
		}
		// Between batches, with this batch's callers answered: the one
		// moment the WAL can be started over (store.DB.RestartWAL), and
		// the subject index extended.
		l.db.RestartWAL()
		l.indexSubjects()
	}
}

// more adds queued changes to batch, up to MaxBatch: those queued now, or
// with wait, those that arrive until it fires.
func (l *Log) more(batch []*job, wait <-chan time.Time) []*job {
	for len(batch) < l.opts.MaxBatch {
		var (
			j  *job
			ok bool
		)
		if wait == nil {
			select {
			case j, ok = <-l.jobs:
			default:
				return batch
			}
		} else {
			select {
			case j, ok = <-l.jobs:
			case <-wait:
				return batch
			}
		}
		if !ok {
			return batch
		}
		batch = append(batch, j)
	}
	return batch
}

// batch is one transaction of the writer: the changes it runs and what
// they add to the log.
type batch struct {
	log  *Log
	jobs []*job
	tx   *store.Tx
	// reader reads the tree's stored hashes, pending first.
	reader  tlog.HashReader
	pending map[int64][]byte
	leaves  []privacy.AuditLeaf
	// entries are the leaves' entries, made into bytes by seal.
	entries []Entry
	// events are those made durable by the commit, in log order.
	events []event.Event
	// decisions are the rows deferred by Tx.InsertDecision.
	decisions []store.DecisionRecord
	// change is the Tx handed to the running change.
	change  Tx
	applied []*job
	// locked is when the batch held the log's lock.
	locked time.Time
	// size is the log's size as the batch grows it; first, the size
	// before its first entry.
	first, size int64
	// changes: the batch holds events other than decisions, which the
	// other instances are told of.
	changes bool
	// named are the pseudonyms the batch drew, or read with a change's own
	// query, remembered once it commits; erased, the subjects erased in
	// it, with their pseudonyms: the batch's later entries about them name
	// that pseudonym, and its decision rows the erased marker.
	named, erased map[string]string
	// drawn and forgotten are what the running change added to named and
	// erased: undone with it, since its rows are rolled back.
	drawn, forgotten []string
}

// inBatch is the pseudonym the batch itself gave or forgot subject
// under, if any: it wins over anything read.
func (b *batch) inBatch(subject string) (string, bool) {
	if p, ok := b.erased[subject]; ok {
		return p, true
	}
	p, ok := b.named[subject]
	return p, ok
}

// knownPseudonym is subject's pseudonym as the batch knows it, "" for a
// subject without one: none is drawn.
func (l *Log) knownPseudonym(b *batch, subject string) (string, error) {
	if p, ok := b.inBatch(subject); ok {
		return p, nil
	}
	return l.Pseudonym(b.tx.Reader, subject)
}

// pseudonym is subject's pseudonym for an entry or record of the batch,
// drawn at random (and stored) for a subject seen for the first time.
func (l *Log) pseudonym(b *batch, subject string) (string, error) {
	p, err := l.knownPseudonym(b, subject)
	if err != nil || p != "" {
		return p, err
	}
	return l.draw(b, subject)
}

// draw gives subject, which has none, a pseudonym.
func (l *Log) draw(b *batch, subject string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("audit: draw a pseudonym: %w", err)
	}
	p := hex.EncodeToString(raw)
	if err := b.tx.InsertPseudonym(subject, p); err != nil {
		return "", err
	}
	if b.named == nil {
		b.named = map[string]string{}
	}
	b.named[subject] = p
	b.drawn = append(b.drawn, subject)
	return p, nil
}

// commit runs a batch of changes in one transaction. A change's own error
// rolls back that change alone; any failure to write the log rolls back
// the batch and every change in it gets 503.
func (l *Log) commit(jobs []*job) {
	known := l.knownSize
	notes := l.takeNotes()
	var b *batch
	start := time.Now()
	ctx, span := l.commitSpan(jobs)
	err := l.db.Transact(ctx, func(tx *store.Tx) error {
		// A retried transaction starts the batch over.
		b = &batch{log: l, jobs: jobs, tx: tx, pending: map[int64][]byte{}}
		if err := l.begin(b); err != nil {
			return err
		}
		if err := l.prefetch(b); err != nil {
			return err
		}
		for i, j := range jobs {
			if err := l.run(b, i, j); err != nil {
				return err
			}
		}
		if err := l.appendNotes(b, notes); err != nil {
			return err
		}
		return l.write(b)
	})
	if err != nil {
		if span != nil {
			// The code, not the message: spans leave the deployment, and a
			// database error can quote what it was given.
			span.SetStatus(codes.Error, "commit failed: "+privacy.ErrorCode(err))
			span.End()
		}
		l.requeue(notes)
		l.refuse(jobs, known, err)
		return
	}
	l.lockWait.Observe(b.locked.Sub(start).Seconds())
	l.lockHeld.Observe(time.Since(b.locked).Seconds())
	if span != nil {
		span.SetAttributes(attribute.Int64("consentry.audit.first_seq", b.first+1), attribute.Int64("consentry.audit.entries", b.size-b.first),
			attribute.Float64("consentry.audit.lock_wait_ms", float64(b.locked.Sub(start).Microseconds())/1000))
		span.End()
	}
	l.done(b, known)
}

// commitSpan starts the span of one commit when tracing is on (nil and a
// background context otherwise): its batch size, and a link to the span
// of each request whose change it commits, which it does not belong to
// alone. Its database calls are its children.
func (l *Log) commitSpan(jobs []*job) (context.Context, trace.Span) {
	if !tracing.Enabled() {
		return context.Background(), nil
	}
	links := make([]trace.Link, 0, len(jobs))
	for _, j := range jobs {
		if sc := trace.SpanContextFromContext(j.ctx); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	return tracing.Tracer().Start(context.Background(), "audit.commit", trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("consentry.audit.batch_size", len(jobs))))
}

// begin takes the log's lock, reads its size, hands the entries others
// appended meanwhile to the Reactor and lets it begin the batch.
func (l *Log) begin(b *batch) error {
	if err := b.tx.LockAudit(); err != nil {
		return err
	}
	// On SQLite the lock is the write transaction itself, taken as it began.
	b.locked = time.Now()
	size, err := b.tx.AuditSize()
	if err != nil {
		return err
	}
	if err := l.foreign(b.tx, size); err != nil {
		return err
	}
	l.opts.React.Begin(b.tx.Reader)
	b.reader, b.first, b.size = l.reader(b.tx.Reader, b.pending), size, size
	return nil
}

// prefetch reads, in one query, the pseudonyms of the subjects the
// batch's changes said they name (DoPureAbout) that this process does not
// know yet: the batch's entries then find them in named. It runs after
// begin, under the log's lock, so that an erasure committed meanwhile is
// seen: a pseudonym read earlier could be one erased since.
func (l *Log) prefetch(b *batch) error {
	var (
		unknown []string
		seen    map[string]bool // made at the first unknown: most batches have none
	)
	for _, j := range b.jobs {
		for _, s := range j.subjects {
			if seen[s] || privacy.IsErasedSubject(s) {
				continue
			}
			if _, ok := l.pseudonyms.Load(s); ok {
				continue
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[s] = true
			unknown = append(unknown, s)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	found, err := b.tx.Pseudonyms(unknown)
	if err != nil {
		return err
	}
	if len(found) > 0 && b.named == nil {
		b.named = make(map[string]string, len(found))
	}
	for s, p := range found {
		b.named[s] = p
	}
	return nil
}

// run runs one change of the batch. The change's own failure, or the
// Reactor's refusal of it, undoes it alone and is its caller's answer; an
// error returned fails the whole batch.
func (l *Log) run(b *batch, i int, j *job) error {
	j.seqs, j.err = nil, nil
	if err := j.ctx.Err(); err != nil {
		j.err = err
		return nil
	}
	var sp string
	if !j.pure {
		sp = "change_" + strconv.Itoa(i)
		if err := b.tx.SavePoint(sp); err != nil {
			return err
		}
	}
	mark := len(b.decisions)
	b.drawn, b.forgotten = b.drawn[:0], b.forgotten[:0]
	// One Tx serves the batch's changes in turn: a change must not keep it.
	b.change = Tx{Tx: b.tx, next: b.size, batch: b}
	events, err := j.change(&b.change)
	if err != nil {
		return b.undo(j, sp, mark, err)
	}
	if err := l.opts.React.InChange(j.ctx, b.tx, b.size, events); err != nil {
		if j.pure {
			// The Reactor may have written, and a pure change has no
			// savepoint to undo it with: the whole batch fails.
			return err
		}
		return b.undo(j, sp, mark, err)
	}
	if !j.pure {
		// Done with: no later failure undoes this change alone. Left
		// open, every later change's pages were journaled once per open
		// savepoint, and a batch's journal outgrew SQLite's memory into a
		// temporary file.
		if err := b.tx.Release(sp); err != nil {
			return err
		}
	}
	for _, ev := range events {
		if err := l.appendEvent(b, j, ev); err != nil {
			return err
		}
	}
	b.applied = append(b.applied, j)
	return nil
}

// undo drops what change j did (its deferred rows from mark on, and, for
// a change that writes, back to savepoint sp) and makes cause its answer.
// An error is a failure to undo: the whole batch fails.
func (b *batch) undo(j *job, sp string, mark int, cause error) error {
	b.decisions = b.decisions[:mark]
	for _, s := range b.drawn {
		delete(b.named, s)
	}
	for _, s := range b.forgotten {
		delete(b.erased, s)
	}
	if !j.pure {
		if err := b.tx.RollbackTo(sp); err != nil {
			return err
		}
	}
	j.err = cause
	return nil
}

// appendEvent adds an event's entry to the batch. Its bytes, and the
// tree hashes it adds, are made by seal once every change has run.
func (l *Log) appendEvent(b *batch, j *job, ev event.Event) error {
	if event.Changes(ev) {
		l.applied.Add(1)
		b.changes = true
	}
	e, leaf, err := l.entry(b, b.size, b.tx.Now(), j.ctx, ev)
	if err != nil {
		return err
	}
	b.entries, b.leaves, b.events = append(b.entries, e), append(b.leaves, leaf), append(b.events, ev)
	j.seqs = append(j.seqs, b.size)
	b.size++
	return nil
}

// sealInParallel is the fewest entries a batch makes on more than one
// goroutine: making an entry (its canonical JSON, packed, hashed) takes
// a few microseconds, starting a goroutine about one, and in a batch of
// checks the writer is what every request waits for while the other
// core has time to spare.
const sealInParallel = 64

// seal makes the batch's entries (their canonical JSON, as stored, and
// their record hashes), in parallel when there are many: an entry's
// bytes depend on its own fields only. The tree hashes they add are then
// computed in log order.
func (l *Log) seal(b *batch) error {
	hashes := make([]tlog.Hash, len(b.leaves))
	render := func(lo, hi int) error {
		for i := lo; i < hi; i++ {
			raw, err := canonicalEntry(b.entries[i])
			if err != nil {
				return err
			}
			b.leaves[i].Leaf, b.leaves[i].Stored, hashes[i] = raw, store.PackLeaf(raw), tlog.RecordHash(raw)
		}
		return nil
	}
	if err := inParallel(len(b.leaves), sealInParallel, render); err != nil {
		return err
	}
	for i, leaf := range b.leaves {
		stored, err := tlog.StoredHashesForRecordHash(leaf.Seq, hashes[i], b.reader)
		if err != nil {
			return fmt.Errorf("audit: tree hashes for %d: %w", leaf.Seq, err)
		}
		base := tlog.StoredHashIndex(0, leaf.Seq)
		for k, h := range stored {
			b.pending[base+int64(k)] = append([]byte(nil), h[:]...)
		}
	}
	return nil
}

// inParallel runs work over [0, n) in as many parts as the process runs
// goroutines at once, none smaller than least/2; in one part below least.
// It returns the parts' errors, joined.
func inParallel(n, least int, work func(lo, hi int) error) error {
	parts := min(runtime.GOMAXPROCS(0), max(1, 2*n/least))
	if n < least || parts < 2 {
		return work(0, n)
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() { errs[p] = work(p*n/parts, (p+1)*n/parts) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// write stores what the batch added: its decision rows, its entries and
// their tree hashes; and tells the other instances when it changed
// anything.
func (l *Log) write(b *batch) error {
	if err := l.seal(b); err != nil {
		return err
	}
	if len(b.erased) > 0 {
		for i, d := range b.decisions {
			if p, ok := b.erased[d.SubjectID]; ok {
				b.decisions[i].SubjectID = privacy.ErasedSubject(p)
			}
		}
	}
	if err := b.tx.InsertBatch(b.decisions, b.leaves, b.pending); err != nil {
		return err
	}
	if b.changes {
		return b.tx.NotifyChange(l.instance)
	}
	return nil
}

// refuse answers every change of a batch that could not be committed.
func (l *Log) refuse(jobs []*job, known int64, err error) {
	// Nothing of the batch happened; foreign entries it saw are seen
	// again, and counted again, by the next batch.
	l.applied.Store(l.committed.Load())
	l.knownSize = known
	l.failures.Inc()
	refusal := errUnavailable
	if store.IsLocked(err) {
		// Another writer (an operator's open transaction, a backup,
		// another process) held the database past the lock timeout.
		refusal = privacy.Errorf(privacy.EUnavailable, "the database is locked by another writer; nothing was changed")
		err = fmt.Errorf("the database is locked: no write got its lock within %s: %w", l.db.LockTimeout(), err)
	}
	setFailure(&l.writeFailure, fmt.Errorf("audit: append failed: %w", err))
	l.log.Error("audit append failed; the batch's changes were refused", "changes", len(jobs), "error", err)
	for _, j := range jobs {
		if j.err == nil {
			j.seqs, j.err = nil, refusal
		}
	}
}

// done follows a committed batch: the Reactor first, then the counts.
func (l *Log) done(b *batch, known int64) {
	// The Reactor first: state kept in memory must have dropped what the
	// batch changed before Committed counts the batch, or a decision could
	// read the old state under the new count, and the writer would trust it.
	l.opts.React.Committed(b.events)
	for s, p := range b.named {
		if _, erased := b.erased[s]; !erased {
			l.pseudonyms.Store(s, p)
		}
	}
	l.committed.Store(l.applied.Load())
	l.recordSubjects(known, b.first, b.leaves)
	l.knownSize = b.size
	l.cache.addAll(b.pending)
	setFailure(&l.writeFailure, nil)
	n := 0
	for _, j := range b.applied {
		n += len(j.seqs)
	}
	l.appends.Add(float64(n))
	l.batches.Observe(float64(len(b.jobs)))
}

// entry is the entry for an event of batch b at seq, and its row without
// its bytes (seal makes them).
func (l *Log) entry(b *batch, seq int64, now time.Time, ctx context.Context, evt event.Event) (Entry, privacy.AuditLeaf, error) {
	actor, ev := privacy.ActorFrom(ctx), evt.Entry()
	e := Entry{Seq: seq, Time: FormatTime(now), Actor: EntryActor{ClientID: actor.ClientID, Role: actor.Role},
		Action: evt.Action(), Outcome: ev.Outcome, Reasons: ev.Reasons, RequestID: privacy.RequestIDFrom(ctx), ReliesOn: ev.ReliesOn}
	if e.Outcome == "" {
		e.Outcome = event.OutcomeOK
	}
	if ev.SubjectIfKnown != "" {
		p, err := l.knownPseudonym(b, ev.SubjectIfKnown)
		if err != nil {
			return Entry{}, privacy.AuditLeaf{}, err
		}
		ev.Pseudonym = p
	}
	if len(ev.Targets) > 0 || ev.Subject != "" || ev.Pseudonym != "" {
		e.Targets = make(map[string]string, len(ev.Targets)+1)
		for k, v := range ev.Targets {
			e.Targets[k] = v
		}
	}
	subject := ev.Pseudonym
	if ev.Subject != "" {
		var err error
		if subject, err = l.pseudonym(b, ev.Subject); err != nil {
			return Entry{}, privacy.AuditLeaf{}, err
		}
	}
	if subject != "" {
		e.Targets["subject"] = subject
	}
	if !ev.ExpiresAt.IsZero() {
		e.ExpiresAt = FormatTime(ev.ExpiresAt)
	}
	e.RecordSHA256 = ev.RecordSHA256
	if ev.PayloadSHA256 != "" {
		e.PayloadSHA256 = ev.PayloadSHA256
	} else if ev.Payload != nil {
		h, err := PayloadHash(ev.Payload)
		if err != nil {
			return Entry{}, privacy.AuditLeaf{}, err
		}
		e.PayloadSHA256 = h
	}
	return e, privacy.AuditLeaf{Seq: seq, Action: e.Action, SubjectPseudonym: subject, CreatedAt: now}, nil
}

// signer signs a checkpoint whenever the tree has grown, every
// CheckpointEvery.
func (l *Log) signer() {
	l.every(l.opts.CheckpointEvery, func() {
		if _, err := l.Checkpoint(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
			l.log.Error("audit checkpoint failed", "error", err)
		}
	})
}

// every runs fn every d until the log stops; the caller counted it in wg.
func (l *Log) every(d time.Duration, fn func()) {
	defer l.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			fn()
		}
	}
}
