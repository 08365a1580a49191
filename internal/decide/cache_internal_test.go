package decide

import (
	"fmt"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/stretchr/testify/assert"
)

// TestCountersResetKeepsEntriesStale: when the change counters are
// dropped to bound memory, an entry read before a change must not look
// current again just because its counter went back to zero.
func TestCountersResetKeepsEntriesStale(t *testing.T) {
	c := newFactsCache()
	k := factsKey{device: "d", subject: "s", purpose: "p"}
	c.entries[k] = factsEntry{gens: c.current(k)}
	consent := func(device, subject string) audit.Event {
		return audit.Event{Action: audit.ActionConsentRecorded, Subject: subject, Targets: map[string]string{"device": device, "purpose": "p"}}
	}
	c.committed([]audit.Event{consent("d", "s")})
	assert.NotEqual(t, c.entries[k].gens, c.current(k), "a consent change makes the entry stale")

	var flood []audit.Event
	for i := range maxCounters {
		flood = append(flood, consent(fmt.Sprint("dev-", i), "x"))
	}
	c.committed(flood)
	assert.LessOrEqual(t, len(c.consent)+len(c.devices), maxCounters, "the counters stay bounded")
	assert.Zero(t, c.consent[k], "k's counter was dropped")
	assert.NotEqual(t, c.entries[k].gens, c.current(k), "and the entry is still stale")
}
