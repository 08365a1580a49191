package main

import (
	"testing"
	"time"

	"github.com/consentry/consentry/internal/loadgen"
	"github.com/stretchr/testify/assert"
)

// verdicts holds each target to its own bound, and a bound reached exactly
// is met.
func TestVerdicts(t *testing.T) {
	res := func(requests int64, checks int, p50, p99 time.Duration) loadgen.Result {
		return loadgen.Result{Requests: requests, Checks: checks, Elapsed: time.Second, P50: p50, P99: p99}
	}
	opa := res(10000, 1, time.Millisecond, 10*time.Millisecond)
	assert.Equal(t, "decisions/s >= 1.2x OPA's with p99 <= OPA's: met; p50 at 1 connection <= 0.5 ms: met; batches >= 4x OPA's decisions/s: met",
		verdicts(res(12000, 1, 0, 10*time.Millisecond), opa, res(2000, 1, 500*time.Microsecond, 0), res(400, 100, 0, 0)))
	assert.Equal(t, "decisions/s >= 1.2x OPA's with p99 <= OPA's: not met; p50 at 1 connection <= 0.5 ms: not met; batches >= 4x OPA's decisions/s: not met",
		verdicts(res(12000, 1, 0, 11*time.Millisecond), opa, res(2000, 1, 501*time.Microsecond, 0), res(399, 100, 0, 0)))
	assert.Contains(t, verdicts(res(11999, 1, 0, time.Millisecond), opa, res(1, 1, 0, 0), res(1, 1, 0, 0)), "OPA's: not met")
}
