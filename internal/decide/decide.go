// Package decide answers the question backends ask before they touch
// personal data (ISO/IEC 27400 Control 30): may service S do action A on
// data element E of device D, of subject U, for purpose P? Every step can
// only deny; an error is a deny; every decision is audited, and a decision
// that cannot be audited is not given. Each decision is judged again by
// the audit log's writer at its place in the log when anything changed
// since its evaluation, so no allow ever follows the withdrawal of the
// consent it relied on.
package decide

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// Reason codes, in the order the checks run: the audit entry's
// vocabulary (event), which the evidence verifier replays.
const (
	ReasonDeviceInactive     = event.ReasonDeviceInactive
	ReasonElementNotDeclared = event.ReasonElementNotDeclared
	ReasonNotInNotice        = event.ReasonNotInNotice
	ReasonPolicyDenied       = event.ReasonPolicyDenied
	ReasonNoConsent          = event.ReasonNoConsent
	ReasonConsentExpired     = event.ReasonConsentExpired
	ReasonConsentWithdrawn   = event.ReasonConsentWithdrawn
	ReasonReconsentRequired  = event.ReasonReconsentRequired
	// The rules about children: a child's consent counts only given with
	// a guardian's; at majority the person confirms it; data about a
	// child is used only for a child.
	ReasonGuardianConsentRequired = event.ReasonGuardianConsentRequired
	ReasonReconfirmationRequired  = event.ReasonReconfirmationRequired
	ReasonNotAChild               = event.ReasonNotAChild
	ReasonError                   = event.ReasonError
)

// Actions a service may ask about.
var Actions = []string{"collect", "use", "share"}

// Policy is the data policy, as decide needs it. A test can give a
// failing one to prove that failure denies.
type Policy interface {
	Allowed(service, category, purpose, action string) (bool, error)
	Generation() int64
}

// Request is one question.
type Request struct {
	ServiceID, ServiceName string
	Subject                string
	DeviceID               string
	Element                string
	Purpose                string
	Action                 string
}

// Step is one check and its outcome, for the explanation.
type Step struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail"`
}

// Decision is an answer.
type Decision struct {
	ID      string
	Request Request
	Allow   bool
	Reasons []string
	Steps   []Step
	// What an allow relied on.
	ConsentRecord string
	ConsentSeq    int64
	NoticeVersion int
	// Seq is the decision's audit entry.
	Seq       int64
	CreatedAt time.Time
	// consentExpires is when the consent an allow relied on ends.
	consentExpires time.Time
}

// Service makes decisions.
type Service struct {
	db     *store.DB
	log    *audit.Log
	policy Policy
	memory *Memory
}

// NewService returns a Service that decides from memory while memory is
// complete, and from the database otherwise. memory must be the one the
// log's reactions keep current (internal/app); nil: decisions always read
// the database.
func NewService(db *store.DB, log *audit.Log, policy Policy, memory *Memory) *Service {
	if memory == nil {
		memory = &Memory{} // never loaded, never complete
	}
	return &Service{db: db, log: log, policy: policy, memory: memory}
}

// FromMemory reports whether decisions are made from memory (every fact
// loaded and current) rather than from the database.
func (s *Service) FromMemory() bool { return s.memory.Complete() }

// Collectors are the service's Prometheus metrics: whether decisions are
// made from memory, how many consent states it holds, and how many full
// loads there were.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "consentry_decision_facts_in_memory",
			Help: "1 while access decisions are made from memory; 0 while they read the database, until the next full load."},
			func() float64 {
				if s.FromMemory() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "consentry_decision_facts_consent_states",
			Help: "Current consent states held in memory for access decisions."},
			func() float64 {
				s.memory.mu.RLock()
				defer s.memory.mu.RUnlock()
				return float64(len(s.memory.facts.consent))
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "consentry_decision_facts_loads_total",
			Help: "Full loads of the decision facts into memory (one at start; another after each change memory could not follow)."},
			func() float64 { return float64(s.memory.loads.Load()) }),
	}
}

// validate checks a request's shape.
func (r Request) validate(prefix string) error {
	var p privacy.Problems
	if r.Subject == "" || len(r.Subject) > 200 {
		p.Add(prefix+"subject", "must be 1-200 characters")
	} else if privacy.IsErasedSubject(r.Subject) {
		// The marker an erasure leaves is nobody's id: asking about it
		// would tie a new decision to erased records.
		p.Add(prefix+"subject", "must not begin with %q: that prefix marks an erased subject", privacy.ErasedPrefix)
	}
	if _, err := uuid.Parse(r.DeviceID); err != nil {
		p.Add(prefix+"device_id", "must be a device id")
	}
	if !privacy.ValidKey(r.Element) {
		p.Add(prefix+"element", "must be a data element key")
	}
	if !privacy.ValidKey(r.Purpose) {
		p.Add(prefix+"purpose", "must be a purpose key")
	}
	if !slices.Contains(Actions, r.Action) {
		p.Add(prefix+"action", "must be one of collect, use, share")
	}
	return p.Err("invalid decision request")
}

// snapshot is what an evaluation read, so the writer can tell whether it
// still holds at the decision's place in the log.
type snapshot struct {
	facts   decisionFacts
	policy  int64
	changes int64 // the log's committed changes before the facts were read
}

// view is what one decision reads: from memory, or from the database
// while memory is not complete, and always in the writer's re-checks.
type view struct {
	facts decisionFacts
	err   error // the facts could not be read; ENotFound: no such device
	// element is the element asked about in the newest inventory
	// (elementErr ENotFound: not declared there).
	element    privacy.DataElement
	elementErr error
	// notice is the version in force (when facts.NoticeVersion > 0), and
	// material the purposes each published version changed materially.
	notice      privacy.NoticeVersion
	noticeErr   error
	material    map[int][]string
	materialErr error
}

// read returns what r reads through tx, in the order the checks need it.
func read(tx *store.Reader, r Request) view {
	var v view
	if v.facts, v.err = readFacts(tx, r); v.err != nil {
		return v
	}
	if v.facts.InventoryVersion > 0 {
		v.element, v.elementErr = tx.InventoryElement(r.DeviceID, v.facts.InventoryVersion, r.Element)
	}
	if v.facts.NoticeVersion > 0 {
		v.notice, v.noticeErr = tx.PublishedNoticeVersion(v.facts.NoticeKey, v.facts.NoticeVersion)
	}
	if v.facts.HasConsent {
		v.material, v.materialErr = tx.MaterialChanges(v.facts.NoticeKey)
	}
	return v
}

// evaluate runs every check at time now, on what memory holds or, when
// fromMemory is false or memory is not complete, on what tx reads. It
// never fails: an error is a deny with the reason "error".
func (s *Service) evaluate(tx *store.Reader, r Request, now time.Time, fromMemory bool) (Decision, snapshot) {
	// Read before the facts: a change counted after this is re-checked.
	snap := snapshot{policy: s.policy.Generation(), changes: s.log.Committed()}
	v, ok := view{}, false
	if fromMemory {
		v, ok = s.memory.view(r)
	}
	if !ok {
		v = read(tx, r)
	}
	d := judge(v, r, now, s.policy)
	if v.err == nil {
		snap.facts = v.facts
	}
	return d, snap
}

// judge runs every check on v, in order; each can only deny.
func judge(v view, r Request, now time.Time, policy Policy) Decision {
	d := Decision{Request: r}
	deny := func(check, reason, detail string) {
		d.Steps = append(d.Steps, Step{Check: check, Reason: reason, Detail: detail})
		if !slices.Contains(d.Reasons, reason) {
			d.Reasons = append(d.Reasons, reason)
		}
	}
	pass := func(check, detail string) { d.Steps = append(d.Steps, Step{Check: check, OK: true, Detail: detail}) }

	facts := v.facts
	switch {
	case privacy.ErrorCode(v.err) == privacy.ENotFound:
		deny("device", ReasonDeviceInactive, "no such device")
		return d
	case v.err != nil:
		deny("device", ReasonError, "the device could not be read")
		return d
	}
	if facts.DeviceStatus != string(privacy.DeviceActive) {
		deny("device", ReasonDeviceInactive, "device is "+facts.DeviceStatus)
	} else {
		pass("device", "device is active")
	}

	element := v.element
	declared := false
	if facts.InventoryVersion == 0 {
		deny("inventory", ReasonElementNotDeclared, "the device has no inventory")
	} else if privacy.ErrorCode(v.elementErr) == privacy.ENotFound {
		deny("inventory", ReasonElementNotDeclared, "inventory version "+strconv.Itoa(facts.InventoryVersion)+" does not declare "+r.Element)
	} else if v.elementErr != nil {
		deny("inventory", ReasonError, "the inventory could not be read")
	} else if !slices.Contains(element.Purposes, r.Purpose) {
		deny("inventory", ReasonElementNotDeclared, r.Element+" is not declared for purpose "+r.Purpose)
	} else {
		declared = true
		pass("inventory", "inventory version "+strconv.Itoa(facts.InventoryVersion)+" declares "+r.Element+" ("+element.Category+") for "+r.Purpose)
	}

	if facts.NoticeVersion == 0 {
		deny("notice", ReasonNotInNotice, "no version of notice "+facts.NoticeKey+" is published")
	} else if v.noticeErr != nil || v.notice.Version != facts.NoticeVersion {
		deny("notice", ReasonError, "the notice could not be read")
	} else if np, ok := v.notice.Content.Purpose(r.Purpose); !ok || !slices.Contains(np.Elements, r.Element) {
		deny("notice", ReasonNotInNotice, "version "+strconv.Itoa(facts.NoticeVersion)+" of notice "+facts.NoticeKey+" does not state "+r.Element+" for "+r.Purpose)
	} else {
		d.NoticeVersion = facts.NoticeVersion
		pass("notice", "version "+strconv.Itoa(facts.NoticeVersion)+" of notice "+facts.NoticeKey+" states "+r.Element+" for "+r.Purpose)
	}

	if !declared {
		deny("policy", ReasonPolicyDenied, "no category to judge: the element is not declared")
	} else if ok, err := policy.Allowed(r.ServiceName, element.Category, r.Purpose, r.Action); err != nil {
		deny("policy", ReasonError, "the data policy could not be evaluated")
	} else if !ok {
		deny("policy", ReasonPolicyDenied, "no rule lets "+r.ServiceName+" "+r.Action+" "+element.Category+" for "+r.Purpose)
	} else {
		pass("policy", "the data policy lets "+r.ServiceName+" "+r.Action+" "+element.Category+" for "+r.Purpose)
	}

	status := consentStatus(v, now)
	switch status {
	case privacy.StatusGranted:
		d.ConsentRecord, d.ConsentSeq, d.consentExpires = facts.Consent.RecordID, facts.Consent.AuditSeq, facts.Consent.ExpiresAt
		pass("consent", "consent record "+facts.Consent.RecordID+" (audit entry "+strconv.FormatInt(facts.Consent.AuditSeq, 10)+") grants "+
			r.Purpose+" until "+facts.Consent.ExpiresAt.Format(time.RFC3339))
	case privacy.StatusExpired:
		deny("consent", ReasonConsentExpired, "the consent expired at "+facts.Consent.ExpiresAt.Format(time.RFC3339))
	case privacy.StatusWithdrawn:
		deny("consent", ReasonConsentWithdrawn, "consent was withdrawn by record "+facts.Consent.RecordID)
	case privacy.StatusReconsentRequired:
		deny("consent", ReasonReconsentRequired, "the notice changed this purpose materially since consent was given")
	case "":
		deny("consent", ReasonError, "the consent state could not be read")
	default:
		deny("consent", ReasonNoConsent, "the subject has not granted this purpose on this device")
	}
	judgeChild(facts, declared && element.Category == privacy.CategoryChild, status == privacy.StatusGranted, now, deny, pass)
	d.Allow = len(d.Reasons) == 0
	if !d.Allow {
		d.ConsentRecord, d.ConsentSeq, d.NoticeVersion = "", 0, 0
	}
	if d.Reasons == nil {
		d.Reasons = []string{}
	}
	return d
}

// judgeChild applies the rules about children (event.ChildRules), the
// last check, made only where they apply. childData: the element is of
// category personal.child; granted: the consent check passed.
func judgeChild(facts decisionFacts, childData, granted bool, now time.Time, deny func(check, reason, detail string), pass func(check, detail string)) {
	denials, applies := event.ChildRules(facts.Child.Declared, facts.Child.MajorityAt, childData, granted, facts.Consent.Proxy, now)
	for _, d := range denials {
		deny("guardian", d.Reason, d.Detail)
	}
	switch {
	case !applies || !granted || len(denials) > 0:
	case facts.Child.minor(now):
		pass("guardian", "the subject is a child; their consent was given with a guardian's")
	default:
		pass("guardian", "the subject came of age and consented themself")
	}
}

// consentStatus judges the consent in v; "" when that cannot be done.
func consentStatus(v view, now time.Time) privacy.ConsentStatus {
	if !v.facts.HasConsent {
		return privacy.StatusDenied
	}
	if v.materialErr != nil {
		return ""
	}
	return v.facts.Consent.Status(now, func(_, purpose string, version int) bool {
		return privacy.ChangedAfter(v.material, version, purpose)
	})
}

// stillHolds reports, inside the writer, whether what an evaluation read
// is unchanged at the decision's place in the log: when no change at all
// came between, without reading anything; otherwise by reading the facts
// again.
func (s *Service) stillHolds(tx *audit.Tx, r Request, snap snapshot) bool {
	if s.policy.Generation() != snap.policy {
		return false
	}
	if s.log.Applied() == snap.changes {
		return true
	}
	now, err := readFacts(tx.Reader, r)
	return err == nil && now == snap.facts
}

// Decide answers one request.
func (s *Service) Decide(ctx context.Context, r Request) (Decision, error) {
	ds, err := s.DecideBatch(ctx, []Request{r})
	if err != nil {
		return Decision{}, err
	}
	return ds[0], nil
}

// MaxBatch is the most checks one batch may carry.
const MaxBatch = 1000

// DecideBatch answers requests in order, each audited, all in one commit.
// Evaluation happens here, in parallel with other requests; the audit
// log's writer then re-checks every decision at its place in the log and
// evaluates again, in the transaction, what no longer holds.
func (s *Service) DecideBatch(ctx context.Context, rs []Request) ([]Decision, error) {
	if len(rs) == 0 || len(rs) > MaxBatch {
		return nil, privacy.FieldErrorf(privacy.EInvalid, "checks", "must hold 1 to %d checks", MaxBatch)
	}
	var p privacy.Problems
	for i, r := range rs {
		prefix := ""
		if len(rs) > 1 {
			prefix = fmt.Sprintf("checks[%d].", i)
		}
		if err := r.validate(prefix); err != nil {
			var perr *privacy.Error
			if errors.As(err, &perr) {
				p.Merge(perr)
			}
		}
	}
	if err := p.Err("invalid decision request"); err != nil {
		return nil, err
	}
	batch, err := s.prepare(s.db.Read(ctx), rs)
	if err != nil {
		return nil, err
	}
	return s.record(ctx, rs, batch)
}

// prepared is a batch evaluated outside the writer: the decisions, what
// each read, and what does not depend on the place in the log.
type prepared struct {
	out       []Decision
	snaps     []snapshot
	ids       []string
	explained [][]byte
	// stepsHash commits to each decision's steps (its entry's record_sha256).
	stepsHash []string
	// packed are the steps as their row stores them.
	packed [][]byte
}

// prepare evaluates rs on read. What does not depend on the place in the
// log is made here, in parallel with other requests, not on the single
// writer.
func (s *Service) prepare(read *store.Reader, rs []Request) (prepared, error) {
	now := read.Now()
	p := prepared{out: make([]Decision, len(rs)), snaps: make([]snapshot, len(rs)), ids: make([]string, len(rs)), explained: make([][]byte, len(rs)),
		stepsHash: make([]string, len(rs)), packed: make([][]byte, len(rs))}
	for i, r := range rs {
		p.out[i], p.snaps[i] = s.evaluate(read, r, now, true)
		p.ids[i] = uuid.Must(uuid.NewV7()).String()
		var err error
		if p.explained[i], p.stepsHash[i], err = explain(p.out[i].Steps); err != nil {
			return prepared{}, err
		}
		p.packed[i] = store.PackSteps(p.explained[i])
	}
	return p, nil
}

// explain is the steps as stored (their canonical JSON), and the
// commitment to them the entry holds.
func explain(steps []Step) ([]byte, string, error) {
	return audit.DecisionSteps(stepLines(steps))
}

// stepLines is steps in the form their commitment is computed over.
func stepLines(steps []Step) []audit.DecisionStep {
	out := make([]audit.DecisionStep, len(steps))
	for i, s := range steps {
		out[i] = audit.DecisionStep(s)
	}
	return out
}

// record appends p's decisions to the log, re-checking every decision at
// its place there: what no longer holds is evaluated again, in the
// writer's transaction.
func (s *Service) record(ctx context.Context, rs []Request, p prepared) ([]Decision, error) {
	out := p.out
	// Pure: a decision reads and defers its row; it writes nothing itself.
	subjects := make([]string, len(rs))
	for i, r := range rs {
		subjects[i] = r.Subject
	}
	_, err := s.log.DoPureAbout(ctx, subjects, func(tx *audit.Tx) ([]event.Event, error) {
		events := make([]event.Event, len(rs))
		for i := range rs {
			d, steps, stepsHash, packed := p.out[i], p.explained[i], p.stepsHash[i], p.packed[i]
			// Each decision is judged at its place in the log: what its
			// evaluation read counts only if it still holds there (a deny
			// too: another instance's grant may have come between), and an
			// allow's consent must still be in force at its entry's time.
			if !s.stillHolds(tx, rs[i], p.snaps[i]) || d.Allow && !d.consentLive(tx.Now()) {
				// Evaluated again from the transaction: earlier changes of
				// the batch are not in memory yet.
				d, _ = s.evaluate(tx.Reader, rs[i], tx.Now(), false)
				var err error
				if steps, stepsHash, err = explain(d.Steps); err != nil {
					return nil, err
				}
				packed = nil // packed by the store
			}
			d.ID, d.Seq, d.CreatedAt = p.ids[i], tx.NextSeq()+int64(i), tx.Now()
			tx.InsertDecision(store.DecisionRecord{ID: d.ID, ServiceID: d.Request.ServiceID, ServiceName: d.Request.ServiceName,
				SubjectID: d.Request.Subject, DeviceID: d.Request.DeviceID, Element: d.Request.Element, Purpose: d.Request.Purpose,
				Action: d.Request.Action, Allow: d.Allow, Reasons: d.Reasons, Steps: steps, PackedSteps: packed, ConsentRecord: d.ConsentRecord,
				ConsentSeq: d.ConsentSeq, NoticeVersion: d.NoticeVersion, AuditSeq: d.Seq, CreatedAt: d.CreatedAt})
			events[i] = event.Decision{ID: d.ID, ServiceID: d.Request.ServiceID, ServiceName: d.Request.ServiceName, Subject: d.Request.Subject,
				DeviceID: d.Request.DeviceID, Element: d.Request.Element, Purpose: d.Request.Purpose, DataAction: d.Request.Action, Allow: d.Allow,
				Reasons: d.Reasons, ConsentSeq: d.ConsentSeq, StepsSHA256: stepsHash}
			out[i] = d
		}
		return events, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// consentLive reports whether an allow's consent is still unexpired at t,
// the time its audit entry will carry.
func (d Decision) consentLive(t time.Time) bool {
	return d.Allow && d.ConsentRecord != "" && t.Before(d.consentExpires)
}

// Get returns a decision with its reasoning.
func (s *Service) Get(ctx context.Context, id string) (Decision, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Decision{}, privacy.Errorf(privacy.ENotFound, "decision not found")
	}
	r, err := s.db.Read(ctx).Decision(id)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{ID: r.ID, Request: Request{ServiceID: r.ServiceID, ServiceName: r.ServiceName, Subject: r.SubjectID, DeviceID: r.DeviceID,
		Element: r.Element, Purpose: r.Purpose, Action: r.Action}, Allow: r.Allow, Reasons: r.Reasons, ConsentRecord: r.ConsentRecord,
		ConsentSeq: r.ConsentSeq, NoticeVersion: r.NoticeVersion, Seq: r.AuditSeq, CreatedAt: r.CreatedAt}
	if err := json.Unmarshal(r.Steps, &d.Steps); err != nil {
		return Decision{}, fmt.Errorf("decide: steps of %s: %w", id, err)
	}
	// A decision edited in the database is not served: its entry says
	// what was decided.
	if err := s.check(ctx, r, d.Steps); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// check compares a stored decision with the entry that recorded it:
// request, outcome, reasons, reliance and, through its commitment, every
// step. A difference is an error: the database was changed.
func (s *Service) check(ctx context.Context, r store.DecisionRecord, steps []Step) error {
	stepsHash, err := audit.DecisionStepsSHA256(stepLines(steps))
	if err != nil {
		return err
	}
	return s.log.CheckEntry(ctx, r.AuditSeq, event.Decision{ID: r.ID, ServiceID: r.ServiceID, ServiceName: r.ServiceName,
		Subject: r.SubjectID, DeviceID: r.DeviceID, Element: r.Element, Purpose: r.Purpose, DataAction: r.Action, Allow: r.Allow,
		Reasons: r.Reasons, ConsentSeq: r.ConsentSeq, StepsSHA256: stepsHash})
}

// CheckStored compares every stored decision with the entry that
// recorded it, a page at a time, and returns how many it checked; the
// first that differs is an error naming it.
func (s *Service) CheckStored(ctx context.Context) (int, error) {
	n, after := 0, ""
	for {
		page, err := s.db.Read(ctx).DecisionsPage(after, 1000)
		if err != nil || len(page) == 0 {
			return n, err
		}
		for _, r := range page {
			var steps []Step
			if err := json.Unmarshal(r.Steps, &steps); err != nil {
				return n, fmt.Errorf("decide: steps of decision %s: %w", r.ID, err)
			}
			if err := s.check(ctx, r, steps); err != nil {
				return n, fmt.Errorf("decision %s: %w", r.ID, err)
			}
			n++
		}
		after = page[len(page)-1].ID
	}
}
