package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

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
	c, token, err := s.Create(ctx, " backend ", privacy.RoleService, time.Time{})
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
	_, _, err = s.Create(ctx, "x", "root", time.Time{})
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

// TestLifecycle: a client's token stops working when it expires, when the
// client is revoked, and (after the grace period) when it is rotated;
// each change is audited, and a revoked client cannot be rotated.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	db := storetest.MustOpenDB(t, store.DialectSQLite, clock.Now)
	log := audittest.MustOpenLog(t, db, audit.Options{})
	s := client.NewService(db, log)
	unauthorized := func(token string) {
		t.Helper()
		_, err := s.Authenticate(ctx, token)
		assert.Equal(t, privacy.EUnauthorized, privacy.ErrorCode(err), "%v", err)
	}

	// Expiry.
	_, _, err := s.Create(ctx, "past", privacy.RoleApp, clock.Now().Add(-time.Second))
	assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
	temp, tempToken, err := s.Create(ctx, "temp", privacy.RoleApp, clock.Now().Add(time.Hour))
	require.NoError(t, err)
	_, err = s.Authenticate(ctx, tempToken)
	require.NoError(t, err)
	clock.Add(time.Hour)
	unauthorized(tempToken)
	got, err := s.Get(ctx, temp.ID)
	require.NoError(t, err)
	assert.Equal(t, privacy.ClientExpired, got.Status(clock.Now()))

	// Rotation with a grace period, then without.
	c, old, err := s.Create(ctx, "backend", privacy.RoleService, time.Time{})
	require.NoError(t, err)
	_, _, err = s.Rotate(ctx, c.ID, privacy.MaxRotationGrace+time.Second)
	assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
	rotated, fresh, err := s.Rotate(ctx, c.ID, 10*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, clock.Now().Add(10*time.Minute), rotated.PreviousExpiresAt)
	for _, tok := range []string{old, fresh} {
		got, err := s.Authenticate(ctx, tok)
		require.NoError(t, err)
		assert.Equal(t, c.ID, got.ID)
	}
	clock.Add(10 * time.Minute)
	unauthorized(old)
	_, err = s.Authenticate(ctx, fresh)
	require.NoError(t, err)
	_, newest, err := s.Rotate(ctx, c.ID, 0)
	require.NoError(t, err)
	unauthorized(fresh)
	_, err = s.Authenticate(ctx, newest)
	require.NoError(t, err)

	// Revocation: at once, for every token, for good.
	revoked, err := s.Revoke(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, privacy.ClientRevoked, revoked.Status(clock.Now()))
	unauthorized(newest)
	_, err = s.Revoke(ctx, c.ID)
	assert.Equal(t, privacy.EInvalidTransition, privacy.ErrorCode(err))
	_, _, err = s.Rotate(ctx, c.ID, 0)
	assert.Equal(t, privacy.EInvalidTransition, privacy.ErrorCode(err))
	_, err = s.Revoke(ctx, "01a24ea4-c24e-75a9-ac6d-812be5b9f8a3")
	assert.Equal(t, privacy.ENotFound, privacy.ErrorCode(err))

	list, more, err := s.List(ctx, "", 10)
	require.NoError(t, err)
	assert.False(t, more)
	require.Len(t, list, 2)
	assert.Equal(t, []string{temp.ID, c.ID}, []string{list[0].ID, list[1].ID})

	var actions []string
	leaves, err := db.Read(ctx).AuditEntries(store.AuditFilter{Limit: 100})
	require.NoError(t, err)
	for _, l := range leaves {
		actions = append(actions, l.Action)
	}
	assert.Equal(t, []string{"client.created", "client.created", "client.rotated", "client.rotated", "client.revoked"}, actions)
}

// TestRevocationReachesAnotherInstance: a client revoked through one
// instance is refused by another sharing the database within
// client.KnownFor, although the other had just accepted its token.
func TestRevocationReachesAnotherInstance(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		a, b := storetest.MustOpenTwo(t, dialect, nil)
		sa := client.NewService(a, audittest.MustOpenLog(t, a, audit.Options{}))
		sb := client.NewService(b, audittest.MustOpenLog(t, b, audit.Options{}))
		c, token, err := sa.Create(ctx, "leaked", privacy.RoleService, time.Time{})
		require.NoError(t, err)
		_, err = sb.Authenticate(ctx, token)
		require.NoError(t, err, "b has it in memory now")
		_, err = sa.Revoke(ctx, c.ID)
		require.NoError(t, err)
		_, err = sa.Authenticate(ctx, token)
		assert.Equal(t, privacy.EUnauthorized, privacy.ErrorCode(err), "refused at once where it was revoked")
		revoked := time.Now()
		assert.Eventually(t, func() bool {
			_, err := sb.Authenticate(ctx, token)
			return privacy.ErrorCode(err) == privacy.EUnauthorized
		}, time.Second, 10*time.Millisecond, "refused by the other instance within a second")
		t.Logf("the other instance refused the token %s after the revocation", time.Since(revoked).Round(time.Millisecond))
	})
}

// TestAReplacedTokenWithoutAnEndIsRefused: a row whose replaced token has
// no end stored (altered in the database) does not make that token work
// forever.
func TestAReplacedTokenWithoutAnEndIsRefused(t *testing.T) {
	ctx := context.Background()
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	s := client.NewService(db, audittest.MustOpenLog(t, db, audit.Options{}))
	c, old, err := s.Create(ctx, "backend", privacy.RoleService, time.Time{})
	require.NoError(t, err)
	_, fresh, err := s.Rotate(ctx, c.ID, time.Hour)
	require.NoError(t, err)
	raw, err := db.SQL()
	require.NoError(t, err)
	_, err = raw.Exec(`UPDATE clients SET previous_expires_at = NULL WHERE id = ?`, c.ID)
	require.NoError(t, err)
	_, err = s.Authenticate(ctx, old)
	assert.Equal(t, privacy.EUnauthorized, privacy.ErrorCode(err))
	_, err = s.Authenticate(ctx, fresh)
	assert.NoError(t, err, "the current token is unaffected")
}
