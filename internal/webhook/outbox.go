package webhook

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/consent"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
)

// outbox turns the audit events of a change into webhook events, in the
// change's own transaction (audit.Log.OnChange): a change and its
// notifications commit together or not at all.
type outbox struct {
	subs subscriptions
}

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

// changed is told of a webhook change in the running transaction.
func (c *subscriptions) changed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.valid, c.changing = false, true
}

// committed is told after every commit of the log.
func (c *subscriptions) committed([]audit.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changing {
		c.valid, c.changing = false, false
	}
}

// foreign is told what other instances appended.
func (c *subscriptions) foreign(_ *store.Tx, entries []audit.Foreign) {
	if slices.ContainsFunc(entries, func(e audit.Foreign) bool { return isWebhookAction(e.Action) }) {
		c.mu.Lock()
		c.valid = false
		c.mu.Unlock()
	}
}

func isWebhookAction(a string) bool { return strings.HasPrefix(a, "webhook.") }

// pending is an event being built, with the kind that selects webhooks.
type pending struct {
	ev    privacy.WebhookEvent
	group string // events of one record (or device) and kind are one notification
}

func (o *outbox) hook(tx *store.Tx, first int64, events []audit.Event) error {
	var out []pending
	groups := map[string]int{}
	for i, e := range events {
		if e.Action == audit.ActionDecision {
			continue // the hot path: nothing to announce
		}
		if isWebhookAction(e.Action) {
			o.subs.changed()
			continue
		}
		seq := first + int64(i)
		switch e.Action {
		case audit.ActionConsentRecorded, audit.ActionConsentWithdrawn:
			kind := privacy.KindConsentWithdrawn
			switch {
			case e.Action == audit.ActionConsentRecorded && e.Outcome == audit.OutcomeGranted:
				kind = privacy.KindConsentGranted
			case e.Action == audit.ActionConsentRecorded && !slices.Contains(e.Reasons, consent.ReasonRevokesGrant):
				continue // a denial of what was not granted changes nothing
			}
			group := string(kind) + " " + e.Targets["record"]
			if at, ok := groups[group]; ok {
				out[at].ev.Purposes = append(out[at].ev.Purposes, e.Targets["purpose"])
				continue
			}
			groups[group] = len(out)
			version, _ := strconv.Atoi(e.Targets["notice_version"])
			out = append(out, pending{group: group, ev: privacy.WebhookEvent{Kind: kind, Subject: e.Subject, DeviceID: e.Targets["device"],
				Purposes: []string{e.Targets["purpose"]}, ConsentID: e.Targets["record"], NoticeKey: e.Targets["notice"],
				NoticeVersion: version, AuditSeq: &seq, OrderKey: e.Subject}})
		case "device." + string(privacy.DeviceDeactivated), "device." + string(privacy.DeviceDisposed):
			ev := privacy.WebhookEvent{Kind: privacy.WebhookKind(e.Action), Subject: e.Subject, DeviceID: e.Targets["device"], AuditSeq: &seq,
				OrderKey: e.Subject}
			if ev.OrderKey == "" {
				ev.OrderKey = "device:" + ev.DeviceID
			}
			out = append(out, pending{ev: ev})
		case audit.ActionNoticePublished:
			version, _ := strconv.Atoi(e.Targets["version"])
			var material []string
			for _, r := range e.Reasons {
				if p, ok := strings.CutPrefix(r, "material_change:"); ok {
					material = append(material, p)
				}
			}
			key := e.Targets["notice"]
			out = append(out, pending{ev: privacy.WebhookEvent{Kind: privacy.KindNoticePublished, NoticeKey: key, NoticeVersion: version,
				Purposes: material, AuditSeq: &seq, OrderKey: "notice:" + key}})
			if len(material) > 0 {
				// Finding the grants concerned reads consent state: only
				// when someone wants to hear of them.
				subs, err := o.subs.get(tx)
				if err != nil {
					return err
				}
				if len(subscribers(subs, privacy.KindConsentReconsentRequired)) == 0 {
					continue
				}
				re, err := reconsent(tx, key, version, material, seq)
				if err != nil {
					return err
				}
				out = append(out, re...)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	subs, err := o.subs.get(tx)
	if err != nil {
		return err
	}
	for _, p := range out {
		if _, err := emit(tx, subs, p.ev); err != nil {
			return err
		}
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
func (o *outbox) scanExpiries(ctx context.Context, log *audit.Log) (int, error) {
	n := 0
	_, err := log.Do(ctx, func(tx *store.Tx) ([]audit.Event, error) {
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
