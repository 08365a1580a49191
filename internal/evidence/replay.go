package evidence

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
)

// judgeReplay rebuilds, entry by entry, the state every decision was
// judged on (device status, the newest inventory's elements, the notice
// in force and what it states, the data policy, the consent state) and
// judges each decision again: an allow any check would deny, or a deny
// whose reasons are not the replay's, fails. It reads the bundle's lines
// only once they are verified against the entries that committed to
// them (docs/evidence-bundle.md, "Replay").
type judgeReplay struct {
	noticeOf map[string]string // device id → notice key (devices.ndjson)
	elements map[string]map[string]replayElement
	stated   map[string]map[string][]string // notice key and version → purpose → elements

	status    map[string]privacy.DeviceStatus
	inventory map[string]int // device → newest version declared
	inForce   map[string]int // notice key → version in force
	material  map[string]map[int][]string
	consents  map[[32]byte]replayConsent // by consentKey
	children  map[string]replayChild     // by pseudonym
	policy    *policyState
	data      *authz.Data
	stale     bool // the policy changed since data was built

	judged, withoutPolicy, allows int
	// failure is the first decision the replay judged otherwise.
	failure error
}

// replayChild is a subject declared a child, until majority (zero: not
// known).
type replayChild struct {
	declared bool
	majority time.Time
}

// replayElement is what a decision reads of a declared element.
type replayElement struct {
	category string
	purposes []string
}

func newJudgeReplay() *judgeReplay {
	return &judgeReplay{noticeOf: map[string]string{}, elements: map[string]map[string]replayElement{}, stated: map[string]map[string][]string{},
		status: map[string]privacy.DeviceStatus{}, inventory: map[string]int{}, inForce: map[string]int{}, material: map[string]map[int][]string{},
		consents: map[[32]byte]replayConsent{}, children: map[string]replayChild{}, policy: newPolicyState(), stale: true}
}

func versionKey(name string, version int) string { return name + "\x00" + strconv.Itoa(version) }

// device, inventory and notice take a verified line of the bundle.
func (j *judgeReplay) device(d audit.DeviceLine) { j.noticeOf[d.ID] = d.NoticeKey }

func (j *judgeReplay) inventoryLine(inv audit.InventoryLine) {
	els := make(map[string]replayElement, len(inv.Elements))
	for _, e := range inv.Elements {
		els[e.Key] = replayElement{category: e.Category, purposes: e.Purposes}
	}
	j.elements[versionKey(inv.DeviceID, inv.Version)] = els
}

func (j *judgeReplay) notice(v noticeVersion) error {
	var c struct {
		Purposes []struct {
			Purpose  string   `json:"purpose"`
			Elements []string `json:"elements"`
		} `json:"purposes"`
	}
	if err := json.Unmarshal(v.Content, &c); err != nil {
		return err
	}
	stated := make(map[string][]string, len(c.Purposes))
	for _, p := range c.Purposes {
		stated[p.Purpose] = p.Elements
	}
	j.stated[versionKey(v.Key, v.Version)] = stated
	return nil
}

// apply takes the next entry: it moves the state, or judges a decision.
func (j *judgeReplay) apply(seq int64, e audit.Entry) error {
	ev := event.Decode(e.Action, e.Targets, e.Reasons)
	switch x := ev.(type) {
	case event.DeviceRegistered:
		j.status[x.Device.ID] = x.Device.Status
	case event.DeviceStatusChanged:
		j.status[x.Device.ID] = x.Device.Status
	case event.InventoryDeclared:
		j.inventory[x.Inventory.DeviceID] = x.Inventory.Version
	case event.NoticePublished:
		key := x.Version.NoticeKey
		j.inForce[key] = max(j.inForce[key], x.Version.Version)
		if j.material[key] == nil {
			j.material[key] = map[int][]string{}
		}
		j.material[key][x.Version.Version] = x.Version.MaterialPurposes
	case event.PolicyRuleAdded, event.PolicyRuleRemoved, event.PolicyGroupAdded, event.PolicyGroupRemoved:
		j.policy.apply(ev)
		j.stale = true
	case event.ConsentRecorded, event.ConsentWithdrawn:
		return j.consent(seq, e)
	case event.ChildDeclared:
		j.children[e.Targets["subject"]] = replayChild{declared: true, majority: x.Child.MajorityAt}
	case event.MajorityDeclared:
		j.children[e.Targets["subject"]] = replayChild{declared: true, majority: x.At}
	case event.Decision:
		return j.decision(seq, e, x)
	}
	return nil
}

// replayConsent is the last consent entry of a subject, device and
// purpose, in what the consent check reads of it: a million of them fit
// in memory.
type replayConsent struct {
	seq     int64
	expires time.Time
	version int
	kind    uint8 // consentGranted, consentRefused, consentWithdrawn
	// proxy: given with a guardian (the entry names one).
	proxy bool
}

const (
	consentGranted = iota + 1
	consentRefused
	consentWithdrawn
)

// consentKey keys a subject's (pseudonym's) state for a device and
// purpose, fixed-size, keeping none of the entry's strings alive.
func consentKey(subject, device, purpose string) [32]byte {
	return sha256.Sum256([]byte(subject + "\x00" + device + "\x00" + purpose))
}

func (j *judgeReplay) consent(seq int64, e audit.Entry) error {
	c := replayConsent{seq: seq, kind: consentRefused, proxy: e.Targets["guardian"] != ""}
	switch {
	case e.Action == event.ActionConsentWithdrawn:
		c.kind = consentWithdrawn
	case e.Outcome == event.OutcomeGranted:
		c.kind = consentGranted
	}
	c.version, _ = strconv.Atoi(e.Targets["notice_version"])
	if e.ExpiresAt != "" {
		t, err := time.Parse(audit.TimeFormat, e.ExpiresAt)
		if err != nil {
			return fail(seq, "form", "expires_at %q: %v", e.ExpiresAt, err)
		}
		c.expires = t
	}
	j.consents[consentKey(e.Targets["subject"], e.Targets["device"], e.Targets["purpose"])] = c
	return nil
}

// state is c as privacy.ConsentState.Status judges it.
func (c replayConsent) state(noticeKey, purpose string) privacy.ConsentState {
	st := privacy.ConsentState{Kind: privacy.RecordConsent, Granted: c.kind == consentGranted, ExpiresAt: c.expires, NoticeKey: noticeKey,
		NoticeVersion: c.version, Purpose: purpose, AuditSeq: c.seq}
	if c.kind == consentWithdrawn {
		st.Kind = privacy.RecordWithdrawal
	}
	return st
}

// decision judges a decision entry again, at its place.
func (j *judgeReplay) decision(seq int64, e audit.Entry, d event.Decision) error {
	at, err := time.Parse(audit.TimeFormat, e.Time)
	if err != nil {
		return fail(seq, "form", "time %q: %v", e.Time, err)
	}
	j.judged++
	if e.Outcome == event.OutcomeAllow {
		j.allows++
	}
	reasons, check, why, err := j.judge(e, d, at)
	if err != nil {
		return fail(seq, "replay", "%v", err)
	}
	if e.Outcome == event.OutcomeAllow {
		switch {
		case len(reasons) == 0:
			return nil
		case check == "consent":
			// The property audit verify names too.
			return fail(seq, "strictest by default", "an allow without a consent in force: %s", why)
		}
		return fail(seq, check, "an allow the %s check denies: %s", check, why)
	}
	// A decision that could not make a check failed closed: its deny
	// stands whatever the replay finds.
	if slices.Contains(e.Reasons, event.ReasonError) {
		return nil
	}
	if len(reasons) == 0 {
		return fail(seq, "replay", "a deny (%s) where every check allows", strings.Join(e.Reasons, ", "))
	}
	if !slices.Equal(reasons, e.Reasons) {
		return fail(seq, "replay", "a deny for %s, where the replay finds %s", strings.Join(e.Reasons, ", "), strings.Join(reasons, ", "))
	}
	return nil
}

// judge runs the five checks in order, then the rules about children and returns the reasons to deny,
// each once, with the first failing check and why.
func (j *judgeReplay) judge(e audit.Entry, d event.Decision, at time.Time) (reasons []string, check, why string, err error) {
	deny := func(c, reason, detail string) {
		if check == "" {
			check, why = c, detail
		}
		if !slices.Contains(reasons, reason) {
			reasons = append(reasons, reason)
		}
	}
	status, known := j.status[d.DeviceID]
	switch {
	case !known:
		deny("device", event.ReasonDeviceInactive, "no such device")
		return reasons, check, why, nil
	case status != privacy.DeviceActive:
		deny("device", event.ReasonDeviceInactive, "the device is "+string(status))
	}

	version := j.inventory[d.DeviceID]
	element, declared := j.elements[versionKey(d.DeviceID, version)][d.Element]
	switch {
	case version == 0:
		deny("inventory", event.ReasonElementNotDeclared, "the device has no inventory")
	case !declared:
		deny("inventory", event.ReasonElementNotDeclared, fmt.Sprintf("inventory version %d does not declare %s", version, d.Element))
	case !slices.Contains(element.purposes, d.Purpose):
		declared = false
		deny("inventory", event.ReasonElementNotDeclared, fmt.Sprintf("%s is not declared for %s", d.Element, d.Purpose))
	}

	key := j.noticeOf[d.DeviceID]
	inForce := j.inForce[key]
	if inForce == 0 {
		deny("notice", event.ReasonNotInNotice, "no version of notice "+key+" is published")
	} else if !slices.Contains(j.stated[versionKey(key, inForce)][d.Purpose], d.Element) {
		deny("notice", event.ReasonNotInNotice, fmt.Sprintf("version %d of notice %s does not state %s for %s", inForce, key, d.Element, d.Purpose))
	}

	switch {
	case d.ServiceName == "":
		// Written before decisions named their service: not judged.
		j.withoutPolicy++
	case !declared:
		deny("policy", event.ReasonPolicyDenied, "no category to judge: the element is not declared")
	default:
		ok, err := j.allowed(d.ServiceName, element.category, d.Purpose, d.DataAction)
		if err != nil {
			return nil, "", "", err
		}
		if !ok {
			deny("policy", event.ReasonPolicyDenied, fmt.Sprintf("no rule lets %s %s %s for %s", d.ServiceName, d.DataAction, element.category, d.Purpose))
		}
	}

	c, ok := j.consents[consentKey(e.Targets["subject"], d.DeviceID, d.Purpose)]
	st := c.state(key, d.Purpose)
	consentStatus := privacy.StatusDenied
	if ok {
		consentStatus = st.Status(at, func(noticeKey, purpose string, version int) bool {
			return privacy.ChangedAfter(j.material[key], version, purpose)
		})
	}
	switch consentStatus {
	case privacy.StatusGranted:
		if e.Outcome == event.OutcomeAllow && (e.ReliesOn == nil || *e.ReliesOn != st.AuditSeq) {
			deny("consent", event.ReasonNoConsent, fmt.Sprintf("the allow does not rely on the consent in force, entry %d", st.AuditSeq))
		}
	case privacy.StatusExpired:
		deny("consent", event.ReasonConsentExpired, "the consent expired at "+audit.FormatTime(st.ExpiresAt))
	case privacy.StatusWithdrawn:
		deny("consent", event.ReasonConsentWithdrawn, fmt.Sprintf("withdrawn by entry %d", st.AuditSeq))
	case privacy.StatusReconsentRequired:
		deny("consent", event.ReasonReconsentRequired, "the notice changed this purpose materially since consent was given")
	default:
		deny("consent", event.ReasonNoConsent, "the subject has not granted this purpose on this device")
	}
	child := j.children[e.Targets["subject"]]
	denials, _ := event.ChildRules(child.declared, child.majority, declared && element.category == privacy.CategoryChild,
		consentStatus == privacy.StatusGranted, c.proxy, at)
	for _, dn := range denials {
		deny("guardian", dn.Reason, dn.Detail)
	}
	return reasons, check, why, nil
}

// allowed asks the data policy the entries left, rebuilt after a change.
func (j *judgeReplay) allowed(service, category, purpose, action string) (bool, error) {
	if j.stale {
		var err error
		if j.data == nil {
			j.data, err = authz.NewData(func() authz.Lines { return j.lines() })
		} else {
			err = j.data.Reload()
		}
		if err != nil {
			return false, err
		}
		j.stale = false
	}
	return j.data.Allowed(service, category, purpose, action)
}

// lines is the policy as Casbin lines.
func (j *judgeReplay) lines() authz.Lines { return policyLines{j.policy.file()} }

type policyLines struct{ p Policies }

func (l policyLines) PolicyLines() ([][]string, error) {
	out := make([][]string, 0, len(l.p.Rules)+len(l.p.Groups))
	for _, r := range l.p.Rules {
		out = append(out, []string{"p", r.Subject, r.Category, r.Purpose, r.Action, r.Effect})
	}
	for _, g := range l.p.Groups {
		out = append(out, []string{"g", g.Member, g.Group})
	}
	return out, nil
}

// fail is a replay failure, named like the log verifier's.
func fail(seq int64, check, format string, a ...any) error {
	return &audit.Failure{Seq: seq, Check: check, Detail: fmt.Sprintf(format, a...)}
}
