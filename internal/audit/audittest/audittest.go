// Package audittest opens a running audit log for tests. Only tests import it.
package audittest

import (
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/store"
	"github.com/stretchr/testify/require"
)

// MustOpenLog starts an audit log over db with keys in a temp dir, closed
// at cleanup. opts may be zero.
func MustOpenLog(t testing.TB, db *store.DB, opts audit.Options) *audit.Log {
	t.Helper()
	l, _ := MustOpenLogWithKeys(t, db, opts)
	return l
}

// MustOpenLogsSharingKeys starts one audit log per db, all with the same
// keys, as the instances of one deployment run.
func MustOpenLogsSharingKeys(t testing.TB, dbs []*store.DB, opts audit.Options) []*audit.Log {
	t.Helper()
	keys, err := audit.LoadOrCreateKeys(t.TempDir(), "consentry.test/audit")
	require.NoError(t, err)
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = -1
	}
	logs := make([]*audit.Log, len(dbs))
	for i, db := range dbs {
		l, err := audit.New(db, keys, opts)
		require.NoError(t, err)
		l.Start()
		t.Cleanup(l.Close)
		logs[i] = l
	}
	return logs
}

// MustOpenLogWithKeys is MustOpenLog that also returns the log's keys, for
// tests that play an operator holding them.
func MustOpenLogWithKeys(t testing.TB, db *store.DB, opts audit.Options) (*audit.Log, audit.Keys) {
	t.Helper()
	keys, err := audit.LoadOrCreateKeys(t.TempDir(), "consentry.test/audit")
	require.NoError(t, err)
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = -1
	}
	l, err := audit.New(db, keys, opts)
	require.NoError(t, err)
	l.Start()
	t.Cleanup(l.Close)
	return l, keys
}
