package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendAuditRows appends n audit entries after the log's end, as the
// writer would (tree hashes aside): subjects s0, s1 and none in turn,
// every fourth a rarer action.
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
			l := privacy.AuditLeaf{Seq: seq, Leaf: []byte(fmt.Sprintf(`{"seq":%d}`, seq)), Action: store.AuditActionDecision,
				CreatedAt: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}
			if seq%3 != 2 {
				l.SubjectHMAC = fmt.Sprintf("s%d", seq%3)
			}
			if seq%4 == 0 {
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
		if l.Seq >= f.From && l.SubjectHMAC == f.SubjectHMAC && (f.Action == "" || l.Action == f.Action) && len(out) < f.Limit {
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
// same entries wherever the subject index's mark is (none indexed, some,
// all), for every start, page size and action: the index below the mark
// and the entries read directly above it join without a gap or a repeat.
func TestAuditSubjectSearchSpansTheIndexMark(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		appendAuditRows(t, db, 30)
		all, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 1000})
		require.NoError(t, err)
		require.Len(t, all, 30)
		check := func(mark int64) {
			for _, subject := range []string{"s0", "s1", "nobody"} {
				for _, action := range []string{"", store.AuditActionDecision, "consent.recorded"} {
					for from := int64(0); from <= 31; from += 3 {
						for _, limit := range []int{1, 2, 5, 1000} {
							f := store.AuditFilter{From: from, Limit: limit, Action: action, SubjectHMAC: subject}
							got, err := db.Read(ctx).AuditEntries(f)
							require.NoError(t, err)
							assert.Equal(t, expectedBySubject(all, f), seqs(got), "mark %d, filter %+v", mark, f)
						}
					}
				}
			}
		}
		for _, mark := range []int64{0, 7, 8, 20, 30} {
			require.NoError(t, db.Transact(ctx, func(tx *store.Tx) error {
				from, err := tx.AuditSubjectsIndexed()
				if err != nil {
					return err
				}
				return tx.IndexAuditSubjects(from, mark)
			}))
			got, err := db.Read(ctx).AuditSubjectsIndexed()
			require.NoError(t, err)
			assert.Equal(t, mark, got)
			check(mark)
		}
		// The index is evidence's companion: appended to, never changed.
		raw, err := db.SQL()
		require.NoError(t, err)
		for _, stmt := range []string{
			"UPDATE audit_subjects SET subject_hmac = 's9' WHERE seq = 1",
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
// database already holds and marks them, and undoes cleanly.
func TestAuditSubjectIndexMigration(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpenDB(t, dialect, nil)
		require.NoError(t, db.MigrateDownTo(ctx, 8))
		appendAuditRows(t, db, 10)
		_, err := db.Migrate(ctx)
		require.NoError(t, err)
		mark, err := db.Read(ctx).AuditSubjectsIndexed()
		require.NoError(t, err)
		assert.Equal(t, int64(10), mark)
		raw, err := db.SQL()
		require.NoError(t, err)
		var n int
		require.NoError(t, raw.QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_subjects").Scan(&n))
		assert.Equal(t, 7, n, "the entries naming a subject, 0-9 but 2, 5 and 8")
		got, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 100, SubjectHMAC: "s1"})
		require.NoError(t, err)
		assert.Equal(t, []int64{1, 4, 7}, seqs(got))
	})
}
