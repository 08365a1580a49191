// Package webhooktest is a webhook receiver for tests: it listens on
// 127.0.0.1, checks every delivery's signature as the documentation tells
// receivers to, with api/webhooksig and with the Standard Webhooks
// project's own Go library (an implementation of the specification
// independent of Consentry's), de-duplicates on the event id, and can
// answer 500 to the first tries of each event.
package webhooktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/consentry/consentry/api/webhooksig"
	"github.com/consentry/consentry/internal/privacy"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Receiver records what it is sent.
type Receiver struct {
	*httptest.Server
	secret string
	// spec is the specification's own verifier.
	spec *standardwebhooks.Webhook

	mu sync.Mutex
	// FailFirst is how many tries of each event are answered 500.
	failFirst int
	tries     map[string]int
	events    []privacy.WebhookEvent // accepted, first delivery of each id, in arrival order
	bodies    map[string][]byte
	headers   map[string]http.Header
	requests  int
	dupes     int
	// bad lists deliveries whose signature or headers did not check out.
	bad []string
}

// New starts a receiver for deliveries signed with secret.
func New(t testing.TB, secret string, failFirst int) *Receiver {
	// A standard secret as the library takes it ("whsec_..."); another
	// (from before Consentry followed the specification) as a raw key.
	spec, err := standardwebhooks.NewWebhook(secret)
	if !webhooksig.IsStandardSecret(secret) {
		spec, err = standardwebhooks.NewWebhookRaw([]byte(secret))
	}
	if err != nil {
		t.Fatalf("webhooktest: %v", err)
	}
	r := &Receiver{secret: secret, spec: spec, failFirst: failFirst, tries: map[string]int{}, bodies: map[string][]byte{}, headers: map[string]http.Header{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if err != nil {
		r.bad = append(r.bad, "unreadable body: "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	// The documented check: signature over the exact bytes, timestamp in
	// the window, then de-duplication on the event id.
	if err := webhooksig.Verify(r.secret, req.Header, body, time.Now(), webhooksig.DefaultTolerance); err != nil {
		r.bad = append(r.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if err := r.spec.Verify(body, req.Header); err != nil {
		r.bad = append(r.bad, "the Standard Webhooks library refuses it: "+err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev privacy.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.ID != req.Header.Get(webhooksig.HeaderID) || ev.ID != req.Header.Get(webhooksig.HeaderEventID) ||
		string(ev.Kind) != req.Header.Get(webhooksig.HeaderEventKind) {
		r.bad = append(r.bad, "body and headers disagree: "+string(body))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.tries[ev.ID]++
	if r.tries[ev.ID] <= r.failFirst {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if _, seen := r.bodies[ev.ID]; seen {
		r.dupes++
		w.WriteHeader(http.StatusOK)
		return
	}
	r.bodies[ev.ID], r.headers[ev.ID] = body, req.Header.Clone()
	r.events = append(r.events, ev)
	w.WriteHeader(http.StatusNoContent)
}

// SetFailFirst changes how many tries of each event are refused.
func (r *Receiver) SetFailFirst(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failFirst = n
}

// Events returns the distinct events accepted, in arrival order.
func (r *Receiver) Events() []privacy.WebhookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]privacy.WebhookEvent(nil), r.events...)
}

// Delivery returns the body and headers of an accepted event.
func (r *Receiver) Delivery(id string) ([]byte, http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[id], r.headers[id]
}

// Stats returns the requests received, the duplicates among accepted
// deliveries, and the deliveries that failed the checks.
func (r *Receiver) Stats() (requests, duplicates int, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.dupes, append([]string(nil), r.bad...)
}

// WaitFor waits until n distinct events were accepted, or fails t.
func (r *Receiver) WaitFor(t testing.TB, n int, timeout time.Duration) []privacy.WebhookEvent {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		evs := r.Events()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook receiver: %d of %d events after %s: %+v", len(evs), n, timeout, evs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
