// Package gctune sets the Go garbage collector's target for a running
// Consentry: one place, so that consentry serve and the benchmarks that
// stand for it collect alike.
package gctune

import (
	"os"
	"runtime/debug"
	"strconv"
)

// Percent is the collector's target (GOGC) unless the operator sets GOGC:
// Go's default, 100, collects whenever the heap has doubled, and receipts
// and decisions allocate a few kilobytes each, so under load collection
// takes a noticeable share of the CPU. 300 trades some resident memory for
// throughput (the figures are in docs/performance.md).
const Percent = 300

// Apply sets the collector's target to Percent, unless the environment
// sets GOGC, which Go has then applied already. It returns the target in
// force and whether it came from GOGC.
func Apply() (target string, fromEnv bool) {
	if v, ok := os.LookupEnv("GOGC"); ok {
		return v, true
	}
	debug.SetGCPercent(Percent)
	return strconv.Itoa(Percent), false
}
