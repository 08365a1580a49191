package decide

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// factsKey names the consent one decision reads.
type factsKey struct{ device, subject, purpose string }

// facts is everything decisions read: every device with its newest
// inventory, every notice's version in force with its material changes,
// every current consent state.
type facts struct {
	devices map[string]store.DeviceFacts
	notices map[string]store.NoticeFacts
	consent map[factsKey]privacy.ConsentState
}

// memory holds the facts so that a decision reads no disk, and keeps them
// current: this process's commits change them in place from their events
// (OnCommit, which runs before the log counts the commit, so a decision
// never reads facts older than the count it is re-checked against), and
// other instances' changes are read back, item by item, inside the
// writer's next transaction (OnForeign). Whatever memory cannot follow
// (an event without its new state, an action it does not know, a rebuild
// of the consent state) empties it: decisions then read the database
// until a full load, made at the start of one of the writer's
// transactions and installed when that transaction commits, completes it
// again.
type memory struct {
	mu       sync.RWMutex
	complete bool
	facts    facts

	// wanted: a full load is due. failed is when one last failed, and
	// staged the load made at the start of the writer's current
	// transaction; both belong to the writer.
	wanted atomic.Bool
	failed time.Time
	staged *facts
	// loads counts the loads installed.
	loads atomic.Int64
}

func newMemory() *memory {
	m := &memory{}
	m.wanted.Store(true)
	return m
}

// retryLoad spaces out the loads tried after one that failed.
const retryLoad = time.Second

// batch runs at the start of each of the writer's transactions: it loads
// every fact when a load is due.
func (m *memory) batch(tx *store.Tx) {
	m.staged = nil
	if !m.wanted.Load() || time.Since(m.failed) < retryLoad {
		return
	}
	f, err := loadFacts(tx)
	if err != nil {
		m.failed = time.Now()
		return
	}
	m.staged = &f
}

func loadFacts(tx *store.Tx) (facts, error) {
	devices, err := tx.AllDeviceFacts("")
	if err != nil {
		return facts{}, err
	}
	notices, err := tx.AllNoticeFacts("")
	if err != nil {
		return facts{}, err
	}
	states, err := tx.DecisionConsentStates()
	if err != nil {
		return facts{}, err
	}
	consent := make(map[factsKey]privacy.ConsentState, len(states))
	for _, st := range states {
		consent[keyOf(st)] = st
	}
	return facts{devices: devices, notices: notices, consent: consent}, nil
}

// committed applies what this process committed, before the log counts
// it; a load made at the start of the transaction is installed first.
func (m *memory) committed(events []audit.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.staged != nil {
		m.facts, m.complete, m.staged = *m.staged, true, nil
		m.wanted.Store(false)
		m.loads.Add(1)
	}
	if !m.complete {
		return
	}
	for _, ev := range events {
		if !m.apply(ev) {
			m.drop()
			return
		}
	}
}

// drop empties memory; decisions read the database until the next load.
func (m *memory) drop() {
	m.complete, m.facts = false, facts{}
	m.wanted.Store(true)
}

// inert are the actions that change nothing a decision reads.
var inert = []string{audit.ActionDecision, "notice.created", "notice.version.drafted", "notice.version.updated", "notice.version.deleted",
	"policy.", "purpose.", "client.", "webhook.", "finding.", "receipt_key.", "evidence.", "subject_token.", "server."}

func isInert(action string) bool {
	for _, a := range inert {
		if action == a || strings.HasSuffix(a, ".") && strings.HasPrefix(action, a) {
			return true
		}
	}
	return false
}

// apply changes memory as ev's change did in the database; false when it
// cannot tell how.
func (m *memory) apply(ev audit.Event) bool {
	switch {
	case ev.Action == audit.ActionConsentRecorded || ev.Action == audit.ActionConsentWithdrawn:
		st, ok := ev.State.(privacy.ConsentState)
		if !ok {
			return false
		}
		m.facts.consent[keyOf(st)] = store.DecisionConsent(st)
	case ev.Action == audit.ActionNoticePublished:
		v, ok := ev.State.(privacy.NoticeVersion)
		if !ok {
			return false
		}
		m.published(v)
	case strings.HasPrefix(ev.Action, "device."):
		d, ok := ev.State.(privacy.Device)
		if !ok {
			return false
		}
		f, known := m.facts.devices[d.ID]
		switch {
		case !known && ev.Action != "device.registered":
			return false // a device memory never saw: it is not complete
		case !known:
			f.Elements = map[string]privacy.DataElement{}
		}
		f.Status, f.NoticeKey = string(d.Status), d.NoticeKey
		m.facts.devices[d.ID] = f
	case ev.Action == "inventory.declared":
		inv, ok := ev.State.(privacy.Inventory)
		f, known := m.facts.devices[inv.DeviceID]
		if !ok || !known {
			return false
		}
		if inv.Version > f.Inventory {
			f.Inventory, f.Elements = inv.Version, make(map[string]privacy.DataElement, len(inv.Elements))
			for _, e := range inv.Elements {
				f.Elements[e.Key] = store.DecisionElement(e)
			}
			m.facts.devices[inv.DeviceID] = f
		}
	default:
		return isInert(ev.Action)
	}
	return true
}

// published records a published version: the newest published is the
// one in force. Maps readers hold are never written: changed, they are
// replaced.
func (m *memory) published(v privacy.NoticeVersion) {
	n := m.facts.notices[v.NoticeKey]
	n.Material = maps.Clone(n.Material)
	if n.Material == nil {
		n.Material = map[int][]string{}
	}
	n.Material[v.Version] = v.MaterialPurposes
	if v.Version > n.InForce.Version {
		n.InForce = v
	}
	m.facts.notices[v.NoticeKey] = n
}

// foreign reads back, through the writer's transaction, what other
// instances changed.
func (m *memory) foreign(tx *store.Tx, entries []audit.Foreign) {
	m.mu.RLock()
	complete := m.complete
	m.mu.RUnlock()
	if !complete {
		return
	}
	for _, e := range entries {
		if !m.readBack(tx, e) {
			m.mu.Lock()
			m.drop()
			m.mu.Unlock()
			return
		}
	}
}

// readBack brings memory up to date with one foreign entry: the database
// is read first, memory is changed after, under the lock.
func (m *memory) readBack(tx *store.Tx, e audit.Foreign) bool {
	switch {
	case e.Action == audit.ActionConsentRecorded || e.Action == audit.ActionConsentWithdrawn:
		st, found, err := tx.ConsentStateOfRecord(e.Targets["record"], e.Targets["device"], e.Targets["purpose"])
		if err != nil || !found {
			return false
		}
		m.mu.Lock()
		m.facts.consent[keyOf(st)] = st
		m.mu.Unlock()
		return true
	case e.Action == audit.ActionNoticePublished:
		return readBackOne(m, e.Targets["notice"], tx.AllNoticeFacts, m.facts.notices)
	case strings.HasPrefix(e.Action, "device.") || e.Action == "inventory.declared":
		return readBackOne(m, e.Targets["device"], tx.AllDeviceFacts, m.facts.devices)
	}
	return isInert(e.Action)
}

// readBackOne reads the facts of the one notice or device an entry names
// (none named: false) and sets them in dst, or deletes them when they no
// longer exist.
func readBackOne[V any](m *memory, name string, read func(only string) (map[string]V, error), dst map[string]V) bool {
	if name == "" {
		return false
	}
	fresh, err := read(name)
	if err != nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := fresh[name]; ok {
		dst[name] = v
	} else {
		delete(dst, name)
	}
	return true
}

// keyOf is the key a consent state is kept under.
func keyOf(st privacy.ConsentState) factsKey {
	return factsKey{device: st.DeviceID, subject: st.SubjectID, purpose: st.Purpose}
}

// view returns what r reads, from memory; false when memory is not
// complete.
func (m *memory) view(r Request) (view, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.complete {
		return view{}, false
	}
	d, ok := m.facts.devices[r.DeviceID]
	if !ok {
		return view{err: privacy.Errorf(privacy.ENotFound, "device not found")}, true
	}
	v := view{facts: store.DecisionFacts{DeviceStatus: d.Status, NoticeKey: d.NoticeKey, InventoryVersion: d.Inventory}}
	if d.Inventory > 0 {
		if v.element, ok = d.Elements[r.Element]; !ok {
			v.elementErr = privacy.Errorf(privacy.ENotFound, "element not declared")
		}
	}
	if n, ok := m.facts.notices[d.NoticeKey]; ok {
		v.facts.NoticeVersion, v.notice, v.material = n.InForce.Version, n.InForce, n.Material
	}
	if c, ok := m.facts.consent[factsKey{device: r.DeviceID, subject: r.Subject, purpose: r.Purpose}]; ok {
		c.NoticeKey = d.NoticeKey
		v.facts.Consent, v.facts.HasConsent = c, true
	}
	return v, true
}
