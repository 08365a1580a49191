package webhook

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/tracing"
	"github.com/google/uuid"
)

// Outbox turns the committed changes that backends want to hear of into
// webhook events, written in the change's own transaction: a change and
// its notifications commit together or not at all. The reactions wired in
// internal/app call it from the audit log's writer; one Outbox serves one
// process, shared with its Service (which delivers) if it runs one.
type Outbox struct {
	subs subscriptions
	// wake is signalled after a commit that wrote events: the dispatcher
	// delivers them without waiting for its poll.
	wake  chan struct{}
	wrote bool
}

// NewOutbox returns an Outbox.
func NewOutbox() *Outbox { return &Outbox{wake: make(chan struct{}, 1)} }

// subscriptions caches the live webhooks for the writer, which would
// otherwise read them for every consent it writes, holding the log's lock.
// Every webhook change goes through the audit log, so the cache knows when
// it is stale: a change of this process (seen in its transaction, then at
// its commit) or of another instance (seen before the next batch runs).
// All of it runs on the log's single writer; the mutex is for safety.
type subscriptions struct {
	mu    sync.Mutex
	list  []store.WebhookSubscription
	valid bool
	// changing is set while a batch holding a webhook change is open:
	// until it commits, what its transaction sees may yet be rolled back,
	// so nothing read then is kept.
	changing bool
}

func (c *subscriptions) get(tx *store.Tx) ([]store.WebhookSubscription, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && !c.changing {
		return c.list, nil
	}
	list, err := tx.WebhookSubscriptions()
	if err != nil {
		return nil, err
	}
	if !c.changing {
		c.list, c.valid = list, true
	}
	return list, nil
}

// none reports whether there is known to be no webhook at all.
func (c *subscriptions) none() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.valid && !c.changing && len(c.list) == 0
}

// WebhooksChanging is told of a webhook change in the running transaction:
// nothing read of the subscriptions is kept until it commits.
func (o *Outbox) WebhooksChanging() {
	o.subs.mu.Lock()
	defer o.subs.mu.Unlock()
	o.subs.valid, o.subs.changing = false, true
}

// WebhooksChanged is told that another instance changed the webhooks.
func (o *Outbox) WebhooksChanged() {
	o.subs.mu.Lock()
	defer o.subs.mu.Unlock()
	o.subs.valid = false
}

// Committed is told after every commit of the log: subscriptions read
// while a webhook change was open are read again, and the dispatcher is
// woken when the commit wrote events.
func (o *Outbox) Committed() {
	o.subs.mu.Lock()
	if o.subs.changing {
		o.subs.valid, o.subs.changing = false, false
	}
	o.subs.mu.Unlock()
	if o.wrote {
		o.wrote = false
		o.Wake()
	}
}

// Wake wakes the dispatcher without waiting for its poll.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default: // one wake pending covers this one too
	}
}

// pending is an event being built, with the kind that selects webhooks.
type pending struct {
	ev    privacy.WebhookEvent
	group string // events of one record (or device) and kind are one notification
}

// Notes gathers the notifications of one change, to be written at its end
// (Write): the purposes of one consent record are one notification.
type Notes struct {
	o      *Outbox
	out    []pending
	groups map[string]int
	// published are notice publications, whose re-consent notifications
	// are found when written.
	published []publication
}

type publication struct {
	seq int64
	v   privacy.NoticeVersion
}

// Change starts the notes of one change. A value: the writer keeps it on
// its stack, so a change that announces nothing (a decision) costs no
// allocation.
func (o *Outbox) Change() Notes { return Notes{o: o} }

// Consent notes a purpose granted (granted) or taken back (a withdrawal,
// or a denial that replaced a grant) at entry seq.
func (n *Notes) Consent(seq int64, c event.Consent, granted bool) {
	kind := privacy.KindConsentWithdrawn
	if granted {
		kind = privacy.KindConsentGranted
	}
	group := string(kind) + " " + c.RecordID
	if at, ok := n.groups[group]; ok {
		n.out[at].ev.Purposes = append(n.out[at].ev.Purposes, c.Purpose)
		return
	}
	if n.groups == nil {
		n.groups = map[string]int{}
	}
	n.groups[group] = len(n.out)
	n.out = append(n.out, pending{group: group, ev: privacy.WebhookEvent{Kind: kind, Subject: c.SubjectID, DeviceID: c.DeviceID,
		Purposes: []string{c.Purpose}, ConsentID: c.RecordID, NoticeKey: c.NoticeKey, NoticeVersion: c.NoticeVersion, AuditSeq: &seq,
		OrderKey: c.SubjectID, Reason: c.Reason}})
}

// DeviceStatus notes a device deactivated or disposed of at entry seq;
// other statuses are not announced.
func (n *Notes) DeviceStatus(seq int64, d privacy.Device, owner string) {
	kind := privacy.WebhookKind("device." + string(d.Status))
	if kind != privacy.KindDeviceDeactivated && kind != privacy.KindDeviceDisposed {
		return
	}
	ev := privacy.WebhookEvent{Kind: kind, Subject: owner, DeviceID: d.ID, AuditSeq: &seq, OrderKey: owner}
	if ev.OrderKey == "" {
		ev.OrderKey = "device:" + ev.DeviceID
	}
	n.out = append(n.out, pending{ev: ev})
}

// DeviceTransferred notes a device given to a new owner at entry seq; the
// previous owner's consents ended in the same change, each announced.
func (n *Notes) DeviceTransferred(seq int64, d privacy.Device) {
	n.out = append(n.out, pending{ev: privacy.WebhookEvent{Kind: privacy.KindDeviceTransferred, Subject: d.OwnerSubject, DeviceID: d.ID,
		AuditSeq: &seq, OrderKey: "device:" + d.ID}})
}

// SubjectRequest notes a data-subject request received at entry seq.
func (n *Notes) SubjectRequest(seq int64, q privacy.SubjectRequest) {
	kind := privacy.KindSubjectAccessRequested
	if q.Type == privacy.RequestErasure {
		kind = privacy.KindSubjectErasureRequested
	}
	n.out = append(n.out, pending{ev: privacy.WebhookEvent{Kind: kind, Subject: q.SubjectID, RequestID: q.ID, AuditSeq: &seq, OrderKey: q.SubjectID}})
}

// NoticePublished notes a version published at entry seq and, when it
// changed purposes materially, the grants that now need asking again.
func (n *Notes) NoticePublished(seq int64, v privacy.NoticeVersion) {
	n.out = append(n.out, pending{ev: privacy.WebhookEvent{Kind: privacy.KindNoticePublished, NoticeKey: v.NoticeKey,
		NoticeVersion: v.Version, Purposes: v.MaterialPurposes, AuditSeq: &seq, OrderKey: "notice:" + v.NoticeKey}})
	if len(v.MaterialPurposes) > 0 {
		n.published = append(n.published, publication{seq: seq, v: v})
	}
}

// Write writes the change's notifications to the outbox through tx, each
// with a delivery for every webhook that wants its kind.
func (n *Notes) Write(ctx context.Context, tx *store.Tx) error {
	if len(n.out) == 0 {
		return nil
	}
	// The deliveries carry on the trace of the request that made the change.
	tc := tracing.CarrierOf(ctx)
	subs, err := n.o.subs.get(tx)
	if err != nil {
		return err
	}
	for _, p := range n.published {
		// Finding the grants concerned reads consent state: only when
		// someone wants to hear of them.
		if len(subscribers(subs, privacy.KindConsentReconsentRequired)) == 0 {
			break
		}
		re, err := reconsent(tx, p.v.NoticeKey, p.v.Version, p.v.MaterialPurposes, p.seq)
		if err != nil {
			return err
		}
		n.out = append(n.out, re...)
	}
	for _, p := range n.out {
		p.ev.TraceParent, p.ev.TraceState = tc.TraceParent, tc.TraceState
		wrote, err := emit(tx, subs, p.ev)
		if err != nil {
			return err
		}
		n.o.wrote = n.o.wrote || wrote
	}
	return nil
}

// reconsent builds one consent.reconsent_required event per subject and
// device whose grants, under the notice, of purposes that version changed
// materially now need asking again. Grants already waiting for re-consent
// since an earlier version were announced then.
func reconsent(tx *store.Tx, key string, version int, material []string, seq int64) ([]pending, error) {
	states, err := tx.GrantsUnder(key, material)
	if err != nil {
		return nil, err
	}
	if len(states) == 0 {
		return nil, nil
	}
	changes, err := tx.MaterialChanges(key)
	if err != nil {
		return nil, err
	}
	var out []pending
	for _, st := range states {
		waiting := false
		for v, ps := range changes {
			if v > st.NoticeVersion && v < version && slices.Contains(ps, st.Purpose) {
				waiting = true
			}
		}
		if waiting {
			continue
		}
		group := st.SubjectID + "\x00" + st.DeviceID
		if n := len(out); n > 0 && out[n-1].group == group {
			out[n-1].ev.Purposes = append(out[n-1].ev.Purposes, st.Purpose)
			continue
		}
		out = append(out, pending{group: group, ev: privacy.WebhookEvent{Kind: privacy.KindConsentReconsentRequired, Subject: st.SubjectID,
			DeviceID: st.DeviceID, Purposes: []string{st.Purpose}, NoticeKey: key, NoticeVersion: version, AuditSeq: &seq, OrderKey: st.SubjectID}})
	}
	return out, nil
}

// subscribers lists the webhooks that want kind.
func subscribers(subs []store.WebhookSubscription, k privacy.WebhookKind) []string {
	var to []string
	for _, s := range subs {
		if slices.Contains(s.Kinds, k) {
			to = append(to, s.ID)
		}
	}
	return to
}

// emit writes ev to the outbox with a delivery for every webhook that
// wants its kind, and says whether it wrote it: with no subscriber, or
// when an event with its dedupe key is already there, nothing is written.
func emit(tx *store.Tx, subs []store.WebhookSubscription, ev privacy.WebhookEvent) (bool, error) {
	to := subscribers(subs, ev.Kind)
	if len(to) == 0 {
		return false, nil
	}
	ev.ID = uuid.Must(uuid.NewV7()).String()
	return tx.InsertWebhookEvent(ev, to)
}

// expiryCursor names the expiry scan's position in webhook_cursors.
const expiryCursor = "consent.expired"

// expiryPage bounds the events one scan writes in one transaction.
const expiryPage = 2000

// scanExpiries announces the consents that ran out since the last scan,
// through the audit log's writer so that it queues with other writes
// rather than competing with them for the database. It returns how many
// events it wrote. Every instance may scan: an expiry's event has a
// dedupe key, so the first insert wins.
func (o *Outbox) scanExpiries(ctx context.Context, log *audit.Log) (int, error) {
	n := 0
	_, err := log.Do(ctx, func(atx *audit.Tx) ([]event.Event, error) {
		tx := atx.Tx
		n = 0
		now := tx.Now()
		from, ok, err := tx.Cursor(expiryCursor)
		if err != nil {
			return nil, err
		}
		if !ok {
			// No webhook ever wanted expiries: there was no one to tell.
			return nil, nil
		}
		subs, err := o.subs.get(tx)
		if err != nil {
			return nil, err
		}
		if len(subscribers(subs, privacy.KindConsentExpired)) == 0 {
			return nil, tx.SetCursor(expiryCursor, now)
		}
		states, err := tx.GrantsExpiring(from, now, expiryPage)
		if err != nil {
			return nil, err
		}
		if len(states) == 0 {
			// Nothing ran out: the next scan looks from the same point, so
			// there is nothing to write (and no fsync) every few seconds.
			return nil, nil
		}
		until := now
		if len(states) == expiryPage {
			// More remain: continue from the last one next time; ones
			// sharing its instant are seen again and skipped by their key.
			until = states[len(states)-1].ExpiresAt.Add(-time.Microsecond)
			if !until.After(from) {
				until = states[len(states)-1].ExpiresAt
			}
		}
		for _, st := range states {
			expired := st.ExpiresAt
			inserted, err := emit(tx, subs, privacy.WebhookEvent{Kind: privacy.KindConsentExpired, Subject: st.SubjectID, DeviceID: st.DeviceID,
				Purposes: []string{st.Purpose}, ConsentID: st.RecordID, NoticeKey: st.NoticeKey, NoticeVersion: st.NoticeVersion, ExpiredAt: &expired,
				OrderKey: st.SubjectID, DedupeKey: fmt.Sprintf("%s:%s:%s", privacy.KindConsentExpired, st.RecordID, st.Purpose)})
			if err != nil {
				return nil, err
			}
			if inserted {
				n++
			}
		}
		return nil, tx.SetCursor(expiryCursor, until)
	})
	return n, err
}
