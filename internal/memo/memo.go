// Package memo is a concurrent map for values that never change once
// read (a device's identity, a declared data element), or whose user
// checks them where it matters and forgets one found out of date (Delete),
// bounded so that a long-running instance's memory stays flat however many
// keys pass through it: past its size the least recently used entry goes,
// and a later read of it goes to the database.
package memo

import (
	lru "github.com/hashicorp/golang-lru/v2"
)

// Map holds at most its size of entries.
type Map[K comparable, V any] struct {
	c *lru.Cache[K, V]
}

// New returns a Map of at most size entries (at least one).
func New[K comparable, V any](size int) *Map[K, V] {
	c, _ := lru.New[K, V](max(1, size)) // fails only for a size below one
	return &Map[K, V]{c: c}
}

// Load returns the value for k, if held.
func (m *Map[K, V]) Load(k K) (V, bool) { return m.c.Get(k) }

// Store keeps v for k. Values must not change for a key: a second store
// of k keeps the first.
func (m *Map[K, V]) Store(k K, v V) { m.c.ContainsOrAdd(k, v) }

// Delete forgets k: its value was found out of date.
func (m *Map[K, V]) Delete(k K) { m.c.Remove(k) }

// Len is how many entries are held.
func (m *Map[K, V]) Len() int { return m.c.Len() }

// KeyOf returns a key whose value is v, if one is held: a scan of every
// entry, for the rare reverse lookup.
func (m *Map[K, V]) KeyOf(match func(V) bool) (K, bool) {
	for _, k := range m.c.Keys() {
		if v, ok := m.c.Peek(k); ok && match(v) {
			return k, true
		}
	}
	var zero K
	return zero, false
}
