// Package memo is a concurrent map for values that never change once
// read (a device's identity, a declared data element), or whose user
// checks them where it matters and forgets one found out of date (Delete),
// bounded so that a long-running instance's memory stays flat however many
// keys pass through it: past its size it starts again empty, and the next
// reads go to the database.
package memo

import (
	"sync"
	"sync/atomic"
)

// Map holds at most max entries.
type Map[K comparable, V any] struct {
	m   sync.Map
	n   atomic.Int64
	max int64
}

// New returns a Map of at most max entries.
func New[K comparable, V any](max int) *Map[K, V] {
	return &Map[K, V]{max: int64(max)}
}

// Load returns the value for k, if held.
func (c *Map[K, V]) Load(k K) (V, bool) {
	v, ok := c.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// Store keeps v for k. Values must not change for a key: a second store
// of k keeps the first.
func (c *Map[K, V]) Store(k K, v V) {
	if _, loaded := c.m.LoadOrStore(k, v); loaded {
		return
	}
	if c.n.Add(1) > c.max {
		// Dropping everything is cheaper than tracking use, and a miss only
		// costs one read.
		c.m.Clear()
		c.n.Store(0)
	}
}

// Delete forgets k: its value was found out of date.
func (c *Map[K, V]) Delete(k K) {
	if _, loaded := c.m.LoadAndDelete(k); loaded {
		c.n.Add(-1)
	}
}

// Len is about how many entries are held.
func (c *Map[K, V]) Len() int { return int(c.n.Load()) }
