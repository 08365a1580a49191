package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentry/consentry/api/client"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDecisions answers POST /v1/decisions with the statuses given, in
// turn (the last one repeats), checking the token on every call.
func fakeDecisions(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1))
		assert.Equal(t, "Bearer cst_test", r.Header.Get("Authorization"))
		assert.Equal(t, "/v1/decisions", r.URL.Path)
		status := statuses[min(n, len(statuses))-1]
		if status == 0 {
			time.Sleep(300 * time.Millisecond) // longer than the try timeout
			status = http.StatusOK
		}
		if status != http.StatusOK {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"type": "urn:consentry:problem:x", "title": "x", "status": status, "code": "unavailable",
				"detail": "try again", "request_id": "r1"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"decision": "allow", "reasons": []string{}, "id": uuid.NewString(), "audit_seq": 7,
			"decided_at": time.Now().UTC()})
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func check() client.DecisionRequest {
	return client.DecisionRequest{Subject: "user-1", DeviceId: uuid.New(), Element: "location", Purpose: "navigation", Action: client.DecisionRequestActionUse}
}

func TestDeciderRetriesUnavailable(t *testing.T) {
	srv, calls := fakeDecisions(t, 503, 503, 200)
	d, err := client.NewDecider(srv.URL, "cst_test", client.WithBackoff(time.Millisecond))
	require.NoError(t, err)
	res, err := d.Decide(context.Background(), check())
	require.NoError(t, err)
	assert.Equal(t, client.DecisionResponseDecisionAllow, res.Decision)
	assert.Equal(t, 7, res.AuditSeq)
	assert.EqualValues(t, 3, calls.Load())
}

func TestDeciderFailsClosed(t *testing.T) {
	t.Run("still unavailable after the tries", func(t *testing.T) {
		srv, calls := fakeDecisions(t, 503)
		d, err := client.NewDecider(srv.URL, "cst_test", client.WithBackoff(time.Millisecond), client.WithTries(4))
		require.NoError(t, err)
		ok, err := d.Allowed(context.Background(), check())
		assert.False(t, ok)
		var pe *client.ProblemError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, 503, pe.Status)
		assert.Equal(t, "try again", pe.Problem.Detail)
		assert.EqualValues(t, 4, calls.Load())
	})
	t.Run("a bad request is not retried", func(t *testing.T) {
		srv, calls := fakeDecisions(t, 422)
		d, err := client.NewDecider(srv.URL, "cst_test")
		require.NoError(t, err)
		ok, err := d.Allowed(context.Background(), check())
		assert.False(t, ok)
		var pe *client.ProblemError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, 422, pe.Status)
		assert.EqualValues(t, 1, calls.Load())
	})
	t.Run("a slow answer times out and counts as deny", func(t *testing.T) {
		srv, calls := fakeDecisions(t, 0)
		d, err := client.NewDecider(srv.URL, "cst_test", client.WithTryTimeout(50*time.Millisecond), client.WithTries(2), client.WithBackoff(time.Millisecond))
		require.NoError(t, err)
		ok, err := d.Allowed(context.Background(), check())
		assert.False(t, ok)
		assert.True(t, errors.Is(err, context.DeadlineExceeded), err)
		assert.EqualValues(t, 2, calls.Load())
	})
	t.Run("no service at all", func(t *testing.T) {
		d, err := client.NewDecider("http://127.0.0.1:1", "cst_test", client.WithBackoff(time.Millisecond))
		require.NoError(t, err)
		ok, err := d.Allowed(context.Background(), check())
		assert.False(t, ok)
		assert.Error(t, err)
	})
}
