package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/memo"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

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
	// go (store.IndexAuditSubjects). Default 16384: each bulk is a run
	// appended at the index's end (migration 00020), and a subject search
	// seeks once per run of its slice, one per 16,384 entries of the log,
	// and reads up to about 17,000 unindexed entries directly.
	SubjectIndexEvery int
	// NoteEvery is the longest a queued note (Note: a read of personal
	// data) waits for a batch of changes to be written with before it is
	// written alone. Default 1s.
	NoteEvery time.Duration
	// React is told of every change committed (default NoReactions). A
	// process that changes anything wires internal/app's Reactions here,
	// or the webhook outbox misses its changes.
	React      Reactor
	Log        *slog.Logger
	Registerer prometheus.Registerer
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
	// pseudonyms are subjects' pseudonyms as last read or drawn: every
	// decision names a subject. Only committed ones (batch.created until
	// then); emptied when a subject is erased, here or elsewhere.
	pseudonyms *memo.Map[string, string]

	mu     sync.RWMutex // guards closed and started
	closed bool
	// started: Start has run, so the writer takes changes.
	started bool
	wg      sync.WaitGroup
	stop    chan struct{}
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
	// lockWait and lockHeld time the log's lock per batch: waiting for it
	// (another writer holds it: an instance, a backup), and holding it
	// (the batch's transaction, to its commit). Instances sharing one log
	// commit one at a time: the held time caps them together
	// (docs/scaling.md).
	lockWait, lockHeld prometheus.Histogram

	// notes wait for the next commit (notes.go).
	notesMu sync.Mutex
	notes   []queued
}

type job struct {
	ctx    context.Context
	change Change
	// pure: the change writes nothing itself (DoPure), so it needs no
	// savepoint to be undone.
	pure bool
	// subjects are those the change's entries will name, when known
	// before it runs (DoPureAbout): their pseudonyms are read for the
	// whole batch in one query, not one per entry.
	subjects []string
	seqs     []int64
	err      error
	done     chan struct{}
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
	if opts.NoteEvery <= 0 {
		opts.NoteEvery = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.React == nil {
		opts.React = NoReactions{}
	}
	l := &Log{db: db, keys: keys, opts: opts, log: opts.Log, jobs: make(chan *job, 4*opts.MaxBatch), knownSize: -1,
		cache: newHashCache(1 << 13), pseudonyms: memo.New[string, string](1 << 17), stop: make(chan struct{}), instance: uuid.NewString(), refresh: make(chan struct{}, 1),
		appends: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "consentry", Name: "audit_appends_total",
			Help: "Audit entries committed."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "consentry", Name: "audit_append_failures_total",
			Help: "Audit batches that could not be committed (their changes were refused with 503)."}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "consentry", Name: "audit_batch_changes",
			Help: "Changes committed per audit transaction (group commit).", Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		lockWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "consentry", Name: "audit_lock_wait_seconds",
			Help: "Time a batch waited for the audit log's lock, which one writer of all instances holds at a time.", Buckets: lockBuckets}),
		lockHeld: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "consentry", Name: "audit_lock_held_seconds",
			Help: "Time a committed batch held the audit log's lock: its transaction, to the commit's return.", Buckets: lockBuckets}),
	}
	// What this process loads into memory from now on is current up to
	// this size; anything another instance appends later reaches
	// Reactor.Foreign, even before this Log's first commit. Without it a
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
		for _, c := range []prometheus.Collector{l.appends, l.failures, l.batches, l.lockWait, l.lockHeld} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("audit: metrics: %w", err)
			}
		}
	}
	return l, nil
}

// lockBuckets are the lock histograms' buckets: 50 µs to about 0.8 s.
var lockBuckets = prometheus.ExponentialBuckets(50e-6, 2, 15)

// Start runs the writer and the checkpoint timer until Close, and on
// PostgreSQL follows the other instances' changes (Refresh on each).
func (l *Log) Start() {
	l.mu.Lock()
	l.started = true
	l.mu.Unlock()
	l.wg.Add(2)
	go l.writer()
	go l.noter()
	if l.opts.CheckpointEvery > 0 {
		l.wg.Add(1)
		go l.signer()
	}
	if l.db.Dialect() == store.DialectPostgres {
		l.followOthers()
	}
}

// Close stops taking changes, commits the ones already queued, signs a
// final checkpoint and stops.
func (l *Log) Close() {
	if l.follow != nil {
		l.follow()
	}
	if l.pendingNotes() {
		l.flushNotes()
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
// defers (Tx.InsertDecision) and its events: it may read. Such a
// change is undone without a savepoint, one statement less per change on
// the hot path of decisions. A write made through tx anyway would not be
// undone with its change: do not.
func (l *Log) DoPure(ctx context.Context, change Change) ([]int64, error) {
	return l.do(&job{ctx: ctx, change: change, pure: true, done: make(chan struct{})})
}

// DoPureAbout is DoPure for a change whose entries name subjects: the
// batch reads the pseudonyms of all its changes' subjects together, one
// round trip where each entry cost one (on PostgreSQL, under the log's
// lock: docs/scaling.md).
func (l *Log) DoPureAbout(ctx context.Context, subjects []string, change Change) ([]int64, error) {
	return l.do(&job{ctx: ctx, change: change, pure: true, subjects: subjects, done: make(chan struct{})})
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
func (l *Log) Append(ctx context.Context, events ...event.Event) ([]int64, error) {
	return l.Do(ctx, func(*Tx) ([]event.Event, error) { return events, nil })
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

// Committed is the number of committed changes (events other than
// decisions). Read it before reading the state a decision is made on.
func (l *Log) Committed() int64 { return l.committed.Load() }

// Applied is, inside a change run by the writer, the number of changes
// before it in the log; elsewhere it means nothing.
func (l *Log) Applied() int64 { return l.applied.Load() }

// Pseudonym is the pseudonym entries name subject by, as r reads it: ""
// when the subject has none (never seen, or erased). The erased marker
// of a row (privacy.ErasedSubject) is its pseudonym. Only the writer
// draws new ones (Tx.Pseudonym).
func (l *Log) Pseudonym(r *store.Reader, subject string) (string, error) {
	if privacy.IsErasedSubject(subject) {
		return strings.TrimPrefix(subject, privacy.ErasedPrefix), nil
	}
	if p, ok := l.pseudonyms.Load(subject); ok {
		return p, nil
	}
	p, err := r.Pseudonym(subject)
	if privacy.ErrorCode(err) == privacy.ENotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	l.pseudonyms.Store(subject, p)
	return p, nil
}

// PseudonymOf is Pseudonym as the database reads now.
func (l *Log) PseudonymOf(ctx context.Context, subject string) (string, error) {
	return l.Pseudonym(l.db.Read(ctx), subject)
}

// VerifierKey is the checkpoint verifier key in note text form.
func (l *Log) VerifierKey() string { return l.keys.VerifierKey }

// Origin is the checkpoints' origin line.
func (l *Log) Origin() string { return l.keys.Origin() }
