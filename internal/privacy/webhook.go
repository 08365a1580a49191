package privacy

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// WebhookKind is a kind of change a backend can subscribe to.
type WebhookKind string

// The kinds of webhook events.
const (
	KindConsentGranted           WebhookKind = "consent.granted"
	KindConsentWithdrawn         WebhookKind = "consent.withdrawn"
	KindConsentExpired           WebhookKind = "consent.expired"
	KindConsentReconsentRequired WebhookKind = "consent.reconsent_required"
	KindDeviceDeactivated        WebhookKind = "device.deactivated"
	KindDeviceDisposed           WebhookKind = "device.disposed"
	KindDeviceTransferred        WebhookKind = "device.transferred"
	KindNoticePublished          WebhookKind = "notice.published"
	// A subject asked for erasure: the backend erases what it holds about
	// them, then confirms (POST /v1/subjects/requests/{id}/confirmations).
	KindSubjectErasureRequested WebhookKind = "subject.erasure_requested"
	KindSubjectAccessRequested  WebhookKind = "subject.access_requested"
)

// WebhookKinds lists every kind, in documentation order.
var WebhookKinds = []WebhookKind{KindConsentGranted, KindConsentWithdrawn, KindConsentExpired, KindConsentReconsentRequired,
	KindDeviceDeactivated, KindDeviceDisposed, KindDeviceTransferred, KindNoticePublished, KindSubjectErasureRequested, KindSubjectAccessRequested}

// Valid reports whether k is a known kind.
func (k WebhookKind) Valid() bool { return slices.Contains(WebhookKinds, k) }

// Webhook is a backend's subscription to changes.
type Webhook struct {
	ID          string
	URL         string
	Kinds       []WebhookKind
	Secret      string
	Description string
	CreatedBy   string
	CreatedAt   time.Time
	DeletedAt   time.Time
}

// Wants reports whether the webhook subscribes to k.
func (w Webhook) Wants(k WebhookKind) bool { return slices.Contains(w.Kinds, k) }

// CheckWebhookURL adds a problem unless u is an absolute https URL, or an
// http URL on a loopback host. Deliveries carry subject ids: in clear
// text they would leave the machine readable by anyone on the path.
func CheckWebhookURL(p *Problems, field, u string) {
	if len(u) > 2048 {
		p.Add(field, "must be at most 2048 characters")
		return
	}
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" || parsed.User != nil || parsed.Fragment != "" {
		p.Add(field, "must be an absolute http(s) URL without user info or fragment")
		return
	}
	switch parsed.Scheme {
	case "https":
	case "http":
		if !loopbackHost(parsed.Hostname()) {
			p.Add(field, "must use https; plain http is accepted only for a loopback host (localhost, 127.0.0.0/8, ::1)")
		}
	default:
		p.Add(field, "must be an absolute http(s) URL without user info or fragment")
	}
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// WebhookEvent is one notification: what changed, with only the ids a
// receiver needs to act on it. It is the body of every delivery.
type WebhookEvent struct {
	// ID is stable across retries and instances: receivers de-duplicate on it.
	ID string `json:"id"`
	// Sequence orders events as their changes committed.
	Sequence  int64       `json:"sequence,omitempty"`
	Kind      WebhookKind `json:"kind"`
	CreatedAt time.Time   `json:"created_at"`
	// Subject is the app's own opaque id of the person concerned, when there is one.
	Subject       string   `json:"subject,omitempty"`
	DeviceID      string   `json:"device_id,omitempty"`
	Purposes      []string `json:"purposes,omitempty"`
	ConsentID     string   `json:"consent_id,omitempty"`
	NoticeKey     string   `json:"notice_key,omitempty"`
	NoticeVersion int      `json:"notice_version,omitempty"`
	// AuditSeq is the audit entry of the change, when the change has one.
	AuditSeq *int64 `json:"audit_seq,omitempty"`
	// ExpiredAt is when an expired consent ran out.
	ExpiredAt *time.Time `json:"expired_at,omitempty"`
	// RequestID is the data-subject request announced.
	RequestID string `json:"request_id,omitempty"`
	// Reason is why the service withdrew consent, when the person did not.
	Reason string `json:"reason,omitempty"`
	// OrderKey groups events delivered strictly one after another: the
	// subject, or the device or notice an event without a subject is about.
	OrderKey string `json:"-"`
	// DedupeKey, when set, makes a second insert of the same event a no-op.
	DedupeKey string `json:"-"`
	// TraceParent and TraceState are the W3C trace context of the request
	// that made the change, sent on with each delivery; empty when it had
	// none.
	TraceParent string `json:"-"`
	TraceState  string `json:"-"`
}

// DeliveryState is where a delivery is.
type DeliveryState string

// Delivery states: pending until the receiver answers 2xx (delivered) or
// the tries run out (dead); cancelled when its webhook is deleted.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryDead      DeliveryState = "dead"
	DeliveryCancelled DeliveryState = "cancelled"
)

// Valid reports whether s is a known state.
func (s DeliveryState) Valid() bool {
	switch s {
	case DeliveryPending, DeliveryDelivered, DeliveryDead, DeliveryCancelled:
		return true
	}
	return false
}

// WebhookDelivery is one event's delivery to one webhook.
type WebhookDelivery struct {
	ID            int64
	WebhookID     string
	Event         WebhookEvent
	State         DeliveryState
	Attempts      int
	NextAttemptAt time.Time
	LastAttemptAt time.Time
	LastStatus    int
	LastError     string
	DeliveredAt   time.Time
	CreatedAt     time.Time
}
