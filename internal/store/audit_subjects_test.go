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
		check := func(mark int64) {
			for _, subject := range []string{"0a", "1b", "zz", "2c"} {
				for _, action := range []string{"", event.ActionDecision, "consent.recorded"} {
					for from := int64(0); from <= 31; from += 3 {
						for _, limit := range []int{1, 2, 5, 1000} {
							f := store.AuditFilter{From: from, Limit: limit, Action: action, SubjectPseudonym: subject}
							got, err := db.Read(ctx).AuditEntries(f)
							require.NoError(t, err)
							assert.Equal(t, expectedBySubject(all, f), seqs(got), "mark %d, filter %+v", mark, f)
						}
					}
				}
			}
		}
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
// database already holds and marks every slice, and undoes cleanly.
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
		assert.Equal(t, 8, n, "the entries naming a subject: 0-9 but 3 and 7")
		got, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 100, SubjectPseudonym: "1b"})
		require.NoError(t, err)
		assert.Equal(t, []int64{1, 5, 9}, seqs(got))
	})
}
