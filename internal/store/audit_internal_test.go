package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// explain is SQLite's plan for a query, its lines joined.
func explain(t *testing.T, db *DB, q string, args []any) string {
	t.Helper()
	var lines []string
	rows, err := db.stmts.db.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+q, args...)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
		lines = append(lines, detail)
	}
	return strings.Join(lines, "; ")
}

func migrated(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "a.db"), Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	return db
}

// TestAuditActionQueriesUseTheirIndex: a rare action is found through the
// partial index (its condition repeated in the query); decisions, which
// the index leaves out, by the sequence order.
func TestAuditActionQueriesUseTheirIndex(t *testing.T) {
	db := migrated(t)
	plan := func(action string) string {
		q, args := auditEntriesSQL(AuditFilter{From: 0, Limit: 10, Action: action})
		return explain(t, db, q, args)
	}
	t.Logf("plans: %q, %q", plan("consent.recorded"), plan("decision"))
	assert.Contains(t, plan("consent.recorded"), "USING INDEX audit_entries_action")
	assert.NotContains(t, plan("decision"), "audit_entries_action")
}

// TestAuditSubjectQueriesUseTheIndex: below the mark a subject's entries
// are found through audit_subjects' key, one seek per run of the slice
// (listed from the marks' key), already in sequence order, and fetched by
// sequence; above it, read from the mark on (by sequence, or for a rare
// action through its index).
func TestAuditSubjectQueriesUseTheIndex(t *testing.T) {
	db := migrated(t)
	for _, action := range []string{"", "decision", "consent.recorded"} {
		f := AuditFilter{From: 0, Limit: 10, Action: action, SubjectPseudonym: "s"}
		q, args := auditIndexedSubjectSQL(f, 100)
		indexed := explain(t, db, q, args)
		t.Logf("indexed %q: %q", action, indexed)
		assert.Contains(t, indexed, "SEARCH s USING PRIMARY KEY (run=? AND subject_hmac=? AND seq>? AND seq<?)")
		assert.Contains(t, indexed, "LIST SUBQUERY")
		assert.Contains(t, indexed, "SEARCH audit_subjects_marks USING COVERING INDEX sqlite_autoindex_audit_subjects_marks_1 (slice=? AND upto>? AND upto<?)")
		assert.Contains(t, indexed, "SEARCH e USING INTEGER PRIMARY KEY (rowid=?)")
		assert.NotContains(t, indexed, "TEMP B-TREE", "no sort: the key is in sequence order")
		q, args = auditEntriesSQL(f)
		tail := explain(t, db, q, args)
		t.Logf("tail %q: %q", action, tail)
		assert.Regexp(t, `^SEARCH audit_entries USING .*(rowid|seq)>\?\)$`, tail, "from the mark on, never the whole log")
	}
}
