// Package findings is the continuous review of Control 34: it recomputes,
// after every relevant change and on a schedule, where the privacy
// controls have weakened (a notice no longer covering its devices, a rule
// no one can consent to, consents about to lapse, keys due for rotation,
// an overdue review) and keeps what people acknowledged as evidence.
package findings

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/authz"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// Kinds of finding.
const (
	KindNoticeUncovered        = "notice_uncovered"
	KindPurposeNotInNotice     = "policy_purpose_not_in_notice"
	KindRuleUnconsentable      = "policy_rule_unconsentable"
	KindConsentsExpiring       = "consents_expiring"
	KindDeviceWithoutInventory = "device_without_inventory"
	KindDeviceWithoutNotice    = "device_without_notice"
	KindDeactivatedOwned       = "deactivated_device_owned"
	KindKeyRotationDue         = "receipt_key_rotation_due"
	KindReviewOverdue          = "review_overdue"
	KindWebhookDeliveriesDead  = "webhook_deliveries_dead"
	KindRequestsOverdue        = "subject_requests_overdue"
	KindErasureUnconfirmed     = "erasure_unconfirmed"
	KindDisposedUnsanitized    = "disposed_without_sanitization"
)

// Severities, most urgent first.
const (
	SeverityHigh   = "high"
	SeverityMedium = "medium"
	SeverityLow    = "low"
)

// Severities lists them in order, for gauges and sorting.
var Severities = []string{SeverityHigh, SeverityMedium, SeverityLow}

const maxObjects = 100

// Options tune the review.
type Options struct {
	// ExpiringWithin is how far ahead expiring consents are reported (30 days).
	ExpiringWithin time.Duration
	// KeyMaxAge is when the receipt signing key is due for rotation (365 days).
	KeyMaxAge time.Duration
	// ReviewInterval is how often a person must acknowledge the review (90 days).
	ReviewInterval time.Duration
	// ConfirmWithin is how long a backend subscribed to erasures may take
	// to confirm one before it is reported (7 days).
	ConfirmWithin time.Duration
	// SanitizeWithin is how long after its disposal a device may go
	// without an attestation of its data's sanitization (7 days).
	SanitizeWithin time.Duration
	// Every is the schedule (1 minute); changes also trigger a run.
	Every time.Duration
	Log   *slog.Logger
	// Registerer receives consentry_findings_open{severity}.
	Registerer prometheus.Registerer
}

// Sources are what the review reads besides the database.
type Sources struct {
	DB  *store.DB
	Log *audit.Log
	// Rules returns the data policy.
	Rules func() ([]authz.Rule, []authz.Group, error)
	// KeyCreated is when the current receipt signing key was made.
	KeyCreated func() time.Time
	// Coverage returns a notice's gaps against its active devices.
	Coverage func(ctx context.Context, key string) (int, []privacy.Gap, error)
}

// Engine runs the review and holds its latest result.
type Engine struct {
	src     Sources
	opts    Options
	gauge   *prometheus.GaugeVec
	mu      sync.RWMutex
	current []privacy.Finding
	ran     time.Time
	wake    chan struct{}
}

// New returns an Engine; Start runs it.
func New(src Sources, opts Options) (*Engine, error) {
	if opts.ExpiringWithin <= 0 {
		opts.ExpiringWithin = 30 * 24 * time.Hour
	}
	if opts.KeyMaxAge <= 0 {
		opts.KeyMaxAge = 365 * 24 * time.Hour
	}
	if opts.ReviewInterval <= 0 {
		opts.ReviewInterval = 90 * 24 * time.Hour
	}
	if opts.ConfirmWithin <= 0 {
		opts.ConfirmWithin = 7 * 24 * time.Hour
	}
	if opts.SanitizeWithin <= 0 {
		opts.SanitizeWithin = 7 * 24 * time.Hour
	}
	if opts.Every <= 0 {
		opts.Every = time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{src: src, opts: opts, wake: make(chan struct{}, 1),
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "consentry", Name: "findings_open",
			Help: "Open (unacknowledged) findings of the continuous review, by severity."}, []string{"severity"})}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(e.gauge); err != nil {
			return nil, fmt.Errorf("findings: metrics: %w", err)
		}
	}
	return e, nil
}

// Wake asks for a review soon: the log's reactions (internal/app) call it
// after a change the findings may depend on. Bursts settle into one run.
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default: // one run pending covers this change too
	}
}

// Start runs the review now, after every Wake (at most once a second) and
// on the schedule, until ctx ends.
func (e *Engine) Start(ctx context.Context) {
	go func() {
		t := time.NewTicker(e.opts.Every)
		defer t.Stop()
		for {
			if _, err := e.Refresh(ctx); err != nil && ctx.Err() == nil {
				e.opts.Log.Error("continuous review failed; the previous findings stay", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-e.wake:
				// Let a burst of changes settle into one run.
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}
	}()
}

// Current returns the latest findings and when they were computed.
func (e *Engine) Current() ([]privacy.Finding, time.Time) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return slices.Clone(e.current), e.ran
}

// Refresh recomputes the findings now.
func (e *Engine) Refresh(ctx context.Context) ([]privacy.Finding, error) {
	fs, err := e.compute(ctx)
	if err != nil {
		return nil, err
	}
	open := map[string]float64{}
	for _, f := range fs {
		if f.Open() {
			open[f.Severity]++
		}
	}
	for _, s := range Severities {
		e.gauge.WithLabelValues(s).Set(open[s])
	}
	e.mu.Lock()
	e.current, e.ran = fs, time.Now()
	e.mu.Unlock()
	return fs, nil
}

// Acknowledge records that a person reviewed the finding as it stands,
// with a note, in the audit log. ENotFound when no such finding is open.
func (e *Engine) Acknowledge(ctx context.Context, id, note string) (privacy.FindingAck, error) {
	if strings.TrimSpace(note) == "" || len(note) > 2000 {
		return privacy.FindingAck{}, privacy.FieldErrorf(privacy.EInvalid, "note", "must say what was decided, in 1 to 2000 characters")
	}
	fs, err := e.Refresh(ctx)
	if err != nil {
		return privacy.FindingAck{}, err
	}
	i := slices.IndexFunc(fs, func(f privacy.Finding) bool { return f.ID == id })
	if i < 0 {
		return privacy.FindingAck{}, privacy.Errorf(privacy.ENotFound, "no finding %s: it may have been cleared", id)
	}
	f := fs[i]
	if !f.Open() {
		return privacy.FindingAck{}, privacy.Errorf(privacy.EConflict, "finding %s is already acknowledged as it stands", id)
	}
	actor := privacy.ActorFrom(ctx)
	ack := privacy.FindingAck{ID: uuid.Must(uuid.NewV7()).String(), FindingID: id, Fingerprint: f.Fingerprint, Note: note, ClientID: actor.ClientID}
	_, err = e.src.Log.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		ack.AuditSeq, ack.CreatedAt = tx.NextSeq(), tx.Now()
		if err := tx.InsertFindingAck(ack); err != nil {
			return nil, err
		}
		return []event.Event{event.FindingAcknowledged{ID: id, Kind: f.Kind, Fingerprint: f.Fingerprint}}, nil
	})
	if err != nil {
		return privacy.FindingAck{}, err
	}
	if _, err := e.Refresh(ctx); err != nil {
		e.opts.Log.Error("continuous review failed after an acknowledgment", "error", err)
	}
	return ack, nil
}

// review is one run of the review: what it reads, and what it found.
type review struct {
	e   *Engine
	ctx context.Context
	tx  *store.Reader
	now time.Time
	// current is the newest published version of each notice.
	current map[string]privacy.NoticeVersion
	out     []privacy.Finding
}

func (r *review) add(f privacy.Finding) { r.out = append(r.out, f) }

// compute runs every check, each step adding what it finds, then marks the
// acknowledged findings and sorts them, most severe first.
func (e *Engine) compute(ctx context.Context) ([]privacy.Finding, error) {
	tx := e.src.DB.Read(ctx)
	r := &review{e: e, ctx: ctx, tx: tx, now: tx.Now(), current: map[string]privacy.NoticeVersion{}}
	versions, err := tx.PublishedNoticeVersions()
	if err != nil {
		return nil, err
	}
	for _, v := range versions {
		r.current[v.NoticeKey] = v
	}
	for _, step := range []func() error{r.uncoveredNotices, r.policyRules, r.expiringConsents, r.devices, r.deadDeliveries, r.receiptKey, r.requests, r.unsanitized} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	acks, err := tx.LatestFindingAcks()
	if err != nil {
		return nil, err
	}
	r.reviewOverdue(acks[KindReviewOverdue])
	for i := range r.out {
		if a, ok := acks[r.out[i].ID]; ok {
			r.out[i].Ack = &a
		}
	}
	slices.SortStableFunc(r.out, func(a, b privacy.Finding) int {
		if sa, sb := slices.Index(Severities, a.Severity), slices.Index(Severities, b.Severity); sa != sb {
			return sa - sb
		}
		return strings.Compare(a.ID, b.ID)
	})
	return r.out, nil
}

// uncoveredNotices: notices that no longer cover what their devices collect.
func (r *review) uncoveredNotices() error {
	keys, err := r.tx.ActiveNoticeKeys()
	if err != nil {
		return err
	}
	for _, key := range keys {
		if _, ok := r.current[key]; !ok {
			continue // reported as device_without_notice
		}
		_, gaps, err := r.e.src.Coverage(r.ctx, key)
		if err != nil {
			return err
		}
		if len(gaps) == 0 {
			continue
		}
		var objs []privacy.FindingObject
		for _, g := range gaps {
			objs = append(objs, privacy.FindingObject{Type: "device", ID: g.DeviceID}, privacy.FindingObject{Type: "element", ID: g.Element + " (" + g.Kind + ", " + g.Purpose + ")"})
		}
		r.add(finding(KindNoticeUncovered+":"+key, KindNoticeUncovered, SeverityHigh, "31-1",
			fmt.Sprintf("the notice %s in force does not state %d things its active devices collect", key, len(gaps)),
			"publish a notice version that states them (GET /v1/notices/"+key+"/coverage lists each), or correct the inventories",
			append([]privacy.FindingObject{{Type: "notice", ID: key}}, objs...), len(gaps)+1))
	}
	return nil
}

// policyRules: allow rules against what notices state and inventories
// declare.
func (r *review) policyRules() error {
	rules, _, err := r.e.src.Rules()
	if err != nil {
		return err
	}
	stated := map[string]bool{}
	for _, v := range r.current {
		for _, p := range v.Content.Purposes {
			stated[p.Purpose] = true
		}
	}
	elements, err := r.tx.CurrentInventoryElements()
	if err != nil {
		return err
	}
	for _, rl := range rules {
		if rl.Effect != "allow" {
			continue
		}
		rule := privacy.FindingObject{Type: "policy_rule", ID: strings.Join([]string{rl.Subject, rl.Category, rl.Purpose, rl.Action}, " ")}
		// Rule fields hold spaces and wildcards; the id must sit in a URL.
		ruleID := fingerprint([]privacy.FindingObject{rule})
		if rl.Purpose != "*" && !stated[rl.Purpose] {
			r.add(finding(KindPurposeNotInNotice+":"+ruleID, KindPurposeNotInNotice, SeverityMedium, "31-2",
				fmt.Sprintf("a rule allows %s to use %s for %s, a purpose no notice in force states", rl.Subject, rl.Category, rl.Purpose),
				"state the purpose in a notice, or remove the rule (DELETE /v1/policies)", []privacy.FindingObject{rule, {Type: "purpose", ID: rl.Purpose}}, 2))
			continue
		}
		consentable := slices.ContainsFunc(elements, func(el privacy.DataElement) bool {
			return authz.CategoryMatch(el.Category, rl.Category) && (rl.Purpose == "*" || slices.Contains(el.Purposes, rl.Purpose))
		})
		if !consentable {
			r.add(finding(KindRuleUnconsentable+":"+ruleID, KindRuleUnconsentable, SeverityMedium, "30",
				fmt.Sprintf("a rule allows %s to use %s for %s, but no device declares such data for that purpose: no one can consent to it", rl.Subject, rl.Category, rl.Purpose),
				"remove or narrow the rule, or declare the data in the inventories it is meant for", []privacy.FindingObject{rule}, 1))
		}
	}
	return nil
}

// expiringConsents: consents about to lapse, per purpose.
func (r *review) expiringConsents() error {
	within := r.e.opts.ExpiringWithin
	expiring, err := r.tx.ExpiringConsents(r.now, r.now.Add(within))
	if err != nil {
		return err
	}
	for _, p := range slices.Sorted(maps.Keys(expiring)) {
		r.add(finding(KindConsentsExpiring+":"+p, KindConsentsExpiring, SeverityLow, "31-2",
			fmt.Sprintf("%d consents to %s end within %d days", expiring[p], p, int(within.Hours()/24)),
			"ask the subjects to renew their consent in the app before it ends", []privacy.FindingObject{{Type: "purpose", ID: p}}, expiring[p]))
	}
	return nil
}

// devices: devices without an inventory or a published notice, and
// deactivated devices still linked to their owner.
func (r *review) devices() error {
	for _, d := range []struct {
		kind, severity, control, detail, remedy string
		list                                    func(int) ([]string, int64, error)
	}{
		{KindDeviceWithoutInventory, SeverityHigh, "29", "active devices declare no data inventory",
			"declare what each device collects (PUT /v1/devices/{id}/inventory)", r.tx.ActiveDevicesWithoutInventory},
		{KindDeviceWithoutNotice, SeverityHigh, "31-1", "active devices name a notice that has no published version",
			"publish the notice the devices name, or deactivate them", r.tx.ActiveDevicesWithoutNotice},
		{KindDeactivatedOwned, SeverityMedium, "35-1", "deactivated devices are still linked to their owner",
			"dispose of the devices (POST /v1/devices/{id}/dispose) once their data is handled", r.tx.DeactivatedDevicesStillOwned},
	} {
		ids, n, err := d.list(maxObjects)
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		objs := make([]privacy.FindingObject, len(ids))
		for i, id := range ids {
			objs[i] = privacy.FindingObject{Type: "device", ID: id}
		}
		r.add(finding(d.kind, d.kind, d.severity, d.control, fmt.Sprintf("%d %s", n, d.detail), d.remedy, objs, int(n)))
	}
	return nil
}

// deadDeliveries: notifications that never arrived; a backend may still
// be processing data whose consent was withdrawn.
func (r *review) deadDeliveries() error {
	hooks, dead, err := r.tx.WebhooksWithDeadDeliveries(maxObjects)
	if err != nil || dead == 0 {
		return err
	}
	objs := make([]privacy.FindingObject, 0, len(hooks)+1)
	for _, id := range hooks {
		objs = append(objs, privacy.FindingObject{Type: "webhook", ID: id})
	}
	// More deliveries dying is news even for the same webhooks.
	objs = append(objs, privacy.FindingObject{Type: "dead_deliveries", ID: strconv.FormatInt(dead, 10)})
	r.add(finding(KindWebhookDeliveriesDead, KindWebhookDeliveriesDead, SeverityHigh, "34",
		fmt.Sprintf("%d webhook deliveries failed every try: their backends were not told of consent changes", dead),
		"fix the receivers, then retry the dead deliveries (GET /v1/webhooks/{id}/deliveries?state=dead, POST .../retry)", objs, int(dead)))
	return nil
}

// requests: data-subject requests past their due date, and erasures that
// subscribed backends have not confirmed within ConfirmWithin.
func (r *review) requests() error {
	open, err := r.tx.OpenSubjectRequests(time.Time{}, maxObjects*10)
	if err != nil {
		return err
	}
	var overdue, hooks []privacy.FindingObject
	unconfirmed := map[string]bool{}
	for _, q := range open {
		if q.Overdue(r.now) {
			overdue = append(overdue, privacy.FindingObject{Type: "subject_request", ID: q.ID})
		}
		if r.now.Sub(q.CreatedAt) < r.e.opts.ConfirmWithin {
			continue
		}
		for _, c := range q.Confirmations {
			if c.Pending() && !unconfirmed[c.WebhookID] {
				unconfirmed[c.WebhookID] = true
				hooks = append(hooks, privacy.FindingObject{Type: "webhook", ID: c.WebhookID})
			}
		}
	}
	if len(overdue) > 0 {
		r.add(finding(KindRequestsOverdue, KindRequestsOverdue, SeverityHigh, "33",
			fmt.Sprintf("%d data-subject requests are past their due date", len(overdue)),
			"complete them: GET /v1/subjects/requests?state=overdue shows each and what it waits for (confirmations, deliveries); close one with POST /v1/subjects/requests/{id}/close and a reason",
			overdue, len(overdue)))
	}
	if len(hooks) > 0 {
		r.add(finding(KindErasureUnconfirmed, KindErasureUnconfirmed, SeverityMedium, "33",
			fmt.Sprintf("%d backends subscribed to erasures have not confirmed one within %d days", len(hooks), int(r.e.opts.ConfirmWithin.Hours()/24)),
			"ask the backend's owner to erase the subject and POST /v1/subjects/requests/{id}/confirmations; delete the webhook of a backend that is gone",
			hooks, len(hooks)))
	}
	return nil
}

// unsanitized: devices disposed of more than SanitizeWithin ago whose
// data no one attested was sanitized.
func (r *review) unsanitized() error {
	ids, n, err := r.tx.DisposedUnattested(r.now.Add(-r.e.opts.SanitizeWithin), maxObjects)
	if err != nil || n == 0 {
		return err
	}
	objs := make([]privacy.FindingObject, len(ids))
	for i, id := range ids {
		objs[i] = privacy.FindingObject{Type: "device", ID: id}
	}
	r.add(finding(KindDisposedUnsanitized, KindDisposedUnsanitized, SeverityMedium, "35",
		fmt.Sprintf("%d disposed devices have no attestation that their data was sanitized (after %d days)", n, int(r.e.opts.SanitizeWithin.Hours()/24)),
		"attest how each was sanitized (NIST SP 800-88: clear, purge or destroy): POST /v1/devices/{id}/sanitization", objs, n))
	return nil
}

// receiptKey: a receipt signing key older than KeyMaxAge.
func (r *review) receiptKey() error {
	if created := r.e.src.KeyCreated(); !created.IsZero() && r.now.Sub(created) >= r.e.opts.KeyMaxAge {
		r.add(finding(KindKeyRotationDue, KindKeyRotationDue, SeverityMedium, "32",
			fmt.Sprintf("the receipt signing key was made %s, more than %d days ago", created.UTC().Format("2006-01-02"), int(r.e.opts.KeyMaxAge.Hours()/24)),
			"run consentry keys rotate (earlier receipts keep verifying)", []privacy.FindingObject{{Type: "receipt_key", ID: created.UTC().Format(time.RFC3339)}}, 1))
	}
	return nil
}

// reviewOverdue: a person must look at the findings every interval; last
// is the acknowledgment of the last review.
func (r *review) reviewOverdue(last privacy.FindingAck) {
	interval := r.e.opts.ReviewInterval
	if !last.CreatedAt.IsZero() && r.now.Sub(last.CreatedAt) < interval {
		return
	}
	since := "never"
	if !last.CreatedAt.IsZero() {
		since = "last on " + last.CreatedAt.Format("2006-01-02")
	}
	f := finding(KindReviewOverdue, KindReviewOverdue, SeverityLow, "34",
		fmt.Sprintf("the findings have not been reviewed within %d days (%s)", int(interval.Hours()/24), since),
		"review the open findings and acknowledge this one with what was decided", nil, 1)
	// Each interval's review is a new one.
	f.Fingerprint = fingerprint([]privacy.FindingObject{{Type: "since", ID: last.CreatedAt.Format(time.RFC3339Nano)}})
	r.add(f)
}

func finding(id, kind, severity, control, detail, remedy string, objs []privacy.FindingObject, count int) privacy.Finding {
	if objs == nil {
		objs = []privacy.FindingObject{}
	}
	f := privacy.Finding{ID: id, Kind: kind, Severity: severity, Control: control, Detail: detail, Remedy: remedy, Count: count, Fingerprint: fingerprint(objs)}
	if len(objs) > maxObjects {
		objs = objs[:maxObjects]
	}
	f.Objects = objs
	return f
}

// fingerprint hashes what a finding is about, so that an acknowledgment
// given for one set of objects does not silence a different one.
func fingerprint(objs []privacy.FindingObject) string {
	h := sha256.New()
	for _, o := range objs {
		fmt.Fprintf(h, "%s\x00%s\x00", o.Type, o.ID)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
