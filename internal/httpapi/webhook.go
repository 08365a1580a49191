package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/webhook"
	"github.com/gin-gonic/gin"
)

// webhookRequest subscribes a URL to change events.
type webhookRequest struct {
	// https, or http on a loopback host only. Deliveries are POSTed here.
	URL string `json:"url" binding:"required" example:"https://backend.example/consentry-events"`
	// The event kinds wanted (at least one).
	Events []string `json:"events" binding:"required,max=20" enums:"consent.granted,consent.withdrawn,consent.expired,consent.reconsent_required,device.deactivated,device.disposed,device.transferred,notice.published,subject.erasure_requested,subject.access_requested" example:"consent.withdrawn,consent.expired"`
	// The key deliveries are signed with, as Standard Webhooks writes it:
	// "whsec_" and the standard base64 of 24 to 64 random bytes; left out,
	// one is made (32 bytes). Returned only in this answer.
	Secret      string `json:"secret,omitempty" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"`
	Description string `json:"description,omitempty" example:"route planner: stop on withdrawal"`
}

// webhookResponse is a subscription (never with its secret, but in the
// answer that created it).
type webhookResponse struct {
	ID          string    `json:"id" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
	URL         string    `json:"url" example:"https://backend.example/consentry-events"`
	Events      []string  `json:"events" example:"consent.withdrawn,consent.expired"`
	Description string    `json:"description" example:"route planner: stop on withdrawal"`
	CreatedBy   string    `json:"created_by" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
	CreatedAt   time.Time `json:"created_at" example:"2026-11-29T10:00:00Z"`
	// Set when the webhook was deleted; its deliveries stay readable.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	// Only in the answer to POST /v1/webhooks.
	Secret string `json:"secret,omitempty" example:"whsec_bbus7kMQCkkQVG7ZXHLi4XQjSDtP/NSccKVb1IPD4Fk="`
}

func toWebhookResponse(w privacy.Webhook) webhookResponse {
	out := webhookResponse{ID: w.ID, URL: w.URL, Events: make([]string, len(w.Kinds)), Description: w.Description, CreatedBy: w.CreatedBy,
		CreatedAt: w.CreatedAt}
	for i, k := range w.Kinds {
		out.Events[i] = string(k)
	}
	if !w.DeletedAt.IsZero() {
		t := w.DeletedAt
		out.DeletedAt = &t
	}
	return out
}

// webhookList is every live webhook.
type webhookList struct {
	Webhooks []webhookResponse `json:"webhooks"`
}

// webhookEvent is the body of a delivery: what changed, with ids only.
type webhookEvent struct {
	// Stable across retries and instances: de-duplicate on it.
	ID string `json:"id" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
	// Orders events as their changes committed.
	Sequence  int64     `json:"sequence" example:"42"`
	Kind      string    `json:"kind" enums:"consent.granted,consent.withdrawn,consent.expired,consent.reconsent_required,device.deactivated,device.disposed,device.transferred,notice.published,subject.erasure_requested,subject.access_requested" example:"consent.withdrawn"`
	CreatedAt time.Time `json:"created_at" example:"2026-11-29T10:00:00Z"`
	// The app's own opaque subject id (consent and subject events; device events of an owned device). Once the subject's erasure completed, the erased marker "erased:<pseudonym>" in its place.
	Subject  string `json:"subject,omitempty" example:"user-4711"`
	DeviceID string `json:"device_id,omitempty" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
	// Consent events: the purposes concerned; notice.published: those it changed materially.
	Purposes []string `json:"purposes,omitempty" example:"navigation"`
	// The consent record granted or withdrawn (for expiry: the grant that ran out).
	ConsentID     string `json:"consent_id,omitempty" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
	NoticeKey     string `json:"notice_key,omitempty" example:"thermostat"`
	NoticeVersion int    `json:"notice_version,omitempty" example:"3"`
	// The audit entry of the change (absent for expiry, which changes nothing).
	AuditSeq *int64 `json:"audit_seq,omitempty" example:"1207"`
	// consent.expired: when the grant ran out.
	ExpiredAt *time.Time `json:"expired_at,omitempty"`
	// subject.erasure_requested, subject.access_requested: the request. For an erasure, erase what you hold about the subject, then POST /v1/subjects/requests/{request_id}/confirmations naming this webhook.
	RequestID string `json:"request_id,omitempty" example:"0193a5f2-7c1e-7b7a-9d1e-2f3c4b5a6d7e"`
	// consent.withdrawn made by the service, not the person: why (device_disposed, ownership_transferred).
	Reason string `json:"reason,omitempty" example:"device_disposed"`
}

// deliveryResponse is one event's delivery to one webhook.
type deliveryResponse struct {
	ID    int64        `json:"id" example:"17"`
	Event webhookEvent `json:"event"`
	// pending until a 2xx answer (delivered) or the tries run out (dead); cancelled when the webhook is deleted.
	State    string `json:"state" enums:"pending,delivered,dead,cancelled" example:"pending"`
	Attempts int    `json:"attempts" example:"2"`
	// When a pending delivery is next tried.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	// The receiver's last HTTP status (0: no answer).
	LastStatus  int        `json:"last_status" example:"500"`
	LastError   string     `json:"last_error,omitempty" example:"the receiver answered 500"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at" example:"2026-11-29T10:00:00Z"`
}

func toDeliveryResponse(d privacy.WebhookDelivery) deliveryResponse {
	e := d.Event
	out := deliveryResponse{ID: d.ID, State: string(d.State), Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError,
		CreatedAt: d.CreatedAt, Event: webhookEvent{ID: e.ID, Sequence: e.Sequence, Kind: string(e.Kind), CreatedAt: e.CreatedAt,
			Subject: e.Subject, DeviceID: e.DeviceID, Purposes: e.Purposes, ConsentID: e.ConsentID, NoticeKey: e.NoticeKey,
			NoticeVersion: e.NoticeVersion, AuditSeq: e.AuditSeq, ExpiredAt: e.ExpiredAt, RequestID: e.RequestID, Reason: e.Reason}}
	if d.State == privacy.DeliveryPending {
		out.NextAttemptAt = optionalTime(d.NextAttemptAt)
	}
	out.LastAttemptAt, out.DeliveredAt = optionalTime(d.LastAttemptAt), optionalTime(d.DeliveredAt)
	return out
}

// deliveryList is a page of deliveries, newest first.
type deliveryList struct {
	Deliveries []deliveryResponse `json:"deliveries"`
	// Pass as ?cursor= for older deliveries; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty" example:"17"`
}

// createWebhook subscribes a URL to change events.
//
// @Summary  Subscribe to change events
// @ID       createWebhook
// @Description Events are written to an outbox in the transaction of the change and POSTed to the URL at least once, in order per subject, signed in the Standard Webhooks format: webhook-id (the event's id: de-duplicate on it), webhook-timestamp and webhook-signature "v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>", verifiable with that specification's libraries; with Consentry-Event-Kind, Consentry-Delivery-Id and Consentry-Delivery-Attempt (and, deprecated, Consentry-Signature). A non-2xx answer or no answer is retried with exponential backoff; after the configured tries the delivery is dead (see deliveries). The body is a webhookEvent. Audited.
// @Tags     webhooks
// @Security BearerAuth
// @Accept   json
// @Produce  json
// @Param    body body webhookRequest true "the subscription"
// @Success  201 {object} webhookResponse "with its secret, this once"
// @Failure  400 {object} problem "malformed body or unknown field"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not manage webhooks"
// @Failure  413 {object} problem "body too large"
// @Failure  415 {object} problem "body is not JSON"
// @Failure  422 {object} problem "invalid fields (url, events, secret, description)"
// @Router   /v1/webhooks [post]
func (s *Server) createWebhook(c *gin.Context) error {
	var req webhookRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	in := webhookInput(req, privacy.ActorFrom(c.Request.Context()).ClientID)
	w, err := s.webhooks.Create(c.Request.Context(), in)
	if err != nil {
		return err
	}
	out := toWebhookResponse(w)
	out.Secret = w.Secret
	writeJSON(c, http.StatusCreated, out)
	return nil
}

// listWebhooks lists the live webhooks.
//
// @Summary  The webhooks
// @ID       listWebhooks
// @Tags     webhooks
// @Security BearerAuth
// @Produce  json
// @Success  200 {object} webhookList
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not manage webhooks"
// @Router   /v1/webhooks [get]
func (s *Server) listWebhooks(c *gin.Context) error {
	ws, err := s.webhooks.List(c.Request.Context())
	if err != nil {
		return err
	}
	out := webhookList{Webhooks: make([]webhookResponse, len(ws))}
	for i, w := range ws {
		out.Webhooks[i] = toWebhookResponse(w)
	}
	writeJSON(c, http.StatusOK, out)
	return nil
}

// getWebhook returns one webhook.
//
// @Summary  One webhook
// @ID       getWebhook
// @Description Deleted webhooks are still returned, with deleted_at.
// @Tags     webhooks
// @Security BearerAuth
// @Produce  json
// @Param    id path string true "webhook id" format(uuid)
// @Success  200 {object} webhookResponse
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not manage webhooks"
// @Failure  404 {object} problem "no such webhook"
// @Router   /v1/webhooks/{id} [get]
func (s *Server) getWebhook(c *gin.Context) error {
	w, err := s.webhooks.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusOK, toWebhookResponse(w))
	return nil
}

// deleteWebhook ends a subscription.
//
// @Summary  Delete a webhook
// @ID       deleteWebhook
// @Description It gets no new events; its pending deliveries are cancelled. Its deliveries stay readable. Audited.
// @Tags     webhooks
// @Security BearerAuth
// @Param    id path string true "webhook id" format(uuid)
// @Success  204 "deleted"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not manage webhooks"
// @Failure  404 {object} problem "no such webhook (or already deleted)"
// @Router   /v1/webhooks/{id} [delete]
func (s *Server) deleteWebhook(c *gin.Context) error {
	if err := s.webhooks.Delete(c.Request.Context(), c.Param("id")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// listDeliveries shows a webhook's delivery state.
//
// @Summary  A webhook's deliveries
// @ID       listWebhookDeliveries
// @Description Newest first, each with its event, state, tries and the receiver's last answer. An event names the subject it concerns: each one listed is recorded in the audit log (personal_data.read).
// @Tags     webhooks
// @Security BearerAuth
// @Produce  json
// @Param    id     path  string true  "webhook id" format(uuid)
// @Param    state  query string false "only this state" Enums(pending,delivered,dead,cancelled)
// @Param    cursor query string false "next_cursor of the previous page"
// @Param    limit  query int    false "page size, 1-500 (default 100)" minimum(1) maximum(500)
// @Success  200 {object} deliveryList
// @Failure  400 {object} problem "unknown query parameter"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not manage webhooks"
// @Failure  404 {object} problem "no such webhook"
// @Failure  422 {object} problem "bad state, cursor or limit"
// @Router   /v1/webhooks/{id}/deliveries [get]
func (s *Server) listDeliveries(c *gin.Context) error {
	q, err := strictQuery(c, "state", "cursor", "limit")
	if err != nil {
		return err
	}
	var p privacy.Problems
	limit, err := queryInt(q, "limit", 100)
	if err != nil {
		return err
	}
	if limit < 1 || limit > 500 {
		p.Add("limit", "must be between 1 and 500")
	}
	state := privacy.DeliveryState(q.Get("state"))
	if state != "" && !state.Valid() {
		p.Add("state", "must be one of pending, delivered, dead, cancelled")
	}
	var before int64
	if v := q.Get("cursor"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			p.Add("cursor", "is not a cursor this service issued")
		}
	}
	if err := p.Err("invalid query"); err != nil {
		return err
	}
	ds, err := s.webhooks.Deliveries(c.Request.Context(), c.Param("id"), state, before, int(limit)+1)
	if err != nil {
		return err
	}
	out := deliveryList{Deliveries: []deliveryResponse{}}
	if len(ds) > int(limit) {
		ds = ds[:limit]
		out.NextCursor = strconv.FormatInt(ds[len(ds)-1].ID, 10)
	}
	subjects := make([]string, 0, len(ds))
	for _, d := range ds {
		out.Deliveries = append(out.Deliveries, toDeliveryResponse(d))
		subjects = append(subjects, d.Event.Subject)
	}
	// An event names the person it concerns: reading it is a read.
	s.noteReads(c, subjects...)
	writeJSON(c, http.StatusOK, out)
	return nil
}

// retryDelivery sends a dead delivery again.
//
// @Summary  Retry a delivery
// @ID       retryWebhookDelivery
// @Description Puts a dead (or pending) delivery back in the queue, due now, with the full number of tries. A retried dead delivery may arrive after later events for the same subject: receivers order by the event's sequence. Audited.
// @Tags     webhooks
// @Security BearerAuth
// @Produce  json
// @Param    id       path string  true "webhook id" format(uuid)
// @Param    delivery path integer true "delivery id"
// @Success  202 {object} deliveryResponse "queued"
// @Failure  401 {object} problem "no or bad token"
// @Failure  403 {object} problem "role may not manage webhooks"
// @Failure  404 {object} problem "no such webhook or delivery"
// @Failure  409 {object} problem "the delivery was delivered or cancelled, or the webhook is deleted"
// @Router   /v1/webhooks/{id}/deliveries/{delivery}/retry [post]
func (s *Server) retryDelivery(c *gin.Context) error {
	id, err := strconv.ParseInt(c.Param("delivery"), 10, 64)
	if err != nil || id < 1 {
		return privacy.Errorf(privacy.ENotFound, "delivery not found")
	}
	d, err := s.webhooks.Retry(c.Request.Context(), c.Param("id"), id)
	if err != nil {
		return err
	}
	writeJSON(c, http.StatusAccepted, toDeliveryResponse(d))
	return nil
}

func webhookInput(req webhookRequest, clientID string) webhook.Input {
	in := webhook.Input{URL: req.URL, Secret: req.Secret, Description: req.Description, ClientID: clientID, Kinds: make([]privacy.WebhookKind, len(req.Events))}
	for i, k := range req.Events {
		in.Kinds[i] = privacy.WebhookKind(k)
	}
	return in
}
