package audit_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/sqlitetune"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// appendN appends n events from n concurrent callers, so that the writer
// batches them.
func appendN(t testing.TB, l *audit.Log, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "c", Role: "admin"})
			_, errs[i] = l.Append(ctx, audittest.Event{Name: "test.event", Targets: map[string]string{"n": fmt.Sprint(i)}, Subject: fmt.Sprintf("subject-%d", i%3)})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

// appendInOneChange appends n events as appendN does, in one change: from
// 64 on, its batch makes its entries on several goroutines where the
// process runs more than one.
func appendInOneChange(t testing.TB, l *audit.Log, n int) {
	t.Helper()
	ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "c", Role: "admin"})
	seqs, err := l.Do(ctx, func(*audit.Tx) ([]event.Event, error) {
		events := make([]event.Event, n)
		for i := range events {
			events[i] = audittest.Event{Name: "test.event", Targets: map[string]string{"n": fmt.Sprint(i)}, Subject: fmt.Sprintf("subject-%d", i%3)}
		}
		return events, nil
	})
	require.NoError(t, err)
	require.Len(t, seqs, n)
}

// entries yields the whole log from the database.
func entries(l *audit.Log) iter.Seq2[audit.StoredEntry, error] {
	return func(yield func(audit.StoredEntry, error) bool) {
		from := int64(0)
		for {
			page, err := l.Entries(context.Background(), audit.Filter{From: from, Limit: 100})
			if err != nil {
				yield(audit.StoredEntry{}, err)
				return
			}
			for _, e := range page {
				if !yield(audit.StoredEntry{Seq: e.Seq, Leaf: e.Leaf}, nil) {
					return
				}
			}
			if len(page) < 100 {
				return
			}
			from = page[len(page)-1].Seq + 1
		}
	}
}

func prover(l *audit.Log) func(seq, size int64) ([]tlog.Hash, error) {
	return func(seq, size int64) ([]tlog.Hash, error) {
		_, p, err := l.InclusionProof(context.Background(), seq, size)
		return p, err
	}
}

func TestLogOnBothDialects(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		l := audittest.MustOpenLog(t, db, audit.Options{})

		_, err := l.Checkpoint(ctx)
		assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err), "an empty log has no checkpoint")

		// Entries made in one large batch, then one at a time.
		const n = 300
		appendInOneChange(t, l, 200)
		appendN(t, l, n-200)
		size, err := l.Size(ctx)
		require.NoError(t, err)
		require.EqualValues(t, n, size)

		// Entries: contiguous, canonical, no raw subject, roots agree with
		// an independent implementation at every size.
		rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
		cr := rf.NewEmptyRange(0)
		roots := [][]byte{nil}
		var leafHashes [][]byte
		seq := int64(0)
		for se, err := range entries(l) {
			require.NoError(t, err)
			require.Equal(t, seq, se.Seq)
			e, err := audit.ParseLeaf(se.Leaf)
			require.NoError(t, err)
			assert.Equal(t, seq, e.Seq)
			assert.Equal(t, "c", e.Actor.ClientID)
			assert.NotContains(t, string(se.Leaf), "subject-", "subject ids are stored as HMACs only")
			assert.Contains(t, []string{pseud(t, l, "subject-0"), pseud(t, l, "subject-1"), pseud(t, l, "subject-2")}, e.Targets["subject"])
			lh := rfc6962.DefaultHasher.HashLeaf(se.Leaf)
			leafHashes = append(leafHashes, lh)
			require.NoError(t, cr.Append(lh, nil))
			root, err := cr.GetRootHash(nil)
			require.NoError(t, err)
			roots = append(roots, root)
			got, err := l.Root(ctx, seq+1)
			require.NoError(t, err)
			require.Equal(t, root, got[:], "root of size %d", seq+1)
			seq++
		}
		require.EqualValues(t, n, seq)

		// Proofs served from the stored hashes verify independently.
		hasher := rfc6962.DefaultHasher
		for _, sz := range []int64{1, 2, 3, 7, 64, 65, 127, 128, 129, 255, 299, 300} {
			for i := range sz {
				leaf, p, err := l.InclusionProof(ctx, i, sz)
				require.NoError(t, err)
				assert.Equal(t, leafHashes[i], leaf[:])
				require.NoError(t, proof.VerifyInclusion(hasher, uint64(i), uint64(sz), leafHashes[i], toBytes(p), roots[sz]), "inclusion %d in %d", i, sz)
			}
			for _, from := range []int64{1, sz / 2, sz - 1, sz} {
				if from < 1 {
					continue
				}
				p, err := l.ConsistencyProof(ctx, from, sz)
				require.NoError(t, err)
				require.NoError(t, proof.VerifyConsistency(hasher, uint64(from), uint64(sz), toBytes(p), roots[from], roots[sz]), "consistency %d→%d", from, sz)
			}
		}
		_, _, err = l.InclusionProof(ctx, 5, n+1)
		assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err), "no tree beyond the log")
		_, _, err = l.InclusionProof(ctx, 5, 5)
		assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
		_, err = l.ConsistencyProof(ctx, 10, 5)
		assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))

		// The checkpoint is a signed note over the same root.
		cp, err := l.Checkpoint(ctx)
		require.NoError(t, err)
		v, err := note.NewVerifier(l.VerifierKey())
		require.NoError(t, err)
		parsed, _, _, err := log.ParseCheckpoint([]byte(cp.Note), l.Origin(), v)
		require.NoError(t, err)
		assert.EqualValues(t, n, parsed.Size)
		assert.Equal(t, roots[n], parsed.Hash)
		again, err := l.Checkpoint(ctx)
		require.NoError(t, err)
		assert.Equal(t, cp.Note, again.Note, "no growth, no new signature")

		res, err := audit.Verify(audit.VerifyInput{Checkpoint: []byte(cp.Note), VerifierKey: l.VerifierKey(), Entries: entries(l)})
		require.NoError(t, err)
		assert.EqualValues(t, n, res.Size)

		appendN(t, l, 10)
		cp2, err := l.Checkpoint(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, n+10, cp2.Size)
		res, err = audit.Verify(audit.VerifyInput{Checkpoint: []byte(cp2.Note), Older: []byte(cp.Note), VerifierKey: l.VerifierKey(), Entries: entries(l)})
		require.NoError(t, err)
		assert.EqualValues(t, n, res.OlderSize)
		require.NoError(t, l.Health())
	})
}

func TestChangesAreAtomicWithTheirEntries(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		l := audittest.MustOpenLog(t, db, audit.Options{})
		put := func(key string, fail bool) ([]int64, error) {
			return l.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
				p := privacy.Purpose{Key: key, Name: key, Description: "d", LegalBasis: privacy.BasisConsent, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
				if err := tx.UpsertPurpose(p); err != nil {
					return nil, err
				}
				if fail {
					return nil, privacy.Errorf(privacy.EInvalid, "refused after writing")
				}
				return []event.Event{audittest.Event{Name: "purpose.put", Targets: map[string]string{"purpose": key}}}, nil
			})
		}
		const n = 40
		var wg sync.WaitGroup
		errs := make([]error, n)
		seqs := make([][]int64, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				seqs[i], errs[i] = put(fmt.Sprintf("p%02d", i), i%4 == 0)
			}()
		}
		wg.Wait()
		keys, err := db.Read(ctx).PurposeKeys()
		require.NoError(t, err)
		seen := map[int64]bool{}
		for i := range n {
			key := fmt.Sprintf("p%02d", i)
			if i%4 == 0 {
				assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(errs[i]))
				assert.False(t, keys[key], "a refused change leaves nothing behind")
				assert.Empty(t, seqs[i])
				continue
			}
			require.NoError(t, errs[i])
			assert.True(t, keys[key])
			require.Len(t, seqs[i], 1)
			assert.False(t, seen[seqs[i][0]])
			seen[seqs[i][0]] = true
		}
		size, err := l.Size(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, len(seen), size, "one entry per change that happened, none for those that did not")
	})
}

func TestFailClosedWhenTheLogCannotBeWritten(t *testing.T) {
	ctx := context.Background()
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	l := audittest.MustOpenLog(t, db, audit.Options{})
	appendN(t, l, 3)
	sqlDB, err := db.SQL()
	require.NoError(t, err)
	_, err = sqlDB.Exec(`CREATE TRIGGER audit_unwritable BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`)
	require.NoError(t, err)

	_, err = l.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		p := privacy.Purpose{Key: "ads", Name: "Ads", Description: "d", LegalBasis: privacy.BasisConsent, CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
		return []event.Event{audittest.Event{Name: "purpose.put"}}, tx.UpsertPurpose(p)
	})
	assert.Equal(t, privacy.EUnavailable, privacy.ErrorCode(err))
	keys, err := db.Read(ctx).PurposeKeys()
	require.NoError(t, err)
	assert.Empty(t, keys, "the change was rolled back with its entry")
	assert.Error(t, l.Health())

	_, err = sqlDB.Exec(`DROP TRIGGER audit_unwritable`)
	require.NoError(t, err)
	appendN(t, l, 1)
	assert.NoError(t, l.Health(), "a successful commit makes the log healthy again")
	size, err := l.Size(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 4, size)
}

func TestCloseRefusesNewChanges(t *testing.T) {
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	l := audittest.MustOpenLog(t, db, audit.Options{})
	appendN(t, l, 2)
	l.Close()
	_, err := l.Append(context.Background(), audittest.Event{Name: "late"})
	assert.Equal(t, privacy.EUnavailable, privacy.ErrorCode(err))
	cp, err := db.Read(context.Background()).LatestCheckpoint()
	require.NoError(t, err)
	assert.EqualValues(t, 2, cp.Size, "Close signs a final checkpoint")
}

func TestLeafShape(t *testing.T) {
	e := audit.Entry{Seq: 3, Time: "2026-11-28T12:00:00.000000Z", Actor: audit.EntryActor{ClientID: "c", Role: "admin"}, Action: "a<b>&c", Outcome: "ok"}
	leaf, err := audit.Canonical(e)
	require.NoError(t, err)
	assert.Equal(t, `{"action":"a<b>&c","actor":{"client_id":"c","role":"admin"},"outcome":"ok","seq":3,"time":"2026-11-28T12:00:00.000000Z"}`, string(leaf))
	back, err := audit.ParseLeaf(leaf)
	require.NoError(t, err)
	assert.Equal(t, e, back)

	for name, bad := range map[string]string{
		"whitespace":    `{"action": "a","actor":{"client_id":"c","role":"admin"},"outcome":"ok","seq":3,"time":"t"}`,
		"key order":     `{"seq":3,"action":"a","actor":{"client_id":"c","role":"admin"},"outcome":"ok","time":"t"}`,
		"unknown field": `{"action":"a","actor":{"client_id":"c","role":"admin"},"evil":1,"outcome":"ok","seq":3,"time":"t"}`,
		"not json":      `{"action":`,
		"escaped slash": `{"action":"a\/b","actor":{"client_id":"c","role":"admin"},"outcome":"ok","seq":3,"time":"t"}`,
	} {
		_, err := audit.ParseLeaf([]byte(bad))
		assert.Error(t, err, name)
	}
	// A newline in a value cannot forge a second entry: it is escaped.
	leaf, err = audit.Canonical(audit.Entry{Action: "x\n{\"seq\":9}"})
	require.NoError(t, err)
	assert.NotContains(t, string(leaf), "\n")
}

// TestThreeInstancesOneLog: three instances append concurrently to one
// database and sign checkpoints as they go; the log stays one sequence
// with no gap or fork, every checkpoint any of them signed is consistent
// with the final one, and the whole log verifies.
func TestThreeInstancesOneLog(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		logs := audittest.MustOpenLogsSharingKeys(t, storetest.MustOpenMany(t, dialect, nil, 3), audit.Options{})
		var (
			wg          sync.WaitGroup
			mu          sync.Mutex
			checkpoints []privacy.Checkpoint
			seqs        = map[int64]bool{}
		)
		for i, l := range logs {
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					actx := privacy.WithActor(ctx, privacy.Actor{ClientID: fmt.Sprintf("i%d", i), Role: "admin"})
					for n := range 25 {
						got, err := l.Append(actx, audittest.Event{Name: "test.event", Targets: map[string]string{"n": fmt.Sprintf("%d-%d-%d", i, w, n)}})
						if !assert.NoError(t, err) {
							return
						}
						mu.Lock()
						for _, s := range got {
							assert.False(t, seqs[s], "sequence number %d given twice", s)
							seqs[s] = true
						}
						mu.Unlock()
						if n%10 == 0 {
							cp, err := l.Checkpoint(actx)
							if assert.NoError(t, err) {
								mu.Lock()
								checkpoints = append(checkpoints, cp)
								mu.Unlock()
							}
						}
					}
				}()
			}
		}
		wg.Wait()
		require.Len(t, seqs, 3*8*25)
		for s := range int64(len(seqs)) {
			require.True(t, seqs[s], "gap at %d", s)
		}
		final, err := logs[0].Checkpoint(ctx)
		require.NoError(t, err)
		require.EqualValues(t, len(seqs), final.Size)
		for _, cp := range checkpoints {
			// Each earlier checkpoint, from any instance, verifies as the
			// older one of the final log: no fork.
			_, err := audit.Verify(audit.VerifyInput{Checkpoint: []byte(final.Note), VerifierKey: logs[2].VerifierKey(), Older: []byte(cp.Note), Entries: entries(logs[1])})
			require.NoError(t, err, "checkpoint of size %d", cp.Size)
		}
	})
}

// TestOtherInstancesAreToldAtOnce: on PostgreSQL, an instance that writes
// nothing still learns of another's change within a second (LISTEN /
// NOTIFY), so what it holds in memory (the data policy) is current; a
// batch of decisions alone announces nothing.
func TestOtherInstancesAreToldAtOnce(t *testing.T) {
	storetest.PostgresDSN(t)
	ctx := context.Background()
	hooks := &audittest.Hooks{}
	logs := audittest.MustOpenLogsSharingKeys(t, storetest.MustOpenMany(t, store.DialectPostgres, nil, 2), audit.Options{React: hooks})
	told := make(chan []string, 16)
	// Only B is told of foreign changes: A hears of no one else's.
	hooks.OnForeign(func(_ *store.Reader, events []event.Event) {
		actions := make([]string, len(events))
		for i, e := range events {
			actions[i] = e.Action()
		}
		told <- actions
	})
	// The listener may still be connecting: announce until it hears.
	deadline := time.After(10 * time.Second)
	for {
		_, err := logs[0].Append(ctx, audittest.Event{Name: "test.warmup"})
		require.NoError(t, err)
		select {
		case <-told:
		case <-time.After(200 * time.Millisecond):
			select {
			case <-deadline:
				t.Fatal("instance B was never told of A's changes")
			default:
			}
			continue
		}
		break
	}
	// Let late warm-up notifications play out, so that what B hears next
	// is caused by what follows.
	quiet := func(d time.Duration) []string {
		var heard []string
		for {
			select {
			case actions := <-told:
				heard = append(heard, actions...)
			case <-time.After(d):
				return heard
			}
		}
	}
	quiet(300 * time.Millisecond)
	// Decisions change nothing another instance holds: no notification.
	_, err := logs[0].Append(ctx, audittest.Event{Name: event.ActionDecision, Outcome: "deny"})
	require.NoError(t, err)
	assert.Empty(t, quiet(300*time.Millisecond), "a batch of decisions alone announces nothing")
	start := time.Now()
	_, err = logs[0].Append(ctx, audittest.Event{Name: "policy.rule_added"})
	require.NoError(t, err)
	select {
	case actions := <-told:
		assert.Equal(t, []string{"policy.rule_added"}, actions, "B is told of every change it had not seen; a decision changes nothing")
		assert.Less(t, time.Since(start), time.Second)
	case <-time.After(time.Second):
		t.Fatal("B was not told of A's policy change within a second")
	}
}

// TestDoPure: a pure change (no writes of its own) is undone without a
// savepoint: its error is its own, the batch's other changes stand; a hook
// failing after a pure change fails the batch, since what the hook wrote
// could not be undone alone.
func TestDoPure(t *testing.T) {
	ctx := context.Background()
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	hooks := &audittest.Hooks{}
	l := audittest.MustOpenLog(t, db, audit.Options{React: hooks})
	refused := errors.New("refused")
	_, err := l.DoPure(ctx, func(*audit.Tx) ([]event.Event, error) { return nil, refused })
	require.ErrorIs(t, err, refused)
	seqs, err := l.DoPure(ctx, func(*audit.Tx) ([]event.Event, error) {
		return []event.Event{audittest.Event{Name: event.ActionDecision, Outcome: "deny"}}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, []int64{0}, seqs, "the refused change appended nothing")

	hooks.OnChange(func(tx *store.Tx, _ int64, events []event.Event) error {
		if len(events) == 1 && events[0].Entry().Outcome == "hook-fails" {
			return refused
		}
		return nil
	})
	_, err = l.DoPure(ctx, func(*audit.Tx) ([]event.Event, error) {
		return []event.Event{audittest.Event{Name: event.ActionDecision, Outcome: "hook-fails"}}, nil
	})
	assert.Equal(t, privacy.EUnavailable, privacy.ErrorCode(err), "the batch failed as a whole")
	_, err = l.Do(ctx, func(*audit.Tx) ([]event.Event, error) {
		return []event.Event{audittest.Event{Name: "test.event", Outcome: "hook-fails"}}, nil
	})
	assert.ErrorIs(t, err, refused, "a change with a savepoint is undone alone")
	seqs, err = l.Append(ctx, audittest.Event{Name: "test.event"})
	require.NoError(t, err)
	assert.Equal(t, []int64{1}, seqs)
}

// TestWriterExtendsTheSubjectIndexInBulk: once SubjectIndexEvery entries
// wait past a slice's mark, the writer indexes that slice's entries in one
// go, one slice (the furthest behind) after each batch; searches by
// subject find every entry at every moment.
func TestWriterExtendsTheSubjectIndexInBulk(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "c", Role: "admin"})
		db := storetest.MustOpenDB(t, dialect, nil)
		// The writer's log in the test's output: an extension that fails
		// (it is then retried ten entries later) shows why.
		l := audittest.MustOpenLog(t, db, audit.Options{SubjectIndexEvery: 10, Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
		subjects := []string{"alice", "bob", ""}
		want := map[string][]int64{}
		expected := map[string]int64{}
		for _, c := range store.AuditSubjectSlices {
			expected[string(c)] = 0
		}
		for i := range 30 {
			subject := subjects[i%3]
			seqs, err := l.Append(ctx, audittest.Event{Name: "test.event", Subject: subject})
			require.NoError(t, err)
			want[subject] = append(want[subject], seqs...)
			// Appended one by one, each a batch: after each, the slice
			// furthest behind (the first of equals) is indexed when ten
			// entries wait past its mark.
			size := int64(i + 1)
			behind := ""
			for _, c := range store.AuditSubjectSlices {
				if behind == "" || expected[string(c)] < expected[behind] {
					behind = string(c)
				}
			}
			if size-expected[behind] >= 10 {
				expected[behind] = size
			}
			// The writer indexes after answering the batch's callers.
			// A copy: the condition may still run after a timeout, while the
			// loop goes on changing expected.
			wantMarks := maps.Clone(expected)
			assert.Eventually(t, func() bool {
				marks, err := db.Read(ctx).AuditSubjectMarks()
				return err == nil && assert.ObjectsAreEqual(wantMarks, marks)
			}, 20*time.Second, time.Millisecond, "the marks after %d entries", size)
			for _, s := range subjects[:2] {
				if len(want[s]) == 0 {
					continue // not seen yet: no pseudonym
				}
				got, err := l.Entries(ctx, audit.Filter{Limit: 100, SubjectPseudonym: pseud(t, l, s)})
				require.NoError(t, err)
				var gotSeqs []int64
				for _, e := range got {
					gotSeqs = append(gotSeqs, e.Seq)
				}
				assert.Equal(t, want[s], gotSeqs, "%s after %d entries", s, size)
			}
		}
	})
}

// TestSubjectIndexWithTwoWriters: two writers on one log (two processes
// on a SQLite file, two instances on PostgreSQL) appending in turn and at
// once. Each extends the index from the subjects it appended itself when it
// has them all, and reads the entries back when the other appended in
// between; either way the index holds exactly every entry below each
// slice's mark, and searches from both find every entry.
func TestSubjectIndexWithTwoWriters(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "c", Role: "admin"})
		dbs := storetest.MustOpenMany(t, dialect, nil, 2)
		logs := audittest.MustOpenLogsSharingKeys(t, dbs, audit.Options{SubjectIndexEvery: 4})
		subjects := []string{"alice", "bob", "carol", "dave", ""}
		appendOne := func(l *audit.Log, i int) {
			_, err := l.Append(ctx, audittest.Event{Name: "test.event", Subject: subjects[i%len(subjects)]})
			require.NoError(t, err)
		}
		for i := range 40 { // one writer for a while, then in turn
			appendOne(logs[min(i/20, 1)*(i%2)], i)
		}
		var wg sync.WaitGroup
		for w := range 2 { // and at once
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 30 {
					appendOne(logs[w], i)
				}
			}()
		}
		wg.Wait()
		for _, l := range logs { // a last change each: the writers' work after the last batches is done
			appendOne(l, 4)
		}
		all, err := logs[0].Entries(ctx, audit.Filter{Limit: 1000})
		require.NoError(t, err)
		require.Len(t, all, 102)
		// Each writer extends one slice after answering its last batch:
		// wait until that is done, for marks and rows read in turn to agree.
		var marks map[string]int64
		require.Eventually(t, func() bool {
			before, err := dbs[0].Read(ctx).AuditSubjectMarks()
			require.NoError(t, err)
			time.Sleep(100 * time.Millisecond)
			marks, err = dbs[0].Read(ctx).AuditSubjectMarks()
			require.NoError(t, err)
			return assert.ObjectsAreEqual(before, marks)
		}, 10*time.Second, time.Millisecond)
		var want, got []string
		for _, e := range all {
			if e.SubjectPseudonym != "" && e.Seq < marks[e.SubjectPseudonym[:1]] {
				want = append(want, fmt.Sprintf("%s %d", e.SubjectPseudonym, e.Seq))
			}
		}
		raw, err := dbs[0].SQL()
		require.NoError(t, err)
		// Every row is in the run of the bulk that indexed it: named by the
		// mark the bulk moved its slice to, after the slice's mark before.
		runs := map[string][]int64{}
		markRows, err := raw.QueryContext(ctx, "SELECT slice, upto FROM audit_subjects_marks ORDER BY slice, upto")
		require.NoError(t, err)
		for markRows.Next() {
			var slice string
			var upto int64
			require.NoError(t, markRows.Scan(&slice, &upto))
			runs[slice] = append(runs[slice], upto)
		}
		require.NoError(t, markRows.Err())
		rows, err := raw.QueryContext(ctx, "SELECT run, subject_hmac, seq FROM audit_subjects")
		require.NoError(t, err)
		for rows.Next() {
			var h string
			var run, seq int64
			require.NoError(t, rows.Scan(&run, &h, &seq))
			got = append(got, fmt.Sprintf("%s %d", h, seq))
			i, found := slices.BinarySearch(runs[h[:1]], run)
			if assert.True(t, found, "run %d of %s %d is a mark of its slice", run, h, seq) {
				assert.Less(t, seq, run, "%s %d", h, seq)
				if i > 0 {
					assert.GreaterOrEqual(t, seq, runs[h[:1]][i-1], "%s %d is past the run before", h, seq)
				}
			}
		}
		require.NoError(t, rows.Err())
		assert.NotEmpty(t, want, "the index was extended")
		assert.ElementsMatch(t, want, got, "the index holds exactly the entries below the marks")
		for _, l := range logs {
			for _, subject := range subjects[:4] {
				var expect []int64
				for _, e := range all {
					if e.SubjectPseudonym == pseud(t, l, subject) {
						expect = append(expect, e.Seq)
					}
				}
				found, err := l.Entries(ctx, audit.Filter{Limit: 1000, SubjectPseudonym: pseud(t, l, subject)})
				require.NoError(t, err)
				var seqs []int64
				for _, e := range found {
					seqs = append(seqs, e.Seq)
				}
				assert.Equal(t, expect, seqs, subject)
			}
		}
	})
}

// TestWriterGathersUnderLoadOnly: after a commit of several changes the
// writer waits GatherDelay for more, so a change arriving meanwhile
// shares the next commit; a lone caller is answered at once.
func TestWriterGathersUnderLoadOnly(t *testing.T) {
	ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "c", Role: "admin"})
	event := audittest.Event{Name: "test.event"}
	t.Run("a lone caller does not wait", func(t *testing.T) {
		l := audittest.MustOpenLog(t, storetest.MustOpenDB(t, store.DialectSQLite, nil), audit.Options{GatherDelay: time.Minute})
		done := make(chan error)
		go func() {
			for range 3 {
				if _, err := l.Append(ctx, event); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("three appends one after another waited for company")
		}
	})
	t.Run("under load changes share a commit", func(t *testing.T) {
		hooks := &audittest.Hooks{}
		l := audittest.MustOpenLog(t, storetest.MustOpenDB(t, store.DialectSQLite, nil), audit.Options{GatherDelay: time.Second, React: hooks})
		commits := recordCommits(hooks)
		// A commit of two: the writer is held inside the first change
		// while two more queue up behind it.
		var wg sync.WaitGroup
		release := holdWriter(t, ctx, l, &wg)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := l.Append(ctx, event)
				assert.NoError(t, err)
			}()
		}
		require.Eventually(t, func() bool { return audit.Queued(l) == 2 }, 5*time.Second, time.Millisecond)
		close(release)
		wg.Wait()
		// Now one change, and another a moment later: one commit.
		for _, pause := range []time.Duration{0, 100 * time.Millisecond} {
			time.Sleep(pause)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := l.Append(ctx, event)
				assert.NoError(t, err)
			}()
		}
		wg.Wait()
		assert.Equal(t, []int{1, 2, 2}, commits())
	})
}

// TestSubjectIndexFailureIsNotAFailureOfTheLog: when the subject index
// cannot be extended, appends go on, searches by subject still find every
// entry (read directly), and the failure is logged once per
// SubjectIndexEvery entries, not after every batch.
func TestSubjectIndexFailureIsNotAFailureOfTheLog(t *testing.T) {
	ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "c", Role: "admin"})
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	var logged testkit.SyncBuffer
	l := audittest.MustOpenLog(t, db, audit.Options{SubjectIndexEvery: 5, Log: slog.New(slog.NewTextHandler(&logged, nil))})
	raw, err := db.SQL()
	require.NoError(t, err)
	_, err = raw.ExecContext(ctx, "DROP TABLE audit_subjects")
	require.NoError(t, err)
	var want []int64
	for range 30 {
		seqs, err := l.Append(ctx, audittest.Event{Name: "test.event", Subject: "alice"})
		require.NoError(t, err)
		want = append(want, seqs...)
	}
	// A last append: the writer has finished its work after the one
	// before.
	seqs, err := l.Append(ctx, audittest.Event{Name: "test.event", Subject: "alice"})
	require.NoError(t, err)
	want = append(want, seqs...)
	got, err := l.Entries(ctx, audit.Filter{Limit: 100, SubjectPseudonym: pseud(t, l, "alice")})
	require.NoError(t, err)
	var gotSeqs []int64
	for _, e := range got {
		gotSeqs = append(gotSeqs, e.Seq)
	}
	assert.Equal(t, want, gotSeqs)
	failures := strings.Count(logged.String(), "extending the audit subject index failed")
	assert.GreaterOrEqual(t, failures, 1)
	assert.LessOrEqual(t, failures, 6, "once per 5 entries at most, over 31")
}

// TestABatchKeepsItsStatementJournalSmall: each change of a batch runs in
// a savepoint, so that its failure undoes it alone. Left open once the
// change succeeded, the savepoints of a batch nested and the statement
// journal (their undo record, in memory) kept every later change's pages
// until the commit; before temporary storage moved into memory it outgrew
// 64 KiB into a temporary file, a system call per page. The writer
// releases a change's savepoint once it stands; a failing change is still
// undone alone.
func TestABatchKeepsItsStatementJournalSmall(t *testing.T) {
	ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "c", Role: "admin"})
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	hooks := &audittest.Hooks{}
	l := audittest.MustOpenLog(t, db, audit.Options{React: hooks})
	commits := recordCommits(hooks)
	put := func(i int) error {
		_, err := l.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
			key := fmt.Sprintf("p%03d", i)
			// About a page each: a batch of them passes SQLite's 64 KiB
			// in-memory statement journal many times over.
			p := privacy.Purpose{Key: key, Name: key, Description: strings.Repeat("d", 3000), LegalBasis: privacy.BasisConsent,
				CreatedAt: tx.Now(), UpdatedAt: tx.Now()}
			if err := tx.UpsertPurpose(p); err != nil {
				return nil, err
			}
			if i%10 == 5 {
				return nil, privacy.Errorf(privacy.EInvalid, "refused after writing")
			}
			return []event.Event{audittest.Event{Name: "purpose.put", Targets: map[string]string{"purpose": key}}}, nil
		})
		return err
	}
	// The writer is held in a first change while the others queue, so
	// that they share one commit.
	var wg sync.WaitGroup
	release := holdWriter(t, ctx, l, &wg)
	const n = 200
	base, _ := sqlitetune.Memory(true)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = put(i)
		}()
	}
	require.Eventually(t, func() bool { return audit.Queued(l) == n }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()

	// Measured: 2.45 MB with each savepoint released (mostly the page
	// cache), 4.31 MB with every savepoint left open.
	_, peak := sqlitetune.Memory(false)
	assert.Less(t, peak-base, int64(3<<20), "the batch's statement journal grew with every change")
	assert.Equal(t, []int{1, n - n/10}, commits(), "the held change, then one commit of every change that stood")
	keys, err := db.Read(ctx).PurposeKeys()
	require.NoError(t, err)
	for i := range n {
		key := fmt.Sprintf("p%03d", i)
		if i%10 == 5 {
			assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(errs[i]))
			assert.False(t, keys[key], "a refused change is undone alone")
			continue
		}
		require.NoError(t, errs[i])
		assert.True(t, keys[key])
	}
}

// holdWriter keeps l's writer inside a change (of one test.event) until
// release is closed, so that the changes queued meanwhile share the next
// commit; wg counts the held change.
func holdWriter(t *testing.T, ctx context.Context, l *audit.Log, wg *sync.WaitGroup) (release chan struct{}) {
	held := make(chan struct{})
	release = make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := l.Do(ctx, func(*audit.Tx) ([]event.Event, error) {
			close(held)
			<-release
			return []event.Event{audittest.Event{Name: "test.event"}}, nil
		})
		assert.NoError(t, err)
	}()
	<-held
	return release
}

// recordCommits returns the sizes (in events) of the commits of the log
// hooks react to, so far.
func recordCommits(hooks *audittest.Hooks) func() []int {
	var mu sync.Mutex
	var sizes []int
	hooks.OnCommit(func(events []event.Event) {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(events))
	})
	return func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(sizes)
	}
}

// pseud is subject's pseudonym in l, which must have one.
func pseud(t *testing.T, l *audit.Log, subject string) string {
	t.Helper()
	p, err := l.PseudonymOf(context.Background(), subject)
	require.NoError(t, err)
	require.Len(t, p, 64, "subject %q has a pseudonym", subject)
	return p
}

// TestAnUndoneChangeTakesItsPseudonymWithIt: a change that drew a
// pseudonym and then failed is rolled back, its pseudonym with it; an
// entry of the same batch about the same subject draws one that is
// stored.
func TestAnUndoneChangeTakesItsPseudonymWithIt(t *testing.T) {
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	l := audittest.MustOpenLog(t, db, audit.Options{})
	ctx := context.Background()
	hold, holding := make(chan struct{}), make(chan struct{})
	go func() {
		_, _ = l.Do(ctx, func(*audit.Tx) ([]event.Event, error) {
			close(holding)
			<-hold // the writer waits here while the next two queue
			return nil, nil
		})
	}()
	<-holding
	failed, appended := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := l.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
			if _, err := tx.Pseudonym("zoe"); err != nil {
				return nil, err
			}
			return nil, errors.New("the change fails after drawing")
		})
		failed <- err
	}()
	time.Sleep(20 * time.Millisecond)
	go func() {
		_, err := l.Append(ctx, audittest.Event{Name: "test.event", Subject: "zoe"})
		appended <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(hold)
	require.Error(t, <-failed)
	require.NoError(t, <-appended)
	p, err := db.Read(ctx).Pseudonym("zoe")
	require.NoError(t, err, "the database holds zoe's pseudonym")
	assert.Equal(t, pseud(t, l, "zoe"), p)
	got, err := l.Entries(ctx, audit.Filter{Limit: 10, SubjectPseudonym: p})
	require.NoError(t, err)
	assert.Len(t, got, 1, "the entry names the pseudonym the database holds")
}

// TestABatchReadsItsSubjectsPseudonyms: an instance that never met the
// subjects of a batch (DoPureAbout) names each by the pseudonym another
// instance drew, read with the batch; a subject never seen gets one drawn.
func TestABatchReadsItsSubjectsPseudonyms(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		logs := audittest.MustOpenLogsSharingKeys(t, storetest.MustOpenMany(t, dialect, nil, 2), audit.Options{})
		for _, s := range []string{"alice", "bob"} {
			_, err := logs[0].Append(ctx, audittest.Event{Name: "test.event", Subject: s})
			require.NoError(t, err)
		}
		subjects := []string{"alice", "bob", "carol", "alice"}
		_, err := logs[1].DoPureAbout(ctx, subjects, func(*audit.Tx) ([]event.Event, error) {
			var evs []event.Event
			for _, s := range subjects {
				evs = append(evs, audittest.Event{Name: event.ActionDecision, Outcome: "deny", Subject: s})
			}
			return evs, nil
		})
		require.NoError(t, err)
		for _, s := range []string{"alice", "bob", "carol"} {
			p, err := logs[0].PseudonymOf(ctx, s)
			require.NoError(t, err)
			require.NotEmpty(t, p, s)
			got, err := logs[1].Entries(ctx, audit.Filter{Limit: 10, SubjectPseudonym: p})
			require.NoError(t, err)
			want := map[string]int{"alice": 3, "bob": 2, "carol": 1}[s]
			assert.Len(t, got, want, "%s: every entry names the one pseudonym the database holds", s)
		}
	})
}

// TestOthersDecisionsAreNoChange: what another instance appended that
// changes nothing (its decisions) leaves this instance's count of changes
// as it was, so that its decisions are not all checked again from the
// database; another instance's change counts once.
func TestOthersDecisionsAreNoChange(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		logs := audittest.MustOpenLogsSharingKeys(t, storetest.MustOpenMany(t, dialect, nil, 2), audit.Options{})
		require.NoError(t, logs[1].Refresh(ctx))
		before := logs[1].Committed()
		_, err := logs[0].DoPure(ctx, func(*audit.Tx) ([]event.Event, error) {
			return []event.Event{audittest.Event{Name: event.ActionDecision, Outcome: "deny"}, audittest.Event{Name: event.ActionDecision, Outcome: "allow"}}, nil
		})
		require.NoError(t, err)
		require.NoError(t, logs[1].Refresh(ctx))
		assert.Equal(t, before, logs[1].Committed(), "another instance's decisions are no change")
		_, err = logs[0].Append(ctx, audittest.Event{Name: "test.event"})
		require.NoError(t, err)
		require.NoError(t, logs[1].Refresh(ctx))
		assert.Equal(t, before+1, logs[1].Committed(), "another instance's change counts")
	})
}

// TestSubjectIndexChecksOutWhileTheWriterExtendsIt: `audit verify
// --database` checks the subject index beside a running service; the
// bulks the writer commits meanwhile never make it report a mismatch.
func TestSubjectIndexChecksOutWhileTheWriterExtendsIt(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "c", Role: "admin"})
		db := storetest.MustOpenDB(t, dialect, nil)
		l := audittest.MustOpenLog(t, db, audit.Options{SubjectIndexEvery: 3})
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(done)
			for i := range 200 {
				_, err := l.Append(ctx, audittest.Event{Name: "test.event", Subject: fmt.Sprintf("subject-%d", i%7)})
				if !assert.NoError(t, err) {
					return
				}
			}
		})
		checks := 0
		for {
			_, err := db.Read(ctx).CheckAuditSubjects()
			require.NoError(t, err, "after %d checks", checks)
			checks++
			select {
			case <-done:
				wg.Wait()
				n, err := db.Read(ctx).CheckAuditSubjects()
				require.NoError(t, err)
				assert.Positive(t, n, "the index was extended")
				t.Logf("%d checks while the writer appended", checks)
				return
			default:
			}
		}
	})
}
