// Package client is a Go client for Consentry's REST API.
//
// client.gen.go is generated from openapi.yaml by oapi-codegen (`make
// generate`; a test fails when it is stale): one method per operation,
// named after its operationId, with typed requests and replies
// (NewClientWithResponses, then e.g. DecideWithResponse).
//
// Decider is the thin helper for the call every backend makes before it
// touches personal data: a short timeout per try, retries on 503 (the
// service could not audit the decision, so it gave none) and on 429, and
// an answer that fails closed: anything but an allow is a deny.
//
// Webhook deliveries are verified with package
// github.com/consentry/consentry/api/webhooksig.
package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Decider asks Consentry whether a backend service may use personal data.
type Decider struct {
	api        *ClientWithResponses
	tries      int
	tryTimeout time.Duration
	backoff    time.Duration
}

// DeciderOption tunes a Decider.
type DeciderOption func(*Decider)

// WithTries sets how many times a decision is asked before giving up
// (default 3).
func WithTries(n int) DeciderOption { return func(d *Decider) { d.tries = max(1, n) } }

// WithTryTimeout bounds each try (default 2s): a decision is on the
// caller's own request path.
func WithTryTimeout(t time.Duration) DeciderOption { return func(d *Decider) { d.tryTimeout = t } }

// WithBackoff sets the wait before the second try; it doubles after each
// (default 50ms). A Retry-After from the server is honoured instead.
func WithBackoff(b time.Duration) DeciderOption { return func(d *Decider) { d.backoff = b } }

// NewDecider returns a Decider for the service at baseURL (such as
// http://127.0.0.1:8080) calling with a service client's token.
func NewDecider(baseURL, token string, opts ...DeciderOption) (*Decider, error) {
	api, err := NewClientWithResponses(baseURL, WithRequestEditorFn(BearerToken(token)))
	if err != nil {
		return nil, err
	}
	d := &Decider{api: api, tries: 3, tryTimeout: 2 * time.Second, backoff: 50 * time.Millisecond}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

// BearerToken is a RequestEditorFn that authenticates every request with
// an API client token: NewClientWithResponses(url, WithRequestEditorFn(BearerToken(tok))).
func BearerToken(token string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// ProblemError is a refusal from the service (4xx or 5xx), with its
// problem+json body when it sent one.
type ProblemError struct {
	Status  int
	Problem *Problem
}

func (e *ProblemError) Error() string {
	if e.Problem != nil {
		return fmt.Sprintf("consentry: %d %s: %s", e.Status, e.Problem.Code, e.Problem.Detail)
	}
	return fmt.Sprintf("consentry: HTTP %d", e.Status)
}

// Decide asks one decision. It returns the service's answer (allow or
// deny, with reasons), or an error when none could be had: the caller
// must then treat the use as denied. 503, 429 and failures to reach the
// service are retried; other refusals (a bad request, a wrong role) are
// not, since asking again cannot change them.
func (d *Decider) Decide(ctx context.Context, req DecisionRequest) (*DecisionResponse, error) {
	wait := d.backoff
	var last error
	for try := 1; try <= d.tries; try++ {
		res, retryAfter, err := d.once(ctx, req)
		if err == nil {
			return res, nil
		}
		last = err
		var pe *ProblemError
		if errors.As(err, &pe) && pe.Status != http.StatusServiceUnavailable && pe.Status != http.StatusTooManyRequests {
			return nil, err
		}
		if try == d.tries {
			break
		}
		if retryAfter > 0 {
			wait = retryAfter
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), last)
		case <-time.After(wait):
		}
		wait *= 2
	}
	return nil, fmt.Errorf("consentry: no decision after %d tries: %w", d.tries, last)
}

// Allowed is Decide reduced to the one bit a caller acts on: true only
// for an explicit allow. Every error is a deny, and is returned so that
// it can be logged.
func (d *Decider) Allowed(ctx context.Context, req DecisionRequest) (bool, error) {
	res, err := d.Decide(ctx, req)
	if err != nil {
		return false, err
	}
	return res.Decision == DecisionResponseDecisionAllow, nil
}

func (d *Decider) once(ctx context.Context, req DecisionRequest) (*DecisionResponse, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d.tryTimeout)
	defer cancel()
	r, err := d.api.DecideWithResponse(ctx, req)
	if err != nil {
		return nil, 0, fmt.Errorf("consentry: decide: %w", err)
	}
	if r.JSON200 != nil {
		return r.JSON200, 0, nil
	}
	pe := &ProblemError{Status: r.StatusCode()}
	for _, p := range []*Problem{r.ApplicationproblemJSON400, r.ApplicationproblemJSON401, r.ApplicationproblemJSON403, r.ApplicationproblemJSON413,
		r.ApplicationproblemJSON415, r.ApplicationproblemJSON422, r.ApplicationproblemJSON429, r.ApplicationproblemJSON500, r.ApplicationproblemJSON503} {
		if p != nil {
			pe.Problem = p
		}
	}
	var retryAfter time.Duration
	if s, err := strconv.Atoi(r.HTTPResponse.Header.Get("Retry-After")); err == nil && s > 0 {
		retryAfter = time.Duration(s) * time.Second
	}
	return nil, retryAfter, pe
}
