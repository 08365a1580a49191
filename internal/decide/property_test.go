package decide_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/policy"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// model is the test's own account of the world, kept beside the service:
// what an allow must be justified by.
type model struct {
	inventory map[string][]string // element → purposes
	stated    map[string][]string // purpose → elements, in the notice in force
	version   int                 // notice version in force
	material  map[int][]string    // version → purposes changed materially
	allowed   map[string]bool     // service+"/"+action allowed for location & navigation
	consent   map[string]struct {
		granted bool
		version int
	} // subject/purpose → latest choice
}

func (m *model) allow(service, subject, element, purpose, action string) bool {
	if !slices.Contains(m.inventory[element], purpose) || !slices.Contains(m.stated[purpose], element) {
		return false
	}
	if element != "location" || purpose != "navigation" || !m.allowed[service+"/"+action] {
		return false // the policy only ever allows using location for navigation
	}
	c, ok := m.consent[subject+"/"+purpose]
	if !ok || !c.granted {
		return false
	}
	for v, ps := range m.material {
		if v > c.version && slices.Contains(ps, purpose) {
			return false
		}
	}
	return true
}

// TestRandomHistories runs random sequences of consents, withdrawals,
// notice publications, inventory changes, policy changes and decisions.
// Every decision must equal the model's, and the audit log's replay must
// find every allow justified.
func TestRandomHistories(t *testing.T) {
	for seed := range uint64(4) {
		t.Run("", func(t *testing.T) {
			ctx := context.Background()
			r := rand.New(rand.NewPCG(seed, 99))
			w := newWorld(t, store.DialectSQLite)
			m := &model{inventory: map[string][]string{"location": {"navigation"}, "battery": {"maintenance"}},
				stated: map[string][]string{"navigation": {"location"}, "maintenance": {"battery"}}, version: w.current.Version,
				material: map[int][]string{w.current.Version: {"maintenance", "navigation"}}, allowed: map[string]bool{"route-planner/use": true},
				consent: map[string]struct {
					granted bool
					version int
				}{"alice/navigation": {true, w.current.Version}}}
			subjects := []string{"alice", "bob", "carol"}
			recipients := 0
			decisions := 0
			for step := range 400 {
				switch op := r.IntN(10); {
				case op < 2: // a consent
					s, granted := subjects[r.IntN(3)], r.IntN(3) > 0
					w.consent(s, granted)
					m.consent[s+"/navigation"] = struct {
						granted bool
						version int
					}{granted, m.version}
				case op == 2: // withdraw everything
					s := subjects[r.IntN(3)]
					_, err := w.consents.WithdrawSubject(ctx, s, privacy.MethodApp, "app")
					require.NoError(t, err)
					if c, ok := m.consent[s+"/navigation"]; ok && c.granted {
						m.consent[s+"/navigation"] = struct {
							granted bool
							version int
						}{false, c.version}
					}
				case op == 3 && r.IntN(4) == 0: // a new notice version: a new recipient is material for navigation
					recipients++
					rs := make([]string, recipients)
					for i := range rs {
						rs[i] = "recipient-" + string(rune('a'+i))
					}
					c := noticeContent(rs...)
					if slices.Contains(m.inventory["location"], "maintenance") {
						// The notice must state what the device collects to be published.
						c.Purposes[1].Elements = []string{"battery", "location"}
					}
					w.publish(c)
					m.version = w.current.Version
					m.material[m.version] = w.current.MaterialPurposes
					m.stated = map[string][]string{"navigation": c.Purposes[0].Elements, "maintenance": c.Purposes[1].Elements}
				case op == 4: // the inventory changes: location declared or not for navigation
					if r.IntN(2) == 0 {
						w.inventory(element("location", "personal.location.precise", "navigation"), element("battery", "nonpersonal.device.status", "maintenance"))
						m.inventory["location"] = []string{"navigation"}
					} else {
						w.inventory(element("location", "personal.location.precise", "maintenance"), element("battery", "nonpersonal.device.status", "maintenance"))
						m.inventory["location"] = []string{"maintenance"}
					}
				case op == 5: // the policy changes
					service := []string{"route-planner", "ad-broker"}[r.IntN(2)]
					rule := &authz.Rule{Subject: service, Category: "personal.location.*", Purpose: "navigation", Action: "use", Effect: "allow"}
					if m.allowed[service+"/use"] {
						require.NoError(t, w.policies.Remove(ctx, policy.Change{Rule: rule}))
					} else {
						require.NoError(t, w.policies.Add(ctx, policy.Change{Rule: rule}))
					}
					m.allowed[service+"/use"] = !m.allowed[service+"/use"]
				default: // a decision
					req := decide.Request{ServiceID: "svc", ServiceName: []string{"route-planner", "ad-broker"}[r.IntN(2)],
						Subject: subjects[r.IntN(3)], DeviceID: w.device.ID, Element: []string{"location", "battery"}[r.IntN(2)],
						Purpose: []string{"navigation", "maintenance"}[r.IntN(2)], Action: []string{"use", "share"}[r.IntN(2)]}
					if r.IntN(2) == 0 { // half the time, the question that can be allowed
						req.ServiceName, req.Element, req.Purpose, req.Action = "route-planner", "location", "navigation", "use"
					}
					d, err := w.decide.Decide(ctx, req)
					require.NoError(t, err)
					want := m.allow(req.ServiceName, req.Subject, req.Element, req.Purpose, req.Action)
					assert.Equal(t, want, d.Allow, "step %d: %+v → %v", step, req, d.Reasons)
					decisions++
				}
				w.memoryMatches(fmt.Sprintf("step %d", step))
			}
			assert.Equal(t, int64(1), w.decide.Loads(), "memory was loaded once, then kept current change by change")
			res := verifyLog(t, w)
			t.Logf("seed %d: %d decisions, %d allows, all justified by the replay", seed, decisions, res.Allows)
		})
	}
}
