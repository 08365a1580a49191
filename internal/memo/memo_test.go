package memo_test

import (
	"sync"
	"testing"

	"github.com/consentry/consentry/internal/memo"
	"github.com/stretchr/testify/assert"
)

func TestBounded(t *testing.T) {
	m := memo.New[int, string](100)
	m.Store(1, "one")
	m.Store(1, "uno")
	v, ok := m.Load(1)
	assert.True(t, ok)
	assert.Equal(t, "one", v, "the first value stays")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10_000 {
				m.Store(w*10_000+i, "x")
				m.Load(i)
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, m.Len(), 100, "never more than its size")
	_, ok = m.Load(-1)
	assert.False(t, ok)
}

func TestDelete(t *testing.T) {
	m := memo.New[int, string](100)
	m.Store(1, "one")
	m.Delete(1)
	m.Delete(2) // not held: nothing happens
	_, ok := m.Load(1)
	assert.False(t, ok)
	assert.Zero(t, m.Len())
	m.Store(1, "uno")
	v, _ := m.Load(1)
	assert.Equal(t, "uno", v, "a value forgotten can be stored anew")
}
