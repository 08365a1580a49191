package audit

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentry/consentry/internal/memo"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/tlog"
)

// Event is what a use case reports; the Log turns it into an Entry.
type Event struct {
	Action  string
	Targets map[string]string
	// Subject is the raw subject id, if the event concerns one. Only its
	// HMAC is written.
	Subject string
	Outcome string
	Reasons []string
	// Payload is the event's full record; only its hash is written.
	Payload any
	// PayloadSHA256, when set, is used instead of hashing Payload: for
	// records that already have a canonical hash (a notice's content hash).
	PayloadSHA256 string
	ReliesOn      *int64
	ExpiresAt     time.Time
	// State is what the change made current, for OnCommit hooks that keep
	// it in memory (a consent's new state, a device, an inventory, a
	// published notice version); it is never written to the log.
	State any
}

// Foreign is an entry that another process or instance appended, as
// OnForeign hooks are told of it.
type Foreign struct {
	Action  string
	Targets map[string]string
}

// Change is a use case's work inside the log's transaction: it makes its
// changes through tx and returns the events that record them. An error
// undoes the change (and only it) and is returned to its caller.
type Change func(tx *store.Tx) ([]Event, error)

// Options tune a Log.
type Options struct {
	// MaxBatch caps the changes committed together; 1 means one commit
	// (one fsync) per change. Default 256.
	MaxBatch int
	// CheckpointEvery is how often a grown tree is signed. Default 10s;
	// negative disables the timer (checkpoints are then signed on demand).
	CheckpointEvery time.Duration
	// GatherDelay is how long the writer waits for more changes before a
	// commit while under load: only after a commit of more than one
	// change. Default 500µs; negative: never.
	GatherDelay time.Duration
	// SubjectIndexEvery is how many entries wait, read directly by subject
	// searches, before the writer adds them to the subject index in one
	// go (store.IndexAuditSubjects). Default 16384: with subjects spread
	// (100,000 of them), a slice's bulk of 4,096 entries wrote about an
	// index page per row, four times as many as a bulk of 16,384, and the
	// writer's bulks took 7% of its time; consents went from 4,944-5,055/s
	// to 5,263-5,421/s in three alternating pairs. A subject search then
	// reads up to about 17,000 unindexed entries directly: 8-12 ms here
	// (2-5 ms at 4,096).
	SubjectIndexEvery int
	Log               *slog.Logger
	Registerer        prometheus.Registerer
}

// ErrUnavailable is returned, as an EUnavailable *privacy.Error, when the
// log cannot be written: the change it carried was not made.
var errUnavailable = privacy.Errorf(privacy.EUnavailable, "the audit log cannot be written; nothing was changed")

// Log is the audit log and its single writer.
type Log struct {
	db    *store.DB
	keys  Keys
	opts  Options
	log   *slog.Logger
	jobs  chan *job
	cache *hashCache
	hmacs *memo.Map[string, string]

	mu     sync.RWMutex // guards closed
	closed bool
	wg     sync.WaitGroup
	stop   chan struct{}
	// writeFailure is the last append failure, cleared by the next commit;
	// signFailure is a refusal to sign, which only a consistent log clears.
	writeFailure atomic.Pointer[error]
	signFailure  atomic.Pointer[error]
	// rechecking lets one Recheck run at a time; lastRecheck (unix nanos)
	// spaces them: /readyz is public, and each takes the write lock.
	rechecking  sync.Mutex
	lastRecheck atomic.Int64

	signMu sync.Mutex

	// knownSize is the log's size after this process's last commit (-1
	// before the first); a larger size at the next batch means another
	// process or instance appended meanwhile.
	knownSize int64
	// subjectMarks are the subject index slices' marks as the writer last
	// saw them: which slice to extend next, and when. A hint only: the
	// extending transaction reads the true mark. After a failure no slice
	// is extended before the log reaches subjectsRetry.
	subjectMarks  map[string]int64
	subjectsRetry int64
	// subjectPairs are the subjects of the entries this writer appended,
	// every one from subjectPairsFrom to knownSize, in order: a slice's
	// bulk takes its rows from here instead of reading the entries back
	// (sixteen slices would read each entry sixteen times). Entries
	// appended by another process or instance start the record over.
	subjectPairs     []store.AuditSubject
	subjectPairsFrom int64
	hooksMu          sync.RWMutex
	onCommit         []func(events []Event)
	onForeign        []func(tx *store.Tx, entries []Foreign)
	onChange         []func(tx *store.Tx, first int64, events []Event) error
	onBatch          []func(tx *store.Tx)
	// attachments are components hooked into this log once (Attachment).
	attachMu    sync.Mutex
	attachments map[any]any

	// applied counts the events other than decisions that the writer has
	// put in the transaction so far; committed, those known committed.
	// A decision evaluated when committed was n still holds at its place in
	// the log if applied is still n there: nothing else happened between.
	applied, committed atomic.Int64

	// instance names this Log in change notifications, so that it can
	// ignore its own; refresh is poked by other instances' notifications.
	instance string
	refresh  chan struct{}
	follow   context.CancelFunc

	appends  prometheus.Counter
	failures prometheus.Counter
	batches  prometheus.Histogram
}

type job struct {
	ctx    context.Context
	change Change
	// pure: the change writes nothing itself (DoPure), so it needs no
	// savepoint to be undone.
	pure bool
	seqs []int64
	err  error
	done chan struct{}
}

// New returns a Log over db. Call Start before Do, and Close at the end.
func New(db *store.DB, keys Keys, opts Options) (*Log, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = 10 * time.Second
	}
	if opts.GatherDelay == 0 {
		opts.GatherDelay = 500 * time.Microsecond
	}
	if opts.SubjectIndexEvery <= 0 {
		opts.SubjectIndexEvery = 16384
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	l := &Log{db: db, keys: keys, opts: opts, log: opts.Log, jobs: make(chan *job, 4*opts.MaxBatch), knownSize: -1,
		cache: newHashCache(1 << 13), hmacs: memo.New[string, string](1 << 14), stop: make(chan struct{}), instance: uuid.NewString(), refresh: make(chan struct{}, 1),
		appends: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "consentry", Name: "audit_appends_total",
			Help: "Audit entries committed."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "consentry", Name: "audit_append_failures_total",
			Help: "Audit batches that could not be committed (their changes were refused with 503)."}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "consentry", Name: "audit_batch_changes",
			Help: "Changes committed per audit transaction (group commit).", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
	}
	// What this process loads into memory from now on is current up to
	// this size; anything another instance appends later reaches the
	// OnForeign hooks, even before this Log's first commit. Without it a
	// policy changed elsewhere meanwhile would go unseen: no log then.
	size, err := db.Read(context.Background()).AuditSize()
	if err != nil {
		return nil, fmt.Errorf("audit: the log's size: %w", err)
	}
	l.knownSize, l.subjectPairsFrom = size, size
	if l.subjectMarks, err = db.Read(context.Background()).AuditSubjectMarks(); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{l.appends, l.failures, l.batches} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("audit: metrics: %w", err)
			}
		}
	}
	return l, nil
}

// Start runs the writer and the checkpoint timer until Close, and on
// PostgreSQL follows the other instances' changes (Refresh on each).
func (l *Log) Start() {
	l.wg.Add(1)
	go l.writer()
	if l.opts.CheckpointEvery > 0 {
		l.wg.Add(1)
		go l.signer()
	}
	if l.db.Dialect() == store.DialectPostgres {
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
}

// Refresh runs the writer once with no change of its own: entries that
// other instances appended meanwhile reach the OnForeign hooks, which
// bring what this instance holds in memory (the data policy, caches) up to
// date. Start calls it whenever another instance announces a change.
func (l *Log) Refresh(ctx context.Context) error {
	_, err := l.Do(ctx, func(*store.Tx) ([]Event, error) { return nil, nil })
	return err
}

// Close stops taking changes, commits the ones already queued, signs a
// final checkpoint and stops.
func (l *Log) Close() {
	if l.follow != nil {
		l.follow()
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.jobs)
	close(l.stop)
	l.mu.Unlock()
	l.wg.Wait()
	if _, err := l.Checkpoint(context.Background()); err != nil {
		l.log.Error("final audit checkpoint failed", "error", err)
	}
}

// Do runs change and appends its events, in one transaction with other
// callers' changes, and returns once that transaction has committed. The
// events get consecutive sequence numbers, returned in order.
func (l *Log) Do(ctx context.Context, change Change) ([]int64, error) {
	return l.do(&job{ctx: ctx, change: change, done: make(chan struct{})})
}

// DoPure is Do for a change that writes nothing through tx but rows it
// defers (store.Tx.InsertDecision) and its events: it may read. Such a
// change is undone without a savepoint, one statement less per change on
// the hot path of decisions. A write made through tx anyway would not be
// undone with its change: do not.
func (l *Log) DoPure(ctx context.Context, change Change) ([]int64, error) {
	return l.do(&job{ctx: ctx, change: change, pure: true, done: make(chan struct{})})
}

func (l *Log) do(j *job) ([]int64, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, errUnavailable
	}
	l.jobs <- j
	l.mu.RUnlock()
	// Wait for the commit even if ctx ends: the change may already be in
	// the transaction, and its caller must learn whether it happened.
	<-j.done
	return j.seqs, j.err
}

// Append records events that change nothing else (server start, stop).
func (l *Log) Append(ctx context.Context, events ...Event) ([]int64, error) {
	return l.Do(ctx, func(*store.Tx) ([]Event, error) { return events, nil })
}

// Health is nil while the log can be written and its checkpoints are
// consistent; otherwise the last failure.
func (l *Log) Health() error {
	for _, f := range []*atomic.Pointer[error]{&l.signFailure, &l.writeFailure} {
		if p := f.Load(); p != nil {
			return *p
		}
	}
	return nil
}

// Recheck tries the write path again when the last append failed, so that
// a log whose database was locked or unreachable becomes healthy again by
// itself, even when no change arrives: in one transaction it takes the
// log's lock and appends an entry, then rolls it all back. Nil, and the
// log healthy again, when that worked.
// At most one runs at a time and one a second; a call meanwhile returns
// the failure as it stands.
func (l *Log) Recheck(ctx context.Context) error {
	failure := l.writeFailure.Load()
	if failure == nil {
		return nil
	}
	now := time.Now().UnixNano()
	if now-l.lastRecheck.Load() < int64(recheckEvery) || !l.rechecking.TryLock() {
		return *failure
	}
	defer l.rechecking.Unlock()
	l.lastRecheck.Store(now)
	err := l.db.Transact(ctx, func(tx *store.Tx) error {
		if err := tx.LockAudit(); err != nil {
			return err
		}
		size, err := tx.AuditSize()
		if err != nil {
			return err
		}
		if err := tx.InsertAudit([]privacy.AuditLeaf{{Seq: size, Leaf: []byte("{}"), Action: "probe", CreatedAt: tx.Now()}}, nil); err != nil {
			return err
		}
		return errProbed
	})
	if !errors.Is(err, errProbed) {
		return fmt.Errorf("audit: recheck: %w", err)
	}
	setFailure(&l.writeFailure, nil)
	return nil
}

// recheckEvery spaces Recheck's trial writes.
const recheckEvery = time.Second

// errProbed rolls back Recheck's append once it has worked.
var errProbed = errors.New("audit: probe appended; rolled back")

func setFailure(f *atomic.Pointer[error], err error) {
	if err == nil {
		f.Store(nil)
		return
	}
	f.Store(&err)
}

// OnCommit registers fn to be told, after each commit, the events it made
// durable (decisions included), in log order. fn runs on the writer,
// before Committed counts the commit's changes: it must be quick and must
// not call the Log.
func (l *Log) OnCommit(fn func(events []Event)) {
	l.hooksMu.Lock()
	defer l.hooksMu.Unlock()
	l.onCommit = append(l.onCommit, fn)
}

// OnForeign registers fn to be told the entries other than decisions that
// another process or instance appended since this one last wrote. fn runs
// on the writer, inside its transaction (tx, which sees those entries'
// changes and no later ones), before the changes of the batch: state it
// keeps in memory must be brought up to date (or dropped) before the
// batch's decisions are re-checked. fn must not write through tx.
func (l *Log) OnForeign(fn func(tx *store.Tx, entries []Foreign)) {
	l.hooksMu.Lock()
	defer l.hooksMu.Unlock()
	l.onForeign = append(l.onForeign, fn)
}

// OnBatch registers fn to run at the start of every transaction of the
// writer, before its changes (and after the OnForeign hooks): tx then sees
// exactly what the log's entries so far recorded. fn must not write
// through tx; state it loads from tx is current once the transaction's
// OnCommit hooks have run with the events it appended.
func (l *Log) OnBatch(fn func(tx *store.Tx)) {
	l.hooksMu.Lock()
	defer l.hooksMu.Unlock()
	l.onBatch = append(l.onBatch, fn)
}

func (l *Log) batchStarts(tx *store.Tx) {
	l.hooksMu.RLock()
	defer l.hooksMu.RUnlock()
	for _, fn := range l.onBatch {
		fn(tx)
	}
}

// OnChange registers fn to run, inside the transaction, after each change
// that succeeded, with its events and the sequence number the first of
// them gets: what fn writes commits with the change or not at all (the
// webhook outbox). Its error undoes the change, which its caller then
// gets. fn runs on the writer for every change, decisions included: it
// must return at once for events it has no use for.
func (l *Log) OnChange(fn func(tx *store.Tx, first int64, events []Event) error) {
	l.hooksMu.Lock()
	defer l.hooksMu.Unlock()
	l.onChange = append(l.onChange, fn)
}

// Attachment returns the value build made for key the first time it was
// asked for on this log, calling build only then: for components that must
// hook into a log exactly once (the webhook outbox would otherwise write
// every event twice), however many callers ask for them.
func (l *Log) Attachment(key any, build func() any) any {
	l.attachMu.Lock()
	defer l.attachMu.Unlock()
	if v, ok := l.attachments[key]; ok {
		return v
	}
	if l.attachments == nil {
		l.attachments = map[any]any{}
	}
	v := build()
	l.attachments[key] = v
	return v
}

func (l *Log) changed(tx *store.Tx, first int64, events []Event) error {
	l.hooksMu.RLock()
	defer l.hooksMu.RUnlock()
	for _, fn := range l.onChange {
		if err := fn(tx, first, events); err != nil {
			return err
		}
	}
	return nil
}

// Committed is the number of committed changes (events other than
// decisions). Read it before reading the state a decision is made on.
func (l *Log) Committed() int64 { return l.committed.Load() }

// Applied is, inside a change run by the writer, the number of changes
// before it in the log; elsewhere it means nothing.
func (l *Log) Applied() int64 { return l.applied.Load() }

// HMAC keys a subject id for entries and searches. The writer asks for the
// same subjects again and again (every decision names one), so answers are
// kept, a bounded number.
func (l *Log) HMAC(value string) string {
	if h, ok := l.hmacs.Load(value); ok {
		return h
	}
	m := hmac.New(sha256.New, l.keys.HMAC)
	m.Write([]byte(value))
	h := hex.EncodeToString(m.Sum(nil))
	l.hmacs.Store(value, h)
	return h
}

// VerifierKey is the checkpoint verifier key in note text form.
func (l *Log) VerifierKey() string { return l.keys.VerifierKey }

// Origin is the checkpoints' origin line.
func (l *Log) Origin() string { return l.keys.Origin() }

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

// maxSubjectPairs bounds subjectPairs should the index fall far behind
// (failing to be extended, say): past it the record starts over and the
// bulks read the entries back.
const maxSubjectPairs = 1 << 17

// recordSubjects adds a committed batch's subjects to subjectPairs: the
// batch's entries begin at first, and the writer knew the log up to known
// before it.
func (l *Log) recordSubjects(known, first int64, leaves []privacy.AuditLeaf) {
	if first != known || len(l.subjectPairs) >= maxSubjectPairs {
		// Someone else appended in between: their subjects are not here.
		l.subjectPairs, l.subjectPairsFrom = l.subjectPairs[:0], first
	}
	for _, leaf := range leaves {
		if leaf.SubjectHMAC != "" {
			l.subjectPairs = append(l.subjectPairs, store.AuditSubject{HMAC: leaf.SubjectHMAC, Seq: leaf.Seq})
		}
	}
}

// subjectsOf returns the slice's subjects of the entries from..upto from
// subjectPairs, in the index's key order; false when they are not all
// there.
func (l *Log) subjectsOf(slice string, from, upto int64) ([]store.AuditSubject, bool) {
	if from < l.subjectPairsFrom || upto != l.knownSize {
		return nil, false
	}
	var out []store.AuditSubject
	for _, p := range l.subjectPairs {
		if p.Seq >= from && p.HMAC[:1] == slice {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b store.AuditSubject) int {
		return cmp.Or(strings.Compare(a.HMAC, b.HMAC), cmp.Compare(a.Seq, b.Seq))
	})
	return out, true
}

// forgetSubjects drops from subjectPairs what every slice has indexed.
func (l *Log) forgetSubjects() {
	low := l.knownSize
	for _, c := range store.AuditSubjectSlices {
		low = min(low, l.subjectMarks[string(c)])
	}
	i, _ := slices.BinarySearchFunc(l.subjectPairs, low, func(p store.AuditSubject, seq int64) int { return cmp.Compare(p.Seq, seq) })
	if i > 0 {
		l.subjectPairs = append(l.subjectPairs[:0], l.subjectPairs[i:]...)
	}
	l.subjectPairsFrom = max(l.subjectPairsFrom, low)
}

// indexSubjects extends the subject index's slice furthest behind once
// SubjectIndexEvery entries wait past its mark. Bulk and in key order,
// this writes each index page about once where an index kept per commit
// wrote one page per entry (migration 00009); one slice of sixteen at a
// time, after answering a batch, keeps the writer's pause short. A failure
// only leaves more entries to be read directly by subject searches: it is
// logged, and the index is tried again once SubjectIndexEvery more entries
// have arrived (not after every batch, which would flood the log).
func (l *Log) indexSubjects() {
	slice := ""
	for _, c := range store.AuditSubjectSlices {
		if s := string(c); slice == "" || l.subjectMarks[s] < l.subjectMarks[slice] {
			slice = s
		}
	}
	every := int64(l.opts.SubjectIndexEvery)
	if l.knownSize-l.subjectMarks[slice] < every || l.knownSize < l.subjectsRetry {
		return
	}
	var mark int64
	err := l.db.Transact(context.Background(), func(tx *store.Tx) error {
		if err := tx.LockAudit(); err != nil {
			return err
		}
		from, err := tx.AuditSubjectsIndexed(slice)
		if err != nil {
			return err
		}
		size, err := tx.AuditSize()
		if err != nil {
			return err
		}
		mark = from
		if size-from < every {
			return nil // another instance has just done it
		}
		mark = size
		if rows, ok := l.subjectsOf(slice, from, size); ok {
			return tx.InsertAuditSubjects(slice, size, rows)
		}
		return tx.IndexAuditSubjects(slice, from, size)
	})
	if err != nil {
		l.log.Error("extending the audit subject index failed; subject searches read the entries past it directly", "slice", slice, "error", err)
		l.subjectsRetry = l.knownSize + every
		return
	}
	l.subjectMarks[slice] = mark
	l.forgetSubjects()
}

// commit runs a batch in one transaction. A change's own error rolls back
// that change alone; any failure to write the log rolls back the batch and
// every change in it gets 503.
func (l *Log) commit(batch []*job) {
	var (
		pending map[int64][]byte
		applied []*job
		leaves  []privacy.AuditLeaf
		first   int64
		final   int64
		durable []Event
		known   = l.knownSize
		// changes: the batch holds events other than decisions, which the
		// other instances are told of.
		changes bool
	)
	err := l.db.Transact(context.Background(), func(tx *store.Tx) error {
		pending, applied, durable, changes = map[int64][]byte{}, applied[:0], durable[:0], false
		if err := tx.LockAudit(); err != nil {
			return err
		}
		size, err := tx.AuditSize()
		if err != nil {
			return err
		}
		if err := l.foreign(tx, size); err != nil {
			return err
		}
		l.batchStarts(tx)
		reader := l.reader(tx, pending)
		leaves, first = leaves[:0], size
		for i, j := range batch {
			j.seqs, j.err = nil, nil
			if err := j.ctx.Err(); err != nil {
				j.err = err
				continue
			}
			var sp string
			if !j.pure {
				sp = "change_" + strconv.Itoa(i)
				if err := tx.SavePoint(sp); err != nil {
					return err
				}
			}
			tx.SetNextSeq(size)
			mark := tx.DeferredMark()
			events, err := j.change(tx)
			if err != nil {
				tx.DeferredRollback(mark)
				if !j.pure {
					if rerr := tx.RollbackTo(sp); rerr != nil {
						return rerr
					}
				}
				j.err = err
				continue
			}
			if err := l.changed(tx, size, events); err != nil {
				tx.DeferredRollback(mark)
				if j.pure {
					// A hook may have written, and a pure change has no
					// savepoint to undo it with: the whole batch fails.
					return err
				}
				if rerr := tx.RollbackTo(sp); rerr != nil {
					return rerr
				}
				j.err = err
				continue
			}
			if !j.pure {
				// Done with: no later failure undoes this change alone.
				// Left open, every later change's pages were journaled
				// once per open savepoint, and a batch's journal outgrew
				// SQLite's memory into a temporary file.
				if err := tx.Release(sp); err != nil {
					return err
				}
			}
			for _, ev := range events {
				if ev.Action != ActionDecision {
					l.applied.Add(1)
					changes = true
				}
				leaf, err := l.leaf(size, tx.Now(), j.ctx, ev)
				if err != nil {
					return err
				}
				hashes, err := tlog.StoredHashes(size, leaf.Leaf, reader)
				if err != nil {
					return fmt.Errorf("audit: tree hashes for %d: %w", size, err)
				}
				base := tlog.StoredHashIndex(0, size)
				for k, h := range hashes {
					pending[base+int64(k)] = append([]byte(nil), h[:]...)
				}
				leaves = append(leaves, leaf)
				durable = append(durable, ev)
				j.seqs = append(j.seqs, size)
				size++
			}
			applied = append(applied, j)
		}
		final = size
		if err := tx.FlushDeferred(); err != nil {
			return err
		}
		if err := tx.InsertAudit(leaves, pending); err != nil {
			return err
		}
		if changes {
			return tx.NotifyChange(l.instance)
		}
		return nil
	})
	if err != nil {
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
		l.log.Error("audit append failed; the batch's changes were refused", "changes", len(batch), "error", err)
		for _, j := range batch {
			if j.err == nil {
				j.seqs, j.err = nil, refusal
			}
		}
		return
	}
	// The hooks first: state kept in memory must have dropped what the
	// batch changed before Committed counts the batch, or a decision could
	// read the old state under the new count, and the writer would trust it.
	l.hooksMu.RLock()
	for _, fn := range l.onCommit {
		fn(durable)
	}
	l.hooksMu.RUnlock()
	l.committed.Store(l.applied.Load())
	l.recordSubjects(known, first, leaves)
	l.knownSize = final
	l.cache.addAll(pending)
	setFailure(&l.writeFailure, nil)
	n := 0
	for _, j := range applied {
		n += len(j.seqs)
	}
	l.appends.Add(float64(n))
	l.batches.Observe(float64(len(batch)))
}

// foreign notices entries appended by someone else since this process
// last committed, tells the OnForeign hooks their actions and counts them
// as changes, so that every decision of the batch is re-checked.
func (l *Log) foreign(tx *store.Tx, size int64) error {
	if l.knownSize < 0 || size == l.knownSize {
		l.knownSize = size
		return nil
	}
	leaves, err := tx.AuditChanges(l.knownSize, size)
	if err != nil {
		return err
	}
	entries := make([]Foreign, len(leaves))
	for i, lf := range leaves {
		var e Entry
		if err := json.Unmarshal(lf.Leaf, &e); err != nil {
			return fmt.Errorf("audit: entry %d: %w", lf.Seq, err)
		}
		entries[i] = Foreign{Action: lf.Action, Targets: e.Targets}
	}
	// Decisions are not counted: any count above zero makes every decision
	// of the batch be re-checked.
	l.applied.Add(int64(len(entries)) + 1)
	l.hooksMu.RLock()
	defer l.hooksMu.RUnlock()
	for _, fn := range l.onForeign {
		fn(tx, entries)
	}
	l.knownSize = size
	return nil
}

// leaf builds the entry for ev at seq.
func (l *Log) leaf(seq int64, now time.Time, ctx context.Context, ev Event) (privacy.AuditLeaf, error) {
	actor := privacy.ActorFrom(ctx)
	e := Entry{Seq: seq, Time: FormatTime(now), Actor: EntryActor{ClientID: actor.ClientID, Role: actor.Role},
		Action: ev.Action, Outcome: ev.Outcome, Reasons: ev.Reasons, RequestID: privacy.RequestIDFrom(ctx), ReliesOn: ev.ReliesOn}
	if e.Outcome == "" {
		e.Outcome = "ok"
	}
	if len(ev.Targets) > 0 || ev.Subject != "" {
		e.Targets = make(map[string]string, len(ev.Targets)+1)
		for k, v := range ev.Targets {
			e.Targets[k] = v
		}
	}
	var subject string
	if ev.Subject != "" {
		subject = l.HMAC(ev.Subject)
		e.Targets["subject"] = subject
	}
	if !ev.ExpiresAt.IsZero() {
		e.ExpiresAt = FormatTime(ev.ExpiresAt)
	}
	if ev.PayloadSHA256 != "" {
		e.PayloadSHA256 = ev.PayloadSHA256
	} else if ev.Payload != nil {
		h, err := PayloadHash(ev.Payload)
		if err != nil {
			return privacy.AuditLeaf{}, err
		}
		e.PayloadSHA256 = h
	}
	b, err := canonicalEntry(e)
	if err != nil {
		return privacy.AuditLeaf{}, err
	}
	return privacy.AuditLeaf{Seq: seq, Leaf: b, Action: e.Action, SubjectHMAC: subject, CreatedAt: now}, nil
}

// signer signs a checkpoint whenever the tree has grown, every
// CheckpointEvery.
func (l *Log) signer() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if _, err := l.Checkpoint(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
				l.log.Error("audit checkpoint failed", "error", err)
			}
		}
	}
}
