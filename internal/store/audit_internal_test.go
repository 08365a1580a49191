package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// TestAuditActionQueriesUseTheirIndex: a rare action is found through the
// partial index (its condition repeated in the query); decisions, which
// the index leaves out, by the sequence order.
func TestAuditActionQueriesUseTheirIndex(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "a.db"), Options{})
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	plan := func(action string) string {
		var lines []string
		q := db.Read(ctx).db.ToSQL(func(g *gorm.DB) *gorm.DB {
			tx := &Tx{db: g}
			var out []auditEntryRecord
			return tx.auditEntriesQuery(AuditFilter{From: 0, Limit: 10, Action: action}).Find(&out)
		})
		rows, err := db.Read(ctx).db.Raw("EXPLAIN QUERY PLAN " + q).Rows()
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
	t.Logf("plans: %q, %q", plan("consent.recorded"), plan("decision"))
	assert.Contains(t, plan("consent.recorded"), "USING INDEX audit_entries_action")
	assert.NotContains(t, plan("decision"), "audit_entries_action")
}
