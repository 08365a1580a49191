package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/privacy"
)

// webhookRecord is a row of webhooks.
type webhookRecord struct {
	ID          string
	URL         string
	Kinds       string
	Secret      string
	Description string
	CreatedBy   string
	CreatedAt   time.Time
	DeletedAt   *time.Time
}

// webhookColumns are webhookRecord's columns, in fields' order.
const webhookColumns = "id, url, kinds, secret, description, created_by, created_at, deleted_at"

func (r *webhookRecord) fields() []any {
	return []any{&r.ID, &r.URL, &r.Kinds, &r.Secret, &r.Description, &r.CreatedBy, &r.CreatedAt, &r.DeletedAt}
}

func (r webhookRecord) toDomain() privacy.Webhook {
	w := privacy.Webhook{ID: r.ID, URL: r.URL, Secret: r.Secret, Description: r.Description, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), DeletedAt: timeVal(r.DeletedAt)}
	for _, k := range strings.Fields(r.Kinds) {
		w.Kinds = append(w.Kinds, privacy.WebhookKind(k))
	}
	return w
}

func joinKinds(ks []privacy.WebhookKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, " ")
}

// InsertWebhook stores a new subscription.
func (tx *Tx) InsertWebhook(w privacy.Webhook) error {
	_, err := tx.exec("webhook", "INSERT INTO webhooks ("+webhookColumns+") VALUES "+placeholders(1, 8),
		w.ID, w.URL, joinKinds(w.Kinds), w.Secret, w.Description, w.CreatedBy, w.CreatedAt, nil)
	return err
}

// Webhooks lists the subscriptions not deleted, oldest first.
func (r *Reader) Webhooks() ([]privacy.Webhook, error) {
	return selectDomain[webhookRecord, privacy.Webhook](r, "webhooks", "SELECT "+webhookColumns+" FROM webhooks WHERE deleted_at IS NULL ORDER BY created_at, id")
}

// Webhook returns one subscription, deleted or not.
func (r *Reader) Webhook(id string) (privacy.Webhook, error) {
	w, err := selectOne[webhookRecord](r, "webhook", "SELECT "+webhookColumns+" FROM webhooks WHERE id = ?", id)
	return w.toDomain(), err
}

// DeleteWebhook ends a subscription: it gets no new events and its
// pending deliveries are cancelled. The row stays, so its deliveries can
// still be read.
func (tx *Tx) DeleteWebhook(id string) error {
	n, err := tx.exec("webhook", "UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", tx.now, id)
	if err := changedOne(n, err, privacy.Errorf(privacy.ENotFound, "webhook not found")); err != nil {
		return err
	}
	_, err = tx.exec("webhook deliveries", "UPDATE webhook_deliveries SET state = ?, last_error = ? WHERE webhook_id = ? AND state = ?",
		privacy.DeliveryCancelled, "webhook deleted", id, privacy.DeliveryPending)
	return err
}

// WebhookSubscription is what the outbox needs of a webhook.
type WebhookSubscription struct {
	ID    string
	Kinds []privacy.WebhookKind
}

// WebhookSubscriptions lists the live subscriptions. It runs inside the
// audit writer's transaction for every change that has something to
// announce.
func (r *Reader) WebhookSubscriptions() ([]WebhookSubscription, error) {
	var out []WebhookSubscription
	err := r.each("webhooks", "SELECT id, kinds FROM webhooks WHERE deleted_at IS NULL ORDER BY id", nil, func(s rowScanner) error {
		var id, kinds string
		if err := s.Scan(&id, &kinds); err != nil {
			return err
		}
		sub := WebhookSubscription{ID: id}
		for _, k := range strings.Fields(kinds) {
			sub.Kinds = append(sub.Kinds, privacy.WebhookKind(k))
		}
		out = append(out, sub)
		return nil
	})
	return out, err
}

// InsertWebhookEvent writes an event to the outbox with one pending
// delivery per webhook in to. An event whose dedupe key is already there
// is skipped (inserted false): another instance announced it first.
func (tx *Tx) InsertWebhookEvent(ev privacy.WebhookEvent, to []string) (inserted bool, err error) {
	ev.CreatedAt, ev.Sequence = tx.now, 0
	payload, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("store: webhook event: %w", err)
	}
	var dedupe any
	if ev.DedupeKey != "" {
		dedupe = ev.DedupeKey
	}
	var seq int64
	err = tx.row("webhook event", `INSERT INTO webhook_events (id, kind, order_key, payload, dedupe_key, created_at, trace_parent, trace_state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING RETURNING seq`,
		[]any{ev.ID, string(ev.Kind), ev.OrderKey, string(payload), dedupe, tx.now, ev.TraceParent, ev.TraceState}, &seq)
	if privacy.ErrorCode(err) == privacy.ENotFound {
		return false, nil // the conflict: no row returned
	}
	if err != nil {
		return false, err
	}
	for _, w := range to {
		if _, err := tx.exec("webhook delivery", `INSERT INTO webhook_deliveries (webhook_id, event_seq, order_key, state, next_attempt_at, created_at)
			VALUES (?, ?, ?, 'pending', ?, ?)`, w, seq, ev.OrderKey, tx.now, tx.now); err != nil {
			return false, err
		}
	}
	return true, nil
}

// deliveryRow is a row of webhook_deliveries joined with its event's
// payload.
type deliveryRow struct {
	ID            int64
	WebhookID     string
	EventSeq      int64
	OrderKey      string
	State         string
	Attempts      int
	NextAttemptAt time.Time
	LastAttemptAt *time.Time
	LastStatus    int
	LastError     string
	DeliveredAt   *time.Time
	CreatedAt     time.Time
	Payload       string
	TraceParent   string
	TraceState    string
}

func (r *deliveryRow) fields() []any {
	return []any{&r.ID, &r.WebhookID, &r.EventSeq, &r.OrderKey, &r.State, &r.Attempts, &r.NextAttemptAt, &r.LastAttemptAt, &r.LastStatus,
		&r.LastError, &r.DeliveredAt, &r.CreatedAt, &r.Payload, &r.TraceParent, &r.TraceState}
}

func (r deliveryRow) toDomain() (privacy.WebhookDelivery, error) {
	d := privacy.WebhookDelivery{ID: r.ID, WebhookID: r.WebhookID, State: privacy.DeliveryState(r.State),
		Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt.UTC(), LastAttemptAt: timeVal(r.LastAttemptAt), LastStatus: r.LastStatus,
		LastError: r.LastError, DeliveredAt: timeVal(r.DeliveredAt), CreatedAt: r.CreatedAt.UTC()}
	if err := json.Unmarshal([]byte(r.Payload), &d.Event); err != nil {
		return d, fmt.Errorf("store: webhook event %d: %w", r.EventSeq, err)
	}
	// The sequence is the row's, known only once it was inserted.
	d.Event.Sequence, d.Event.OrderKey = r.EventSeq, r.OrderKey
	d.Event.TraceParent, d.Event.TraceState = r.TraceParent, r.TraceState
	return d, nil
}

// deliveries reads deliveries with their events: where is a condition on
// d (webhook_deliveries), order an ORDER BY list.
func (r *Reader) deliveries(where string, args []any, order string, limit int) ([]privacy.WebhookDelivery, error) {
	rs, err := selectAll[deliveryRow](r, "webhook deliveries", `SELECT d.id, d.webhook_id, d.event_seq, d.order_key, d.state, d.attempts,
		d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at, e.payload,
		e.trace_parent, e.trace_state FROM webhook_deliveries d JOIN webhook_events e ON e.seq = d.event_seq WHERE `+where+" ORDER BY "+order+" LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, err
	}
	out := make([]privacy.WebhookDelivery, 0, len(rs))
	for _, rec := range rs {
		d, err := rec.toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// QueueItem is what the dispatcher needs to choose what to send next.
type QueueItem struct {
	ID            int64
	OrderKey      string
	NextAttemptAt time.Time
}

func (q *QueueItem) fields() []any { return []any{&q.ID, &q.OrderKey, &q.NextAttemptAt} }

// DeliveryQueue returns up to limit of a webhook's pending deliveries,
// oldest event first, without their events: the dispatcher reads it many
// times a second and sends few of them.
func (r *Reader) DeliveryQueue(webhookID string, limit int) ([]QueueItem, error) {
	items, err := selectAll[QueueItem](r, "webhook deliveries", `SELECT id, order_key, next_attempt_at FROM webhook_deliveries
		WHERE webhook_id = ? AND state = ? ORDER BY event_seq LIMIT ?`, webhookID, privacy.DeliveryPending, limit)
	for i := range items {
		items[i].NextAttemptAt = items[i].NextAttemptAt.UTC()
	}
	return items, err
}

// DeliveriesByID returns deliveries of a webhook with their events, in
// event order.
func (r *Reader) DeliveriesByID(webhookID string, ids []int64) ([]privacy.WebhookDelivery, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cond, args := in("d.id", ids)
	return r.deliveries("d.webhook_id = ? AND "+cond, append([]any{webhookID}, args...), "d.event_seq", len(ids))
}

// WebhookDeliveries lists a webhook's deliveries, newest first, those
// before the delivery id before (0: from the newest), in one state or all.
func (r *Reader) WebhookDeliveries(webhookID string, state privacy.DeliveryState, before int64, limit int) ([]privacy.WebhookDelivery, error) {
	where, args := "d.webhook_id = ?", []any{webhookID}
	if state != "" {
		where, args = where+" AND d.state = ?", append(args, state)
	}
	if before > 0 {
		where, args = where+" AND d.id < ?", append(args, before)
	}
	return r.deliveries(where, args, "d.id DESC", limit)
}

// WebhookDelivery returns one delivery of a webhook.
func (r *Reader) WebhookDelivery(webhookID string, id int64) (privacy.WebhookDelivery, error) {
	ds, err := r.deliveries("d.webhook_id = ? AND d.id = ?", []any{webhookID, id}, "d.id", 1)
	if err != nil {
		return privacy.WebhookDelivery{}, err
	}
	if len(ds) == 0 {
		return privacy.WebhookDelivery{}, privacy.Errorf(privacy.ENotFound, "delivery not found")
	}
	return ds[0], nil
}

// Attempt is the outcome of one try of a delivery.
type Attempt struct {
	ID     int64
	At     time.Time
	Status int
	Error  string
	// Delivered is a 2xx answer; otherwise Next is when to try again, or,
	// when Dead, the tries are used up.
	Delivered, Dead bool
	Next            time.Time
}

// RecordAttempts stores the outcomes of tries. Only a pending delivery
// moves: one cancelled meanwhile stays cancelled.
func (tx *Tx) RecordAttempts(as []Attempt) error {
	const set = "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?, last_status = ?, last_error = ?"
	const where = " WHERE id = ? AND state = ?"
	for _, a := range as {
		var err error
		switch {
		case a.Delivered:
			_, err = tx.exec("webhook delivery", set+", state = ?, delivered_at = ?"+where, a.At, a.Status, a.Error, privacy.DeliveryDelivered, a.At,
				a.ID, privacy.DeliveryPending)
		case a.Dead:
			_, err = tx.exec("webhook delivery", set+", state = ?"+where, a.At, a.Status, a.Error, privacy.DeliveryDead, a.ID, privacy.DeliveryPending)
		default:
			_, err = tx.exec("webhook delivery", set+", next_attempt_at = ?"+where, a.At, a.Status, a.Error, a.Next, a.ID, privacy.DeliveryPending)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// WebhooksWithDeadDeliveries lists up to limit live webhooks that have
// dead deliveries, and how many dead deliveries live webhooks have in all:
// the continuous review's view of notifications that never arrived.
func (r *Reader) WebhooksWithDeadDeliveries(limit int) ([]string, int64, error) {
	const from = " FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE d.state = ? AND w.deleted_at IS NULL"
	var n int64
	if err := r.row("webhook deliveries", "SELECT COUNT(*)"+from, []any{privacy.DeliveryDead}, &n); err != nil || n == 0 {
		return nil, 0, err
	}
	ids, err := r.strings("webhook deliveries", "SELECT DISTINCT d.webhook_id"+from+" ORDER BY d.webhook_id LIMIT ?", privacy.DeliveryDead, limit)
	return ids, n, err
}

// RetryDelivery puts a dead or pending delivery back in the queue, due
// now, with its tries counted from zero again.
func (tx *Tx) RetryDelivery(webhookID string, id int64) error {
	n, err := tx.exec("webhook delivery", `UPDATE webhook_deliveries SET state = ?, attempts = 0, next_attempt_at = ?
		WHERE webhook_id = ? AND id = ? AND state IN (?, ?)`, privacy.DeliveryPending, tx.now, webhookID, id, privacy.DeliveryDead, privacy.DeliveryPending)
	if err != nil || n > 0 {
		return err
	}
	d, err := tx.WebhookDelivery(webhookID, id)
	if err != nil {
		return err
	}
	return privacy.Errorf(privacy.EConflict, "delivery %d is %s; only a dead or pending delivery can be retried", id, d.State)
}

// PruneWebhookDeliveries deletes deliveries that were delivered or
// cancelled before before, and the events no delivery needs any more.
// Dead deliveries stay until someone retries them or deletes the webhook:
// they are what an operator must look at.
func (tx *Tx) PruneWebhookDeliveries(before time.Time) (int64, error) {
	n, err := tx.exec("webhook deliveries", `DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'cancelled') AND created_at < ?`, before)
	if err != nil {
		return 0, err
	}
	_, err = tx.exec("webhook events", `DELETE FROM webhook_events WHERE created_at < ?
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = webhook_events.seq)`, before)
	return n, err
}

// AcquireWebhookLease makes owner the one instance delivering a webhook's
// events until until, if no other owner holds an unexpired lease.
func (tx *Tx) AcquireWebhookLease(webhookID, owner string, until time.Time) (bool, error) {
	n, err := tx.exec("webhook lease", `UPDATE webhook_leases SET owner = ?, until = ? WHERE webhook_id = ? AND (owner = ? OR until < ?)`,
		owner, until, webhookID, owner, tx.now)
	if err != nil || n == 1 {
		return n == 1, err
	}
	n, err = tx.exec("webhook lease", `INSERT INTO webhook_leases (webhook_id, owner, until) VALUES (?, ?, ?) ON CONFLICT (webhook_id) DO NOTHING`,
		webhookID, owner, until)
	return n == 1, err
}

// ReleaseWebhookLeases gives up owner's leases, so that another instance
// (or this one restarted) can deliver at once.
func (tx *Tx) ReleaseWebhookLeases(owner string) error {
	_, err := tx.exec("webhook lease", `DELETE FROM webhook_leases WHERE owner = ?`, owner)
	return err
}

// Cursor returns the time a named scan has reached, and whether it has one.
func (r *Reader) Cursor(name string) (time.Time, bool, error) {
	var at time.Time
	err := r.row("cursor", "SELECT at FROM webhook_cursors WHERE name = ?", []any{name}, &at)
	if privacy.ErrorCode(err) == privacy.ENotFound {
		return time.Time{}, false, nil
	}
	return at.UTC(), err == nil, err
}

// StartCursor sets a named scan's time unless it has one.
func (tx *Tx) StartCursor(name string, at time.Time) error {
	_, err := tx.exec("cursor", `INSERT INTO webhook_cursors (name, at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, at)
	return err
}

// SetCursor moves a named scan's time forward (never back).
func (tx *Tx) SetCursor(name string, at time.Time) error {
	_, err := tx.exec("cursor", `INSERT INTO webhook_cursors (name, at) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET at = excluded.at WHERE webhook_cursors.at < excluded.at`, name, at)
	return err
}

// GrantsExpiring lists the consents in force whose time ran out in
// (from, to], oldest first, at most limit.
func (r *Reader) GrantsExpiring(from, to time.Time, limit int) ([]privacy.ConsentState, error) {
	return r.states(selectStates+` WHERE granted = ? AND kind = ? AND expires_at > ? AND expires_at <= ?
		ORDER BY expires_at, subject_id, device_id, purpose LIMIT ?`, r.boolValue(true), privacy.RecordConsent, from, to, limit)
}

// GrantsUnder lists the consents in force, unexpired at the transaction's
// time, given under a notice for any of purposes.
func (r *Reader) GrantsUnder(noticeKey string, purposes []string) ([]privacy.ConsentState, error) {
	if len(purposes) == 0 {
		return nil, nil
	}
	cond, args := in("purpose", purposes)
	return r.states(selectStates+" WHERE granted = ? AND kind = ? AND notice_key = ? AND "+cond+
		" AND (expires_at IS NULL OR expires_at > ?) ORDER BY subject_id, device_id, purpose",
		append(append([]any{r.boolValue(true), privacy.RecordConsent, noticeKey}, args...), r.now)...)
}
