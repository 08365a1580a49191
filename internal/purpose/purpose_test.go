package purpose_test

import (
	"context"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPutKeepsCreationTime(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		// A clock safe to move while the log's writer reads it (on
		// PostgreSQL it also runs when another instance's change is
		// announced, or its listener connects).
		clock := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		db := storetest.MustOpenDB(t, dialect, clock.Now)
		s := purpose.NewService(db, audittest.MustOpenLog(t, db, audit.Options{}))

		p, created, err := s.Put(ctx, privacy.Purpose{Key: "ads", Name: " Ads ", Description: "d", LegalBasis: privacy.BasisConsent})
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, "Ads", p.Name)

		clock.Add(time.Hour)
		p2, created, err := s.Put(ctx, privacy.Purpose{Key: "ads", Name: "Advertising", Description: "d", LegalBasis: privacy.BasisConsent})
		require.NoError(t, err)
		assert.False(t, created)
		assert.Equal(t, p.CreatedAt, p2.CreatedAt)
		assert.Equal(t, clock.Now(), p2.UpdatedAt)

		_, _, err = s.Put(ctx, privacy.Purpose{Key: "ads", Name: "x", Description: "d", LegalBasis: "vibes"})
		assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))

		list, err := s.List(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, p2, list[0])
	})
}
