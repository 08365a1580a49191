package decide

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// factsKey names the consent one decision reads.
type factsKey struct{ device, subject, purpose string }

// facts is everything decisions read: every device with its newest
// inventory, every notice's version in force with its material changes,
// every current consent state.
type facts struct {
	devices map[string]deviceFacts
	notices map[string]noticeFacts
	consent map[factsKey]privacy.ConsentState
	// children are the subjects declared children.
	children map[string]childFacts
}

// Memory holds the facts so that a decision reads no disk. It is kept
// current by the reactions wired in internal/app: this process's commits
// change it from their events (before the log counts the commit, so a
// decision never reads facts older than the count it is re-checked
// against), and other instances' changes are read back, item by item,
// inside the writer's next transaction. Whatever it cannot follow (a
// device it never saw, a rebuild of the consent state, an action it does
// not know) empties it: decisions then read the database until a full
// load, made at the start of one of the writer's transactions and
// installed when that transaction commits, completes it again.
//
// Its methods do nothing on a nil *Memory: the reactions of a process
// that keeps no facts (a command-line tool) call them all the same.
type Memory struct {
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

// NewMemory returns an empty Memory; the writer's next transaction loads
// it (Load), and its commit installs the load (Install).
func NewMemory() *Memory {
	m := &Memory{}
	m.wanted.Store(true)
	return m
}

// retryLoad spaces out the loads tried after one that failed.
const retryLoad = time.Second

// Load runs at the start of each of the writer's transactions: it loads
// every fact when a load is due, to be installed at the commit.
func (m *Memory) Load(tx *store.Reader) {
	if m == nil {
		return
	}
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

func loadFacts(tx *store.Reader) (facts, error) {
	devices, err := readDevices(tx, "")
	if err != nil {
		return facts{}, err
	}
	notices, err := readNotices(tx, "")
	if err != nil {
		return facts{}, err
	}
	states, err := tx.CurrentConsentStates()
	if err != nil {
		return facts{}, err
	}
	consent := make(map[factsKey]privacy.ConsentState, len(states))
	for _, st := range states {
		consent[keyOf(st)] = decisionConsent(st)
	}
	declared, err := tx.Children()
	if err != nil {
		return facts{}, err
	}
	children := make(map[string]childFacts, len(declared))
	for _, c := range declared {
		children[c.Subject] = childOf(c)
	}
	return facts{devices: devices, notices: notices, consent: consent, children: children}, nil
}

// Install installs, after a commit and before its events are applied, a
// load made at the start of its transaction.
func (m *Memory) Install() {
	if m == nil || m.staged == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.facts, m.complete, m.staged = *m.staged, true, nil
	m.wanted.Store(false)
	m.loads.Add(1)
}

// Drop empties memory; decisions read the database until the next load.
func (m *Memory) Drop() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drop()
}

func (m *Memory) drop() {
	m.complete, m.facts = false, facts{}
	m.wanted.Store(true)
}

// change runs fn on complete facts, under the lock; fn's false empties
// memory. A nil Memory (a process that keeps none) changes nothing.
func (m *Memory) change(fn func(f *facts) bool) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.complete && !fn(&m.facts) {
		m.drop()
	}
}

// SetConsent records a purpose's new consent state.
func (m *Memory) SetConsent(st privacy.ConsentState) {
	m.change(func(f *facts) bool {
		f.consent[keyOf(st)] = decisionConsent(st)
		return true
	})
}

// ForgetSubject drops every consent state of subject: it was erased, and
// its rows now name its erased marker. A later decision about the same id
// finds no consent, and nothing that would tie it to the erased records.
func (m *Memory) ForgetSubject(subject string) {
	m.change(func(f *facts) bool {
		for k := range f.consent {
			if k.subject == subject {
				delete(f.consent, k)
			}
		}
		delete(f.children, subject)
		return true
	})
}

// SetChild records a subject's declaration as a child (c.Subject), or
// its majority.
func (m *Memory) SetChild(c privacy.Child) {
	m.change(func(f *facts) bool {
		f.children[c.Subject] = childOf(c)
		return true
	})
}

// SetDevice records a device's new status; registered: it is new.
func (m *Memory) SetDevice(d privacy.Device, registered bool) {
	m.change(func(f *facts) bool {
		df, known := f.devices[d.ID]
		switch {
		case !known && !registered:
			return false // a device memory never saw: it is not complete
		case !known:
			df.Elements = map[string]privacy.DataElement{}
		}
		df.Status, df.NoticeKey = string(d.Status), d.NoticeKey
		f.devices[d.ID] = df
		return true
	})
}

// SetInventory records a device's new inventory version.
func (m *Memory) SetInventory(inv privacy.Inventory) {
	m.change(func(f *facts) bool {
		df, known := f.devices[inv.DeviceID]
		if !known {
			return false
		}
		if inv.Version > df.Inventory {
			df.Inventory, df.Elements = inv.Version, make(map[string]privacy.DataElement, len(inv.Elements))
			for _, e := range inv.Elements {
				df.Elements[e.Key] = decisionElement(e)
			}
			f.devices[inv.DeviceID] = df
		}
		return true
	})
}

// Published records a published version: the newest published is the one
// in force. Maps readers hold are never written: changed, they are
// replaced.
func (m *Memory) Published(v privacy.NoticeVersion) {
	m.change(func(f *facts) bool {
		n := f.notices[v.NoticeKey]
		n.Material = maps.Clone(n.Material)
		if n.Material == nil {
			n.Material = map[int][]string{}
		}
		n.Material[v.Version] = v.MaterialPurposes
		if v.Version > n.InForce.Version {
			n.InForce = v
		}
		f.notices[v.NoticeKey] = n
		return true
	})
}

// The Read methods bring memory up to date with another instance's
// change, inside the writer's transaction tx: the database is read first,
// memory changed after, under the lock. A read that fails empties memory.

// ReadConsents reads back the current states refs name (another
// instance's consents and withdrawals), in one query; one not found, or a
// failure to read, empties memory.
func (m *Memory) ReadConsents(tx *store.Reader, refs []store.ConsentRef) {
	if !m.Complete() || len(refs) == 0 {
		return
	}
	states, err := tx.ConsentStatesOfRecords(refs)
	m.change(func(f *facts) bool {
		if err != nil {
			return false
		}
		for _, ref := range refs {
			st, found := states[ref]
			if !found {
				return false
			}
			f.consent[keyOf(st)] = decisionConsent(st)
		}
		return true
	})
}

// ReadChildren reads back every declaration of a child: another
// instance's entry names the subject by pseudonym only, and there are few.
func (m *Memory) ReadChildren(tx *store.Reader) {
	if !m.Complete() {
		return
	}
	declared, err := tx.Children()
	m.change(func(f *facts) bool {
		if err != nil {
			return false
		}
		children := make(map[string]childFacts, len(declared))
		for _, c := range declared {
			children[c.Subject] = childOf(c)
		}
		f.children = children
		return true
	})
}

// ReadNotice reads back a notice's facts.
func (m *Memory) ReadNotice(tx *store.Reader, key string) {
	readBackOne(m, key, func(only string) (map[string]noticeFacts, error) { return readNotices(tx, only) },
		func(f *facts) map[string]noticeFacts { return f.notices })
}

// ReadDevice reads back a device's facts, its inventory's too.
func (m *Memory) ReadDevice(tx *store.Reader, id string) {
	readBackOne(m, id, func(only string) (map[string]deviceFacts, error) { return readDevices(tx, only) },
		func(f *facts) map[string]deviceFacts { return f.devices })
}

// Complete reports whether memory holds every fact (decisions then read no
// disk).
func (m *Memory) Complete() bool {
	if m == nil {
		return false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.complete
}

// readBackOne reads the facts of the one notice or device named (none
// named: memory is emptied) and sets them, or deletes them when they no
// longer exist.
func readBackOne[V any](m *Memory, name string, read func(only string) (map[string]V, error), in func(*facts) map[string]V) {
	if !m.Complete() {
		return
	}
	var (
		fresh map[string]V
		err   error
	)
	if name != "" {
		fresh, err = read(name)
	}
	m.change(func(f *facts) bool {
		if name == "" || err != nil {
			return false
		}
		dst := in(f)
		if v, ok := fresh[name]; ok {
			dst[name] = v
		} else {
			delete(dst, name)
		}
		return true
	})
}

// keyOf is the key a consent state is kept under.
func keyOf(st privacy.ConsentState) factsKey {
	return factsKey{device: st.DeviceID, subject: st.SubjectID, purpose: st.Purpose}
}

// view returns what r reads, from memory; false when memory is not
// complete.
func (m *Memory) view(r Request) (view, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.complete {
		return view{}, false
	}
	d, ok := m.facts.devices[r.DeviceID]
	if !ok {
		return view{err: privacy.Errorf(privacy.ENotFound, "device not found")}, true
	}
	v := view{facts: decisionFacts{DeviceStatus: d.Status, NoticeKey: d.NoticeKey, InventoryVersion: d.Inventory}}
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
	v.facts.Child = m.facts.children[r.Subject]
	return v, true
}
