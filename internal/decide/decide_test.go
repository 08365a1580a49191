package decide_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/consentry/consentry/internal/app"
	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/audit/audittest"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/policy"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/purpose"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/store/storetest"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type world struct {
	t        testing.TB
	db       *store.DB
	clock    *storetest.Clock
	log      *audit.Log
	data     *authz.Data
	memory   *decide.Memory
	decide   *decide.Service
	policies *policy.Service
	consents *consent.Service
	notices  *notice.Service
	devices  *device.Service
	device   privacy.Device
	current  privacy.NoticeVersion
}

func noticeContent(recipients ...string) privacy.NoticeContent {
	return testkit.Labelled(privacy.NoticeContent{Controller: privacy.Controller{Name: "Acme", Contact: "privacy@acme.example"},
		Purposes: []privacy.NoticePurpose{
			{Purpose: "navigation", LegalBasis: privacy.BasisConsent, Elements: []string{"location"}, CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor},
				CollectionScope: "trips", Retention: "P30D", Recipients: recipients},
			{Purpose: "maintenance", LegalBasis: privacy.BasisLegitimateInterests, Elements: []string{"battery"}, CollectionMethods: []privacy.CollectionMethod{privacy.CollectSensor},
				CollectionScope: "daily", Retention: "P1Y"},
		},
		Texts: map[string]privacy.NoticeText{"en": {Title: "Tracker", Body: "b"}}})
}

func element(key, category string, purposes ...string) privacy.DataElement {
	return privacy.DataElement{Key: key, Description: key, Category: category, Sensitivity: privacy.SensitivitySensitive,
		Purposes: purposes, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}
}

// newWorld builds a device collecting location for navigation and battery
// for maintenance, a published notice stating both, a data policy letting
// route-planner use location for navigation, and alice's consent to
// navigation.
func newWorld(t testing.TB, dialect string) *world {
	t.Helper()
	w := &world{t: t, clock: storetest.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))}
	w.db = storetest.MustOpenDB(t, dialect, w.clock.Now)
	w.log = audittest.MustOpenLog(t, w.db, audit.Options{React: w.reactions(nil)})
	w.build()
	w.seed()
	w.memoryMatches("seeded")
	return w
}

// reactions wires, as serve does, the data policy and the decision facts
// in memory of w's instance to its log; first, if not nil, sees each
// commit's events before them.
func (w *world) reactions(first func([]event.Event)) audit.Reactor {
	var err error
	w.data, err = authz.NewData(func() authz.Lines { return w.db.Read(context.Background()) })
	require.NoError(w.t, err)
	w.memory = decide.NewMemory()
	r := &app.Reactions{Memory: w.memory, Policy: w.data, Outbox: webhook.NewOutbox()}
	if first == nil {
		return r
	}
	return committedFirst{Reactor: r, first: first}
}

// committedFirst is a Reactor that calls first before its own Committed.
type committedFirst struct {
	audit.Reactor
	first func([]event.Event)
}

func (c committedFirst) Committed(events []event.Event) {
	c.first(events)
	c.Reactor.Committed(events)
}

// build makes the services over w.db and w.log, and loads memory.
func (w *world) build() {
	t := w.t
	var err error
	w.decide = decide.NewService(w.db, w.log, w.data, w.memory)
	require.NoError(t, w.log.Refresh(context.Background()))
	w.policies = policy.NewService(w.db, w.log, w.data)
	keys, err := consent.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	require.NoError(t, err)
	w.consents = consent.NewService(w.db, w.log, keys, "https://c.example")
	w.notices = notice.NewService(w.db, w.log)
	w.devices = device.NewService(w.db, w.log)
}

// seed puts in the device, notice, policy rule and alice's consent.
func (w *world) seed() {
	t := w.t
	ctx := context.Background()
	var err error
	ps := purpose.NewService(w.db, w.log)
	for _, k := range []string{"navigation", "maintenance"} {
		_, _, err := ps.Put(ctx, privacy.Purpose{Key: k, Name: k, Description: k, LegalBasis: privacy.BasisConsent})
		require.NoError(t, err)
	}
	_, err = w.notices.Create(ctx, "tracker", "en")
	require.NoError(t, err)
	w.publish(noticeContent())
	w.device, err = w.devices.Register(ctx, privacy.Device{Manufacturer: "Acme", Model: "T", Serial: "1", Firmware: "1", NoticeKey: "tracker"})
	require.NoError(t, err)
	w.inventory(element("location", "personal.location.precise", "navigation"), element("battery", "nonpersonal.device.status", "maintenance"))
	require.NoError(t, w.policies.Add(ctx, policy.Change{Rule: &authz.Rule{Subject: "route-planner", Category: "personal.location.*",
		Purpose: "navigation", Action: "use", Effect: "allow"}}))
	w.consent("alice", true)
}

func (w *world) publish(c privacy.NoticeContent) {
	w.t.Helper()
	ctx := context.Background()
	v, err := w.notices.Draft(ctx, "tracker", testkit.Labelled(c))
	require.NoError(w.t, err)
	w.current, err = w.notices.Publish(ctx, "tracker", v.Version)
	require.NoError(w.t, err)
}

func (w *world) inventory(es ...privacy.DataElement) {
	w.t.Helper()
	_, _, err := w.devices.PutInventory(context.Background(), w.device.ID, "admin", es)
	require.NoError(w.t, err)
}

func (w *world) consent(subject string, granted bool) privacy.ConsentRecord {
	w.t.Helper()
	rec, err := w.consents.Record(context.Background(), consent.Input{SubjectID: subject, DeviceID: w.device.ID, NoticeKey: "tracker",
		NoticeVersion: w.current.Version, NoticeHash: w.current.ContentHash, Locale: "en", Method: privacy.MethodApp, ClientID: "app",
		Choices: []privacy.ConsentChoice{{Purpose: "navigation", Granted: granted}}})
	require.NoError(w.t, err)
	return rec
}

// memoryMatches checks that w's decision service decides from memory and
// that memory holds what the database does, in every part a decision
// reads.
func (w *world) memoryMatches(msg string) {
	w.t.Helper()
	require.Eventually(w.t, w.decide.FromMemory, 5*time.Second, 10*time.Millisecond, "%s: memory is complete", msg)
	inMemory, inDatabase, complete, err := w.decide.MemoryAndDatabase(context.Background())
	require.NoError(w.t, err)
	require.True(w.t, complete, msg)
	require.Equal(w.t, inDatabase, inMemory, "%s: memory holds what the database does", msg)
}

func (w *world) ask(r decide.Request) decide.Decision {
	w.t.Helper()
	if r.ServiceName == "" {
		r.ServiceID, r.ServiceName = "svc-1", "route-planner"
	}
	if r.Subject == "" {
		r.Subject = "alice"
	}
	if r.DeviceID == "" {
		r.DeviceID = w.device.ID
	}
	if r.Element == "" {
		r.Element = "location"
	}
	if r.Purpose == "" {
		r.Purpose = "navigation"
	}
	if r.Action == "" {
		r.Action = "use"
	}
	d, err := w.decide.Decide(context.Background(), r)
	require.NoError(w.t, err)
	return d
}

func TestEveryReason(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		arrange func(w *world) decide.Request
		reasons []string
	}{
		{"allow", func(*world) decide.Request { return decide.Request{} }, []string{}},
		{"device inactive", func(w *world) decide.Request {
			_, err := w.devices.Deactivate(ctx, w.device.ID)
			require.NoError(t, err)
			return decide.Request{}
		}, []string{decide.ReasonDeviceInactive}},
		{"unknown device", func(*world) decide.Request {
			return decide.Request{DeviceID: "0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"}
		}, []string{decide.ReasonDeviceInactive}},
		{"element not declared", func(*world) decide.Request { return decide.Request{Element: "heart-rate"} },
			[]string{decide.ReasonElementNotDeclared, decide.ReasonNotInNotice, decide.ReasonPolicyDenied}},
		{"element not declared for the purpose", func(*world) decide.Request { return decide.Request{Element: "battery"} },
			[]string{decide.ReasonElementNotDeclared, decide.ReasonNotInNotice, decide.ReasonPolicyDenied}},
		{"not in the notice", func(w *world) decide.Request {
			w.inventory(element("location", "personal.location.precise", "navigation"), element("altitude", "personal.location.precise", "navigation"))
			return decide.Request{Element: "altitude"}
		}, []string{decide.ReasonNotInNotice}},
		{"policy denies another action", func(*world) decide.Request { return decide.Request{Action: "share"} }, []string{decide.ReasonPolicyDenied}},
		{"policy denies another service", func(*world) decide.Request {
			return decide.Request{ServiceID: "svc-2", ServiceName: "ad-broker"}
		}, []string{decide.ReasonPolicyDenied}},
		{"explicit deny overrides allow", func(w *world) decide.Request {
			require.NoError(t, w.policies.Add(ctx, policy.Change{Rule: &authz.Rule{Subject: "route-planner", Category: "personal.location.precise",
				Purpose: "*", Action: "*", Effect: "deny"}}))
			return decide.Request{}
		}, []string{decide.ReasonPolicyDenied}},
		{"allowed through a group", func(w *world) decide.Request {
			require.NoError(t, w.policies.Add(ctx, policy.Change{Group: &authz.Group{Member: "eta-service", Group: "navigators"}}))
			require.NoError(t, w.policies.Add(ctx, policy.Change{Rule: &authz.Rule{Subject: "navigators", Category: "personal.location",
				Purpose: "navigation", Action: "use", Effect: "allow"}}))
			return decide.Request{ServiceID: "svc-3", ServiceName: "eta-service"}
		}, []string{}},
		{"no consent", func(*world) decide.Request { return decide.Request{Subject: "bob"} }, []string{decide.ReasonNoConsent}},
		{"consent refused", func(w *world) decide.Request {
			w.consent("carol", false)
			return decide.Request{Subject: "carol"}
		}, []string{decide.ReasonNoConsent}},
		{"consent expired", func(w *world) decide.Request {
			w.clock.Add(366 * 24 * time.Hour)
			return decide.Request{}
		}, []string{decide.ReasonConsentExpired}},
		{"consent withdrawn", func(w *world) decide.Request {
			_, err := w.consents.WithdrawSubject(ctx, "alice", privacy.MethodApp, "app")
			require.NoError(t, err)
			return decide.Request{}
		}, []string{decide.ReasonConsentWithdrawn}},
		{"re-consent required", func(w *world) decide.Request {
			w.publish(noticeContent("new-recipient"))
			return decide.Request{}
		}, []string{decide.ReasonReconsentRequired}},
		{"consent granted but policy denies", func(w *world) decide.Request {
			require.NoError(t, w.policies.Remove(ctx, policy.Change{Rule: &authz.Rule{Subject: "route-planner", Category: "personal.location.*",
				Purpose: "navigation", Action: "use", Effect: "allow"}}))
			return decide.Request{}
		}, []string{decide.ReasonPolicyDenied}},
		{"policy allows but consent withdrawn a moment earlier", func(w *world) decide.Request {
			_, err := w.consents.WithdrawSubject(ctx, "alice", privacy.MethodApp, "app")
			require.NoError(t, err)
			return decide.Request{}
		}, []string{decide.ReasonConsentWithdrawn}},
		{"everything wrong at once", func(w *world) decide.Request {
			_, err := w.devices.Deactivate(ctx, w.device.ID)
			require.NoError(t, err)
			return decide.Request{Subject: "bob", Action: "share"}
		}, []string{decide.ReasonDeviceInactive, decide.ReasonPolicyDenied, decide.ReasonNoConsent}},
	}
	for _, tc := range tests {
		for _, fromMemory := range []bool{true, false} {
			name := tc.name
			if !fromMemory {
				name += ", from the database"
			}
			t.Run(name, func(t *testing.T) { everyReason(t, tc.arrange, tc.reasons, fromMemory) })
		}
	}
}

// everyReason arranges a world, asks, and checks the answer and its
// explanation; from memory, kept current by the arranged changes, or from
// the database with memory emptied just before the question.
func everyReason(t *testing.T, arrange func(w *world) decide.Request, reasons []string, fromMemory bool) {
	ctx := context.Background()
	w := newWorld(t, store.DialectSQLite)
	r := arrange(w)
	if fromMemory {
		w.memoryMatches("arranged")
	} else {
		_, err := w.log.Append(ctx, audittest.Event{Name: "test.unknown"})
		require.NoError(t, err)
		require.False(t, w.decide.FromMemory())
	}
	d := w.ask(r)
	assert.Equal(t, reasons, d.Reasons)
	assert.Equal(t, len(reasons) == 0, d.Allow)
	assert.NotEmpty(t, d.ID)
	assert.Positive(t, d.Seq)
	if d.Allow {
		assert.NotEmpty(t, d.ConsentRecord)
		assert.Positive(t, d.ConsentSeq)
		assert.Equal(t, w.current.Version, d.NoticeVersion)
	} else {
		assert.Empty(t, d.ConsentRecord)
	}
	got, err := w.decide.Get(ctx, d.ID)
	require.NoError(t, err)
	assert.Equal(t, d.Reasons, got.Reasons)
	if r.DeviceID != "" && r.DeviceID != w.device.ID {
		assert.Len(t, got.Steps, 1, "nothing else can be checked for a device that does not exist")
	} else {
		assert.Len(t, got.Steps, 5, "every check is explained")
	}
	if fromMemory {
		assert.Equal(t, int64(1), w.decide.Loads(), "memory was loaded once and kept current")
	}
	verifyLog(t, w)
}

// verifyLog checks the whole audit log, with the strictest-by-default replay.
func verifyLog(t *testing.T, w *world) audit.VerifyResult {
	t.Helper()
	ctx := context.Background()
	cp, err := w.log.Checkpoint(ctx)
	require.NoError(t, err)
	res, err := audit.Verify(audit.VerifyInput{Checkpoint: []byte(cp.Note), VerifierKey: w.log.VerifierKey(),
		Entries: func(yield func(audit.StoredEntry, error) bool) {
			es, err := w.log.Entries(ctx, audit.Filter{Limit: 1 << 20})
			if err != nil {
				yield(audit.StoredEntry{}, err)
				return
			}
			for _, e := range es {
				if !yield(audit.StoredEntry{Seq: e.Seq, Leaf: e.Leaf}, nil) {
					return
				}
			}
		}})
	require.NoError(t, err)
	return res
}

// failingPolicy is an enforcer that cannot answer.
type failingPolicy struct{}

func (failingPolicy) Allowed(string, string, string, string) (bool, error) {
	return true, errors.New("enforcer down")
}
func (failingPolicy) Generation() int64 { return 1 }

func TestFailuresDenyOrRefuse(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, store.DialectSQLite)

	broken := decide.NewService(w.db, w.log, failingPolicy{}, w.memory)
	d, err := broken.Decide(ctx, decide.Request{ServiceName: "route-planner", Subject: "alice", DeviceID: w.device.ID, Element: "location", Purpose: "navigation", Action: "use"})
	require.NoError(t, err)
	assert.False(t, d.Allow, "a failing enforcer denies, even when it says true")
	assert.Equal(t, []string{decide.ReasonError}, d.Reasons)

	// A failing store: the decision cannot be read or audited.
	sqlDB, err := w.db.SQL()
	require.NoError(t, err)
	_, err = sqlDB.Exec(`CREATE TRIGGER audit_unwritable BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`)
	require.NoError(t, err)
	_, err = w.decide.Decide(ctx, decide.Request{ServiceName: "route-planner", Subject: "alice", DeviceID: w.device.ID, Element: "location", Purpose: "navigation", Action: "use"})
	assert.Equal(t, privacy.EUnavailable, privacy.ErrorCode(err), "no audit, no answer")
	_, err = sqlDB.Exec(`DROP TRIGGER audit_unwritable`)
	require.NoError(t, err)

	// A change memory cannot follow (an action it does not know) empties
	// it; decisions then read the store, and a store that cannot be read
	// denies, until a load completes memory again.
	w.consent("dave", true)
	require.Eventually(t, w.decide.FromMemory, 5*time.Second, 10*time.Millisecond, "memory is loaded")
	_, err = w.log.Append(ctx, audittest.Event{Name: "test.unknown"})
	require.NoError(t, err)
	assert.False(t, w.decide.FromMemory(), "memory cannot follow an unknown action: it is emptied")
	_, err = sqlDB.Exec(`ALTER TABLE consent_state RENAME TO consent_state_gone`)
	require.NoError(t, err)
	d = w.ask(decide.Request{Subject: "dave"})
	assert.False(t, d.Allow, "a store that cannot be read denies")
	assert.Contains(t, d.Reasons, decide.ReasonError)
	assert.False(t, w.decide.FromMemory(), "a load that fails leaves memory empty")
	_, err = sqlDB.Exec(`ALTER TABLE consent_state_gone RENAME TO consent_state`)
	require.NoError(t, err)
	assert.True(t, w.ask(decide.Request{Subject: "dave"}).Allow)
	require.Eventually(t, func() bool {
		w.ask(decide.Request{Subject: "dave"}) // each decision's transaction may load
		return w.decide.FromMemory()
	}, 5*time.Second, 100*time.Millisecond, "a later transaction loads memory again")
	assert.True(t, w.ask(decide.Request{Subject: "dave"}).Allow)

	// A policy that cannot be loaded allows nothing.
	require.NoError(t, w.data.Block())
	assert.Equal(t, []string{decide.ReasonPolicyDenied}, w.ask(decide.Request{Subject: "dave"}).Reasons)
	require.NoError(t, w.data.Reload())
	assert.True(t, w.ask(decide.Request{Subject: "dave"}).Allow)

	_, err = w.decide.DecideBatch(ctx, make([]decide.Request, decide.MaxBatch+1))
	assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
	_, err = w.decide.Decide(ctx, decide.Request{Subject: "", DeviceID: "x", Element: "Bad", Purpose: "!", Action: "sell"})
	assert.Equal(t, privacy.EInvalid, privacy.ErrorCode(err))
}

// TestNoAllowAfterItsConsentIsWithdrawn races withdrawals against
// decisions relying on the consent withdrawn, 2,000 pairs on one instance
// and 2,000 across two (withdrawals on A, decisions on B), on every
// dialect: in the log, no allow follows the withdrawal of the consent it
// relied on. With -short, 200 pairs each: the race is the same, it is
// run fewer times.
func TestNoAllowAfterItsConsentIsWithdrawn(t *testing.T) {
	pairs := 2000
	if testing.Short() {
		pairs = 200
	}
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		t.Run("one instance", func(t *testing.T) {
			w := newWorld(t, dialect)
			racePairs(t, w, w, pairs)
		})
		t.Run("two instances", func(t *testing.T) {
			a, b := twoWorlds(t, dialect)
			racePairs(t, a, b, pairs)
		})
	})
}

// racePairs gives n subjects a consent on a, then withdraws each on a
// while b decides on it, all at once, and verifies the log.
func racePairs(t *testing.T, a, b *world, n int) {
	ctx := context.Background()
	subjects := make([]string, n)
	for i := range subjects {
		subjects[i] = fmt.Sprintf("subject-%d", i)
	}
	// Consents first, 64 at a time (group commit).
	var wg sync.WaitGroup
	slots := make(chan struct{}, 64)
	for _, s := range subjects {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			_, err := a.consents.Record(ctx, consent.Input{SubjectID: s, DeviceID: a.device.ID, NoticeKey: "tracker",
				NoticeVersion: a.current.Version, NoticeHash: a.current.ContentHash, Locale: "en", Method: privacy.MethodApp, ClientID: "app",
				Choices: []privacy.ConsentChoice{{Purpose: "navigation", Granted: true}}})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	require.False(t, t.Failed())

	// Each subject's decisions keep coming until one is denied, so that
	// they straddle the withdrawal racing them.
	var (
		mu                          sync.Mutex
		decisions, allows, honoured int
	)
	for _, s := range subjects {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := a.consents.WithdrawSubject(ctx, s, privacy.MethodApp, "app")
			assert.NoError(t, err)
		}()
		go func() {
			defer wg.Done()
			for range 1000 {
				d, err := b.decide.Decide(ctx, decide.Request{ServiceID: "svc", ServiceName: "route-planner", Subject: s,
					DeviceID: b.device.ID, Element: "location", Purpose: "navigation", Action: "use"})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				decisions++
				if d.Allow {
					allows++
				} else if assert.Equal(t, []string{decide.ReasonConsentWithdrawn}, d.Reasons) {
					honoured++
				}
				mu.Unlock()
				if !d.Allow {
					return
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, n, honoured, "every subject's withdrawal was honored")
	res := verifyLog(t, a)
	assert.Equal(t, allows, res.Allows, "the replay checked every allow")
	t.Logf("%d pairs: %d decisions, %d allows made before their withdrawal; the replay found none after one", n, decisions, allows)
}

// twoWorlds builds instance A (seeded as newWorld does) and instance B on
// the same database (one SQLite file used by two processes, or one
// PostgreSQL schema shared by two servers), each with its own log writer.
func twoWorlds(t *testing.T, dialect string) (a, b *world) {
	c := storetest.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	dbA, dbB := storetest.MustOpenTwo(t, dialect, c.Now)
	a = &world{t: t, clock: c, db: dbA}
	logA, keys := audittest.MustOpenLogWithKeys(t, dbA, audit.Options{React: a.reactions(nil)})
	a.log = logA
	a.build()
	a.seed()
	b = &world{t: t, clock: c, db: dbB}
	logB, err := audit.New(dbB, keys, audit.Options{CheckpointEvery: -1, React: b.reactions(nil)})
	require.NoError(t, err)
	logB.Start()
	t.Cleanup(logB.Close)
	b.log = logB
	b.build()
	b.device, b.current = a.device, a.current
	return a, b
}

// TestTwoInstances runs two instances on one database (one SQLite file
// used by two processes, or one PostgreSQL schema shared by two servers):
// a withdrawal or a policy change on A is honored by B's very next
// decision, even with no notification between them (SQLite); on
// PostgreSQL B's policy follows A's change before B's next decision.
func TestTwoInstances(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		a, b := twoWorlds(t, dialect)

		require.True(t, b.ask(decide.Request{}).Allow, "B allows on A's consent")
		start := time.Now()
		_, err := a.consents.WithdrawSubject(ctx, "alice", privacy.MethodApp, "app")
		require.NoError(t, err)
		d := b.ask(decide.Request{})
		assert.Equal(t, []string{decide.ReasonConsentWithdrawn}, d.Reasons, "B's next decision honors A's withdrawal")
		assert.Less(t, time.Since(start), time.Second)
		b.memoryMatches("B after A's withdrawal")

		a.consent("erin", true)
		require.True(t, b.ask(decide.Request{Subject: "erin"}).Allow, "B's next decision honors A's grant")
		b.memoryMatches("B after A's grant")
		_, err = a.consents.DeclareChild(ctx, privacy.Child{Subject: "erin", AgeBand: "16_17", Guardians: []string{"frank"}}, "app")
		require.NoError(t, err)
		assert.Equal(t, []string{decide.ReasonGuardianConsentRequired}, b.ask(decide.Request{Subject: "erin"}).Reasons,
			"B's next decision honors A's declaration of a child")
		b.memoryMatches("B after A's declaration of a child")
		_, err = a.consents.DeclareMajority(ctx, "erin", "app")
		require.NoError(t, err)
		require.True(t, b.ask(decide.Request{Subject: "erin"}).Allow, "erin came of age: her own grant counts again")
		b.memoryMatches("B after A's declaration of majority")
		a.memoryMatches("A after its own declarations")
		removed := authz.Rule{Subject: "route-planner", Category: "personal.location.*", Purpose: "navigation", Action: "use", Effect: "allow"}
		start = time.Now()
		require.NoError(t, a.policies.Remove(ctx, policy.Change{Rule: &removed}))
		if dialect == store.DialectPostgres {
			// B writes nothing meanwhile: A's notification alone brings
			// B's policy (what GET /v1/policies lists there) up to date.
			assert.Eventually(t, func() bool {
				rules, _, err := b.policies.List()
				return err == nil && !slices.Contains(rules, removed)
			}, time.Second, 10*time.Millisecond, "B lists A's policy change within a second")
			t.Logf("B's policy changed %v after A's", time.Since(start))
		}
		d = b.ask(decide.Request{Subject: "erin"})
		assert.Equal(t, []string{decide.ReasonPolicyDenied}, d.Reasons, "B's next decision honors A's policy change")

		// A's notice, inventory and device changes reach B's memory too.
		a.publish(noticeContent("new-recipient"))
		assert.Equal(t, []string{decide.ReasonPolicyDenied, decide.ReasonReconsentRequired}, b.ask(decide.Request{Subject: "erin"}).Reasons)
		b.memoryMatches("B after A's notice")
		a.inventory(element("location", "personal.location.precise", "maintenance"), element("battery", "nonpersonal.device.status", "maintenance"))
		assert.Contains(t, b.ask(decide.Request{Subject: "erin"}).Reasons, decide.ReasonElementNotDeclared)
		b.memoryMatches("B after A's inventory")
		_, err = a.devices.Deactivate(ctx, a.device.ID)
		require.NoError(t, err)
		assert.Contains(t, b.ask(decide.Request{Subject: "erin"}).Reasons, decide.ReasonDeviceInactive)
		b.memoryMatches("B after A's device change")
		assert.Equal(t, int64(1), b.decide.Loads(), "B read A's changes back one by one, without loading everything again")

		// Both instances appended to one log, which verifies.
		verifyLog(t, a)
	})
}

// TestNoAllowFromTheMomentOfACommit evaluates a decision inside the
// writer's commit of a withdrawal, in a reaction that runs before the
// decision facts in memory follow the commit, then records it:
// the facts the evaluation read from memory may still be those before
// the withdrawal, and the log's count of changes must not yet say that
// they are current, or the writer would trust them and append an allow
// after the withdrawal.
func TestNoAllowFromTheMomentOfACommit(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		w := &world{t: t, clock: storetest.NewClock(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))}
		w.db = storetest.MustOpenDB(t, dialect, w.clock.Now)
		var (
			armed    bool
			inCommit []decide.Prepared
			rs       = []decide.Request{{ServiceID: "svc-1", ServiceName: "route-planner", Subject: "alice", Element: "location",
				Purpose: "navigation", Action: "use"}}
		)
		w.log = audittest.MustOpenLog(t, w.db, audit.Options{React: w.reactions(func(events []event.Event) {
			if !armed || !slices.ContainsFunc(events, func(e event.Event) bool { return e.Action() == event.ActionConsentWithdrawn }) {
				return
			}
			p, err := w.decide.Prepare(w.db.Read(ctx), rs)
			require.NoError(t, err)
			inCommit = append(inCommit, p)
		})})
		w.build()
		w.seed()
		rs[0].DeviceID = w.device.ID
		require.True(t, w.ask(decide.Request{}).Allow, "alice's consent is in force and in memory")

		armed = true
		_, err := w.consents.WithdrawSubject(ctx, "alice", privacy.MethodApp, "app")
		require.NoError(t, err)
		require.Len(t, inCommit, 1, "the hook evaluated once, inside the withdrawal's commit")
		ds, err := w.decide.Record(ctx, rs, inCommit[0])
		require.NoError(t, err)
		assert.False(t, ds[0].Allow, "an allow evaluated as the withdrawal commits is re-checked and denied")
		assert.Equal(t, []string{decide.ReasonConsentWithdrawn}, ds[0].Reasons)
		res := verifyLog(t, w)
		assert.Equal(t, 1, res.Allows, "the replay counts one allow: the one made before the withdrawal")
	})
}

// TestMetricsSayWhereDecisionsComeFrom: the operator sees whether
// decisions are made from memory, how much it holds and how often it was
// loaded whole.
func TestMetricsSayWhereDecisionsComeFrom(t *testing.T) {
	w := newWorld(t, store.DialectSQLite)
	cs := w.decide.Collectors()
	require.Len(t, cs, 3)
	inMemory, states, loads := cs[0], cs[1], cs[2]
	assert.Equal(t, 1.0, testutil.ToFloat64(inMemory))
	assert.Equal(t, 1.0, testutil.ToFloat64(states), "alice's consent")
	assert.Equal(t, 1.0, testutil.ToFloat64(loads))
	w.consent("bob", false)
	assert.Equal(t, 2.0, testutil.ToFloat64(states), "a refusal is a state too")

	_, err := w.log.Append(context.Background(), audittest.Event{Name: "test.unknown"})
	require.NoError(t, err)
	assert.Equal(t, 0.0, testutil.ToFloat64(inMemory), "memory could not follow: decisions read the database")
	w.ask(decide.Request{}) // its transaction loads memory again
	assert.Equal(t, 1.0, testutil.ToFloat64(inMemory))
	assert.Equal(t, 2.0, testutil.ToFloat64(loads))
	reg := prometheus.NewRegistry()
	for _, c := range cs {
		require.NoError(t, reg.Register(c))
	}
	n, err := testutil.GatherAndCount(reg, "consentry_decision_facts_in_memory", "consentry_decision_facts_consent_states", "consentry_decision_facts_loads_total")
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

// TestAnEditedDecisionIsNotServed: a decision row changed in the
// database behind the log (a deny turned into an allow) is refused on
// read; the entry says what was decided.
func TestAnEditedDecisionIsNotServed(t *testing.T) {
	w := newWorld(t, store.DialectSQLite)
	ctx := context.Background()
	d := w.ask(decide.Request{ServiceID: "svc", ServiceName: "route-planner", Subject: "bob", DeviceID: w.device.ID, Element: "location",
		Purpose: "navigation", Action: "use"})
	require.False(t, d.Allow)
	_, err := w.decide.Get(ctx, d.ID)
	require.NoError(t, err)

	sqlDB, err := w.db.SQL()
	require.NoError(t, err)
	_, err = sqlDB.Exec(`DROP TRIGGER decisions_no_update`)
	require.NoError(t, err)
	_, err = sqlDB.Exec(`UPDATE decisions SET allow = 1, reasons = '[]' WHERE id = ?`, d.ID)
	require.NoError(t, err)
	_, err = w.decide.Get(ctx, d.ID)
	require.ErrorContains(t, err, "is not what the database holds now")

	// Its explanation too: the entry commits to every step.
	other := w.ask(decide.Request{ServiceID: "svc", ServiceName: "route-planner", Subject: "carol", DeviceID: w.device.ID, Element: "location",
		Purpose: "navigation", Action: "use"})
	got, err := w.decide.Get(ctx, other.ID)
	require.NoError(t, err)
	steps, err := json.Marshal(got.Steps)
	require.NoError(t, err)
	edited := bytes.Replace(steps, []byte("device is active"), []byte("device is fine"), 1)
	require.NotEqual(t, steps, edited)
	// Packed again by someone who knows the format, or written as text in
	// place of the packed value (the form of rows written before steps
	// were packed): either way, not served.
	_, err = sqlDB.Exec(`UPDATE decisions SET steps_packed = ? WHERE id = ?`, store.PackSteps(edited), other.ID)
	require.NoError(t, err)
	_, err = w.decide.Get(ctx, other.ID)
	require.ErrorContains(t, err, "is not what the database holds now")
	_, err = sqlDB.Exec(`UPDATE decisions SET steps = ?, steps_packed = NULL WHERE id = ?`, string(edited), other.ID)
	require.NoError(t, err)
	_, err = w.decide.Get(ctx, other.ID)
	require.ErrorContains(t, err, "is not what the database holds now")
	// Bytes that do not unpack fail the read.
	_, err = sqlDB.Exec(`UPDATE decisions SET steps = '', steps_packed = X'01FFFFFFFF0F00' WHERE id = ?`, other.ID)
	require.NoError(t, err)
	_, err = w.decide.Get(ctx, other.ID)
	require.ErrorContains(t, err, "packed steps do not unpack")
}
