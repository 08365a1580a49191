// Package audittest opens a running audit log for tests. Only tests import it.
package audittest

import (
	"context"
	"sync"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
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
// keys, as the instances of one deployment run; the log of dbs[i] reacts
// with reacts[i] when given (each instance has its own reactions).
func MustOpenLogsSharingKeys(t testing.TB, dbs []*store.DB, opts audit.Options, reacts ...audit.Reactor) []*audit.Log {
	t.Helper()
	keys, err := audit.LoadOrCreateKeys(t.TempDir(), "consentry.test/audit")
	require.NoError(t, err)
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = -1
	}
	logs := make([]*audit.Log, len(dbs))
	for i, db := range dbs {
		if i < len(reacts) {
			opts.React = reacts[i]
		}
		l, err := audit.New(db, keys, opts)
		require.NoError(t, err)
		l.Start()
		t.Cleanup(l.Close)
		logs[i] = l
	}
	return logs
}

// MustNewLog is MustOpenLog without the Start: for tests that build what
// its reactions call on before the writer runs, as serve does.
func MustNewLog(t testing.TB, db *store.DB, opts audit.Options) *audit.Log {
	t.Helper()
	l, _ := mustNewLog(t, db, opts)
	return l
}

// MustOpenLogWithKeys is MustOpenLog that also returns the log's keys, for
// tests that play an operator holding them.
func MustOpenLogWithKeys(t testing.TB, db *store.DB, opts audit.Options) (*audit.Log, audit.Keys) {
	t.Helper()
	l, keys := mustNewLog(t, db, opts)
	l.Start()
	return l, keys
}

// mustNewLog makes a log over db with keys in a temp dir, closed at
// cleanup, not started; no timed checkpoints unless opts asks.
func mustNewLog(t testing.TB, db *store.DB, opts audit.Options) (*audit.Log, audit.Keys) {
	t.Helper()
	keys, err := audit.LoadOrCreateKeys(t.TempDir(), "consentry.test/audit")
	require.NoError(t, err)
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = -1
	}
	l, err := audit.New(db, keys, opts)
	require.NoError(t, err)
	t.Cleanup(l.Close)
	return l, keys
}

// Event is an event of any action a test names, for tests of the log
// itself; capabilities' events are event's types.
type Event struct {
	Name    string
	Targets map[string]string
	Subject string
	Outcome string
	Reasons []string
	Payload any
}

func (e Event) Action() string { return e.Name }

func (e Event) Entry() event.Entry {
	return event.Entry{Targets: e.Targets, Subject: e.Subject, Outcome: e.Outcome, Reasons: e.Reasons, Payload: e.Payload}
}

// Hooks is a Reactor whose reactions a test sets, at any time, to watch
// or to fail what the log's writer does.
type Hooks struct {
	mu        sync.Mutex
	foreign   func(tx *store.Reader, events []event.Event)
	inChange  func(tx *store.Tx, first int64, events []event.Event) error
	committed func(events []event.Event)
}

// OnForeign sets the reaction to other instances' changes.
func (h *Hooks) OnForeign(fn func(tx *store.Reader, events []event.Event)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.foreign = fn
}

// OnChange sets the reaction inside each change's transaction.
func (h *Hooks) OnChange(fn func(tx *store.Tx, first int64, events []event.Event) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inChange = fn
}

// OnCommit sets the reaction to each commit.
func (h *Hooks) OnCommit(fn func(events []event.Event)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.committed = fn
}

func (h *Hooks) Begin(*store.Reader) {}

func (h *Hooks) Foreign(tx *store.Reader, events []event.Event) {
	h.mu.Lock()
	fn := h.foreign
	h.mu.Unlock()
	if fn != nil {
		fn(tx, events)
	}
}

func (h *Hooks) InChange(_ context.Context, tx *store.Tx, first int64, events []event.Event) error {
	h.mu.Lock()
	fn := h.inChange
	h.mu.Unlock()
	if fn != nil {
		return fn(tx, first, events)
	}
	return nil
}

func (h *Hooks) Committed(events []event.Event) {
	h.mu.Lock()
	fn := h.committed
	h.mu.Unlock()
	if fn != nil {
		fn(events)
	}
}
