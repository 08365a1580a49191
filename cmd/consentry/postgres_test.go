package main

import (
	"context"
	"net/url"
	"testing"

	"github.com/consentry/consentry/internal/store"
	"github.com/stretchr/testify/require"
)

// execSQL runs statements on the server at dsn and returns a function that
// runs more (for cleanup).
func execSQL(t *testing.T, dsn, stmt string) func(string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	require.NoError(t, err)
	sqlDB, err := db.SQL()
	require.NoError(t, err)
	_, err = sqlDB.ExecContext(ctx, stmt)
	require.NoError(t, err)
	return func(s string) {
		_, _ = sqlDB.ExecContext(ctx, s)
		_ = db.Close()
	}
}

// withDatabase returns dsn pointed at database name.
func withDatabase(t *testing.T, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}
