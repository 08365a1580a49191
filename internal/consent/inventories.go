package consent

import (
	"sync"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
)

// maxInventories bounds the inventory cache; past it, it starts again
// empty.
const maxInventories = 1 << 16

// inventories keeps each device's current inventory, for the receipts:
// reading it from the database was a tenth of a consent's CPU. The writer
// checks that the version a receipt was built on is still current.
// An entry is valid while no inventory was declared for its device since
// it was read; anything another process or instance appended makes every
// entry stale. Counters are taken before the database read, so a
// declaration committed meanwhile can only make the entry stale in the
// safe direction: it is read again.
type inventories struct {
	mu      sync.Mutex
	entries map[string]inventoryEntry
	devices map[string]int64
	global  int64
}

type inventoryEntry struct {
	version        int
	elements       []privacy.DataElement
	global, device int64
}

func newInventories(log *audit.Log) *inventories {
	c := &inventories{entries: map[string]inventoryEntry{}, devices: map[string]int64{}}
	log.OnCommit(c.committed)
	log.OnForeign(func([]string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.global++
	})
	return c
}

// current returns a device's current inventory (version 0 and no
// elements when it has none), from memory when still valid. Callers must
// not change its elements.
func (c *inventories) current(tx *store.Tx, deviceID string) (privacy.Inventory, error) {
	c.mu.Lock()
	e, ok := c.entries[deviceID]
	global, device := c.global, c.devices[deviceID]
	c.mu.Unlock()
	if ok && e.global == global && e.device == device {
		return privacy.Inventory{DeviceID: deviceID, Version: e.version, Elements: e.elements}, nil
	}
	version, elements, err := tx.InventoryElementsFor(deviceID)
	if err != nil {
		return privacy.Inventory{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxInventories {
		c.entries = map[string]inventoryEntry{}
	}
	c.entries[deviceID] = inventoryEntry{version: version, elements: elements, global: global, device: device}
	return privacy.Inventory{DeviceID: deviceID, Version: version, Elements: elements}, nil
}

// forget drops a device's entry: the writer found a newer inventory than
// the one read, declared by a process this one has not heard from yet.
func (c *inventories) forget(deviceID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, deviceID)
}

// committed moves the counter of every device whose inventory changed.
func (c *inventories) committed(events []audit.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ev := range events {
		if ev.Action == "inventory.declared" {
			c.devices[ev.Targets["device"]]++
		}
	}
	if len(c.devices) > maxInventories {
		// Forgetting counters could make an old entry look current again;
		// moving the global counter with them makes every entry stale.
		c.devices = map[string]int64{}
		c.global++
	}
}
