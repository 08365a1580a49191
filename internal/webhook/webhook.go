// Package webhook tells backends, over signed HTTP callbacks, the moment a
// consent is granted, withdrawn, expires or needs renewal, a device is
// deactivated or disposed, or a notice is published, so that they stop
// processing without polling. Events are written to an outbox in the
// transaction of the change they report and delivered at least once, in
// order per subject, with exponential backoff and a dead-letter state.
package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/consentry/consentry/api/webhooksig"
	"github.com/consentry/consentry/internal/audit"
	"github.com/consentry/consentry/internal/event"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// Options tune delivery.
type Options struct {
	// MaxAttempts is the number of tries before a delivery is dead. Default 10.
	MaxAttempts int
	// Backoff is the wait after the first failed try; it doubles after
	// each, up to MaxBackoff. Defaults 1s and 1h.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one try. Default 5s.
	Timeout time.Duration
	// Poll is how often the queue is looked at when no local change woke
	// the dispatcher (changes made by other instances). Default 1s.
	Poll time.Duration
	// ExpiryScan is how often expired consents are looked for. Default 5s.
	ExpiryScan time.Duration
	// Retention is how long delivered and cancelled deliveries stay
	// readable. Default 30 days.
	Retention time.Duration
	// Parallel caps the deliveries to one webhook in flight at once (each
	// for a different subject). Default 16.
	Parallel int
	// Client sends the deliveries; default one that follows no redirects.
	Client     *http.Client
	Now        func() time.Time
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Service manages webhooks and delivers their events.
type Service struct {
	db     *store.DB
	audit  *audit.Log
	opts   Options
	log    *slog.Logger
	client *http.Client
	// owner names this process in delivery leases.
	owner  string
	outbox *Outbox
	// leases are the times this instance's leases run out; only the
	// dispatcher goroutine uses it.
	leases  map[string]time.Time
	wg      sync.WaitGroup
	cancel  context.CancelFunc
	metrics struct {
		attempts *prometheus.CounterVec
	}
}

// New returns a Service that delivers what outbox writes: the Outbox the
// log's reactions write to (internal/app). Start delivers the events.
func New(db *store.DB, log *audit.Log, outbox *Outbox, opts Options) (*Service, error) {
	if outbox == nil {
		return nil, fmt.Errorf("webhook: New needs the Outbox the audit log's reactions write to")
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Hour
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.ExpiryScan <= 0 {
		opts.ExpiryScan = 5 * time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = 30 * 24 * time.Hour
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 16
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{
			// A redirect is an answer the operator should see, not follow:
			// it could lead deliveries anywhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second},
		}
	}
	s := &Service{db: db, audit: log, opts: opts, log: opts.Log, client: opts.Client, owner: uuid.Must(uuid.NewV7()).String(),
		leases: map[string]time.Time{}, outbox: outbox}
	s.metrics.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "consentry", Name: "webhook_attempts_total",
		Help: "Webhook delivery tries, by outcome (delivered, failed, dead)."}, []string{"outcome"})
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(s.metrics.attempts); err != nil {
			return nil, fmt.Errorf("webhook: metrics: %w", err)
		}
	}
	return s, nil
}

// Start delivers in the background until Stop.
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.run(ctx)
}

// Stop ends delivery: tries in flight are cut short and stay pending.
func (s *Service) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// Input is a new webhook.
type Input struct {
	URL         string
	Kinds       []privacy.WebhookKind
	Secret      string
	Description string
	ClientID    string
}

// Create subscribes a URL to event kinds. Without a secret one is made;
// either way it is returned in this answer only.
func (s *Service) Create(ctx context.Context, in Input) (privacy.Webhook, error) {
	var p privacy.Problems
	privacy.CheckWebhookURL(&p, "url", in.URL)
	if len(in.Kinds) == 0 {
		p.Add("events", "must name at least one event kind")
	}
	for i, k := range in.Kinds {
		if !k.Valid() {
			p.Add(fmt.Sprintf("events[%d]", i), "unknown event kind %q", k)
		} else if slices.Index(in.Kinds, k) != i {
			p.Add(fmt.Sprintf("events[%d]", i), "%s is listed twice", k)
		}
	}
	if in.Secret != "" && !webhooksig.IsStandardSecret(in.Secret) {
		p.Add("secret", "must be a Standard Webhooks secret: %q and the standard base64 of %d to %d random bytes (or left out, and one is made)",
			webhooksig.SecretPrefix, webhooksig.MinSecretBytes, webhooksig.MaxSecretBytes)
	}
	if len(in.Description) > 200 {
		p.Add("description", "must be at most 200 characters")
	}
	if err := p.Err("invalid webhook"); err != nil {
		return privacy.Webhook{}, err
	}
	if in.Secret == "" {
		secret, err := webhooksig.NewSecret()
		if err != nil {
			return privacy.Webhook{}, err
		}
		in.Secret = secret
	}
	w := privacy.Webhook{ID: uuid.Must(uuid.NewV7()).String(), URL: in.URL, Kinds: in.Kinds, Secret: in.Secret, Description: in.Description,
		CreatedBy: in.ClientID}
	_, err := s.audit.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		w.CreatedAt = tx.Now()
		if err := tx.InsertWebhook(w); err != nil {
			return nil, err
		}
		if w.Wants(privacy.KindConsentExpired) {
			// Expiries are announced from here on (the scan has started
			// earlier if another webhook wanted them before).
			if err := tx.StartCursor(expiryCursor, w.CreatedAt); err != nil {
				return nil, err
			}
		}
		return []event.Event{event.WebhookCreated{ID: w.ID, URL: w.URL, Kinds: w.Kinds}}, nil
	})
	if err != nil {
		return privacy.Webhook{}, err
	}
	return w, nil
}

// List returns the live webhooks.
func (s *Service) List(ctx context.Context) ([]privacy.Webhook, error) {
	return s.db.Read(ctx).Webhooks()
}

// Get returns one webhook, deleted or not.
func (s *Service) Get(ctx context.Context, id string) (privacy.Webhook, error) {
	if _, err := uuid.Parse(id); err != nil {
		return privacy.Webhook{}, privacy.Errorf(privacy.ENotFound, "webhook not found")
	}
	return s.db.Read(ctx).Webhook(id)
}

// Delete ends a subscription; its pending deliveries are cancelled.
func (s *Service) Delete(ctx context.Context, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return privacy.Errorf(privacy.ENotFound, "webhook not found")
	}
	_, err := s.audit.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		if err := tx.DeleteWebhook(id); err != nil {
			return nil, err
		}
		return []event.Event{event.WebhookDeleted{ID: id}}, nil
	})
	return err
}

// Deliveries lists a webhook's deliveries, newest first, before the
// delivery id before (0: from the newest), in one state or (state "") all.
func (s *Service) Deliveries(ctx context.Context, id string, state privacy.DeliveryState, before int64, limit int) ([]privacy.WebhookDelivery, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	return s.db.Read(ctx).WebhookDeliveries(id, state, before, limit)
}

// Retry puts a dead (or pending) delivery back in the queue, due now.
func (s *Service) Retry(ctx context.Context, id string, delivery int64) (privacy.WebhookDelivery, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return privacy.WebhookDelivery{}, err
	}
	var d privacy.WebhookDelivery
	_, err := s.audit.Do(ctx, func(tx *audit.Tx) ([]event.Event, error) {
		w, err := tx.Webhook(id)
		if err != nil {
			return nil, err
		}
		if !w.DeletedAt.IsZero() {
			return nil, privacy.Errorf(privacy.EConflict, "the webhook is deleted; its deliveries cannot be retried")
		}
		if err := tx.RetryDelivery(id, delivery); err != nil {
			return nil, err
		}
		if d, err = tx.WebhookDelivery(id, delivery); err != nil {
			return nil, err
		}
		return []event.Event{event.WebhookRetried{WebhookID: id, Delivery: delivery}}, nil
	})
	if err != nil {
		return privacy.WebhookDelivery{}, err
	}
	s.outbox.Wake()
	return d, nil
}
