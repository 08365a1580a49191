package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/consentry/consentry/api/webhooksig"
	"github.com/consentry/consentry/internal/privacy"
	"github.com/consentry/consentry/internal/store"
	"github.com/consentry/consentry/internal/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// queueWindow is how many of a webhook's oldest pending deliveries one
// round looks at to find those due.
const queueWindow = 1000

// run delivers until ctx ends: on every wake-up (a local commit that wrote
// events) or poll tick, each webhook whose lease this instance holds gets
// its due deliveries sent.
func (s *Service) run(ctx context.Context) {
	defer s.wg.Done()
	poll := time.NewTicker(s.opts.Poll)
	defer poll.Stop()
	scan := time.NewTicker(s.opts.ExpiryScan)
	defer scan.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	s.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			// Let another instance, or this one restarted, take over now
			// rather than when the leases run out.
			err := s.db.Transact(context.Background(), func(tx *store.Tx) error { return tx.ReleaseWebhookLeases(s.owner) })
			if err != nil {
				s.log.Warn("webhook leases not released; they expire on their own", "error", err)
			}
			return
		case <-scan.C:
			if n, err := s.outbox.scanExpiries(ctx, s.audit); err != nil && ctx.Err() == nil {
				s.log.Error("webhook expiry scan failed; retried at the next scan", "error", err)
			} else if n > 0 {
				s.outbox.Wake()
			}
			continue
		case <-prune.C:
			s.prune(ctx)
			continue
		case <-poll.C:
		case <-s.outbox.wake:
			if s.outbox.subs.none() {
				// With no webhook there is nothing to look for (the poll
				// still looks, for webhooks made on other instances).
				continue
			}
		}
		if err := s.round(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("webhook delivery round failed; retried at the next poll", "error", err)
		}
	}
}

// prune drops delivery history older than the retention.
func (s *Service) prune(ctx context.Context) {
	var n int64
	err := s.db.Transact(ctx, func(tx *store.Tx) error {
		var err error
		n, err = tx.PruneWebhookDeliveries(s.opts.Now().Add(-s.opts.Retention))
		return err
	})
	// An error after Stop canceled ctx is the stop, not a failure.
	if err != nil && ctx.Err() == nil {
		s.log.Error("webhook history prune failed; retried in an hour", "error", err)
	} else if n > 0 {
		s.log.Info("webhook delivery history pruned", "deliveries", n)
	}
}

// round sends what is due for every webhook this instance can lease.
func (s *Service) round(ctx context.Context) error {
	hooks, err := s.db.Read(ctx).Webhooks()
	if err != nil {
		return err
	}
	for _, w := range hooks {
		if err := s.drain(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// leaseTTL is how long a lease outlives its last renewal: longer than one
// round of sends, so no other instance sends the same webhook meanwhile.
func (s *Service) leaseTTL() time.Duration { return 2*s.opts.Timeout + s.opts.Poll + time.Second }

// drain sends a webhook's due deliveries, round after round, while it
// holds the lease and something is due. Deliveries with the same order key
// (a subject) go one at a time, oldest first: a later event waits while an
// earlier one is retried. Different keys go in parallel.
func (s *Service) drain(ctx context.Context, w privacy.Webhook) error {
	for ctx.Err() == nil {
		queue, err := s.db.Read(ctx).DeliveryQueue(w.ID, queueWindow)
		if err != nil {
			return err
		}
		if len(pick(queue, s.opts.Now(), 1)) == 0 {
			return nil
		}
		held, taken, err := s.lease(ctx, w.ID)
		if err != nil || !held {
			return err
		}
		if taken {
			// Read again under a lease just taken: another instance may
			// have sent some of them before this one took over.
			if queue, err = s.db.Read(ctx).DeliveryQueue(w.ID, queueWindow); err != nil {
				return err
			}
		}
		ids := pick(queue, s.opts.Now(), s.opts.Parallel)
		if len(ids) == 0 {
			return nil
		}
		due, err := s.db.Read(ctx).DeliveriesByID(w.ID, ids)
		if err != nil {
			return err
		}
		attempts := s.sendAll(ctx, w, due)
		if ctx.Err() != nil {
			// Sends cut short by shutdown are not failures of the
			// receiver; they stay pending and are sent again.
			return nil
		}
		if err := s.db.Transact(context.Background(), func(tx *store.Tx) error { return tx.RecordAttempts(attempts) }); err != nil {
			return err
		}
		for _, a := range attempts {
			s.metrics.attempts.WithLabelValues(outcome(a)).Inc()
		}
	}
	return nil
}

// lease takes or renews this instance's lease on a webhook's deliveries;
// taken says the lease was not this instance's until now. A lease with
// more than half its time left is not renewed: renewing is a write, and
// the dispatcher may run many rounds a second.
func (s *Service) lease(ctx context.Context, id string) (held, taken bool, err error) {
	now := s.opts.Now()
	prev, had := s.leases[id]
	if had && prev.Sub(now) > s.leaseTTL()/2 {
		return true, false, nil
	}
	until := now.Add(s.leaseTTL())
	err = s.db.Transact(ctx, func(tx *store.Tx) error {
		var err error
		held, err = tx.AcquireWebhookLease(id, s.owner, until)
		return err
	})
	if err != nil || !held {
		delete(s.leases, id)
		return false, false, err
	}
	s.leases[id] = until
	// A lease that had run out may have been someone else's meanwhile.
	return true, !had || !prev.After(now), nil
}

// pick chooses, from a queue in event order, the first pending delivery of
// each order key, if it is due, at most max.
func pick(queue []store.QueueItem, now time.Time, max int) []int64 {
	seen := map[string]bool{}
	var due []int64
	for _, d := range queue {
		if seen[d.OrderKey] {
			continue
		}
		seen[d.OrderKey] = true
		if !d.NextAttemptAt.After(now) {
			due = append(due, d.ID)
			if len(due) == max {
				break
			}
		}
	}
	return due
}

func outcome(a store.Attempt) string {
	switch {
	case a.Delivered:
		return "delivered"
	case a.Dead:
		return "dead"
	}
	return "failed"
}

// sendAll sends deliveries in parallel and returns each one's outcome.
func (s *Service) sendAll(ctx context.Context, w privacy.Webhook, due []privacy.WebhookDelivery) []store.Attempt {
	out := make([]store.Attempt, len(due))
	var wg sync.WaitGroup
	for i, d := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = s.send(ctx, w, d)
		}()
	}
	wg.Wait()
	return out
}

// send makes one try of a delivery.
func (s *Service) send(ctx context.Context, w privacy.Webhook, d privacy.WebhookDelivery) store.Attempt {
	a := store.Attempt{ID: d.ID, At: s.opts.Now().UTC().Truncate(time.Microsecond)}
	status, err := s.post(ctx, w, d)
	a.Status = status
	switch {
	case err == nil && status >= 200 && status < 300:
		a.Delivered = true
		return a
	case err != nil:
		a.Error = err.Error()
	default:
		a.Error = fmt.Sprintf("the receiver answered %d", status)
	}
	if d.Attempts+1 >= s.opts.MaxAttempts {
		a.Dead = true
		return a
	}
	a.Next = a.At.Add(s.backoff(d.Attempts + 1))
	return a
}

// backoff is the wait after the nth failed try: doubling from the base,
// capped, with ±20% jitter so that receivers coming back are not hit by
// every sender at once.
func (s *Service) backoff(n int) time.Duration {
	d := s.opts.Backoff
	for i := 1; i < n && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// post sends the event, signed, and returns the receiver's status.
func (s *Service) post(ctx context.Context, w privacy.Webhook, d privacy.WebhookDelivery) (int, error) {
	body, err := json.Marshal(d.Event)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	// The delivery goes on with the trace of the request that made the
	// change: as a span of it when tracing is on, its traceparent as it
	// came otherwise.
	if d.Event.TraceParent != "" {
		ctx = tracing.Extract(ctx, &tracing.Carrier{TraceParent: d.Event.TraceParent, TraceState: d.Event.TraceState})
	}
	var span trace.Span
	if tracing.Enabled() {
		ctx, span = tracing.Tracer().Start(ctx, "webhook.deliver", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("consentry.webhook.id", w.ID), attribute.String("consentry.webhook.event_kind", string(d.Event.Kind)),
				attribute.Int("consentry.webhook.attempt", d.Attempts+1)))
		defer span.End()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	tracing.Inject(ctx, propagation.HeaderCarrier(req.Header))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Consentry-Webhook/1")
	now := s.opts.Now()
	// The event's id is the message id: the same on every retry, from
	// every instance, so that receivers de-duplicate on it.
	webhooksig.SetHeaders(req.Header, w.Secret, d.Event.ID, now, body)
	req.Header.Set(webhooksig.HeaderEventID, d.Event.ID)
	req.Header.Set(webhooksig.HeaderEventKind, string(d.Event.Kind))
	req.Header.Set(webhooksig.HeaderDelivery, strconv.FormatInt(d.ID, 10))
	req.Header.Set(webhooksig.HeaderAttempt, strconv.Itoa(d.Attempts+1))
	req.Header.Set(webhooksig.HeaderLegacySignature, webhooksig.SignLegacy(w.Secret, now, body))
	resp, err := s.client.Do(req)
	if span != nil {
		if err != nil {
			span.SetStatus(codes.Error, "no answer")
		} else {
			span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
			if resp.StatusCode/100 != 2 {
				span.SetStatus(codes.Error, "refused")
			}
		}
	}
	if err != nil {
		// The URL is the operator's; the cause is what helps.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("delivery failed: %w", err)
	}
	defer resp.Body.Close()
	// Drain a little, so the connection can be reused; the body means nothing.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, nil
}
