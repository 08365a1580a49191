package decide

import (
	"sync"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/store"
)

// factsKey names what one decision reads.
type factsKey struct{ device, subject, purpose string }

// gens are the change counters an entry was read under: it is valid while
// none of them moved.
type gens struct{ global, device, notices, consent int64 }

type factsEntry struct {
	facts store.DecisionFacts
	gens  gens
}

// maxFacts bounds the cache (about 100 MiB at most); past it, it starts
// again empty. maxCounters bounds the change counters the same way.
const (
	maxFacts    = 1 << 18
	maxCounters = 1 << 18
)

// factsCache keeps decision facts in memory, so that a decision reads no
// disk. Every commit of this process moves the counters of what it
// changed (OnCommit); anything another process or instance appended moves
// the global counter (OnForeign). An entry is read under counters taken
// before the database read, so a change committed meanwhile can only make
// it stale in the safe direction: it is read again.
type factsCache struct {
	mu      sync.RWMutex
	entries map[factsKey]factsEntry
	global  int64
	notices int64 // any notice published
	devices map[string]int64
	consent map[factsKey]int64
}

func newFactsCache() *factsCache {
	return &factsCache{entries: map[factsKey]factsEntry{}, devices: map[string]int64{}, consent: map[factsKey]int64{}}
}

func (c *factsCache) current(k factsKey) gens {
	return gens{global: c.global, device: c.devices[k.device], notices: c.notices, consent: c.consent[k]}
}

// get returns the facts for k, from memory when still valid.
func (c *factsCache) get(tx *store.Tx, k factsKey) (store.DecisionFacts, error) {
	c.mu.RLock()
	e, ok := c.entries[k]
	g := c.current(k)
	c.mu.RUnlock()
	if ok && e.gens == g {
		return e.facts, nil
	}
	f, err := tx.DecisionFacts(k.device, k.subject, k.purpose)
	if err != nil {
		return store.DecisionFacts{}, err
	}
	c.mu.Lock()
	if len(c.entries) >= maxFacts {
		c.entries = map[factsKey]factsEntry{}
	}
	c.entries[k] = factsEntry{facts: f, gens: g}
	c.mu.Unlock()
	return f, nil
}

// committed moves the counters of what events changed.
func (c *factsCache) committed(events []audit.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range events {
		switch ev.Action {
		case audit.ActionDecision:
		case audit.ActionConsentRecorded, audit.ActionConsentWithdrawn:
			c.consent[factsKey{device: ev.Targets["device"], subject: ev.Subject, purpose: ev.Targets["purpose"]}]++
		case audit.ActionNoticePublished:
			c.notices++
		case "device.registered", "device.deactivated", "device.disposed", "inventory.declared":
			c.devices[ev.Targets["device"]]++
		case "consent.state_rebuilt":
			c.global++
		}
	}
	if len(c.consent)+len(c.devices) > maxCounters {
		// Forgetting counters could make an old entry look current again;
		// moving the global counter with them makes every entry stale.
		c.consent, c.devices = map[factsKey]int64{}, map[string]int64{}
		c.global++
	}
}

// foreign forgets everything: another process changed the database.
func (c *factsCache) foreign([]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.global++
}
