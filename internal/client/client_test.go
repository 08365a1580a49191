package client_test

import (
	"context"
	"errors"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/client"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newService(t *testing.T) *client.Service {
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	return client.NewService(db, audittest.MustOpenLog(t, db, audit.Options{}))
}

func TestCreateAndAuthenticate(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	c, token, err := s.Create(ctx, " backend ", privacy.RoleService)
	require.NoError(t, err)
	assert.Equal(t, "backend", c.Name)
	got, err := s.Authenticate(ctx, token)
	require.NoError(t, err)
	assert.Equal(t, c, got)

	other, err := client.NewToken()
	require.NoError(t, err)
	assert.NotEqual(t, token, other)
	for _, bad := range []string{"", "cst_", token[:len(token)-1], other, "xyz" + token[3:]} {
		_, err := s.Authenticate(ctx, bad)
		assert.Equal(t, privacy.EUnauthorized, privacy.ErrorCode(err), bad)
	}
	_, _, err = s.Create(ctx, "x", "root")
	assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	s := newService(t)

	// If the token cannot be delivered, no admin is created.
	_, created, err := s.Bootstrap(ctx, func(string) error { return errors.New("disk full") })
	require.Error(t, err)
	assert.False(t, created)

	var delivered string
	c, created, err := s.Bootstrap(ctx, func(tok string) error { delivered = tok; return nil })
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, privacy.RoleAdmin, c.Role)
	got, err := s.Authenticate(ctx, delivered)
	require.NoError(t, err)
	assert.Equal(t, c.ID, got.ID)

	// Once any client exists, bootstrap does nothing.
	_, created, err = s.Bootstrap(ctx, func(string) error { t.Fatal("must not deliver"); return nil })
	require.NoError(t, err)
	assert.False(t, created)
}
