package evidence_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/decide"
	"github.com/consentry/consentry/internal/device"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/evidence"
	"github.com/consentry/consentry/internal/notice"
	"github.com/consentry/consentry/internal/policy"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/testkit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// consentSeq is the entry of subject's current consent to navigation.
func (d *deployment) consentSeq(t *testing.T, subject string) int64 {
	t.Helper()
	states, err := d.db.Read(context.Background()).ConsentStates(subject, d.device.ID)
	require.NoError(t, err)
	require.Len(t, states, 1)
	return states[0].AuditSeq
}

// forge appends a decision as a faulty (or dishonest) decider could: the
// log records whatever it is given.
func (d *deployment) forge(t *testing.T, dec event.Decision) {
	t.Helper()
	dec.ID, dec.ServiceID, dec.DeviceID, dec.DataAction = "forged", "svc", d.device.ID, "use"
	if dec.ServiceName == "" {
		dec.ServiceName = "route-planner"
	}
	if dec.Element == "" {
		dec.Element = "location"
	}
	if dec.Purpose == "" {
		dec.Purpose = "navigation"
	}
	// As this version writes them: naming the service and committing to
	// some steps (which no bundle holds).
	dec.StepsSHA256 = strings.Repeat("5", 64)
	_, err := d.log.Do(context.Background(), func(*audit.Tx) ([]event.Event, error) { return []event.Event{dec}, nil })
	require.NoError(t, err)
}

// TestReplayCatchesEveryWrongDecision: an allow that any of the five
// checks denies, or a deny whose reasons are not the checks', fails
// verification at its entry, naming the check.
func TestReplayCatchesEveryWrongDecision(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		setup  func(t *testing.T, d *deployment)
		forged func(d *deployment, granted int64) event.Decision
		check  string
		detail string
	}{
		"an allow on a deactivated device": {
			setup: func(t *testing.T, d *deployment) {
				_, err := device.NewService(d.db, d.log).Deactivate(ctx, d.device.ID)
				require.NoError(t, err)
			},
			forged: func(d *deployment, granted int64) event.Decision {
				return event.Decision{Subject: "subject-1", Allow: true, ConsentSeq: granted}
			},
			check: "device", detail: "the device is deactivated",
		},
		"an allow for an undeclared element": {
			forged: func(d *deployment, granted int64) event.Decision {
				return event.Decision{Subject: "subject-1", Element: "microphone", Allow: true, ConsentSeq: granted}
			},
			check: "inventory", detail: "does not declare microphone",
		},
		"an allow outside the notice in force": {
			setup: func(t *testing.T, d *deployment) {
				_, _, err := device.NewService(d.db, d.log).PutInventory(ctx, d.device.ID, "admin", []privacy.DataElement{
					{Key: "location", Description: "where", Category: "personal.location.precise", Sensitivity: privacy.SensitivitySensitive,
						Purposes: []string{"navigation"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"},
					{Key: "speed", Description: "how fast", Category: "personal.location.precise", Sensitivity: privacy.SensitivitySensitive,
						Purposes: []string{"navigation"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}})
				require.NoError(t, err)
			},
			forged: func(d *deployment, granted int64) event.Decision {
				return event.Decision{Subject: "subject-1", Element: "speed", Allow: true, ConsentSeq: granted}
			},
			check: "notice", detail: "does not state speed for navigation",
		},
		"an allow no policy rule permits": {
			forged: func(d *deployment, granted int64) event.Decision {
				return event.Decision{Subject: "subject-1", ServiceName: "ad-broker", Allow: true, ConsentSeq: granted}
			},
			check: "policy", detail: "no rule lets ad-broker use",
		},
		"an allow after the rule was removed": {
			setup: func(t *testing.T, d *deployment) {
				require.NoError(t, policy.NewService(d.db, d.log, d.data).Remove(ctx, policy.Change{Rule: &authz.Rule{Subject: "route-planner",
					Category: "personal.location.*", Purpose: "navigation", Action: "use", Effect: "allow"}}))
			},
			forged: func(d *deployment, granted int64) event.Decision {
				return event.Decision{Subject: "subject-1", Allow: true, ConsentSeq: granted}
			},
			check: "policy", detail: "no rule lets route-planner use",
		},
		"an allow after a withdrawal": {
			setup: func(t *testing.T, d *deployment) {
				states, err := d.db.Read(ctx).ConsentStates("subject-1", d.device.ID)
				require.NoError(t, err)
				_, err = d.consents.Withdraw(ctx, states[0].RecordID, nil, privacy.MethodApp, "app")
				require.NoError(t, err)
			},
			forged: func(d *deployment, granted int64) event.Decision {
				return event.Decision{Subject: "subject-1", Allow: true, ConsentSeq: granted}
			},
			check: "strictest by default", detail: "",
		},
		"an allow for a child on a grant they gave alone": {
			setup: func(t *testing.T, d *deployment) {
				_, err := d.consents.DeclareChild(ctx, privacy.Child{Subject: "subject-1", AgeBand: "13_15", Guardians: []string{"parent-1"}}, "app")
				require.NoError(t, err)
			},
			forged: func(d *deployment, granted int64) event.Decision {
				return event.Decision{Subject: "subject-1", Allow: true, ConsentSeq: granted}
			},
			check: "guardian", detail: "counts only given with a guardian's",
		},
		"an allow on a guardian's consent after the child came of age": {
			setup: func(t *testing.T, d *deployment) {
				_, err := d.consents.DeclareChild(ctx, privacy.Child{Subject: "subject-1", AgeBand: "16_17", Guardians: []string{"parent-1"}}, "app")
				require.NoError(t, err)
				d.proxyConsent(t, "subject-1", "parent-1")
				_, err = d.consents.DeclareMajority(ctx, "subject-1", "app")
				require.NoError(t, err)
			},
			forged: func(d *deployment, _ int64) event.Decision {
				return event.Decision{Subject: "subject-1", Allow: true, ConsentSeq: d.consentSeq(t, "subject-1")}
			},
			check: "guardian", detail: "they confirm it themself",
		},
		"an allow of data about a child for an adult": {
			setup: func(t *testing.T, d *deployment) {
				require.NoError(t, policy.NewService(d.db, d.log, d.data).Add(ctx, policy.Change{Rule: &authz.Rule{Subject: "route-planner",
					Category: privacy.CategoryChild, Purpose: "navigation", Action: "use", Effect: "allow"}}))
				_, _, err := device.NewService(d.db, d.log).PutInventory(ctx, d.device.ID, "admin", []privacy.DataElement{
					{Key: "location", Description: "where the child is", Category: privacy.CategoryChild, Sensitivity: privacy.SensitivitySensitive,
						Purposes: []string{"navigation"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}})
				require.NoError(t, err)
			},
			forged: func(d *deployment, granted int64) event.Decision {
				return event.Decision{Subject: "subject-1", Allow: true, ConsentSeq: granted}
			},
			check: "guardian", detail: "used only for a subject declared a child",
		},
		"a deny where every check allows": {
			forged: func(d *deployment, granted int64) event.Decision {
				return event.Decision{Subject: "subject-1", Reasons: []string{event.ReasonNoConsent}}
			},
			check: "replay", detail: "a deny (no_consent) where every check allows",
		},
		"a deny with another reason than the checks'": {
			forged: func(d *deployment, granted int64) event.Decision {
				return event.Decision{Subject: "subject-0", Reasons: []string{event.ReasonDeviceInactive}}
			},
			check: "replay", detail: "a deny for device_inactive, where the replay finds no_consent",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDeployment(t, store.DialectSQLite, 3) // subject-1 and subject-2 grant, subject-0 refuses
			granted := d.consentSeq(t, "subject-1")
			if c.setup != nil {
				c.setup(t, d)
			}
			d.forge(t, c.forged(d, granted))
			path, m := d.export(t, evidence.Options{})
			_, err := evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
			var failure *evidence.Failure
			require.ErrorAs(t, err, &failure)
			assert.Equal(t, evidence.FileEntries+" line "+itoa(m.AuditSize-1+1), failure.Item, "the forged entry is the last: %v", err)
			assert.Contains(t, failure.Detail, c.check+":", "%v", err)
			assert.Contains(t, failure.Detail, c.detail, "%v", err)
			t.Log(err)
		})
	}
}

// proxyConsent records a child's grant of navigation given with guardian.
func (d *deployment) proxyConsent(t *testing.T, child, guardian string) {
	t.Helper()
	_, err := d.consents.Record(context.Background(), consent.Input{SubjectID: child, Guardian: guardian, DeviceID: d.device.ID, NoticeKey: "tracker",
		NoticeVersion: d.notice.Version, NoticeHash: d.notice.ContentHash, Locale: "en", Method: privacy.MethodApp, ClientID: "app",
		Choices: []privacy.ConsentChoice{{Purpose: "navigation", Granted: true}}})
	require.NoError(t, err)
}

// TestReplayAgreesWithEveryDenial: real decisions denied for each reason
// the checks give, and allowed, all verify: the replay judges them as the
// decider did.
func TestReplayAgreesWithEveryDenial(t *testing.T) {
	ctx := context.Background()
	d := newDeployment(t, store.DialectSQLite, 3)
	ask := func(subject, service, element string) decide.Decision {
		dec, err := d.decide.Decide(ctx, decide.Request{ServiceID: "svc", ServiceName: service, Subject: subject, DeviceID: d.device.ID,
			Element: element, Purpose: "navigation", Action: "use"})
		require.NoError(t, err)
		return dec
	}
	reasons := map[string]bool{}
	for _, dec := range []decide.Decision{ask("subject-1", "route-planner", "location"), ask("subject-0", "route-planner", "location"),
		ask("subject-9", "route-planner", "microphone"), ask("subject-1", "ad-broker", "location")} {
		for _, r := range dec.Reasons {
			reasons[r] = true
		}
	}
	states, err := d.db.Read(ctx).ConsentStates("subject-2", d.device.ID)
	require.NoError(t, err)
	_, err = d.consents.Withdraw(ctx, states[0].RecordID, nil, privacy.MethodApp, "app")
	require.NoError(t, err)
	for _, r := range ask("subject-2", "route-planner", "location").Reasons {
		reasons[r] = true
	}
	_, err = device.NewService(d.db, d.log).Deactivate(ctx, d.device.ID)
	require.NoError(t, err)
	for _, r := range ask("subject-1", "route-planner", "location").Reasons {
		reasons[r] = true
	}
	assert.Equal(t, map[string]bool{event.ReasonNoConsent: true, event.ReasonElementNotDeclared: true, event.ReasonNotInNotice: true,
		event.ReasonPolicyDenied: true, event.ReasonConsentWithdrawn: true, event.ReasonDeviceInactive: true}, reasons)

	path, _ := d.export(t, evidence.Options{})
	sum, err := evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
	require.NoError(t, err)
	assert.Equal(t, 3+6, sum.Judged, "every decision judged again")
	assert.Zero(t, sum.WithoutPolicy)
}

// TestReplayAgreesOnChildren: real decisions under the rules about
// children (a grant given alone, a proxy consent, majority, data about a
// child) verify: the replay judges them as the decider did.
func TestReplayAgreesOnChildren(t *testing.T) {
	ctx := context.Background()
	d := newDeployment(t, store.DialectSQLite, 3)
	ask := func(subject string) decide.Decision {
		dec, err := d.decide.Decide(ctx, decide.Request{ServiceID: "svc", ServiceName: "route-planner", Subject: subject, DeviceID: d.device.ID,
			Element: "location", Purpose: "navigation", Action: "use"})
		require.NoError(t, err)
		return dec
	}
	_, err := d.consents.DeclareChild(ctx, privacy.Child{Subject: "subject-1", AgeBand: "under_13", Guardians: []string{"parent-1"}}, "app")
	require.NoError(t, err)
	assert.Equal(t, []string{event.ReasonGuardianConsentRequired}, ask("subject-1").Reasons)
	d.proxyConsent(t, "subject-1", "parent-1")
	assert.True(t, ask("subject-1").Allow, "a proxy consent counts")

	// Data about a child: for the child with a guardian's consent, and for
	// nobody else.
	require.NoError(t, policy.NewService(d.db, d.log, d.data).Add(ctx, policy.Change{Rule: &authz.Rule{Subject: "route-planner",
		Category: privacy.CategoryChild, Purpose: "navigation", Action: "use", Effect: "allow"}}))
	_, _, err = device.NewService(d.db, d.log).PutInventory(ctx, d.device.ID, "admin", []privacy.DataElement{
		{Key: "location", Description: "where the child is", Category: privacy.CategoryChild, Sensitivity: privacy.SensitivitySensitive,
			Purposes: []string{"navigation"}, CollectionMethod: privacy.CollectSensor, Retention: "P30D", StorageRegion: "EU"}})
	require.NoError(t, err)
	assert.True(t, ask("subject-1").Allow)
	assert.Equal(t, []string{event.ReasonNotAChild}, ask("subject-2").Reasons)

	_, err = d.consents.DeclareMajority(ctx, "subject-1", "app")
	require.NoError(t, err)
	assert.Equal(t, []string{event.ReasonNotAChild, event.ReasonReconfirmationRequired}, ask("subject-1").Reasons)

	path, _ := d.export(t, evidence.Options{})
	sum, err := evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
	require.NoError(t, err)
	assert.Equal(t, 3+5, sum.Judged, "every decision judged again")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestReplayAgreesOnReconsent: after a material change of the notice, a
// granted consent no longer holds: the decider denies reconsent_required,
// and so does the replay.
func TestReplayAgreesOnReconsent(t *testing.T) {
	ctx := context.Background()
	d := newDeployment(t, store.DialectSQLite, 2) // subject-1 grants
	notices := notice.NewService(d.db, d.log)
	c := d.notice.Content
	c.Purposes = slices.Clone(c.Purposes)
	c.Purposes[0].Retention = "P365D" // kept longer: a material change
	v, err := notices.Draft(ctx, "tracker", testkit.Labelled(c))
	require.NoError(t, err)
	published, err := notices.Publish(ctx, "tracker", v.Version)
	require.NoError(t, err)
	require.Equal(t, []string{"navigation"}, published.MaterialPurposes)
	dec, err := d.decide.Decide(ctx, decide.Request{ServiceID: "svc", ServiceName: "route-planner", Subject: "subject-1", DeviceID: d.device.ID,
		Element: "location", Purpose: "navigation", Action: "use"})
	require.NoError(t, err)
	require.Equal(t, []string{event.ReasonReconsentRequired}, dec.Reasons)

	path, _ := d.export(t, evidence.Options{})
	_, err = evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
	require.NoError(t, err)
	// The same decision recorded as an allow is caught.
	d.forge(t, event.Decision{Subject: "subject-1", Allow: true, ConsentSeq: d.consentSeq(t, "subject-1")})
	path, _ = d.export(t, evidence.Options{})
	_, err = evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
	var failure *evidence.Failure
	require.ErrorAs(t, err, &failure)
	assert.Contains(t, failure.Detail, "strictest by default", "%v", err)
}

// TestLinesFromBeforeBindingAreCounted: devices, inventories and
// decisions whose entries come from before records were bound (no
// record_sha256, decisions without service_name) still verify, and the
// summary says how many: what they cannot prove.
func TestLinesFromBeforeBindingAreCounted(t *testing.T) {
	ctx := context.Background()
	d := newDeploymentWith(t, store.DialectSQLite, 2, func(d *deployment) {
		old := registerLegacyDevice(t, d)
		// A decision as entries were before they named the service: its
		// device declared no inventory, subject-0 never consented.
		_, err := d.log.Do(ctx, func(*audit.Tx) ([]event.Event, error) {
			return []event.Event{event.Decision{ID: "old", ServiceID: "svc", Subject: "subject-0", DeviceID: old.ID, Element: "location",
				Purpose: "navigation", DataAction: "use", Reasons: []string{event.ReasonElementNotDeclared, event.ReasonNoConsent}}}, nil
		})
		require.NoError(t, err)
	})
	path, _ := d.export(t, evidence.Options{})
	sum, err := evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
	require.NoError(t, err)
	assert.Equal(t, 1, sum.UnboundLines, "the old device's line")
	assert.Equal(t, 2, sum.Devices)
	assert.Equal(t, 1, sum.WithoutPolicy, "the old decision, judged without its policy check")
	assert.Equal(t, 3, sum.Judged)

	// After this version's decisions, one without service_name would skip
	// the policy check: it fails instead.
	_, err = d.log.Do(ctx, func(*audit.Tx) ([]event.Event, error) {
		return []event.Event{event.Decision{ID: "late", ServiceID: "svc", Subject: "subject-1", DeviceID: d.device.ID, Element: "location",
			Purpose: "navigation", DataAction: "use", Allow: true, ConsentSeq: d.consentSeq(t, "subject-1")}}, nil
	})
	require.NoError(t, err)
	path, m := d.export(t, evidence.Options{})
	_, err = evidence.Verify(path, evidence.VerifyOptions{VerifierKey: d.log.VerifierKey()})
	assertFailure(t, err, evidence.FileEntries+" line "+itoa(m.AuditSize), "no record_sha256, though decision entries commit")
}
