package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"gorm.io/gorm"
)

type webhookRecord struct {
	ID          string `gorm:"primaryKey"`
	URL         string
	Kinds       string
	Secret      string
	Description string
	CreatedBy   string
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	DeletedAt   *time.Time
}

func (webhookRecord) TableName() string { return "webhooks" }

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
	r := webhookRecord{ID: w.ID, URL: w.URL, Kinds: joinKinds(w.Kinds), Secret: w.Secret, Description: w.Description,
		CreatedBy: w.CreatedBy, CreatedAt: w.CreatedAt}
	return formatError(tx.db.Create(&r).Error, "webhook")
}

// Webhooks lists the subscriptions not deleted, oldest first.
func (tx *Tx) Webhooks() ([]privacy.Webhook, error) {
	var rs []webhookRecord
	if err := tx.db.Where("deleted_at IS NULL").Order("created_at, id").Find(&rs).Error; err != nil {
		return nil, formatError(err, "webhooks")
	}
	out := make([]privacy.Webhook, len(rs))
	for i, r := range rs {
		out[i] = r.toDomain()
	}
	return out, nil
}

// Webhook returns one subscription, deleted or not.
func (tx *Tx) Webhook(id string) (privacy.Webhook, error) {
	var r webhookRecord
	if err := tx.db.Where("id = ?", id).Take(&r).Error; err != nil {
		return privacy.Webhook{}, formatError(err, "webhook")
	}
	return r.toDomain(), nil
}

// DeleteWebhook ends a subscription: it gets no new events and its
// pending deliveries are cancelled. The row stays, so its deliveries can
// still be read.
func (tx *Tx) DeleteWebhook(id string) error {
	res := tx.db.Model(&webhookRecord{}).Where("id = ? AND deleted_at IS NULL", id).Update("deleted_at", tx.now)
	if res.Error != nil {
		return formatError(res.Error, "webhook")
	}
	if res.RowsAffected == 0 {
		return privacy.Errorf(privacy.ENotFound, "webhook not found")
	}
	err := tx.db.Table("webhook_deliveries").Where("webhook_id = ? AND state = ?", id, privacy.DeliveryPending).
		Updates(map[string]any{"state": privacy.DeliveryCancelled, "last_error": "webhook deleted"}).Error
	return formatError(err, "webhook deliveries")
}

// WebhookSubscription is what the outbox needs of a webhook.
type WebhookSubscription struct {
	ID    string
	Kinds []privacy.WebhookKind
}

// WebhookSubscriptions lists the live subscriptions. It runs inside the
// audit writer's transaction for every change that has something to
// announce, so it skips gorm.
func (tx *Tx) WebhookSubscriptions() ([]WebhookSubscription, error) {
	stmt, err := tx.stmt(`SELECT id, kinds FROM webhooks WHERE deleted_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	rows, err := stmt.QueryContext(tx.ctx())
	if err != nil {
		return nil, formatError(err, "webhooks")
	}
	defer rows.Close()
	var out []WebhookSubscription
	for rows.Next() {
		var id, kinds string
		if err := rows.Scan(&id, &kinds); err != nil {
			return nil, formatError(err, "webhooks")
		}
		s := WebhookSubscription{ID: id}
		for _, k := range strings.Fields(kinds) {
			s.Kinds = append(s.Kinds, privacy.WebhookKind(k))
		}
		out = append(out, s)
	}
	return out, formatError(rows.Err(), "webhooks")
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
	err = tx.rawQueryRow(`INSERT INTO webhook_events (id, kind, order_key, payload, dedupe_key, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (dedupe_key) DO NOTHING RETURNING seq`, []any{ev.ID, string(ev.Kind), ev.OrderKey, string(payload), dedupe, tx.now}, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, formatError(translate(tx, err), "webhook event")
	}
	for _, w := range to {
		if err := tx.rawExec(`INSERT INTO webhook_deliveries (webhook_id, event_seq, order_key, state, next_attempt_at, created_at)
			VALUES (?, ?, ?, 'pending', ?, ?)`, w, seq, ev.OrderKey, tx.now, tx.now); err != nil {
			return false, formatError(translate(tx, err), "webhook delivery")
		}
	}
	return true, nil
}

// deliveryRow is a row of webhook_deliveries joined with its event's
// payload. (Updates name the table; no other struct mirrors the row.)
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
	return d, nil
}

func (tx *Tx) deliveries(where string, args []any, order string, limit int) ([]privacy.WebhookDelivery, error) {
	var rs []deliveryRow
	err := tx.db.Table("webhook_deliveries AS d").
		Select("d.id, d.webhook_id, d.event_seq, d.order_key, d.state, d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_status, d.last_error, d.delivered_at, d.created_at, e.payload").
		Joins("JOIN webhook_events e ON e.seq = d.event_seq").Where(where, args...).Order(order).Limit(limit).Scan(&rs).Error
	if err != nil {
		return nil, formatError(err, "webhook deliveries")
	}
	out := make([]privacy.WebhookDelivery, 0, len(rs))
	for _, r := range rs {
		d, err := r.toDomain()
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

// DeliveryQueue returns up to limit of a webhook's pending deliveries,
// oldest event first, without their events: the dispatcher reads it many
// times a second and sends few of them.
func (tx *Tx) DeliveryQueue(webhookID string, limit int) ([]QueueItem, error) {
	var rs []QueueItem
	err := tx.db.Table("webhook_deliveries").Select("id, order_key, next_attempt_at").
		Where("webhook_id = ? AND state = ?", webhookID, privacy.DeliveryPending).Order("event_seq").Limit(limit).Scan(&rs).Error
	return rs, formatError(err, "webhook deliveries")
}

// DeliveriesByID returns deliveries of a webhook with their events, in
// event order.
func (tx *Tx) DeliveriesByID(webhookID string, ids []int64) ([]privacy.WebhookDelivery, error) {
	return tx.deliveries("d.webhook_id = ? AND d.id IN ?", []any{webhookID, ids}, "d.event_seq", len(ids))
}

// WebhookDeliveries lists a webhook's deliveries, newest first, those
// before the delivery id before (0: from the newest), in one state or all.
func (tx *Tx) WebhookDeliveries(webhookID string, state privacy.DeliveryState, before int64, limit int) ([]privacy.WebhookDelivery, error) {
	where, args := "d.webhook_id = ?", []any{webhookID}
	if state != "" {
		where, args = where+" AND d.state = ?", append(args, state)
	}
	if before > 0 {
		where, args = where+" AND d.id < ?", append(args, before)
	}
	return tx.deliveries(where, args, "d.id DESC", limit)
}

// WebhookDelivery returns one delivery of a webhook.
func (tx *Tx) WebhookDelivery(webhookID string, id int64) (privacy.WebhookDelivery, error) {
	ds, err := tx.deliveries("d.webhook_id = ? AND d.id = ?", []any{webhookID, id}, "d.id", 1)
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
	for _, a := range as {
		set := map[string]any{"attempts": gorm.Expr("attempts + 1"), "last_attempt_at": a.At, "last_status": a.Status, "last_error": a.Error}
		switch {
		case a.Delivered:
			set["state"], set["delivered_at"] = privacy.DeliveryDelivered, a.At
		case a.Dead:
			set["state"] = privacy.DeliveryDead
		default:
			set["next_attempt_at"] = a.Next
		}
		if err := tx.db.Table("webhook_deliveries").Where("id = ? AND state = ?", a.ID, privacy.DeliveryPending).Updates(set).Error; err != nil {
			return formatError(err, "webhook delivery")
		}
	}
	return nil
}

// WebhooksWithDeadDeliveries lists up to limit live webhooks that have
// dead deliveries, and how many dead deliveries live webhooks have in all:
// the continuous review's view of notifications that never arrived.
func (tx *Tx) WebhooksWithDeadDeliveries(limit int) ([]string, int64, error) {
	q := func() *gorm.DB {
		return tx.db.Table("webhook_deliveries AS d").Joins("JOIN webhooks w ON w.id = d.webhook_id").
			Where("d.state = ? AND w.deleted_at IS NULL", privacy.DeliveryDead)
	}
	var n int64
	if err := q().Count(&n).Error; err != nil {
		return nil, 0, formatError(err, "webhook deliveries")
	}
	var ids []string
	if n > 0 {
		if err := q().Distinct("d.webhook_id").Order("d.webhook_id").Limit(limit).Pluck("d.webhook_id", &ids).Error; err != nil {
			return nil, 0, formatError(err, "webhook deliveries")
		}
	}
	return ids, n, nil
}

// RetryDelivery puts a dead or pending delivery back in the queue, due
// now, with its tries counted from zero again.
func (tx *Tx) RetryDelivery(webhookID string, id int64) error {
	res := tx.db.Table("webhook_deliveries").Where("webhook_id = ? AND id = ? AND state IN ?", webhookID, id,
		[]privacy.DeliveryState{privacy.DeliveryDead, privacy.DeliveryPending}).
		Updates(map[string]any{"state": privacy.DeliveryPending, "attempts": 0, "next_attempt_at": tx.now})
	if res.Error != nil {
		return formatError(res.Error, "webhook delivery")
	}
	if res.RowsAffected == 0 {
		d, err := tx.WebhookDelivery(webhookID, id)
		if err != nil {
			return err
		}
		return privacy.Errorf(privacy.EConflict, "delivery %d is %s; only a dead or pending delivery can be retried", id, d.State)
	}
	return nil
}

// PruneWebhookDeliveries deletes deliveries that were delivered or
// cancelled before before, and the events no delivery needs any more.
// Dead deliveries stay until someone retries them or deletes the webhook:
// they are what an operator must look at.
func (tx *Tx) PruneWebhookDeliveries(before time.Time) (int64, error) {
	res := tx.db.Exec(`DELETE FROM webhook_deliveries WHERE state IN ('delivered', 'cancelled') AND created_at < ?`, before)
	if res.Error != nil {
		return 0, formatError(res.Error, "webhook deliveries")
	}
	err := tx.db.Exec(`DELETE FROM webhook_events WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_seq = webhook_events.seq)`,
		before).Error
	return res.RowsAffected, formatError(err, "webhook events")
}

// AcquireWebhookLease makes owner the one instance delivering a webhook's
// events until until, if no other owner holds an unexpired lease.
func (tx *Tx) AcquireWebhookLease(webhookID, owner string, until time.Time) (bool, error) {
	res := tx.db.Exec(`UPDATE webhook_leases SET owner = ?, until = ? WHERE webhook_id = ? AND (owner = ? OR until < ?)`,
		owner, until, webhookID, owner, tx.now)
	if res.Error != nil {
		return false, formatError(res.Error, "webhook lease")
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	res = tx.db.Exec(`INSERT INTO webhook_leases (webhook_id, owner, until) VALUES (?, ?, ?) ON CONFLICT (webhook_id) DO NOTHING`,
		webhookID, owner, until)
	if res.Error != nil {
		return false, formatError(res.Error, "webhook lease")
	}
	return res.RowsAffected == 1, nil
}

// ReleaseWebhookLeases gives up owner's leases, so that another instance
// (or this one restarted) can deliver at once.
func (tx *Tx) ReleaseWebhookLeases(owner string) error {
	return formatError(tx.db.Exec(`DELETE FROM webhook_leases WHERE owner = ?`, owner).Error, "webhook lease")
}

// Cursor returns the time a named scan has reached, and whether it has one.
func (tx *Tx) Cursor(name string) (time.Time, bool, error) {
	var at []time.Time
	if err := tx.db.Table("webhook_cursors").Where("name = ?", name).Pluck("at", &at).Error; err != nil {
		return time.Time{}, false, formatError(err, "cursor")
	}
	if len(at) == 0 {
		return time.Time{}, false, nil
	}
	return at[0].UTC(), true, nil
}

// StartCursor sets a named scan's time unless it has one.
func (tx *Tx) StartCursor(name string, at time.Time) error {
	return formatError(tx.db.Exec(`INSERT INTO webhook_cursors (name, at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, at).Error, "cursor")
}

// SetCursor moves a named scan's time forward (never back).
func (tx *Tx) SetCursor(name string, at time.Time) error {
	err := tx.db.Exec(`INSERT INTO webhook_cursors (name, at) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET at = excluded.at WHERE webhook_cursors.at < excluded.at`,
		name, at).Error
	return formatError(err, "cursor")
}

// GrantsExpiring lists the consents in force whose time ran out in
// (from, to], oldest first, at most limit.
func (tx *Tx) GrantsExpiring(from, to time.Time, limit int) ([]privacy.ConsentState, error) {
	return findStates(tx.db.Where("granted = ? AND kind = ? AND expires_at > ? AND expires_at <= ?", true, string(privacy.RecordConsent), from, to).
		Order("expires_at, subject_id, device_id, purpose").Limit(limit))
}

// GrantsUnder lists the consents in force, unexpired at the transaction's
// time, given under a notice for any of purposes.
func (tx *Tx) GrantsUnder(noticeKey string, purposes []string) ([]privacy.ConsentState, error) {
	return findStates(tx.db.Where("granted = ? AND kind = ? AND notice_key = ? AND purpose IN ? AND (expires_at IS NULL OR expires_at > ?)",
		true, string(privacy.RecordConsent), noticeKey, purposes, tx.now).Order("subject_id, device_id, purpose"))
}
