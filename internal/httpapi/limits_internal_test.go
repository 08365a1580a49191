package httpapi

import (
	"net/http/httptest"
	"testing"

	"github.com/consentry/consentry/internal/privacy"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExportSlots: at most MaxConcurrentExports whole-log exports run at
// once; the next is told to retry, and a finished one frees its slot.
func TestExportSlots(t *testing.T) {
	s := &Server{exports: make(chan struct{}, MaxConcurrentExports)}
	var releases []func()
	for range MaxConcurrentExports {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		release, err := s.oneExport(c)
		require.NoError(t, err)
		releases = append(releases, release)
	}
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	_, err := s.oneExport(c)
	assert.Equal(t, privacy.ERateLimited, privacy.ErrorCode(err))
	assert.Equal(t, "10", c.Writer.Header().Get("Retry-After"))
	releases[0]()
	_, err = s.oneExport(c)
	assert.NoError(t, err)
}
