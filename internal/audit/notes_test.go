package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNotesRideTheNextCommit: a note waits for no commit of its own; it
// is written with the next change, or alone after NoteEvery, or at Close,
// naming the actor of the request that read.
func TestNotesRideTheNextCommit(t *testing.T) {
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	l := audittest.MustOpenLog(t, db, audit.Options{NoteEvery: time.Hour})
	ctx := privacy.WithActor(context.Background(), privacy.Actor{ClientID: "support", Role: "admin"})
	reads := func() []privacy.AuditLeaf {
		leaves, err := l.Entries(context.Background(), audit.Filter{Action: event.ActionPersonalDataRead, Limit: 100})
		require.NoError(t, err)
		return leaves
	}

	// alice is known to the log; a read about someone it never saw names
	// no one (no pseudonym is drawn for a read that found nothing).
	_, err := l.Append(ctx, audittest.Event{Name: "test.event", Subject: "alice"})
	require.NoError(t, err)
	l.Note(ctx, event.PersonalDataRead{Subject: "alice", Route: "/v1/subjects/:subject/privacy"})
	assert.Empty(t, reads(), "queued, not written alone")
	_, err = l.Append(context.Background(), event.ServerStarted{Addr: "x"})
	require.NoError(t, err)
	got := reads()
	require.Len(t, got, 1, "written with the next change")
	e, err := audit.ParseLeaf(got[0].Leaf)
	require.NoError(t, err)
	assert.Equal(t, "support", e.Actor.ClientID)
	assert.Equal(t, pseud(t, l, "alice"), e.Targets["subject"])
	assert.Equal(t, "/v1/subjects/:subject/privacy", e.Targets["route"])

	l.Note(ctx, event.PersonalDataRead{Subject: "bob", Route: "/v1/consents/:id"})
	l.Close()
	all := reads()
	require.Len(t, all, 2, "a clean close writes what is queued")
	e, err = audit.ParseLeaf(all[1].Leaf)
	require.NoError(t, err)
	assert.NotContains(t, e.Targets, "subject", "bob was never seen: the read names no one")
	p, err := l.PseudonymOf(context.Background(), "bob")
	require.NoError(t, err)
	assert.Empty(t, p, "and makes no one known")
}

// TestNotesAreWrittenAloneWhenNothingChanges: with no change to ride,
// notes are written within NoteEvery.
func TestNotesAreWrittenAloneWhenNothingChanges(t *testing.T) {
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	l := audittest.MustOpenLog(t, db, audit.Options{NoteEvery: 20 * time.Millisecond})
	l.Note(context.Background(), event.PersonalDataRead{Subject: "alice", Route: "/v1/consents/:id"})
	require.Eventually(t, func() bool {
		leaves, err := l.Entries(context.Background(), audit.Filter{Action: event.ActionPersonalDataRead, Limit: 10})
		return err == nil && len(leaves) == 1
	}, 5*time.Second, 10*time.Millisecond)
}
