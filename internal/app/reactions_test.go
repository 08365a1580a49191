package app_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/consentry/consentry/internal/app"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/event/eventtest"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wake counts the review's wake-ups.
type wake struct{ n int }

func (w *wake) Wake() { w.n++ }

// loaded returns reactions over db whose decision memory is complete.
func loaded(t *testing.T, db *store.DB) (*app.Reactions, *wake) {
	t.Helper()
	data, err := authz.NewData(func() authz.Lines { return db.Read(context.Background()) })
	require.NoError(t, err)
	review := &wake{}
	r := &app.Reactions{Memory: decide.NewMemory(), Policy: data, Outbox: webhook.NewOutbox(), Review: review}
	r.Begin(db.Read(context.Background()))
	r.Committed(nil)
	require.True(t, r.Memory.Complete(), "a load at the start of a transaction is installed at its commit")
	return r, review
}

// TestEveryKindHasItsReactions: memory follows every kind it can, and
// empties (fail closed) only for those it cannot: a rebuild of the consent
// state and an action this build does not know. A new kind left out of
// Reactions' switches would empty memory at every commit; this test names
// it first.
func TestEveryKindHasItsReactions(t *testing.T) {
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	emptying := map[string]bool{"ConsentStateRebuilt": true, "Unknown": true}
	for _, ev := range eventtest.Examples() {
		kind := reflect.TypeOf(ev).Name()
		switch ev.(type) {
		case event.DeviceStatusChanged, event.InventoryDeclared, event.DeviceTransferred:
			// Both concern a device memory saw registered.
			r, _ := loaded(t, db)
			r.Committed([]event.Event{eventtest.Examples()[4], ev})
			assert.True(t, r.Memory.Complete(), kind)
			continue
		}
		r, _ := loaded(t, db)
		r.Committed([]event.Event{ev})
		assert.Equal(t, !emptying[kind], r.Memory.Complete(), "%s: memory follows it (or empties, failing closed)", kind)

		r, _ = loaded(t, db)
		r.Foreign(db.Read(context.Background()), []event.Event{ev})
		// Read back from an empty database, a consent, device or notice is
		// not found: memory empties rather than keep what it cannot check.
		readBack := map[string]bool{"ConsentRecorded": true, "ConsentWithdrawn": true}
		assert.Equal(t, !emptying[kind] && !readBack[kind], r.Memory.Complete(), "%s from another instance", kind)
	}
}

// TestAnErasureFromAnotherInstance: memory forgets the erased subject when
// the log knew who it was, and is read again whole when it did not.
func TestAnErasureFromAnotherInstance(t *testing.T) {
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	r, _ := loaded(t, db)
	r.Foreign(db.Read(context.Background()), []event.Event{event.SubjectErased{Subject: "alice", Pseudonym: "p1"}})
	assert.True(t, r.Memory.Complete(), "a known subject is forgotten alone")
	r.Foreign(db.Read(context.Background()), []event.Event{event.SubjectErased{Pseudonym: "p2"}})
	assert.False(t, r.Memory.Complete(), "an unknown one: everything is read again")
}

// TestAWithdrawalsReactions: a withdrawal committed here updates the
// decision facts and wakes the review; one from another instance is read
// back. (Its webhook notification is tested with the outbox, in webhook.)
func TestAWithdrawalsReactions(t *testing.T) {
	db := storetest.MustOpenDB(t, store.DialectSQLite, nil)
	r, review := loaded(t, db)
	var withdrawn event.ConsentWithdrawn
	for _, ev := range eventtest.Examples() {
		if w, ok := ev.(event.ConsentWithdrawn); ok {
			withdrawn = w
		}
	}
	r.Committed([]event.Event{withdrawn})
	assert.True(t, r.Memory.Complete())
	assert.Equal(t, 1, review.n, "the review runs again")
	r.Committed([]event.Event{eventtest.Examples()[0]})
	assert.Equal(t, 1, review.n, "a decision wakes no review")
}
