package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// TestRateLimiterKeepsAtMostMaxLimiters: one bucket per subject token, at
// most MaxLimiters of them however many subjects pass; the least recently
// used goes, and a busy client keeps its (spent) bucket.
func TestRateLimiterKeepsAtMostMaxLimiters(t *testing.T) {
	s := &Server{rate: 0.01} // a burst of one, then one per 100 s
	var err error
	s.limiters, err = lru.New[string, *rate.Limiter](MaxLimiters)
	require.NoError(t, err)
	mw := s.rateLimit()
	send := func(p privacy.Client) int {
		rec := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(rec)
		c.Request = httptest.NewRequest(http.MethodGet, "/v1/purposes", nil).
			WithContext(context.WithValue(context.Background(), principalKey{}, p))
		mw(c)
		if c.IsAborted() {
			return rec.Code
		}
		return http.StatusOK
	}
	busy := privacy.Client{ID: "busy-app", Role: privacy.RoleApp}
	require.Equal(t, http.StatusOK, send(busy))
	require.Equal(t, http.StatusTooManyRequests, send(busy))
	for i := range MaxLimiters + 1000 {
		send(privacy.Client{ID: "app-1", Role: privacy.RoleSubject, Subject: fmt.Sprintf("s-%d", i)})
		if i%1000 == 0 {
			assert.Equal(t, http.StatusTooManyRequests, send(busy), "the busy client's bucket stays, spent")
		}
	}
	assert.Equal(t, MaxLimiters, s.limiters.Len())
	assert.False(t, s.limiters.Contains("app-1\x00s-0"), "the least recently used bucket went")
}
