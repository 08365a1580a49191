package gctune

import (
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestApply(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	t.Setenv("GOGC", "150")
	target, fromEnv := Apply()
	assert.Equal(t, "150", target)
	assert.True(t, fromEnv)
	assert.Equal(t, 100, debug.SetGCPercent(100), "GOGC is the operator's: Apply must not change it")

	t.Setenv("GOGC", "")
	target, fromEnv = Apply() // set but empty: still the operator's
	assert.True(t, fromEnv)
	assert.Empty(t, target)
}

func TestApplyDefault(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	target, fromEnv := Apply()
	if fromEnv {
		t.Skip("GOGC is set in this environment")
	}
	assert.Equal(t, strconv.Itoa(Percent), target)
	assert.Equal(t, Percent, debug.SetGCPercent(100))
}
