package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendAuditRows appends n audit entries after the log's end, as the
// writer would (tree hashes aside): subjects in the index's slices 0 and
// 1, one outside every slice, and none, in turn; every third entry a
// rarer action.
func appendAuditRows(t *testing.T, db *store.DB, n int) {
	t.Helper()
	require.NoError(t, db.Transact(context.Background(), func(tx *store.Tx) error {
		size, err := tx.AuditSize()
		if err != nil {
			return err
		}
		leaves := make([]privacy.AuditLeaf, n)
		for i := range leaves {
			seq := size + int64(i)
			l := privacy.AuditLeaf{Seq: seq, Leaf: []byte(fmt.Sprintf(`{"seq":%d}`, seq)), Action: event.ActionDecision,
				CreatedAt: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}
			l.SubjectPseudonym = []string{"0a", "1b", "zz", ""}[seq%4]
			if seq%3 == 0 {
				l.Action = "consent.recorded"
			}
			leaves[i] = l
		}
		return tx.InsertAudit(leaves, nil)
	}))
}

// expectedBySubject is AuditEntries' answer by definition: every entry
// naming the subject, filtered and paged.
func expectedBySubject(all []privacy.AuditLeaf, f store.AuditFilter) []int64 {
	var out []int64
	for _, l := range all {
		if l.Seq >= f.From && l.SubjectPseudonym == f.SubjectPseudonym && (f.Action == "" || l.Action == f.Action) && len(out) < f.Limit {
			out = append(out, l.Seq)
		}
	}
	return out
}

// checkSubjectSearches compares every search by subject of appendAuditRows'
// entries (all) with its answer by definition: every start, page size and
// action; on PostgreSQL with one run, two and the default per query.
func checkSubjectSearches(t *testing.T, db *store.DB, all []privacy.AuditLeaf, when string) {
	t.Helper()
	for _, perQuery := range []int{1, 2, 16} {
		func() {
			defer store.SetAuditRunsPerQuery(perQuery)()
			checkSubjectSearchesOnce(t, db, all, fmt.Sprintf("%s, %d runs per query", when, perQuery))
		}()
	}
}

func checkSubjectSearchesOnce(t *testing.T, db *store.DB, all []privacy.AuditLeaf, when string) {
	t.Helper()
	for _, subject := range []string{"0a", "1b", "zz", "2c"} {
		for _, action := range []string{"", event.ActionDecision, "consent.recorded"} {
			for from := int64(0); from <= int64(len(all))+1; from += 3 {
				for _, limit := range []int{1, 2, 5, 1000} {
					f := store.AuditFilter{From: from, Limit: limit, Action: action, SubjectPseudonym: subject}
					got, err := db.Read(context.Background()).AuditEntries(f)
					require.NoError(t, err)
					assert.Equal(t, expectedBySubject(all, f), seqs(got), "%s, filter %+v", when, f)
				}
			}
		}
	}
}

func seqs(ls []privacy.AuditLeaf) []int64 {
	var out []int64
	for _, l := range ls {
		out = append(out, l.Seq)
	}
	return out
}

// TestAuditSubjectSearchSpansTheIndexMark: a search by subject finds the
// same entries wherever its slice's mark is (none indexed, some, all),
// for every start, page size and action: the index below the mark and the
// entries read directly above it join without a gap or a repeat. A
// subject outside every slice is always read directly.
func TestAuditSubjectSearchSpansTheIndexMark(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		appendAuditRows(t, db, 30)
		all, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 1000})
		require.NoError(t, err)
		require.Len(t, all, 30)
		check := func(mark int64) { checkSubjectSearches(t, db, all, fmt.Sprintf("mark %d", mark)) }
		index := func(slice string, mark int64) {
			require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error {
				from, err := tx.AuditSubjectsIndexed(slice)
				if err != nil {
					return err
				}
				return tx.IndexAuditSubjects(slice, from, mark)
			}))
			got, err := db.Read(ctx).AuditSubjectsIndexed(slice)
			require.NoError(t, err)
			assert.Equal(t, mark, got)
		}
		for i, mark := range []int64{0, 7, 8, 20, 30} {
			index("0", mark)
			index("1", []int64{3, 3, 15, 22, 30}[i])
			check(mark)
		}
		marks, err := db.Read(ctx).AuditSubjectMarks()
		require.NoError(t, err)
		assert.Len(t, marks, len(store.AuditSubjectSlices))
		assert.Equal(t, int64(30), marks["0"])
		assert.Equal(t, int64(0), marks["f"])
		raw, err := db.SQL()
		require.NoError(t, err)
		var n int
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_subjects WHERE subject_hmac = 'zz'").Scan(&n))
		assert.Zero(t, n, "no slice holds a subject that is not an HMAC")
		assert.Error(t, db.Transact(ctx, func(tx *store.Tx) error { return tx.IndexAuditSubjects("z", 0, 30) }))
		// The index is evidence's companion: appended to, never changed.
		for _, stmt := range []string{
			"UPDATE audit_subjects SET subject_hmac = '19' WHERE seq = 1",
			"DELETE FROM audit_subjects",
			"UPDATE audit_subjects_marks SET upto = 0",
			"DELETE FROM audit_subjects_marks",
		} {
			_, err := raw.ExecContext(ctx, stmt)
			assert.ErrorContains(t, err, "append-only", stmt)
		}
	})
}

// TestAuditSubjectIndexMigration: migration 00009 indexes the entries a
// database already holds and marks every slice, and undoes cleanly; past
// migration 00020 the index keeps the entries in the slices.
func TestAuditSubjectIndexMigration(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		require.NoError(t, db.MigrateDownTo(ctx, 8))
		appendAuditRows(t, db, 10)
		_, err := db.Migrate(ctx)
		require.NoError(t, err)
		marks, err := db.Read(ctx).AuditSubjectMarks()
		require.NoError(t, err)
		assert.Len(t, marks, len(store.AuditSubjectSlices))
		for slice, mark := range marks {
			assert.Equal(t, int64(10), mark, slice)
		}
		raw, err := db.SQL()
		require.NoError(t, err)
		var n int
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_subjects").Scan(&n))
		assert.Equal(t, 6, n, "the entries naming a subject in a slice: 0-9 but 2, 3, 6 and 7")
		got, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 100, SubjectPseudonym: "1b"})
		require.NoError(t, err)
		assert.Equal(t, []int64{1, 5, 9}, seqs(got))
	})
}

// subjectIndexRows is audit_subjects' rows, as "run subject seq" at
// version 20 on and "subject seq" before.
func subjectIndexRows(t *testing.T, db *store.DB, runs bool) []string {
	t.Helper()
	raw, err := db.SQL()
	require.NoError(t, err)
	cols := "subject_hmac, seq"
	if runs {
		cols = "run, " + cols
	}
	rows, err := raw.QueryContext(context.Background(), "SELECT "+cols+" FROM audit_subjects")
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var run, seq int64
		var subject string
		dest := []any{&subject, &seq}
		if runs {
			dest = append([]any{&run}, dest...)
		}
		require.NoError(t, rows.Scan(dest...))
		if runs {
			out = append(out, fmt.Sprintf("%d %s %d", run, subject, seq))
		} else {
			out = append(out, fmt.Sprintf("%s %d", subject, seq))
		}
	}
	require.NoError(t, rows.Err())
	return out
}

// TestAuditSubjectRunsMigration: migration 00020 turns an index extended
// in several bulks into one run per slice at the slice's mark, leaves out
// rows no slice covers, and searches find what they found before; runs
// added afterwards join it; going back restores the index by subject, with
// every row the runs held.
func TestAuditSubjectRunsMigration(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		require.NoError(t, db.MigrateDownTo(ctx, 19))
		appendAuditRows(t, db, 30)
		raw, err := db.SQL()
		require.NoError(t, err)
		// The index as version 19 extended it: slice 0 twice, slice 1
		// once, and a row migration 00009 took of a subject in no slice.
		for _, bulk := range []struct {
			slice    string
			from, to int64
		}{{"0", 0, 10}, {"0", 10, 20}, {"1", 0, 15}} {
			_, err := raw.ExecContext(ctx, fmt.Sprintf("INSERT INTO audit_subjects (subject_hmac, seq) SELECT subject_hmac, seq FROM audit_entries WHERE seq >= %d AND seq < %d AND substr(subject_hmac, 1, 1) = '%s'", bulk.from, bulk.to, bulk.slice))
			require.NoError(t, err)
			_, err = raw.ExecContext(ctx, fmt.Sprintf("INSERT INTO audit_subjects_marks (slice, upto) VALUES ('%s', %d)", bulk.slice, bulk.to))
			require.NoError(t, err)
		}
		_, err = raw.ExecContext(ctx, "INSERT INTO audit_subjects (subject_hmac, seq) VALUES ('zz', 2)")
		require.NoError(t, err)
		before := subjectIndexRows(t, db, false)
		require.Len(t, before, 10)

		_, err = db.Migrate(ctx)
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{
			"20 0a 0", "20 0a 4", "20 0a 8", "20 0a 12", "20 0a 16",
			"15 1b 1", "15 1b 5", "15 1b 9", "15 1b 13",
		}, subjectIndexRows(t, db, true))
		all, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 1000})
		require.NoError(t, err)
		checkSubjectSearches(t, db, all, "migrated")
		require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error { return tx.IndexAuditSubjects("0", 20, 30) }))
		checkSubjectSearches(t, db, all, "a run past the migrated one")

		require.NoError(t, db.MigrateDownTo(ctx, 19))
		assert.ElementsMatch(t, []string{
			"0a 0", "0a 4", "0a 8", "0a 12", "0a 16", "0a 20", "0a 24", "0a 28",
			"1b 1", "1b 5", "1b 9", "1b 13",
		}, subjectIndexRows(t, db, false))
		_, err = raw.ExecContext(ctx, "DELETE FROM audit_subjects")
		assert.ErrorContains(t, err, "append-only", "the index restored is append-only too")
		_, err = db.Migrate(ctx)
		require.NoError(t, err)
		checkSubjectSearches(t, db, all, "migrated again")
	})
}

// BenchmarkAuditSubjectSearch: a search by subject seeks once per run of
// its slice; with the writer's default bulk (16,384 entries, a run per
// slice each), 1,000 runs is a log of 16 million entries. "named" finds
// the subject's entry in every run (the first 100), "absent" seeks every
// run and finds nothing.
func BenchmarkAuditSubjectSearch(b *testing.B) {
	storetest.EachDialectBench(b, benchmarkAuditSubjectSearch)
}

func benchmarkAuditSubjectSearch(b *testing.B, dialect string) {
	for _, runs := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("runs=%d", runs), func(b *testing.B) {
			ctx := context.Background()
			db := storetest.MustOpenDB(b, dialect, nil)
			// Sixteen entries per run, their subjects in slice 0: one of
			// them "0a", the others each its own.
			const perRun = 16
			require.NoError(b, db.Transact(ctx, func(tx *store.Tx) error {
				leaves := make([]privacy.AuditLeaf, 0, runs*perRun)
				for seq := range int64(runs * perRun) {
					subject := fmt.Sprintf("0%x", seq+0x100)
					if seq%perRun == 0 {
						subject = "0a"
					}
					leaves = append(leaves, privacy.AuditLeaf{Seq: seq, Leaf: []byte(fmt.Sprintf(`{"seq":%d}`, seq)),
						Action: event.ActionDecision, SubjectPseudonym: subject, CreatedAt: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)})
				}
				if err := tx.InsertAudit(leaves, nil); err != nil {
					return err
				}
				for r := range int64(runs) {
					if err := tx.IndexAuditSubjects("0", r*perRun, (r+1)*perRun); err != nil {
						return err
					}
				}
				return nil
			}))
			for _, c := range []struct {
				name, subject string
				want          int
			}{{"named", "0a", min(runs, 100)}, {"absent", "0b", 0}} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						got, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 100, SubjectPseudonym: c.subject})
						if err != nil || len(got) != c.want {
							b.Fatalf("%d entries, %v; want %d", len(got), err, c.want)
						}
					}
				})
			}
		})
	}
}

// TestAForgedSubjectIndexRowIsNotFollowed: a row added to the subject
// index by hand, pointing a subject at another subject's entry, does not
// put that entry in the subject's search (an access export would hand it
// over).
func TestAForgedSubjectIndexRowIsNotFollowed(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		appendAuditRows(t, db, 12)
		require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error { return tx.IndexAuditSubjects("0", 0, 12) }))
		raw, err := db.SQL()
		require.NoError(t, err)
		// Entry 1 names "1b"; entry 0 is "0a"'s.
		_, err = raw.ExecContext(ctx, "INSERT INTO audit_subjects (run, subject_hmac, seq) VALUES (12, '0a', 1)")
		require.NoError(t, err)
		got, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 100, SubjectPseudonym: "0a"})
		require.NoError(t, err)
		assert.Equal(t, []int64{0, 4, 8}, seqs(got))
	})
}

// TestCheckAuditSubjectsNamesATamperedIndex: the index as the writer
// keeps it checks out; a row removed, forged, repeated in another run or
// moved to a run that is no mark (its append-only triggers disabled, as
// an operator could) is named.
func TestCheckAuditSubjectsNamesATamperedIndex(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		appendAuditRows(t, db, 30)
		for _, bulk := range []struct {
			slice    string
			from, to int64
		}{{"0", 0, 12}, {"1", 0, 20}, {"0", 12, 24}} {
			require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error { return tx.IndexAuditSubjects(bulk.slice, bulk.from, bulk.to) }))
		}
		n, err := db.Read(ctx).CheckAuditSubjects()
		require.NoError(t, err)
		assert.Equal(t, int64(11), n, "0a: 0, 4, …, 20; 1b: 1, 5, …, 17")
		raw, err := db.SQL()
		require.NoError(t, err)
		if dialect == store.DialectPostgres {
			_, err = raw.ExecContext(ctx, "ALTER TABLE audit_subjects DISABLE TRIGGER USER")
		} else {
			_, err = raw.ExecContext(ctx, "DROP TRIGGER audit_subjects_no_delete")
		}
		require.NoError(t, err)
		for _, c := range []struct{ tamper, undo, named string }{
			{"DELETE FROM audit_subjects WHERE seq = 8", "INSERT INTO audit_subjects (run, subject_hmac, seq) VALUES (12, '0a', 8)",
				"slice 0 holds 5 of the 6 entries below its mark"},
			{"INSERT INTO audit_subjects (run, subject_hmac, seq) VALUES (24, '0a', 1)", "DELETE FROM audit_subjects WHERE seq = 1 AND subject_hmac = '0a'",
				"row (run 24, subject 0a, entry 1) is not an entry of that subject"},
			{"INSERT INTO audit_subjects (run, subject_hmac, seq) VALUES (24, '0a', 4)", "DELETE FROM audit_subjects WHERE seq = 4 AND run = 24",
				"names entry 4 of subject 0a more than once"},
			{"INSERT INTO audit_subjects (run, subject_hmac, seq) VALUES (13, '0a', 12)", "DELETE FROM audit_subjects WHERE run = 13",
				"row (run 13, subject 0a, entry 12) is not an entry of that subject below a mark of its slice"},
			{"INSERT INTO audit_subjects (run, subject_hmac, seq) VALUES (30, 'zz', 2)", "DELETE FROM audit_subjects WHERE subject_hmac = 'zz'",
				"row (run 30, subject zz, entry 2)"},
		} {
			_, err := raw.ExecContext(ctx, c.tamper)
			require.NoError(t, err, c.tamper)
			_, err = db.Read(ctx).CheckAuditSubjects()
			assert.ErrorContains(t, err, c.named, c.tamper)
			_, err = raw.ExecContext(ctx, c.undo)
			require.NoError(t, err, c.undo)
			_, err = db.Read(ctx).CheckAuditSubjects()
			assert.NoError(t, err, "after %s, undone", c.tamper)
		}
	})
}
